#!/usr/bin/python3
"""Zone transfers to real secondaries: knotd, nsd and named pull from apexd.

    /usr/bin/python3 tests/integration/xfr_secondaries.py --apexd build-rel/apexd

apexd serves example.test. (allow_transfer = 127.0.0.0/8, notify = every
secondary) and platform.test. (no allow_transfer), both written into the work
folder. example.test. has an apex CNAME into platform.test. (flattened: the
transfer carries the target's A/AAAA) and one proxied name (the transfer
carries the [proxy] edges at the proxy TTL; the origin address must appear
nowhere). Three secondaries, each from its own configuration in the work
folder, on its own free port on 127.0.0.1:

    knotd  (/usr/sbin/knotd -c knot.conf)
    nsd    (/usr/sbin/nsd -d -c nsd.conf)
    named  (/usr/sbin/named -g -c named.conf)

Checks:
- each secondary loads the zone (SOA serial 2026120301 within 20 s);
- what each serves (its AXFR) equals apexd's AXFR, as sets of RRs; apexd's
  AXFR equals the zone as clients see it (also with ldns-compare-zones);
- the zone changes (serial 2026120302, one new name), SIGHUP: each secondary
  serves the new name within 10 s (the SOA refresh is 3600, so only NOTIFY can
  explain it); the time per secondary is printed; apexd logs notify_sent per
  target; after the change the secondaries still equal apexd's AXFR;
- IXFR: with the current serial just the SOA, with an older one the full zone;
- access: AXFR of platform.test. is REFUSED, of nothere.test. NOTAUTH, AXFR
  over UDP REFUSED.

A secondary whose binary is absent is skipped (printed); one that cannot start
is a failure, with its stderr. Ends with `N passed, N failed`; exits 1 on any
failure. About 2 s (bounds: 20 s for the first load, 30 s after the SIGHUP).

Typical convergence: knotd and named well under 1 s; nsd about 1 s when its
previous reload was less than a second before (nsd's own xfrd-reload-timeout,
default 1 s, delays applying a transfer it already committed).
"""

import ipaddress
import os
import re
import signal
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

import harness

HOST = harness.HOST
ORIGIN = "example.test."
PLATFORM = "platform.test."
SERIAL1 = 2026120301
SERIAL2 = 2026120302
EDGE4 = "203.0.113.10"
EDGE6 = "2001:db8:e::10"
PROXY_TTL = 120
ORIGIN_ADDR = "192.0.2.50"       # shop's address in the file: never transferred
TARGET4 = "198.51.100.7"
TARGET6 = "2001:db8::7"
NEW_NAME = "new.example.test."
NEW_ADDR = "192.0.2.99"

LOAD_TIMEOUT = 20.0      # a secondary's first transfer
CONVERGE_BOUND = 30.0    # polling bound after SIGHUP
CONVERGE_MAX = 10.0      # what counts as converged in time
POLL = 0.1

KNOTD = "/usr/sbin/knotd"
NSD = "/usr/sbin/nsd"
NAMED = "/usr/sbin/named"
LDNS_COMPARE = "/usr/bin/ldns-compare-zones"


# --------------------------------------------------------------------------
# zones
# --------------------------------------------------------------------------

def example_zone(serial, new=False):
    lines = [
        "$ORIGIN example.test.",
        "$TTL 3600",
        # refresh 3600, retry 600: no timer of any secondary fires during the test
        "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % serial,
        "@ NS ns1",
        "@ NS ns2",
        "@ CNAME app.platform.test.",
        "@ MX 10 mail",
        '@ TXT "v=spf1 -all"',
        "ns1 A 192.0.2.1",
        "ns2 A 192.0.2.3",
        "mail A 192.0.2.2",
        "www A 192.0.2.4",
        "www A 192.0.2.5",
        "shop A %s ; cf_tags=cf-proxied:true" % ORIGIN_ADDR,
        '*.wild TXT "wild"',
        "sub NS ns.sub",
        "ns.sub A 192.0.2.53",
    ]
    if new:
        lines.append("new A %s" % NEW_ADDR)
    return "\n".join(lines) + "\n"


