#!/usr/bin/python3
"""apexd produces a catalog zone (RFC 9432, version 2); knotd 3.2 and named
9.18, each configured once with only the catalog, consume it: zones created
through apexd's API appear on both without touching their configs, and
deleted ones go.

    /usr/bin/python3 tests/integration/catalog_produce.py --apexd build-rel/apexd

apexd serves file.test. (a zone file) and catalog.apexd. ([catalog] with
allow_transfer 127.0.0.0/8 and notify = knotd); [control.zone_defaults] give
API-created zones allow_transfer and notify = knotd. knotd has one zone,
catalog.apexd., with `catalog-role: interpret` and a member template whose
primary is apexd; named has catalog.apexd. as a secondary zone and in its
catalog-zones option (default-primaries apexd, in-memory). Checks:

1. apexd's catalog by AXFR: SOA, NS invalid., version TXT "2", one PTR per
   primary zone at <label>.zones (file.test.), the label 16 hex digits; the
   catalog is not a member of itself;
2. knotd and named, started with the catalog alone, serve file.test. (their
   SOA serial equals apexd's);
3. a zone created through the API (POST) gets a new catalog serial, apexd
   NOTIFYs both, and both serve the new zone within 10 s (times printed);
   a PATCH to it reaches them too (member NOTIFY, IXFR);
4. DELETE through the API: the catalog drops it and both stop serving it
   (REFUSED or no answer) within 10 s;
5. a restart of apexd keeps the member labels (same PTR owners) and gives
   the catalog a serial past the one before.
"""
import json
import os
import time
import urllib.error
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone

import harness
from harness import HOST

KEY = "catalog-test-api-key-0123"
KNOTD = "/usr/sbin/knotd"
NAMED = "/usr/sbin/named"
CATALOG = "catalog.apexd."
WAIT = 10.0

FILE_ZONE = """$ORIGIN file.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 60
@ NS ns1
ns1 A 127.0.0.1
"""


def api(cport, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s:%d%s" % (HOST, cport, path), data=data, method=method)
    req.add_header("X-API-Key", KEY)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def soa_serial(port, zone):
    q = dns.message.make_query(zone, "SOA")
    try:
        r = dns.query.udp(q, HOST, port=port, timeout=1)
    except Exception:  # noqa: BLE001 - no answer
        return None
    if r.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def wait_for(pred, timeout=WAIT):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def catalog_axfr(port):
    z = dns.zone.from_xfr(dns.query.xfr(HOST, CATALOG, port=port, timeout=5, lifetime=10, relativize=False),
                          relativize=False)
    out = {}
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            out[(name.to_text(), dns.rdatatype.to_text(rds.rdtype))] = sorted(rd.to_text() for rd in rds)
    return out


def members(cat):
    return {v[0]: k[0] for k, v in cat.items() if k[1] == "PTR" and k[0].endswith(".zones." + CATALOG)}


def write_named(d, nport, aport):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "named.conf")
    with open(path, "w") as f:
        f.write("""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {nport} {{ {h}; }};
    listen-on-v6 {{ none; }};
    automatic-interface-scan no;
    recursion no;
    dnssec-validation no;
    notify no;
    allow-new-zones yes;
    catalog-zones {{
        zone "{cat}" default-primaries {{ {h} port {aport}; }} in-memory yes min-update-interval 1;
    }};
}};

controls {{ }};

zone "{cat}" {{
    type secondary;
    primaries {{ {h} port {aport}; }};
    file "{d}/catalog.db";
    allow-notify {{ {h}; }};
    notify no;
}};
""".format(h=HOST, d=d, nport=nport, aport=aport, cat=CATALOG.rstrip(".")))
    return path


