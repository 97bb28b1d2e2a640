#!/usr/bin/python3
"""apexd consumes a catalog zone (RFC 9432, version 2) produced by knotd 3.2
(`catalog-role: generate`): it becomes a secondary for every member zone,
from the catalog's primary, and follows members added and removed on knotd.

    /usr/bin/python3 tests/integration/catalog_consume.py --apexd build-rel/apexd

knotd serves m1.test. and m2.test. as members of catalog.knot. (generated),
with transfers allowed and NOTIFY to apexd. apexd has one zone: catalog.knot.
with primaries = knotd and consume_catalog = true. Checks:

1. apexd copies the catalog and serves m1.test. and m2.test. (serials equal
   knotd's) within 10 s, without a [[zone]] for them; it logs
   event=catalog_members and wrote state_dir/catalogs/catalog.knot.toml;
2. knotd's config gets m3.test. as a member and loses m2.test. (`knotc
   reload`): apexd serves m3.test. and stops serving m2.test. (REFUSED)
   within 10 s;
3. a member changed on knotd (new serial, zone-reload) reaches apexd by
   NOTIFY within 5 s;
4. apexd restarted: m1.test. and m3.test. are answered at once, from the
   kept copies;
5. a configured [[zone]] of the same name as a member is the config's
   (the catalog does not take it over; apexd logs event=zone_shadowed).
"""
import os
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

import harness
from harness import HOST

KNOTD = "/usr/sbin/knotd"
KNOTC = "/usr/sbin/knotc"
CATALOG = "catalog.knot."
WAIT = 10.0


def member_zone(origin, serial, extra=""):
    return """$ORIGIN {o}
$TTL 300
@ SOA ns1.{o} hostmaster.{o} {s} 3600 600 86400 60
@ NS ns1.{o}
ns1 A 127.0.0.1
www A 192.0.2.{n}
{extra}""".format(o=origin, s=serial, n=serial % 250, extra=extra)


def rcode_serial(port, zone):
    q = dns.message.make_query(zone, "SOA")
    try:
        r = dns.query.udp(q, HOST, port=port, timeout=1)
    except Exception:  # noqa: BLE001 - no answer
        return None, None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return r.rcode(), rrset[0].serial
    return r.rcode(), None


def serial(port, zone):
    return rcode_serial(port, zone)[1]