PLATFORM_ZONE = """$ORIGIN platform.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 1209600 300
@ NS ns1
ns1 A 192.0.2.9
app A %s
app AAAA %s
""" % (TARGET4, TARGET6)


def expected_zone(serial, new=False):
    """example.test. as clients see it: the apex CNAME replaced by the target's
    addresses (TTL = min(CNAME 3600, target 300)), shop by the edges."""
    lines = [
        "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. "
        "%d 3600 600 1209600 300" % serial,
        "example.test. 3600 IN NS ns1.example.test.",
        "example.test. 3600 IN NS ns2.example.test.",
        "example.test. 3600 IN MX 10 mail.example.test.",
        'example.test. 3600 IN TXT "v=spf1 -all"',
        "example.test. 300 IN A %s" % TARGET4,
        "example.test. 300 IN AAAA %s" % TARGET6,
        "ns1.example.test. 3600 IN A 192.0.2.1",
        "ns2.example.test. 3600 IN A 192.0.2.3",
        "mail.example.test. 3600 IN A 192.0.2.2",
        "www.example.test. 3600 IN A 192.0.2.4",
        "www.example.test. 3600 IN A 192.0.2.5",
        "shop.example.test. %d IN A %s" % (PROXY_TTL, EDGE4),
        "shop.example.test. %d IN AAAA %s" % (PROXY_TTL, EDGE6),
        '*.wild.example.test. 3600 IN TXT "wild"',
        "sub.example.test. 3600 IN NS ns.sub.example.test.",
        "ns.sub.example.test. 3600 IN A 192.0.2.53",
    ]
    if new:
        lines.append("new.example.test. 3600 IN A %s" % NEW_ADDR)
    return "\n".join(lines) + "\n"


def canon(name, ttl, rdata):
    return "%s %d %s %s %s" % (name.to_text().lower(), ttl,
                               dns.rdataclass.to_text(rdata.rdclass),
                               dns.rdatatype.to_text(rdata.rdtype),
                               rdata.to_text().lower())


def canon_zone_text(text):
    z = dns.zone.from_text(text, origin=ORIGIN, relativize=False,
                           check_origin=False)
    return {canon(n, ttl, rd) for n, ttl, rd in z.iterate_rdatas()}


# --------------------------------------------------------------------------
# transfers
# --------------------------------------------------------------------------

class Xfr:
    """One zone transfer over TCP: rcode of the first message, the RRs in
    order as (name, ttl, rdata), the raw messages, a problem text or None."""

    def __init__(self):
        self.rcode = None
        self.rrs = []
        self.wires = []
        self.error = None

    def records(self):
        """The RRs as a set of canonical lines, the closing SOA dropped."""
        rrs = list(self.rrs)
        if len(rrs) > 1 and rrs[-1][2].rdtype == dns.rdatatype.SOA:
            rrs = rrs[:-1]
        return {canon(n, t, rd) for n, t, rd in rrs}

    def text(self):
        return "\n".join(canon(n, t, rd) for n, t, rd in self.rrs)

    def soa_serial(self):
        if self.rrs and self.rrs[0][2].rdtype == dns.rdatatype.SOA:
            return self.rrs[0][2].serial
        return None


def _recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes"
                                  % (len(buf), n))
        buf += chunk
    return buf