def write_apexd(workdir, port, cport, kport, nport):
    with open(os.path.join(workdir, "file.test.zone"), "w") as f:
        f.write(FILE_ZONE)
    conf = os.path.join(workdir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("""[server]
listen = ["{h}:{port}"]
state_dir = "state"
threads = 1

[log]
level = "info"

[control]
listen = "{h}:{cport}"
api_key = "{key}"

[control.zone_defaults]
allow_transfer = ["127.0.0.0/8"]
notify = ["{h}:{kport}", "{h}:{nport}"]

[catalog]
origin = "{cat}"
allow_transfer = ["127.0.0.0/8"]
notify = ["{h}:{kport}", "{h}:{nport}"]

[[zone]]
origin = "file.test."
file = "file.test.zone"
allow_transfer = ["127.0.0.0/8"]
notify = ["{h}:{kport}", "{h}:{nport}"]
""".format(h=HOST, port=port, cport=cport, kport=kport, nport=nport, key=KEY, cat=CATALOG))
    return conf


def write_knot(d, kport, aport):
    for sub in ("run", "db", "storage", "journal", "catalog"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    path = os.path.join(d, "knot.conf")
    with open(path, "w") as f:
        f.write("""server:
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
  - id: notify_from_apexd
    address: {h}
    action: notify

template:
  - id: default
    storage: {d}/storage
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: off
  - id: member
    storage: {d}/storage
    master: apexd
    acl: notify_from_apexd
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: off

zone:
  - domain: {cat}
    master: apexd
    acl: notify_from_apexd
    catalog-role: interpret
    catalog-template: member
""".format(h=HOST, kport=kport, aport=aport, d=d, cat=CATALOG))
    return path


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    if not (os.access(KNOTD, os.X_OK) and os.access(NAMED, os.X_OK)):
        res.fail("knotd and named installed (scripts/install-deps.sh --test)")
        return
    port, cport, kport, nport = harness.distinct_ports(4)
    conf = write_apexd(workdir, port, cport, kport, nport)
    apexd = harness.start_apexd_config(binary, conf, port, "file.test.", workdir)

    cat = catalog_axfr(port)
    m = members(cat)
    labels = [k.split(".")[0] for k in m.values()]
    res.check(cat.get((CATALOG, "TXT")) is None and cat.get(("version." + CATALOG, "TXT")) == ['"2"']
              and cat.get((CATALOG, "NS")) == ["invalid."] and set(m) == {"file.test."}
              and all(len(l) == 16 and all(c in "0123456789abcdef" for c in l) for l in labels),
              "apexd's catalog (AXFR): version \"2\", NS invalid., one PTR per primary zone at <16 hex>.zones",
              "  %s" % cat)

    kdir = os.path.join(workdir, "knot")
    os.makedirs(kdir, exist_ok=True)
    kconf = write_knot(kdir, kport, port)
    ndir = os.path.join(workdir, "named")
    nconf = write_named(ndir, nport, port)
    consumers = [("knotd", kport, harness._spawn("knotd", [KNOTD, "-c", kconf], kdir, kport, kconf)),
                 ("named", nport, harness._spawn("named", [NAMED, "-g", "-c", nconf], ndir, nport, nconf))]
    for name, cp, proc in consumers:
        took = wait_for(lambda: soa_serial(cp, "file.test.") == soa_serial(port, "file.test."))
        res.check(took is not None, "%s, configured with the catalog alone, serves file.test. (a member)" % name,
                  "  %s log:\n%s" % (name, harness.tail(proc.stderr())))
        if took is not None:
            print("NOTE %s had file.test. %.2f s after it started" % (name, took))

    serial0 = soa_serial(port, CATALOG)
    t0 = time.monotonic()
    status, text = api(cport, "POST", "/api/v1/servers/localhost/zones",
                       {"name": "customer.test.", "kind": "Native", "nameservers": ["ns1.file.test."]})
    res.check(status == 201, "POST customer.test.: 201", "  %s %s" % (status, text[:300]))
    for name, cp, proc in consumers:
        took = wait_for(lambda: soa_serial(cp, "customer.test.") is not None)
        res.check(took is not None, "%s serves the API-created customer.test. without a config change" % name,
                  "  %s log:\n%s" % (name, harness.tail(proc.stderr())))
        if took is not None:
            print("NOTE %s served customer.test. %.2f s after the POST's 201" % (name, time.monotonic() - t0))
    serial1 = soa_serial(port, CATALOG)
    res.check(serial0 is not None and serial1 is not None and serial1 > serial0,
              "the catalog got a new serial (%s -> %s)" % (serial0, serial1))
    res.check("customer.test." in members(catalog_axfr(port)), "the catalog lists customer.test.")
    status, text = api(cport, "PATCH", "/api/v1/servers/localhost/zones/customer.test.",
                       {"rrsets": [{"name": "www.customer.test.", "type": "A", "ttl": 60, "changetype": "REPLACE",
                                    "records": [{"content": "192.0.2.44", "disabled": False}]}]})
    want = soa_serial(port, "customer.test.")
    for name, cp, proc in consumers:
        took = wait_for(lambda: soa_serial(cp, "customer.test.") == want)
        res.check(status == 204 and took is not None, "a PATCH of customer.test. reaches %s (serial %s)" % (name, want),
                  "  %s %s, %s serial %s" % (status, text, name, soa_serial(cp, "customer.test.")))

    labels_before = members(catalog_axfr(port))
    t0 = time.monotonic()
    status, text = api(cport, "DELETE", "/api/v1/servers/localhost/zones/customer.test.")
    res.check(status == 204 and "customer.test." not in members(catalog_axfr(port)),
              "DELETE customer.test.: 204, the catalog drops it", "  %s %s" % (status, text))
    for name, cp, proc in consumers:
        took = wait_for(lambda: soa_serial(cp, "customer.test.") is None)
        res.check(took is not None, "%s stops serving customer.test." % name,
                  "  %s log:\n%s" % (name, harness.tail(proc.stderr())))
        if took is not None:
            print("NOTE %s dropped customer.test. %.2f s after the DELETE's 204" % (name, time.monotonic() - t0))

    serial2 = soa_serial(port, CATALOG)
    harness.stop(apexd)
    apexd = harness.start_apexd_config(binary, conf, port, "file.test.", workdir)
    after = members(catalog_axfr(port))
    serial3 = soa_serial(port, CATALOG)
    res.check(after == {k: v for k, v in labels_before.items() if k != "customer.test."},
              "after a restart, the same member labels", "  before %s\n  after %s" % (labels_before, after))
    res.check(serial2 is not None and serial3 is not None and serial3 >= serial2,
              "after a restart, the catalog serial does not go back (%s -> %s)" % (serial2, serial3))
    errors = [l for l in apexd.stderr().splitlines() if " error " in l or "critical" in l]
    res.check(not errors, "apexd logged no error", harness.tail("\n".join(errors)))


if __name__ == "__main__":
    harness.main(body, description=__doc__)