def wait_for(pred, timeout=WAIT):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def write_knot(d, kport, aport, members):
    for sub in ("run", "db", "storage", "journal", "catalog"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    text = """server:
    listen: {h}@{kport}
    rundir: {d}/run
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: {d}/db
    journal-db: {d}/journal
    catalog-db: {d}/catalog

log:
  - target: stderr
    any: info

remote:
  - id: apexd
    address: {h}@{aport}

acl:
  - id: transfer_to_apexd
    address: {h}
    action: transfer

template:
  - id: default
    storage: {d}/storage
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
    acl: transfer_to_apexd
    notify: apexd

zone:
  - domain: {cat}
    catalog-role: generate
""".format(h=HOST, kport=kport, aport=aport, d=d, cat=CATALOG)
    for m in members:
        text += """  - domain: {m}
    file: {d}/storage/{m}zone
    catalog-role: member
    catalog-zone: {cat}
""".format(m=m, d=d, cat=CATALOG)
    path = os.path.join(d, "knot.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def write_apexd(workdir, port, kport, shadow=False):
    conf = os.path.join(workdir, "apexd.toml")
    text = """[server]
listen = ["{h}:{port}"]
state_dir = "state"
threads = 1

[log]
level = "info"

[[zone]]
origin = "{cat}"
file = "catalog.knot.zone"
primaries = ["{h}:{kport}"]
consume_catalog = true
""".format(h=HOST, port=port, kport=kport, cat=CATALOG)
    if shadow:
        text += """
[[zone]]
origin = "m1.test."
file = "m1-own.zone"
"""
    with open(conf, "w") as f:
        f.write(text)
    return conf


def knotc(kconf, *argv):
    r = subprocess.run([KNOTC, "-c", kconf, "-t", "5"] + list(argv), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10)
    return r.returncode, r.stdout


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    if not (os.access(KNOTD, os.X_OK) and os.access(KNOTC, os.X_OK)):
        res.fail("knotd and knotc installed (scripts/install-deps.sh --test)")
        return
    port, kport = harness.distinct_ports(2)
    kdir = os.path.join(workdir, "knot")
    os.makedirs(os.path.join(kdir, "storage"), exist_ok=True)
    for m, s in (("m1.test.", 11), ("m2.test.", 21), ("m3.test.", 31)):
        with open(os.path.join(kdir, "storage", m + "zone"), "w") as f:
            f.write(member_zone(m, s))
    kconf = write_knot(kdir, kport, port, ["m1.test.", "m2.test."])
    knot = harness._spawn("knotd", [KNOTD, "-c", kconf], kdir, kport, kconf)
    if wait_for(lambda: serial(kport, "m2.test.") == 21) is None:
        res.fail("knotd serves its zones", "  knotd log:\n%s" % harness.tail(knot.stderr()))
        return

    conf = write_apexd(workdir, port, kport)
    apexd = harness._spawn("apexd", [binary, "--config", conf], workdir, port, conf)
    took = wait_for(lambda: serial(port, "m1.test.") == 11 and serial(port, "m2.test.") == 21)
    res.check(took is not None, "apexd serves the catalog's members m1.test. and m2.test. (no [[zone]] for them)",
              "  apexd log:\n%s" % harness.tail(apexd.stderr()))
    if took is not None:
        print("NOTE apexd served both members %.2f s after it started" % took)
    table = os.path.join(workdir, "state", "catalogs", "catalog.knot.toml")
    res.check("event=catalog_members zone=catalog.knot." in apexd.stderr() and os.path.exists(table),
              "apexd logs event=catalog_members and keeps the members' tables in state_dir/catalogs/",
              "  %s" % harness.tail(apexd.stderr(), 8))

    write_knot(kdir, kport, port, ["m1.test.", "m3.test."])
    rc, out = knotc(kconf, "reload")
    took = wait_for(lambda: serial(port, "m3.test.") == 31 and rcode_serial(port, "m2.test.")[0] == dns.rcode.REFUSED)
    res.check(rc == 0 and took is not None,
              "knotd's catalog gains m3.test. and loses m2.test.: apexd serves m3.test., REFUSED for m2.test.",
              "  knotc %s %s\n  m2 %s m3 %s\n  apexd log:\n%s" % (
                  rc, out.strip(), rcode_serial(port, "m2.test."), rcode_serial(port, "m3.test."),
                  harness.tail(apexd.stderr())))
    if took is not None:
        print("NOTE apexd followed the catalog change %.2f s after knotc reload" % took)

    with open(os.path.join(kdir, "storage", "m1.test.zone"), "w") as f:
        f.write(member_zone("m1.test.", 12, "new A 192.0.2.77\n"))
    rc, out = knotc(kconf, "zone-reload", "m1.test.")
    took = wait_for(lambda: serial(port, "m1.test.") == 12, timeout=5)
    res.check(rc == 0 and took is not None, "a member changed on knotd reaches apexd (NOTIFY, serial 12)",
              "  knotc %s %s, apexd serial %s" % (rc, out.strip(), serial(port, "m1.test.")))

    harness.stop(apexd)
    harness.stop(knot)  # the copies alone
    apexd = harness._spawn("apexd", [binary, "--config", conf], workdir, port, conf)
    took = wait_for(lambda: serial(port, "m1.test.") == 12 and serial(port, "m3.test.") == 31, timeout=5)
    res.check(took is not None, "restarted with its primary down, apexd answers m1.test. and m3.test. from the kept copies",
              "  apexd log:\n%s" % harness.tail(apexd.stderr()))
    harness.stop(apexd)

    with open(os.path.join(workdir, "m1-own.zone"), "w") as f:
        f.write(member_zone("m1.test.", 99))
    conf = write_apexd(workdir, port, kport, shadow=True)
    apexd = harness._spawn("apexd", [binary, "--config", conf], workdir, port, conf)
    took = wait_for(lambda: serial(port, "m1.test.") == 99 and serial(port, "m3.test.") == 31, timeout=5)
    res.check(took is not None and "event=zone_shadowed zone=m1.test." in apexd.stderr(),
              "a configured m1.test. is the config's, not the catalog's (event=zone_shadowed)",
              "  m1 %s\n%s" % (serial(port, "m1.test."), harness.tail(apexd.stderr())))
    errors = [l for l in apexd.stderr().splitlines() if " critical " in l]
    res.check(not errors, "apexd logged nothing critical", harness.tail("\n".join(errors)))


if __name__ == "__main__":
    harness.main(body, description=__doc__)