def xfr(port, zone, rdtype="AXFR", serial=None, timeout=8.0):
    """AXFR (or IXFR from `serial`) of `zone` from 127.0.0.1:port.  Ends at
    the closing SOA: for AXFR and AXFR-style IXFR the second SOA with the
    first one's serial; for incremental IXFR the third; a single SOA answer
    to an IXFR is the 'up to date' answer."""
    out = Xfr()
    q = dns.message.make_query(zone, rdtype, use_edns=False)
    if rdtype == "IXFR":
        q.authority.append(dns.rrset.from_text(
            zone, 0, "IN", "SOA", ". . %d 0 0 0 0" % serial))
    wire = q.to_wire()
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.sendall(struct.pack("!H", len(wire)) + wire)
        incremental = None
        while True:
            (n,) = struct.unpack("!H", _recv_exact(s, 2, deadline))
            w = _recv_exact(s, n, deadline)
            out.wires.append(w)
            m = dns.message.from_wire(w, xfr=True, origin=None,
                                      one_rr_per_rrset=True)
            if m.id != q.id:
                out.error = "reply ID %d, query ID %d" % (m.id, q.id)
                return out
            if out.rcode is None:
                out.rcode = m.rcode()
            if m.rcode() != dns.rcode.NOERROR:
                return out
            for rrset in m.answer:
                for rd in rrset:
                    out.rrs.append((rrset.name, rrset.ttl, rd))
            if not out.rrs:
                out.error = "first message has no answer RR"
                return out
            rd0 = out.rrs[0][2]
            if rd0.rdtype != dns.rdatatype.SOA:
                out.error = "first RR is %s, not SOA" % \
                    dns.rdatatype.to_text(rd0.rdtype)
                return out
            first_serial = rd0.serial
            seen_first = sum(1 for _, _, rd in out.rrs
                             if rd.rdtype == dns.rdatatype.SOA
                             and rd.serial == first_serial)
            done = False
            if rdtype == "IXFR" and len(out.rrs) == 1 and first_serial is not None \
                    and serial is not None and first_serial == serial:
                done = True  # up to date: just the SOA
            elif len(out.rrs) >= 2:
                if incremental is None:
                    incremental = (rdtype == "IXFR" and
                                   out.rrs[1][2].rdtype == dns.rdatatype.SOA)
                done = seen_first >= (3 if incremental else 2)
            if done:
                return out
            if not m.answer:
                out.error = "empty message in the middle of the transfer"
                return out
    except (OSError, ConnectionError, struct.error) as e:
        out.error = "%s: %s" % (type(e).__name__, e)
        return out
    except Exception as e:  # noqa: BLE001 - unparsable message
        out.error = "%s: %s" % (type(e).__name__, e)
        return out
    finally:
        s.close()


def kdig_axfr(port, zone, path):
    """kdig +noall +answer AXFR into `path` (for ldns-compare-zones)."""
    try:
        p = subprocess.run(["kdig", "@%s" % HOST, "-p", str(port), zone, "AXFR",
                            "+noall", "+answer", "+time=5", "+retry=0"],
                           capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    with open(path, "w") as f:
        f.write(p.stdout)
    return p.returncode, p.stdout + p.stderr


# --------------------------------------------------------------------------
# secondaries
# --------------------------------------------------------------------------

def knot_conf(d, port, aport):
    for sub in ("run", "db", "storage", "journal"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    path = os.path.join(d, "knot.conf")
    text = """server:
    listen: {host}@{port}
    rundir: {d}/run
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: {d}/db
    journal-db: {d}/journal

log:
  - target: stderr
    any: info

remote:
  - id: apexd
    address: {host}@{aport}

acl:
  - id: notify_from_apexd
    address: {host}
    action: notify
  - id: transfer_to_test
    address: {host}
    action: transfer

template:
  - id: default
    storage: {d}/storage
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: off

zone:
  - domain: {origin}
    master: apexd
    acl: [notify_from_apexd, transfer_to_test]
""".format(host=HOST, port=port, aport=aport, d=d, origin=ORIGIN)
    with open(path, "w") as f:
        f.write(text)
    return path, [KNOTD, "-c", path]


def nsd_conf(d, port, aport):
    os.makedirs(os.path.join(d, "xfr"), exist_ok=True)
    os.makedirs(os.path.join(d, "zones"), exist_ok=True)
    path = os.path.join(d, "nsd.conf")
    text = """server:
    ip-address: {host}
    port: {port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{d}/zones"
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}/xfr"
    pidfile: "{d}/nsd.pid"
    database: ""
    verbosity: 2
    rrl-ratelimit: 0
    reuseport: no

remote-control:
    control-enable: yes
    control-interface: "{d}/nsd.ctl"

zone:
    name: {origin}
    zonefile: "example.test.zone"
    request-xfr: {host}@{aport} NOKEY
    allow-notify: {host} NOKEY
    provide-xfr: {host} NOKEY
""".format(host=HOST, port=port, aport=aport, d=d, origin=ORIGIN)
    with open(path, "w") as f:
        f.write(text)
    return path, [NSD, "-d", "-c", path]


def named_conf(d, port, aport):
    path = os.path.join(d, "named.conf")
    text = """options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    automatic-interface-scan no;
    recursion no;
    dnssec-validation no;
    notify no;
}};

controls {{ }};

zone "{zone}" {{
    type secondary;
    primaries {{ {host} port {aport}; }};
    file "{d}/example.test.db";
    allow-notify {{ {host}; }};
    allow-transfer {{ {host}; }};
    notify no;
}};
""".format(host=HOST, port=port, aport=aport, d=d, zone=ORIGIN.rstrip("."))
    with open(path, "w") as f:
        f.write(text)
    return path, [NAMED, "-g", "-c", path]


SECONDARIES = [("knotd", KNOTD, knot_conf), ("nsd", NSD, nsd_conf),
               ("named", NAMED, named_conf)]


def tail(text, n=25):
    lines = text.rstrip().splitlines()
    return "\n".join("    " + l for l in lines[-n:])


def soa_serial(port, timeout=0.3):
    try:
        r = harness.query(port, ORIGIN, "SOA", timeout=timeout)
    except Exception:  # noqa: BLE001
        return None, None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None, r
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial, r
    return None, r


def has_new(port, timeout=0.3):
    try:
        r = harness.query(port, NEW_NAME, "A", timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return False
    return any(rrset.rdtype == dns.rdatatype.A and
               any(rd.address == NEW_ADDR for rd in rrset) for rrset in r.answer)


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------

def check_access(res, aport):
    r = xfr(aport, PLATFORM)
    res.check(r.rcode == dns.rcode.REFUSED and not r.rrs,
              "AXFR of platform.test. (no allow_transfer) is REFUSED",
              "  rcode %s, %d RRs, error %s" % (
                  dns.rcode.to_text(r.rcode) if r.rcode is not None else None,
                  len(r.rrs), r.error))
    r = xfr(aport, "nothere.test.")
    res.check(r.rcode == dns.rcode.NOTAUTH and not r.rrs,
              "AXFR of nothere.test. (not a zone) is NOTAUTH",
              "  rcode %s, %d RRs, error %s" % (
                  dns.rcode.to_text(r.rcode) if r.rcode is not None else None,
                  len(r.rrs), r.error))
    m = harness.query(aport, ORIGIN, "AXFR", timeout=2.0)
    res.check(m is not None and m.rcode() == dns.rcode.REFUSED and not m.answer,
              "AXFR of example.test. over UDP is not a transfer (REFUSED)",
              "  reply:\n%s" % (m.to_text() if m is not None else "(none)"))


def check_apexd_axfr(res, aport, workdir, serial, new, label):
    """apexd's AXFR against the zone as clients see it; returns the Xfr."""
    a = xfr(aport, ORIGIN)
    ok = a.error is None and a.rcode == dns.rcode.NOERROR
    res.check(ok, "%s: apexd answers AXFR of example.test." % label,
              "  rcode %s, error %s, %d RRs" % (a.rcode, a.error, len(a.rrs)))
    if not ok:
        return a
    want = canon_zone_text(expected_zone(serial, new))
    got = a.records()
    res.check(got == want, "%s: apexd's AXFR is the zone as clients see it "
              "(apex flattened, shop as the edges)" % label,
              "  missing: %s\n  extra: %s" % (sorted(want - got), sorted(got - want)))
    res.check(len(a.rrs) == len(want) + 1 and
              a.rrs[-1][2].rdtype == dns.rdatatype.SOA,
              "%s: apexd's AXFR has each RR once, between two SOAs" % label,
              "  %d RRs, want %d:\n%s" % (len(a.rrs), len(want) + 1, a.text()))
    packed = ipaddress.ip_address(ORIGIN_ADDR).packed
    leak = [i for i, w in enumerate(a.wires) if packed in w]
    res.check(not leak and ORIGIN_ADDR not in a.text(),
              "%s: the origin address %s appears nowhere in apexd's AXFR"
              % (label, ORIGIN_ADDR),
              "  found in message(s) %s" % leak)
    bad = [canon(n, t, rd) for n, t, rd in a.rrs
           if rd.rdtype == dns.rdatatype.CNAME or "platform.test" in rd.to_text()]
    res.check(not bad, "%s: no CNAME and no platform.test. name in apexd's AXFR"
              % label, "  %s" % bad)

    # ldns-compare-zones (it ignores TTLs; the set comparison above does not):
    # the expected zone file against kdig's AXFR text
    if os.path.exists(LDNS_COMPARE):
        exp_path = os.path.join(workdir, "expected-%d.zone" % serial)
        got_path = os.path.join(workdir, "apexd-axfr-%d.zone" % serial)
        with open(exp_path, "w") as f:
            f.write(expected_zone(serial, new))
        rc, out = kdig_axfr(aport, ORIGIN, got_path)
        if rc != 0:
            res.fail("%s: kdig AXFR from apexd" % label, "  exit %s: %s" % (rc, out))
        else:
            p = subprocess.run([LDNS_COMPARE, "-a", "-s", "-e", exp_path, got_path],
                               capture_output=True, text=True, timeout=15)
            summary = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
            res.check(p.returncode == 0 and re.search(r"\+0\s+-0\s+~0", summary),
                      "%s: ldns-compare-zones: apexd's AXFR equals the expected "
                      "zone" % label,
                      "  exit %s\n  stdout:\n%s\n  stderr: %s"
                      % (p.returncode, tail(p.stdout), p.stderr.strip()))
    else:
        res.fail("%s: ldns-compare-zones not found at %s" % (label, LDNS_COMPARE))
    return a


def compare_secondary(res, name, port, apex_axfr, label):
    s = xfr(port, ORIGIN)
    if s.error is not None or s.rcode != dns.rcode.NOERROR:
        res.fail("%s: %s answers AXFR of example.test." % (label, name),
                 "  rcode %s, error %s, %d RRs" % (s.rcode, s.error, len(s.rrs)))
        return
    want = apex_axfr.records()
    got = s.records()
    res.check(got == want, "%s: %s serves exactly apexd's AXFR" % (label, name),
              "  only at apexd: %s\n  only at %s: %s"
              % (sorted(want - got), name, sorted(got - want)))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def distinct_ports(n):
    ports = []
    while len(ports) < n:
        p = harness.free_port()
        if p not in ports:
            ports.append(p)
    return ports


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    t_start = time.monotonic()
    aport, *sports = distinct_ports(1 + len(SECONDARIES))

    # which secondaries can run at all
    secs = []   # dicts: name, port, dir, argv, conf
    for (name, path, confn), port in zip(SECONDARIES, sports):
        if not os.path.exists(path):
            print("SKIP %s: %s is not installed" % (name, path))
            continue
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        conf, argv = confn(d, port, aport)
        secs.append(dict(name=name, port=port, dir=d, argv=argv, conf=conf,
                         proc=None))
    if not secs:
        res.fail("no secondary is installed (knotd, nsd, named)")

    # apexd
    adir = os.path.join(workdir, "apexd")
    os.makedirs(adir, exist_ok=True)
    zpath = os.path.join(adir, "example.test.zone")
    ppath = os.path.join(adir, "platform.test.zone")
    with open(zpath, "w") as f:
        f.write(example_zone(SERIAL1))
    with open(ppath, "w") as f:
        f.write(PLATFORM_ZONE)
    conf = os.path.join(adir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join([
            "[server]", 'listen = ["%s:%d"]' % (HOST, aport), "",
            "[log]", 'level = "info"', "",
            "[proxy]", 'ipv4 = ["%s"]' % EDGE4, 'ipv6 = ["%s"]' % EDGE6,
            "ttl = %d" % PROXY_TTL, "",
            "[[zone]]", 'origin = "%s"' % ORIGIN, 'file = "%s"' % zpath,
            'allow_transfer = ["127.0.0.0/8"]',
            "notify = [%s]" % ", ".join('"%s:%d"' % (HOST, s["port"]) for s in secs),
            "",
            "[[zone]]", 'origin = "%s"' % PLATFORM, 'file = "%s"' % ppath, ""]))
    apexd = harness.start_apexd_config(binary, conf, aport, ORIGIN, adir)

    check_access(res, aport)
    apex1 = check_apexd_axfr(res, aport, workdir, SERIAL1, False, "serial 1")

    # start the secondaries; wait (all at once, bounded) for serial 1
    for s in secs:
        s["proc"] = harness._spawn(s["name"], s["argv"], s["dir"], s["port"],
                                   s["conf"])
    loaded = {}
    last = {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < LOAD_TIMEOUT and len(loaded) < len(secs):
        for s in secs:
            if s["name"] in loaded or not s["proc"].alive():
                continue
            serial, r = soa_serial(s["port"])
            last[s["name"]] = r
            if serial == SERIAL1 and r is not None and r.flags & dns.flags.AA:
                loaded[s["name"]] = time.monotonic() - t0
        if all(not s["proc"].alive() for s in secs if s["name"] not in loaded):
            break
        time.sleep(POLL)
    for s in secs:
        p = s["proc"]
        if s["name"] in loaded:
            res.ok("%s loads example.test. from apexd (SOA serial %d, AA)"
                   % (s["name"], SERIAL1))
            print("NOTE %s had serial %d %.2f s after it started"
                  % (s["name"], SERIAL1, loaded[s["name"]]))
        elif not p.alive():
            res.fail("%s loads example.test. from apexd" % s["name"],
                     "  %s exited with %s before loading the zone (%s); stderr:\n%s"
                     % (s["name"], p.popen.returncode, " ".join(s["argv"]),
                        tail(p.stderr(), 40)))
        else:
            r = last.get(s["name"])
            res.fail("%s loads example.test. from apexd" % s["name"],
                     "  no SOA serial %d within %.0f s; last reply: %s\n  stderr:\n%s"
                     % (SERIAL1, LOAD_TIMEOUT,
                        r.to_text() if r is not None else "(none)",
                        tail(p.stderr(), 40)))
    live = [s for s in secs if s["name"] in loaded]

    for s in live:
        compare_secondary(res, s["name"], s["port"], apex1, "serial 1")

    # the change: new serial, one new name, SIGHUP; NOTIFY must do the rest
    with open(zpath, "w") as f:
        f.write(example_zone(SERIAL2, new=True))
    t0 = time.monotonic()
    os.kill(apexd.pid, signal.SIGHUP)
    conv = {}
    pending = list(live)
    while pending and time.monotonic() - t0 < CONVERGE_BOUND:
        tick = time.monotonic()
        for s in list(pending):
            if has_new(s["port"], timeout=0.2):
                conv[s["name"]] = time.monotonic() - t0
                pending.remove(s)
        left = POLL - (time.monotonic() - tick)
        if left > 0:
            time.sleep(left)
    for s in live:
        name = s["name"]
        if name in conv:
            print("%s converged in %.2f s after SIGHUP" % (name, conv[name]))
            res.check(conv[name] < CONVERGE_MAX,
                      "%s serves %s A %s within %.0f s of the SIGHUP (NOTIFY)"
                      % (name, NEW_NAME, NEW_ADDR, CONVERGE_MAX),
                      "  took %.2f s" % conv[name])
        else:
            serial, _ = soa_serial(s["port"])
            res.fail("%s serves %s A %s within %.0f s of the SIGHUP (NOTIFY)"
                     % (name, NEW_NAME, NEW_ADDR, CONVERGE_MAX),
                     "  not within %.0f s (its SOA serial now %s)\n  %s stderr:\n%s"
                     "\n  apexd stderr:\n%s"
                     % (CONVERGE_BOUND, serial, name, tail(s["proc"].stderr()),
                        tail(apexd.stderr())))

    # apexd logged one notify_sent per target (bounded wait: the retries)
    deadline = time.monotonic() + 5.0
    want_lines = {s["name"]: re.compile(
        r"event=notify_sent zone=example\.test\. serial=%d target=%s:%d\b"
        % (SERIAL2, re.escape(HOST), s["port"])) for s in secs}
    while time.monotonic() < deadline:
        err = apexd.stderr()
        if all(p.search(err) for p in want_lines.values()):
            break
        time.sleep(POLL)
    err = apexd.stderr()
    for s in secs:
        res.check(bool(want_lines[s["name"]].search(err)),
                  "apexd logs event=notify_sent for %s (%s:%d)"
                  % (s["name"], HOST, s["port"]),
                  "  apexd stderr:\n%s" % tail(err))
    res.check("event=notify_failed" not in err, "apexd logs no notify_failed",
              "  %s" % "\n  ".join(l for l in err.splitlines()
                                   if "notify_failed" in l))
    xfer2 = [l for l in err.splitlines()
             if "event=transfer " in l and "serial=%d" % SERIAL2 in l]
    print("NOTE apexd transfers of serial %d after the SIGHUP:\n%s"
          % (SERIAL2, "\n".join("    " + l for l in xfer2) or "    (none)"))

    apex2 = check_apexd_axfr(res, aport, workdir, SERIAL2, True, "serial 2")
    for s in live:
        if s["name"] in conv:
            compare_secondary(res, s["name"], s["port"], apex2, "serial 2")

    # IXFR answered by apexd
    r = xfr(aport, ORIGIN, "IXFR", serial=SERIAL2)
    res.check(r.error is None and r.rcode == dns.rcode.NOERROR and len(r.rrs) == 1
              and r.soa_serial() == SERIAL2,
              "IXFR from the current serial: just the SOA",
              "  rcode %s, error %s, RRs:\n%s" % (r.rcode, r.error, r.text()))
    r = xfr(aport, ORIGIN, "IXFR", serial=SERIAL1)
    want = canon_zone_text(expected_zone(SERIAL2, True))
    if r.error is not None or r.rcode != dns.rcode.NOERROR or len(r.rrs) < 2:
        res.fail("IXFR from the previous serial: the new zone",
                 "  rcode %s, error %s, RRs:\n%s" % (r.rcode, r.error, r.text()))
    elif r.rrs[1][2].rdtype == dns.rdatatype.SOA:
        # incremental: starts and ends with the new SOA; not a full zone
        res.check(r.soa_serial() == SERIAL2 and r.rrs[-1][2].rdtype == dns.rdatatype.SOA
                  and r.rrs[-1][2].serial == SERIAL2,
                  "IXFR from the previous serial: an incremental answer from "
                  "%d to %d" % (SERIAL1, SERIAL2), "  RRs:\n%s" % r.text())
    else:
        got = r.records()
        res.check(r.soa_serial() == SERIAL2 and got == want,
                  "IXFR from the previous serial: the new zone, AXFR-style",
                  "  first SOA serial %s\n  missing: %s\n  extra: %s"
                  % (r.soa_serial(), sorted(want - got), sorted(got - want)))

    for s in secs:
        p = s["proc"]
        res.check(p.alive(), "%s still running at the end" % s["name"],
                  "  exit %s; stderr:\n%s" % (p.popen.returncode, tail(p.stderr())))
    res.check(apexd.alive(), "apexd still running at the end",
              "  exit %s; stderr:\n%s" % (apexd.popen.returncode, tail(apexd.stderr())))
    odd = [l for l in apexd.stderr().splitlines()
           if re.search(r"\b(warn|error|critical)\b", l)]
    if odd:
        print("NOTE apexd warnings/errors:\n%s" % "\n".join("    " + l for l in odd))

    # clean shutdown by PID
    for s in secs:
        harness.stop(s["proc"])
        res.check(not s["proc"].alive(), "%s stopped by PID" % s["name"])
    harness.stop(apexd)
    res.check(apexd.popen.returncode == 0, "apexd exits 0 on SIGTERM",
              "  exit %s" % apexd.popen.returncode)
    print("NOTE took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    harness.main(body, harness.base_parser(
        "zone transfers from apexd to knotd, nsd and named"))
