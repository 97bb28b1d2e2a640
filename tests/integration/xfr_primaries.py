#!/usr/bin/python3
"""apexd as a secondary: knotd and named are its primaries.

    /usr/bin/python3 tests/integration/xfr_primaries.py --apexd build-rel/apexd
    /usr/bin/python3 tests/integration/xfr_primaries.py --peers-only

Each primary runs from its own configuration in the work folder, on its own
free port on 127.0.0.1, and serves two zones it loads from files written
there (1200 TXT records, so an AXFR takes several messages), IXFR from its
journal, NOTIFY to apexd's port:

    knotd  fromknot.test.    (transfer: 127.0.0.0/8)
           secure-knot.test. (transfer only with TSIG key xfr-key, hmac-sha256)
           flat.test.        (a CNAME into apexd's own local.test., www)
    named  fromnamed.test.   (transfer: 127.0.0.0/8)
           secure-named.test.(transfer only with xfr-key512, hmac-sha512)

The keys come from `tsig-keygen` at start. apexd (the main one) has those
five zones as secondaries (no copy on disk at start, allow_transfer =
127.0.0.0/8, a [control] endpoint) plus local.test. from a file.

Checks, per primary (a primary whose binary is absent is skipped, printed;
one that cannot start is a failure with its stderr):
- apexd serves each zone (SOA serial S1, AA) within 10 s of its start (time
  printed); its answers to ~17 (name, type) pairs equal the primary's (rcode,
  AA, answer RRs with TTLs; for answers without RRs the authority section);
  `kdig AXFR` from apexd equals the primary's zone file (ldns-compare-zones,
  SOA included, and as sets of RRs with TTLs); the copy apexd wrote exists,
  `named-checkzone` loads it with serial S1, and it holds exactly the zone;
  the log says `event=transfer_in zone=Z primary=127.0.0.1:P type=AXFR
  serial=S1 records=N`;
- the zone changes (S2, new.Z added, gone.Z removed), `knotc zone-reload` /
  `rndc reload`: apexd serves new.Z within 10 s (time printed; refresh is
  3600, so only the primary's NOTIFY explains it), gone.Z is NXDOMAIN, the
  log has notify_received (serial S2) and `type=IXFR serial=S2`; an IXFR
  from S1 asked of the primary itself (dnspython) is incremental (it does
  offer IXFR); apexd's AXFR and its copy on disk are the S2 zone;
- the TSIG zone loads into apexd with the key (signed transfer); the primary
  itself refuses it unsigned;
- wrong key: a second apexd whose xfr-key/xfr-key512 have the right names
  and other secrets never loads the TSIG zones (SERVFAIL, /zones state
  "pending"), logs transfer_in_failed for each, counts them as failed, and
  the primary logs the bad signature.

Then:
- NOTIFY (dnspython) from 127.0.0.1 for fromknot.test.: NOERROR, AA; from
  127.0.0.2 (allow_notify is 127.0.0.1/32): REFUSED; for local.test. (a file
  zone) and nothere.test.: NOTAUTH; apexd_notify_received_total went up;
- flattening and proxied names on a secondary zone: flat.test. (flatten =
  "all", proxied = ["www.flat.test."]) answers alias A with local.test.'s
  target address and no CNAME, www A with the [proxy] address 192.0.2.80;
- metrics: apexd_transfers_in_total{result="ok"} counts every transfer,
  apexd_zone_serial per zone = the served serial, apexd_zone_expire_seconds
  in (0, expire], apexd_zone_last_refresh_timestamp_seconds within the run;
  /zones: local.test. "role": "primary"; each secondary "secondary", state
  "ok", serial, primaries ["127.0.0.1:P"], expires_in in (0, expire];
- expiry: a third primary (knotd, else named) serves short.test. with SOA
  refresh 2, retry 1, expire 12 (checked in its own AXFR: no clamping) to a
  third apexd. The primary stopped at T: apexd serves until T+9 (the last
  refresh is at most 2 s before T... plus 1 s slack), SERVFAIL by T+17, logs
  event=zone_expired, /healthz degraded naming short.test., /zones "expired",
  apexd_zone_expire_seconds 0; that apexd restarted (primary still down)
  serves the kept copy as it becomes ready (5 s); the primary back with
  serial 2: apexd serves it within 10 s, /healthz ok, state "ok".

--peers-only runs only what the primaries do on their own: they load the
zones, answer AXFR (kdig, ldns-compare-zones against the zone file) and
IXFR (dnspython, incremental after the reload), refuse unsigned or
wrongly-signed transfers of the TSIG zones and log it, accept the right key,
send a NOTIFY with the new serial to a UDP socket bound at apexd's port
after the reload, and short.test.'s SOA timers as transferred.

Ends with `N passed, N failed`; exits 1 on any failure. About 60 s (bounds:
10 s per load and change, 20 s for the expiry, 2 minutes in all).
"""

import json
import os
import re
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.zone

import harness
from harness import distinct_ports, tail  # noqa: E402
from tsig_keys import TsigKey, tsig_keygen  # noqa: E402
import ops_common as oc

HOST = harness.HOST
OTHER_SRC = "127.0.0.2"
KNOTD = "/usr/sbin/knotd"
KNOTC = "/usr/sbin/knotc"
NAMED = "/usr/sbin/named"
RNDC = "/usr/sbin/rndc"
KDIG = "/usr/bin/kdig"
LDNS_COMPARE = "/usr/bin/ldns-compare-zones"
NAMED_CHECKZONE = "/usr/bin/named-checkzone"

S1 = 2026030101
S2 = 2026030102
BULK = 1200              # TXT records: an AXFR of ~130 KB, several messages
REFRESH, RETRY, EXPIRE = 3600, 600, 1209600   # no timer fires during the test
NEW_ADDR = "192.0.2.200"
GONE_ADDR = "192.0.2.99"

LOCAL = "local.test."           # apexd's own file zone (role primary)
LOCAL_TARGET = "192.0.2.77"     # target.local.test. A
FLAT = "flat.test."             # from knotd, flatten = "all", www proxied
EDGE4 = "192.0.2.80"
SHORT = "short.test."           # small timers, a third primary
SHORT_REFRESH, SHORT_RETRY, SHORT_EXPIRE = 2, 1, 12

LOAD_MAX = 10.0          # apexd serves a zone this long after it starts
CHANGE_MAX = 10.0        # ... a change this long after the reload
FAIL_WAIT = 10.0         # the wrong-key apexd logs its failures by then
POLL = 0.1
TOTAL_BOUND = 150.0      # the whole test


# --------------------------------------------------------------------------
# zones
# --------------------------------------------------------------------------

def zone_text(origin, serial, v2=False, timers=(REFRESH, RETRY, EXPIRE),
              bulk=BULK):
    """~50 records plus `bulk` TXT; v2 adds new.Z and drops gone.Z."""
    lines = [
        "$ORIGIN %s" % origin,
        "$TTL 3600",
        "@ 300 SOA ns1 hostmaster %d %d %d %d 300" % ((serial,) + tuple(timers)),
        "@ NS ns1",
        "@ NS ns2",
        "@ MX 10 mail",
        '@ TXT "v=spf1 -all"',
        "@ A 192.0.2.1",
        "ns1 A 192.0.2.2",
        "ns2 A 192.0.2.3",
        "ns2 AAAA 2001:db8::3",
        "mail A 192.0.2.4",
        "www A 192.0.2.5",
        "www A 192.0.2.6",
        "www AAAA 2001:db8::5",
        "ftp CNAME www",
        "_sip._tcp SRV 10 5 5060 www",
        '*.wild 600 TXT "wildcard"',
        "sub NS ns.sub",
        "ns.sub A 192.0.2.53",
        'caa CAA 0 issue "ca.example.net"',
    ]
    if not v2:
        lines.append("gone A %s" % GONE_ADDR)
    else:
        lines.append("new A %s" % NEW_ADDR)
    lines += ["host%02d A 198.51.100.%d" % (i, i) for i in range(1, 31)]
    lines += ['bulk%04d TXT "bulk record %04d of the transfer test, padding padding '
              'padding padding"' % (i, i) for i in range(bulk)]
    return "\n".join(lines) + "\n"


def flat_text(serial):
    return "\n".join([
        "$ORIGIN flat.test.", "$TTL 3600",
        "@ 300 SOA ns1 hostmaster %d 3600 600 1209600 300" % serial,
        "@ NS ns1", "ns1 A 192.0.2.2",
        "alias CNAME target.local.test.",
        "www A 198.51.100.50",
        "plain A 198.51.100.51",
    ]) + "\n"


LOCAL_TEXT = """$ORIGIN local.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 1209600 300
@ NS ns1
ns1 A 192.0.2.2
target A %s
""" % LOCAL_TARGET

# (relative name, type) pairs whose answers apexd must give as the primary
QUERIES = [("@", "SOA"), ("@", "NS"), ("@", "MX"), ("@", "TXT"), ("@", "A"),
           ("www", "A"), ("www", "AAAA"), ("ftp", "A"), ("_sip._tcp", "SRV"),
           ("x.wild", "TXT"), ("host.sub", "A"), ("nx", "A"), ("www", "MX"),
           ("bulk0007", "TXT"), ("host17", "A"), ("caa", "CAA"), ("gone", "A"),
           ("new", "A")]


def abs_name(rel, origin):
    return origin if rel == "@" else "%s.%s" % (rel, origin)


def canon(name, ttl, rd):
    return "%s %d %s %s %s" % (name.to_text().lower(), ttl,
                               dns.rdataclass.to_text(rd.rdclass),
                               dns.rdatatype.to_text(rd.rdtype),
                               rd.to_text().lower())


def zone_set(text, origin):
    z = dns.zone.from_text(text, origin=origin, relativize=False,
                           check_origin=False)
    return {canon(n, t, rd) for n, t, rd in z.iterate_rdatas()}


def file_set(path, origin):
    """The RRs of a zone file as canonical lines (None, problem if unreadable)."""
    try:
        with open(path) as f:
            return zone_set(f.read(), origin), None
    except Exception as e:  # noqa: BLE001
        return None, "%s: %s" % (type(e).__name__, e)


# --------------------------------------------------------------------------
# TSIG keys
# --------------------------------------------------------------------------

def run(argv, timeout=15):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, "%s: %s" % (type(e).__name__, e)


class Primary:
    """A knotd or named serving `zones` {origin: (text, key or None)} from
    files in its own folder, NOTIFYing 127.0.0.1:notify_port."""

    kind = None

    def __init__(self, name, workdir, port, zones, notify_port):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.zones = dict(zones)
        self.notify_port = notify_port
        self.proc = None
        self.conf = None

    def zone_path(self, origin):
        return os.path.join(self.dir, origin + "zone")

    def write_zone(self, origin, text):
        tmp = self.zone_path(origin) + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.zone_path(origin))

    def start(self, timeout=10.0):
        for origin, (text, _) in self.zones.items():
            self.write_zone(origin, text)
        self.conf, argv = self.config()
        self.proc = harness._spawn(self.name, argv, self.dir, self.port, self.conf)
        harness.wait_ready(self.proc, list(self.zones), timeout)

    def stop(self):
        harness.stop(self.proc)

    def log(self):
        return self.proc.stderr() if self.proc else ""


class KnotPrimary(Primary):
    kind = "knotd"

    def config(self):
        d = self.dir
        for sub in ("run", "db", "journal", "timers"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        keys = {k.name: k for _, k in self.zones.values() if k}
        text = ["server:", "    listen: %s@%d" % (HOST, self.port),
                "    rundir: %s/run" % d, "    udp-workers: 1", "    tcp-workers: 2",
                "    background-workers: 1", "",
                "database:", "    storage: %s/db" % d,
                "    journal-db: %s/journal" % d, "    timer-db: %s/timers" % d, "",
                # a bad TSIG is logged at debug level only (zone category)
                "log:", "  - target: stderr", "    any: info", "    zone: debug", ""]
        if keys:
            text.append("key:")
            for k in keys.values():
                text += ["  - id: %s" % k.name, "    algorithm: %s" % k.algorithm,
                         "    secret: %s" % k.secret]
            text.append("")
        text += ["remote:", "  - id: apexd", "    address: %s@%d" % (HOST, self.notify_port),
                 "", "acl:", "  - id: xfr_any", "    address: 127.0.0.0/8",
                 "    action: transfer"]
        for k in keys.values():
            text += ["  - id: xfr_%s" % k.name, "    key: %s" % k.name,
                     "    action: transfer"]
        # difference + journal: a reload of a file with a higher serial becomes
        # a changeset in the journal, so IXFR is answered incrementally
        text += ["", "template:", "  - id: default", "    storage: %s" % d,
                 "    zonefile-sync: -1", "    zonefile-load: difference",
                 "    journal-content: changes", "    semantic-checks: on", "",
                 "zone:"]
        for origin, (_, k) in self.zones.items():
            text += ["  - domain: %s" % origin, "    file: %s" % self.zone_path(origin),
                     "    notify: apexd",
                     "    acl: %s" % ("xfr_%s" % k.name if k else "xfr_any")]
        conf = os.path.join(d, "knot.conf")
        with open(conf, "w") as f:
            f.write("\n".join(text) + "\n")
        return conf, [KNOTD, "-c", conf]

    def reload(self, origin):
        return run([KNOTC, "-c", self.conf, "-t", "5", "zone-reload", origin])


class NamedPrimary(Primary):
    kind = "named"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.rndc_port = None
        self.rndc_key = None

    def config(self):
        d = self.dir
        self.rndc_port = self.rndc_port or harness.free_port()
        self.rndc_key = self.rndc_key or tsig_keygen("hmac-sha256", "rndc-key")
        keys = {k.name: k for _, k in self.zones.values() if k}
        text = "".join(k.named_text() for k in list(keys.values()) + [self.rndc_key])
        text += """
controls {{ inet {host} port {rport} allow {{ {host}; }} keys {{ "rndc-key"; }}; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    automatic-interface-scan no;
    recursion no;
    dnssec-validation no;
    minimal-responses yes;
    notify explicit;
    notify-delay 0;
    also-notify {{ {host} port {nport}; }};
    ixfr-from-differences yes;
    allow-transfer {{ none; }};
}};
logging {{
    channel err {{ stderr; severity info; print-time yes; print-category yes; }};
    category default {{ err; }};
}};
""".format(host=HOST, rport=self.rndc_port, d=d, port=self.port,
           nport=self.notify_port)
        for origin, (_, k) in self.zones.items():
            text += 'zone "%s" {\n    type primary;\n    file "%s";\n' \
                    '    allow-transfer { %s; };\n};\n' % (
                        origin.rstrip("."), self.zone_path(origin),
                        'key "%s"' % k.name if k else "127.0.0.0/8")
        conf = os.path.join(d, "named.conf")
        with open(conf, "w") as f:
            f.write(text)
        self.rndc_conf = os.path.join(d, "rndc.conf")
        with open(self.rndc_conf, "w") as f:
            f.write(self.rndc_key.named_text() +
                    'options { default-key "rndc-key"; default-server %s; '
                    'default-port %d; };\n' % (HOST, self.rndc_port))
        return conf, [NAMED, "-g", "-c", conf]

    def reload(self, origin):
        return run([RNDC, "-c", self.rndc_conf, "reload", origin.rstrip(".")])


def make_primary(kind, *a, **kw):
    return (KnotPrimary if kind == "knotd" else NamedPrimary)(*a, **kw)


BINARIES = {"knotd": KNOTD, "named": NAMED}


# --------------------------------------------------------------------------
# DNS helpers
# --------------------------------------------------------------------------

def soa_serial(port, zone, timeout=0.5):
    try:
        r = harness.query(port, zone, "SOA", timeout=timeout)
    except Exception:  # noqa: BLE001
        return None, None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None, r
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial, r
    return None, r


def rcode_of(port, name, qtype, timeout=0.5):
    try:
        r = harness.query(port, name, qtype, timeout=timeout)
    except Exception:  # noqa: BLE001
        return None
    return None if r is None else r.rcode()


def has_a(port, name, addr, timeout=0.5):
    try:
        r = harness.query(port, name, "A", timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    return r is not None and r.rcode() == dns.rcode.NOERROR and any(
        rs.rdtype == dns.rdatatype.A and any(rd.address == addr for rd in rs)
        for rs in r.answer)


def section_set(section):
    return {canon(rs.name, rs.ttl, rd) for rs in section for rd in rs}


def answer_key(r):
    """What two authoritative answers must share: rcode, AA, the answer RRs
    (with TTLs); when the answer is empty, the authority RRs."""
    if r is None:
        return None
    return (dns.rcode.to_text(r.rcode()), bool(r.flags & dns.flags.AA),
            sorted(section_set(r.answer)),
            sorted(section_set(r.authority)) if not r.answer else [])


def xfr_records(port, zone, key=None, rdtype="AXFR", serial=0, timeout=10.0):
    """dnspython transfer: (list of messages, error or None)."""
    msgs = []
    kw = {}
    if key:
        kw = dict(keyring=key.keyring(), keyname=key.name,
                  keyalgorithm=key.algorithm)
    try:
        for m in dns.query.xfr(HOST, zone, rdtype=rdtype, port=port,
                               relativize=False, timeout=timeout,
                               lifetime=2 * timeout, serial=serial, **kw):
            msgs.append(m)
    except Exception as e:  # noqa: BLE001
        return msgs, e
    return msgs, None


def rrs_of(msgs):
    return [(rs.name, rs.ttl, rd) for m in msgs for rs in m.answer for rd in rs]


def raw_xfr_rcode(port, zone, key=None, timeout=5.0):
    """The rcode (and TSIG error, if any) of the first answer to an AXFR
    query, without dnspython's TSIG verification."""
    q = dns.message.make_query(zone, "AXFR", use_edns=False)
    if key:
        q.use_tsig(key.keyring(), keyname=key.name, algorithm=key.algorithm)
    wire = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        deadline = time.monotonic() + timeout
        hdr = harness._recv_exact(s, 2, deadline)
        if hdr is None:
            return None, None, 0
        body = harness._recv_exact(s, int.from_bytes(hdr, "big"), deadline)
        if body is None:
            return None, None, 0
    except OSError:
        return None, None, 0
    finally:
        s.close()
    rcode = body[3] & 0xF
    terr = None
    an = int.from_bytes(body[6:8], "big")
    return rcode, terr, an


def kdig_axfr(port, zone, path, key=None):
    argv = [KDIG, "@%s" % HOST, "-p", str(port), zone, "AXFR", "+noall",
            "+answer", "+time=5", "+retry=0"]
    if key:
        argv[1:1] = ["-y", key.kdig_arg()]
    rc, out = run(argv, timeout=20)
    # the closing SOA out: ldns-compare-zones wants one SOA
    lines = out.splitlines()
    soa_idx = [i for i, l in enumerate(lines) if re.search(r"\sSOA\s", l)]
    if len(soa_idx) >= 2:
        del lines[soa_idx[-1]]
    with open(path, "w") as f:
        f.write("\n".join(l for l in lines if not l.startswith(";")) + "\n")
    return rc, out


def ldns_compare(a, b):
    """(equal, output) of ldns-compare-zones -a -s -e (SOA compared too)."""
    rc, out = run([LDNS_COMPARE, "-a", "-s", "-e", a, b])
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return rc == 0 and bool(re.search(r"\+0\s+-0\s+~0", last)), out


def send_notify(port, zone, serial=None, source=None, timeout=2.0):
    """A NOTIFY (RFC 1996 §3.7: SOA in the answer section); the reply or None."""
    q = dns.message.make_query(zone, "SOA", use_edns=False)
    q.flags = dns.flags.AA          # (flags hold the opcode: set it after)
    q.set_opcode(dns.opcode.NOTIFY)
    if serial is not None:
        q.answer.append(dns.rrset.from_text(zone, 300, "IN", "SOA",
                                            "ns1.%s hostmaster.%s %d 3600 600 1209600 300"
                                            % (zone, zone, serial)))
    wire = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.sendto(wire, (HOST, port))
        try:
            data, _ = s.recvfrom(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None
    finally:
        s.close()
    try:
        return dns.message.from_wire(data)
    except Exception:  # noqa: BLE001
        return None


def wait_for(pred, timeout, interval=POLL):
    """Poll pred() until true or timeout; (value, seconds)."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v or time.monotonic() - t0 >= timeout:
            return v, time.monotonic() - t0
        time.sleep(interval)


def log_lines(text, pattern):
    rx = re.compile(pattern)
    return [l for l in text.splitlines() if rx.search(l)]


def metrics(cport):
    try:
        return oc.get_metrics(cport)
    except Exception as e:  # noqa: BLE001
        p = oc.Prom()
        p.errors.append(str(e))
        return p


def zones_json(cport):
    try:
        st, _, body = oc.http_request(cport, "GET", "/zones")
        return {z.get("origin"): z for z in json.loads(body)}
    except Exception:  # noqa: BLE001
        return {}


# --------------------------------------------------------------------------
# apexd
# --------------------------------------------------------------------------

def write_apexd_conf(path, port, cport, keys, zones, local_file=None, extra=""):
    """zones: dicts origin, file, primaries [port], key (name), plus optional
    flatten, proxied, allow_transfer."""
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, port), "",
             "[log]", 'level = "info"', "",
             "[control]", 'listen = "%s:%d"' % (HOST, cport), "",
             "[proxy]", 'ipv4 = ["%s"]' % EDGE4, ""]
    for k in keys:
        lines += ["[[key]]", 'name = "%s"' % k.name, 'algorithm = "%s"' % k.algorithm,
                  'secret = "%s"' % k.secret, ""]
    if local_file:
        lines += ["[[zone]]", 'origin = "%s"' % LOCAL, 'file = "%s"' % local_file, ""]
    for z in zones:
        lines += ["[[zone]]", 'origin = "%s"' % z["origin"], 'file = "%s"' % z["file"],
                  "primaries = [%s]" % ", ".join('"%s:%d"' % (HOST, p)
                                                  for p in z["primaries"]),
                  'allow_transfer = ["127.0.0.0/8"]',
                  'allow_notify = ["127.0.0.1/32"]']
        if z.get("key"):
            lines.append('primary_key = "%s"' % z["key"])
        if z.get("flatten"):
            lines.append('flatten = "%s"' % z["flatten"])
        if z.get("proxied"):
            lines.append("proxied = [%s]" % ", ".join('"%s"' % n for n in z["proxied"]))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines) + extra)
    return path


def spawn_apexd(binary, conf, d, port, name):
    return oc.spawn(binary, conf, d, port, name=name)


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------

def check_primary_alone(res, prim, origin, key, workdir):
    """What the primary does without apexd: its AXFR is its zone file; the
    TSIG zone refuses an unsigned AXFR and one with a wrong secret."""
    text = prim.zones[origin][0]
    want = zone_set(text, origin)
    msgs, err = xfr_records(prim.port, origin, key=key)
    got = {canon(n, t, rd) for n, t, rd in rrs_of(msgs)}
    res.check(err is None and got == want and len(msgs) > 1,
              "peer %s: AXFR of %s%s is its zone file (%d messages)"
              % (prim.name, origin, " signed with %s" % key.name if key else "",
                 len(msgs)),
              "  error %r, missing %s, extra %s" % (err, sorted(want - got)[:5],
                                                    sorted(got - want)[:5]))
    path = os.path.join(workdir, "peer-%s-%s.axfr" % (prim.name, origin))
    rc, out = kdig_axfr(prim.port, origin, path, key=key)
    eq, cmp_out = ldns_compare(prim.zone_path(origin), path)
    res.check(rc == 0 and eq, "peer %s: kdig AXFR of %s equals the zone file "
              "(ldns-compare-zones)" % (prim.name, origin),
              "  kdig exit %s\n%s\n  ldns-compare-zones:\n%s"
              % (rc, tail(out, 5), tail(cmp_out, 10)))
    if key:
        rcode, terr, an = raw_xfr_rcode(prim.port, origin)
        res.check(rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH) and an == 0,
                  "peer %s: unsigned AXFR of %s refused (%s)"
                  % (prim.name, origin, dns.rcode.to_text(rcode) if rcode is not None
                     else None), "  rcode %s, %d answer RRs" % (rcode, an))
        wrong = TsigKey(key.name, key.algorithm, tsig_keygen(key.algorithm, "x").secret)
        msgs, err = xfr_records(prim.port, origin, key=wrong)
        res.check(err is not None and not rrs_of(msgs),
                  "peer %s: AXFR of %s with %s's name and another secret fails "
                  "(%s)" % (prim.name, origin, key.name, type(err).__name__),
                  "  %d RRs" % len(rrs_of(msgs)))
        _, seen = wait_for(lambda: bad_sig_logged(prim, origin), 3.0)
        res.check(bad_sig_logged(prim, origin),
                  "peer %s logs the bad signature for %s" % (prim.name, origin),
                  "  log:\n%s" % tail(prim.log(), 10))


def bad_sig_logged(prim, origin):
    z = origin.rstrip(".")
    for l in prim.log().splitlines():
        low = l.lower()
        if prim.kind == "knotd" and z in low and ("tsig" in low or "denied" in low):
            return l
        if prim.kind == "named" and ("badsig" in low or "tsig verify failure" in low
                                     or "bad signature" in low):
            return l
    return None


def check_primary_ixfr(res, prim, origin, key=None):
    msgs, err = xfr_records(prim.port, origin, key=key, rdtype="IXFR", serial=S1)
    rrs = rrs_of(msgs)
    incremental = (len(rrs) >= 3 and rrs[0][2].rdtype == dns.rdatatype.SOA and
                   rrs[1][2].rdtype == dns.rdatatype.SOA and rrs[1][2].serial == S1)
    text = "\n".join(canon(*r) for r in rrs[:12])
    res.check(err is None and incremental and rrs[0][2].serial == S2 and len(rrs) == 6,
              "peer %s: IXFR of %s from %d is incremental (SOA %d, -SOA %d, -gone, "
              "+SOA %d, +new, SOA %d)" % (prim.name, origin, S1, S2, S1, S2, S2),
              "  error %r, %d RRs:\n%s" % (err, len(rrs), text))


class NotifyCatcher:
    """Sockets on apexd's port (peers-only mode), UDP and TCP (knotd 3.2
    sends its NOTIFY over TCP): collects NOTIFYs as (zone, serial, transport)
    and answers them."""

    def __init__(self, port):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, port))
        self.udp.setblocking(False)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((HOST, port))
        self.tcp.listen(8)
        self.tcp.setblocking(False)
        self.seen = []

    def _answer(self, data, transport):
        try:
            m = dns.message.from_wire(data)
        except Exception:  # noqa: BLE001
            return None
        if m.opcode() != dns.opcode.NOTIFY:
            return None
        serial = next((rs[0].serial for rs in m.answer
                       if rs.rdtype == dns.rdatatype.SOA), None)
        self.seen.append((m.question[0].name.to_text(), serial, transport))
        r = dns.message.make_response(m)
        r.flags |= dns.flags.AA
        return r.to_wire()

    def poll(self):
        try:
            while True:
                data, addr = self.udp.recvfrom(65535)
                w = self._answer(data, "udp")
                if w:
                    self.udp.sendto(w, addr)
        except (BlockingIOError, OSError):
            pass
        try:
            while True:
                c, _ = self.tcp.accept()
                try:
                    c.settimeout(2.0)
                    deadline = time.monotonic() + 2.0
                    hdr = harness._recv_exact(c, 2, deadline)
                    data = hdr and harness._recv_exact(c, int.from_bytes(hdr, "big"),
                                                       deadline)
                    w = data and self._answer(data, "tcp")
                    if w:
                        c.sendall(len(w).to_bytes(2, "big") + w)
                finally:
                    c.close()
        except (BlockingIOError, OSError):
            pass
        return [(z, s) for z, s, _ in self.seen]

    def close(self):
        self.udp.close()
        self.tcp.close()


def compare_answers(res, aport, prim, origin, label):
    diffs = []
    for rel, qtype in QUERIES:
        name = abs_name(rel, origin)
        a = harness.query(aport, name, qtype, timeout=2.0)
        p = harness.query(prim.port, name, qtype, timeout=2.0)
        if answer_key(a) != answer_key(p):
            diffs.append("  %s %s\n    apexd: %s\n    %s: %s" % (
                name, qtype, answer_key(a), prim.name, answer_key(p)))
    res.check(not diffs, "%s: apexd answers %d queries in %s as %s does"
              % (label, len(QUERIES), origin, prim.name), "\n".join(diffs[:6]))


def check_copy(res, apexd_file, origin, text, serial, label, workdir, aport):
    """apexd's AXFR and the copy it wrote, against the primary's zone."""
    want = zone_set(text, origin)
    path = os.path.join(workdir, "apexd-%s-%d.axfr" % (origin, serial))
    rc, out = kdig_axfr(aport, origin, path)
    src = os.path.join(workdir, "src-%s-%d.zone" % (origin, serial))
    with open(src, "w") as f:
        f.write(text)
    eq, cmp_out = ldns_compare(src, path)
    res.check(rc == 0 and eq, "%s: kdig AXFR of %s from apexd equals the primary's "
              "zone file (ldns-compare-zones)" % (label, origin),
              "  kdig exit %s\n%s\n  ldns-compare-zones:\n%s"
              % (rc, tail(out, 5), tail(cmp_out, 10)))
    got, _ = file_set(path, origin)
    res.check(got == want, "%s: apexd's AXFR of %s is the zone, RR for RR with "
              "TTLs" % (label, origin),
              "  missing %s\n  extra %s" % (sorted(want - (got or set()))[:5],
                                            sorted((got or set()) - want)[:5]))
    exists = os.path.isfile(apexd_file)
    res.check(exists, "%s: apexd wrote its copy of %s to %s" % (label, origin, apexd_file))
    if not exists:
        return
    rc, out = run([NAMED_CHECKZONE, "-i", "local", origin, apexd_file])
    res.check(rc == 0 and ("loaded serial %d" % serial) in out,
              "%s: named-checkzone loads apexd's copy of %s (serial %d)"
              % (label, origin, serial), "  exit %s:\n%s" % (rc, tail(out, 8)))
    got, problem = file_set(apexd_file, origin)
    res.check(got == want, "%s: apexd's copy of %s holds exactly the zone"
              % (label, origin),
              "  %s missing %s\n  extra %s" % (problem or "", sorted(want - (got or set()))[:5],
                                               sorted((got or set()) - want)[:5]))


def check_notifies(res, aport, cport, apexd):
    before = metrics(cport).sum("apexd_notify_received_total")
    r = send_notify(aport, "fromknot.test.", serial=S2)
    res.check(r is not None and r.rcode() == dns.rcode.NOERROR and
              r.opcode() == dns.opcode.NOTIFY and bool(r.flags & dns.flags.AA) and
              bool(r.flags & dns.flags.QR),
              "NOTIFY for fromknot.test. from 127.0.0.1: NOERROR, AA, opcode NOTIFY",
              "  reply:\n%s" % (r.to_text() if r else "(none)"))
    r = send_notify(aport, "fromknot.test.", serial=S2, source=OTHER_SRC)
    res.check(r is not None and r.rcode() == dns.rcode.REFUSED,
              "NOTIFY for fromknot.test. from %s (allow_notify 127.0.0.1/32): REFUSED"
              % OTHER_SRC, "  reply:\n%s" % (r.to_text() if r else "(none)"))
    for zone, what in ((LOCAL, "a zone apexd loads from a file"),
                       ("nothere.test.", "a zone apexd does not serve")):
        r = send_notify(aport, zone, serial=1)
        res.check(r is not None and r.rcode() == dns.rcode.NOTAUTH,
                  "NOTIFY for %s (%s): NOTAUTH" % (zone, what),
                  "  reply:\n%s" % (r.to_text() if r else "(none)"))
    v, _ = wait_for(lambda: metrics(cport).sum("apexd_notify_received_total") > before, 3.0)
    after = metrics(cport).sum("apexd_notify_received_total")
    res.check(after > before, "apexd_notify_received_total went up (%g -> %g)"
              % (before, after))
    per_zone = metrics(cport).get("apexd_zone_notify_received_total", None,
                                  zone="fromknot.test.")
    res.check(per_zone is not None and per_zone >= 1,
              "apexd_zone_notify_received_total{zone=\"fromknot.test.\"} >= 1",
              "  got %r" % per_zone)
    res.check(apexd.alive(), "apexd alive after the NOTIFYs")


def check_flatten(res, aport):
    r = harness.query(aport, "alias." + FLAT, "A", timeout=2.0)
    ok = (r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1 and
          r.answer[0].rdtype == dns.rdatatype.A and
          r.answer[0].name == dns.name.from_text("alias." + FLAT) and
          {rd.address for rd in r.answer[0]} == {LOCAL_TARGET})
    res.check(ok, "flat.test. (secondary, flatten = \"all\"): alias A is the "
              "target's address %s, owner alias, no CNAME" % LOCAL_TARGET,
              "  reply:\n%s" % (r.to_text() if r else "(none)"))
    r = harness.query(aport, "www." + FLAT, "A", timeout=2.0)
    ok = (r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1 and
          {rd.address for rd in r.answer[0]} == {EDGE4})
    res.check(ok, "flat.test.: www (proxied) answers A %s, not the transferred "
              "198.51.100.50" % EDGE4, "  reply:\n%s" % (r.to_text() if r else "(none)"))
    r = harness.query(aport, "plain." + FLAT, "A", timeout=2.0)
    res.check(r is not None and len(r.answer) == 1 and
              {rd.address for rd in r.answer[0]} == {"198.51.100.51"},
              "flat.test.: plain A as transferred",
              "  reply:\n%s" % (r.to_text() if r else "(none)"))


def check_metrics_zones(res, cport, secondaries, t_start, label):
    """secondaries: {origin: (serial, primary port, expire)}."""
    p = metrics(cport)
    res.check(not p.errors, "%s: /metrics parses" % label, repr(p.errors[:3]))
    ok_total = p.sum("apexd_transfers_in_total", result="ok")
    res.check(ok_total >= len(secondaries),
              "%s: apexd_transfers_in_total{result=\"ok\"} >= %d (got %g)"
              % (label, len(secondaries), ok_total))
    per_zone_ok = p.sum("apexd_zone_transfers_in_total", result="ok")
    res.check(per_zone_ok == ok_total,
              "%s: apexd_zone_transfers_in_total{result=\"ok\"} summed over zones = "
              "the global count (%g)" % (label, ok_total), "  got %g" % per_zone_ok)
    now = time.time()
    zs = zones_json(cport)
    for origin, (serial, pport, expire) in secondaries.items():
        n = p.get("apexd_zone_transfers_in_total", None, zone=origin, result="ok")
        res.check(n is not None and n >= 1,
                  "%s: apexd_zone_transfers_in_total{zone=\"%s\",result=\"ok\"} >= 1"
                  % (label, origin), "  got %r" % n)
        s = p.get("apexd_zone_serial", None, zone=origin)
        res.check(s == serial, "%s: apexd_zone_serial{zone=\"%s\"} = %d"
                  % (label, origin, serial), "  got %r" % s)
        e = p.get("apexd_zone_expire_seconds", None, zone=origin)
        res.check(e is not None and 0 < e <= expire,
                  "%s: apexd_zone_expire_seconds{zone=\"%s\"} in (0, %d]"
                  % (label, origin, expire), "  got %r" % e)
        t = p.get("apexd_zone_last_refresh_timestamp_seconds", None, zone=origin)
        res.check(t is not None and t_start - 1 <= t <= now + 1,
                  "%s: apexd_zone_last_refresh_timestamp_seconds{zone=\"%s\"} within "
                  "the run" % (label, origin),
                  "  got %r, run %.0f..%.0f" % (t, t_start, now))
        z = zs.get(origin)
        want = {"role": "secondary", "state": "ok", "serial": serial,
                "primaries": ["%s:%d" % (HOST, pport)]}
        got = {k: z.get(k) for k in want} if z else None
        res.check(got == want, "%s: /zones %s is %s" % (label, origin, want),
                  "  got %r" % (z,))
        ei = z.get("expires_in") if z else None
        res.check(isinstance(ei, (int, float)) and 0 < ei <= expire,
                  "%s: /zones %s expires_in in (0, %d]" % (label, origin, expire),
                  "  got %r" % (ei,))
    z = zs.get(LOCAL)
    res.check(z is not None and z.get("role") == "primary",
              "%s: /zones %s role primary" % (label, LOCAL), "  got %r" % (z,))


# --------------------------------------------------------------------------
# the wrong-key apexd
# --------------------------------------------------------------------------

def check_wrong_key(res, binary, workdir, prims, keys):
    d = os.path.join(workdir, "apexd-wrongkey")
    os.makedirs(d, exist_ok=True)
    port, cport = distinct_ports(2)
    wrong = [TsigKey(k.name, k.algorithm, tsig_keygen(k.algorithm, "other").secret)
             for k in keys]
    zones = []
    for prim in prims:
        for origin, (_, k) in prim.zones.items():
            if k:
                zones.append(dict(origin=origin, file=os.path.join(d, origin + "zone"),
                                  primaries=[prim.port], key=k.name))
    if not zones:
        return
    lpath = os.path.join(d, "local.test.zone")
    with open(lpath, "w") as f:
        f.write(LOCAL_TEXT)
    conf = write_apexd_conf(os.path.join(d, "apexd.toml"), port, cport, wrong, zones,
                            local_file=lpath)
    logs_before = {p.name: len(p.log()) for p in prims}
    try:
        ap = oc.start(binary, conf, d, port, LOCAL, name="apexd-wrongkey")
    except Exception as e:  # noqa: BLE001
        res.fail("wrong key: apexd starts", "  %s" % e)
        return
    pats = {z["origin"]: r"event=transfer_in_failed zone=%s primary=%s:%d(?: [a-z_]+=[^ \"]*)* "
                         r"reason=\"" % (
        re.escape(z["origin"]), re.escape(HOST), z["primaries"][0]) for z in zones}
    wait_for(lambda: all(log_lines(ap.stderr(), p) for p in pats.values()), FAIL_WAIT)
    err = ap.stderr()
    zs = zones_json(cport)
    for z in zones:
        origin = z["origin"]
        lines = log_lines(err, pats[origin])
        res.check(bool(lines), "wrong key: apexd logs transfer_in_failed for %s "
                  "(key %s, other secret)" % (origin, z["key"]),
                  "  apexd stderr:\n%s" % tail(err))
        if lines:
            print("NOTE %s" % lines[0].split(" ", 2)[-1])
        rc = rcode_of(port, origin, "SOA")
        res.check(rc == dns.rcode.SERVFAIL, "wrong key: %s answers SERVFAIL" % origin,
                  "  rcode %s" % rc)
        st = zs.get(origin, {}).get("state")
        res.check(st == "pending", "wrong key: /zones %s state pending" % origin,
                  "  got %r" % (zs.get(origin),))
        res.check(not os.path.exists(z["file"]),
                  "wrong key: no copy of %s written" % origin)
    failed = metrics(cport).sum("apexd_transfers_in_total", result="failed")
    res.check(failed >= len(zones), "wrong key: apexd_transfers_in_total"
              "{result=\"failed\"} >= %d (got %g)" % (len(zones), failed))
    res.check(not log_lines(err, r"event=transfer_in zone="),
              "wrong key: no transfer_in logged", "  %s" % log_lines(err, "transfer_in "))
    for prim in prims:
        for origin, (_, k) in prim.zones.items():
            if not k:
                continue
            new = prim.log()[logs_before[prim.name]:]
            hit = [l for l in new.splitlines() if (origin.rstrip(".") in l.lower() or
                                                   prim.kind == "named")
                   and re.search(r"(?i)badsig|tsig|denied|bad signature", l)]
            res.check(bool(hit), "wrong key: %s logs the bad TSIG of apexd's request "
                      "for %s" % (prim.name, origin), "  log:\n%s" % tail(new, 10))
            if hit:
                print("NOTE %s: %s" % (prim.name, hit[0].strip()))
    res.check(ap.alive(), "wrong key: apexd still running")
    harness.stop(ap)


# --------------------------------------------------------------------------
# expiry
# --------------------------------------------------------------------------

def check_expiry(res, binary, workdir, kind, peers_only):
    d = os.path.join(workdir, "expiry-" + kind)
    os.makedirs(d, exist_ok=True)
    pport, aport, cport = distinct_ports(3)
    timers = (SHORT_REFRESH, SHORT_RETRY, SHORT_EXPIRE)
    prim = make_primary(kind, "%s-short" % kind, d, pport,
                        {SHORT: (zone_text(SHORT, 1, timers=timers, bulk=5), None)}, aport)
    try:
        prim.start()
    except Exception as e:  # noqa: BLE001
        res.fail("expiry: %s starts with %s" % (prim.name, SHORT), "  %s" % e)
        return
    msgs, err = xfr_records(pport, SHORT)
    soa = rrs_of(msgs)[0][2] if rrs_of(msgs) else None
    res.check(soa is not None and (soa.refresh, soa.retry, soa.expire) == timers,
              "expiry: %s transfers %s with SOA refresh %d retry %d expire %d (not "
              "clamped)" % (prim.name, SHORT, *timers),
              "  SOA %s, error %r" % (soa, err))
    if peers_only:
        prim.stop()
        return
    zpath = os.path.join(d, "short.test.zone")
    conf = write_apexd_conf(os.path.join(d, "apexd.toml"), aport, cport, [],
                            [dict(origin=SHORT, file=zpath, primaries=[pport])])
    try:
        ap = oc.start(binary, conf, d, aport, SHORT, name="apexd-short", timeout=LOAD_MAX)
    except Exception as e:  # noqa: BLE001
        res.fail("expiry: apexd loads %s from %s" % (SHORT, prim.name), "  %s" % e)
        prim.stop()
        return
    st, _, body = oc.http_request(cport, "GET", "/healthz")
    res.check(st == 200 and body.startswith("ok"), "expiry: /healthz 200 ok while %s is fresh" % SHORT,
              "  %d %r" % (st, body))
    # let one refresh happen, so the primary is known to be reachable
    time.sleep(SHORT_REFRESH + 0.5)
    prim.stop()
    t_stop = time.monotonic()
    first_fail = None
    served_until = None
    while time.monotonic() - t_stop < SHORT_EXPIRE + 8:
        serial, r = soa_serial(aport, SHORT, timeout=0.3)
        now = time.monotonic() - t_stop
        if serial == 1:
            served_until = now
        elif r is not None and r.rcode() == dns.rcode.SERVFAIL:
            first_fail = now
            break
        time.sleep(0.2)
    lower = SHORT_EXPIRE - SHORT_REFRESH - 1
    res.check(served_until is not None and served_until >= lower,
              "expiry: apexd serves %s for %d s after the primary stopped "
              "(expire %d, refresh %d)" % (SHORT, lower, SHORT_EXPIRE, SHORT_REFRESH),
              "  last served %.1f s after the stop (first SERVFAIL %s)"
              % (served_until or -1, first_fail))
    res.check(first_fail is not None and first_fail <= SHORT_EXPIRE + 5,
              "expiry: SERVFAIL within expire + 5 s (%d s) of the stop" % (SHORT_EXPIRE + 5),
              "  first SERVFAIL %s s after" % first_fail)
    if first_fail is not None:
        print("NOTE %s expired %.1f s after %s stopped" % (SHORT, first_fail, prim.name))
    wait_for(lambda: log_lines(ap.stderr(), r"event=zone_expired zone=short\.test\."), 2.0)
    res.check(bool(log_lines(ap.stderr(), r"event=zone_expired zone=short\.test\.(\s|$)")),
              "expiry: apexd logs event=zone_expired zone=short.test.",
              "  stderr:\n%s" % tail(ap.stderr()))
    st, _, body = oc.http_request(cport, "GET", "/healthz")
    # 200 with "degraded": like a zone that failed to load, one expired zone must not make a
    # liveness probe restart the server that serves every other zone (server/control.cpp).
    res.check(st == 200 and body.startswith("degraded") and "short.test. expired" in body,
              "expiry: /healthz degraded, naming short.test. as expired", "  %d %r" % (st, body))
    e = metrics(cport).get("apexd_zone_expire_seconds", None, zone=SHORT)
    res.check(e == 0, "expiry: apexd_zone_expire_seconds{zone=\"short.test.\"} is 0",
              "  got %r" % e)
    z = zones_json(cport).get(SHORT)
    res.check(z is not None and z.get("state") == "expired",
              "expiry: /zones short.test. state expired", "  got %r" % (z,))
    res.check(os.path.isfile(zpath), "expiry: the copy stays on disk")

    # restart apexd, the primary still down: the kept copy at once
    harness.stop(ap)
    t0 = time.monotonic()
    try:
        ap = oc.start(binary, conf, d, aport, SHORT, name="apexd-short2", timeout=5.0)
        res.ok("expiry: restarted apexd serves the kept copy of %s (primary down) "
               "%.2f s after its start" % (SHORT, time.monotonic() - t0))
    except Exception as e:  # noqa: BLE001
        res.fail("expiry: restarted apexd serves the kept copy of %s at once "
                 "(primary down)" % SHORT, "  %s" % e)
        return
    serial, _ = soa_serial(aport, SHORT)
    res.check(serial == 1, "expiry: the kept copy has serial 1", "  got %s" % serial)
    # the primary back, with serial 2 and a new name
    prim.zones[SHORT] = (zone_text(SHORT, 2, v2=True, timers=timers, bulk=5), None)
    try:
        prim.start()
    except Exception as e:  # noqa: BLE001
        res.fail("expiry: %s restarts" % prim.name, "  %s" % e)
        return
    t0 = time.monotonic()
    ok, took = wait_for(lambda: has_a(aport, "new." + SHORT, NEW_ADDR) and
                        soa_serial(aport, SHORT)[0] == 2, CHANGE_MAX)
    res.check(ok, "expiry: with the primary back apexd serves %s serial 2 within "
              "%.0f s" % (SHORT, CHANGE_MAX), "  stderr:\n%s" % tail(ap.stderr()))
    if ok:
        print("NOTE %s serial 2 served %.2f s after %s came back" % (SHORT, took, prim.name))
    wait_for(lambda: oc.http_request(cport, "GET", "/healthz")[2].startswith("ok"), 3.0)
    st, _, body = oc.http_request(cport, "GET", "/healthz")
    res.check(st == 200 and body.startswith("ok"), "expiry: /healthz ok again", "  %d %r" % (st, body))
    z = zones_json(cport).get(SHORT)
    res.check(z is not None and z.get("state") == "ok" and z.get("serial") == 2,
              "expiry: /zones short.test. state ok, serial 2", "  got %r" % (z,))
    res.check(ap.alive(), "expiry: apexd still running")
    harness.stop(ap)
    prim.stop()


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def body(args, res, workdir):
    t_start = time.monotonic()
    t_wall = time.time()
    peers_only = args.peers_only
    binary = None
    if not peers_only:
        binary = harness.require_apexd(args, res)
        if not binary:
            return
    aport, cport, kport, nport = distinct_ports(4)
    try:
        k256 = tsig_keygen("hmac-sha256", "xfr-key")
        k512 = tsig_keygen("hmac-sha512", "xfr-key512")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        res.fail("tsig-keygen makes the keys", "  %s" % e)
        return
    plan = [("knotd", kport, {"fromknot.test.": (zone_text("fromknot.test.", S1), None),
                              "secure-knot.test.": (zone_text("secure-knot.test.", S1), k256),
                              FLAT: (flat_text(S1), None)}),
            ("named", nport, {"fromnamed.test.": (zone_text("fromnamed.test.", S1), None),
                              "secure-named.test.": (zone_text("secure-named.test.", S1),
                                                     k512)})]
    prims = []
    for kind, port, zones in plan:
        if not os.path.exists(BINARIES[kind]):
            print("SKIP %s: %s is not installed" % (kind, BINARIES[kind]))
            continue
        prim = make_primary(kind, kind, workdir, port, zones, aport)
        try:
            prim.start()
            res.ok("%s starts and serves %s" % (kind, ", ".join(zones)))
            prims.append(prim)
        except Exception as e:  # noqa: BLE001
            res.fail("%s starts and serves %s" % (kind, ", ".join(zones)), "  %s" % e)
    if not prims:
        res.fail("no primary could run (knotd, named)")
        return
    plain = {p.name: next(o for o, (_, k) in p.zones.items() if not k and o != FLAT)
             for p in prims}

    for prim in prims:
        for origin, (_, key) in prim.zones.items():
            if origin != FLAT:
                check_primary_alone(res, prim, origin, key, workdir)

    catcher = None
    ap = None
    adir = os.path.join(workdir, "apexd")
    os.makedirs(adir, exist_ok=True)
    copies = {}
    if peers_only:
        catcher = NotifyCatcher(aport)
    else:
        lpath = os.path.join(adir, "local.test.zone")
        with open(lpath, "w") as f:
            f.write(LOCAL_TEXT)
        zones = []
        for prim in prims:
            for origin, (_, k) in prim.zones.items():
                copies[origin] = os.path.join(adir, origin + "zone")
                z = dict(origin=origin, file=copies[origin], primaries=[prim.port],
                         key=k.name if k else None)
                if origin == FLAT:
                    z.update(flatten="all", proxied=["www.flat.test."])
                zones.append(z)
        conf = write_apexd_conf(os.path.join(adir, "apexd.toml"), aport, cport,
                                [k256, k512], zones, local_file=lpath)
        try:
            ap = oc.start(binary, conf, adir, aport, LOCAL, name="apexd")
        except Exception as e:  # noqa: BLE001
            res.fail("apexd starts with the secondary zones", "  %s" % e)
            return
        t_ap = time.monotonic()
        pending = {o: p for p in prims for o in p.zones}
        loaded = {}
        while pending and time.monotonic() - t_ap < LOAD_MAX:
            for origin in list(pending):
                serial, r = soa_serial(aport, origin, timeout=0.3)
                if serial == S1 and r.flags & dns.flags.AA:
                    loaded[origin] = time.monotonic() - t_ap
                    del pending[origin]
            time.sleep(POLL)
        for prim in prims:
            for origin in prim.zones:
                if res.check(origin in loaded, "apexd serves %s from %s (serial %d, AA) "
                             "within %.0f s of its start" % (origin, prim.name, S1, LOAD_MAX),
                             "  SOA reply %s\n  apexd stderr:\n%s"
                             % (soa_serial(aport, origin)[1], tail(ap.stderr()))):
                    print("NOTE apexd served %s %.2f s after its start" % (origin, loaded[origin]))

        for prim in prims:
            for origin, (text, key) in prim.zones.items():
                if origin not in loaded or origin == FLAT:
                    continue
                label = "serial %d" % S1
                compare_answers(res, aport, prim, origin, label)
                check_copy(res, copies[origin], origin, text, S1, label, workdir, aport)
                n = len(zone_set(text, origin))
                # records: the zone's RRs, or the stream's (closing SOA too);
                # other key=value fields may stand between
                pat = (r"event=transfer_in zone=%s primary=%s:%d type=AXFR serial=%d "
                       r"records=(%d|%d)\b.* ms=\d+" % (re.escape(origin), re.escape(HOST),
                                                       prim.port, S1, n, n + 1))
                res.check(bool(log_lines(ap.stderr(), pat)),
                          "%s: apexd logs event=transfer_in zone=%s primary=%s:%d "
                          "type=AXFR serial=%d records=%d" % (label, origin, HOST,
                                                              prim.port, S1, n),
                          "  transfer_in lines:\n%s" % "\n".join(
                              log_lines(ap.stderr(), "transfer_in")))
        check_flatten(res, aport)

    # the change: serial S2, new.Z added, gone.Z removed; reload; NOTIFY
    for prim in prims:
        origin = plain[prim.name]
        text2 = zone_text(origin, S2, v2=True)
        prim.write_zone(origin, text2)
        prim.zones[origin] = (text2, None)
        t0 = time.monotonic()
        rc, out = prim.reload(origin)
        res.check(rc == 0, "%s reloads %s (%s)" % (prim.name, origin,
                                                   "knotc zone-reload" if prim.kind == "knotd"
                                                   else "rndc reload"), "  %s" % out)
        ok, took = wait_for(lambda: soa_serial(prim.port, origin)[0] == S2, 5.0)
        res.check(ok, "peer %s serves %s serial %d after the reload" % (prim.name, origin, S2))
        check_primary_ixfr(res, prim, origin)
        if peers_only:
            ok, took = wait_for(lambda: (origin, S2) in catcher.poll(), 5.0)
            res.check(ok, "peer %s NOTIFYs 127.0.0.1:%d for %s with serial %d after "
                      "the reload" % (prim.name, aport, origin, S2),
                      "  NOTIFYs seen: %s\n  log:\n%s" % (catcher.seen, tail(prim.log())))
            if ok:
                print("NOTE %s's NOTIFY for %s came %.2f s after the reload, over %s"
                      % (prim.name, origin, took, ", ".join(sorted(
                          {t for z, s, t in catcher.seen if z == origin and s == S2}))))
            continue
        ok, took = wait_for(lambda: has_a(aport, "new." + origin, NEW_ADDR), 30.0)
        took = time.monotonic() - t0
        res.check(ok and took < CHANGE_MAX, "apexd serves new.%s within %.0f s of %s's "
                  "reload (NOTIFY; refresh is %d)" % (origin, CHANGE_MAX, prim.name, REFRESH),
                  "  %s\n  apexd stderr:\n%s" % ("took %.2f s" % took if ok else "never",
                                                 tail(ap.stderr())))
        if ok:
            print("NOTE apexd served new.%s %.2f s after %s's reload" % (origin, took, prim.name))
        res.check(rcode_of(aport, "gone." + origin, "A") == dns.rcode.NXDOMAIN,
                  "apexd: gone.%s is NXDOMAIN after the change" % origin)
        err = ap.stderr()
        res.check(bool(log_lines(err, r"event=notify_received zone=%s client=%s\S* serial=%d"
                                 % (re.escape(origin), re.escape(HOST), S2))),
                  "apexd logs event=notify_received zone=%s client=127.0.0.1... serial=%d"
                  % (origin, S2), "  stderr:\n%s" % tail(err))
        pat = (r"event=transfer_in zone=%s primary=%s:%d type=IXFR serial=%d records=\d+\b"
               r".* ms=\d+" % (re.escape(origin), re.escape(HOST), prim.port, S2))
        res.check(bool(log_lines(err, pat)), "apexd logs type=IXFR serial=%d for %s from %s"
                  % (S2, origin, prim.name),
                  "  transfer_in lines:\n%s" % "\n".join(log_lines(err, "transfer_in")))
        label = "serial %d" % S2
        compare_answers(res, aport, prim, origin, label)
        check_copy(res, copies[origin], origin, text2, S2, label, workdir, aport)

    if catcher:
        catcher.close()
    if not peers_only:
        check_notifies(res, aport, cport, ap)
        secs = {}
        for prim in prims:
            for origin in prim.zones:
                secs[origin] = (S2 if origin == plain[prim.name] else S1, prim.port, EXPIRE)
        check_metrics_zones(res, cport, secs, t_wall, "metrics")
        n_xfr = len(log_lines(ap.stderr(), r"event=transfer_in zone="))
        okm = metrics(cport).sum("apexd_transfers_in_total", result="ok")
        res.check(okm == n_xfr, "apexd_transfers_in_total{result=\"ok\"} = the %d "
                  "transfer_in lines" % n_xfr, "  got %g" % okm)
        failed = metrics(cport).sum("apexd_transfers_in_total", result="failed")
        res.check(failed == 0 and not log_lines(ap.stderr(), "transfer_in_failed"),
                  "main apexd: no failed transfer", "  failed %g" % failed)
        check_wrong_key(res, binary, workdir, prims, [k256, k512])
        res.check(ap.alive(), "apexd still running at the end")
        harness.stop(ap)
        res.check(ap.popen.returncode == 0, "apexd exits 0 on SIGTERM",
                  "  exit %s" % ap.popen.returncode)
    else:
        # the primaries' log of the refused transfers was checked per zone
        pass
    for prim in prims:
        res.check(prim.proc.alive(), "%s still running" % prim.name,
                  "  exit %s:\n%s" % (prim.proc.popen.returncode, tail(prim.log())))
        prim.stop()

    kind = "knotd" if any(p.kind == "knotd" for p in prims) else prims[0].kind
    if peers_only:  # what each primary transfers of short.test.'s SOA timers
        for p in prims:
            check_expiry(res, binary, workdir, p.kind, peers_only)
    elif time.monotonic() - t_start < TOTAL_BOUND - 40:
        check_expiry(res, binary, workdir, kind, peers_only)
    else:
        res.fail("expiry: no time left within %.0f s" % TOTAL_BOUND)
    print("NOTE took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    ap_ = harness.base_parser("apexd as a secondary of knotd and named")
    ap_.add_argument("--peers-only", action="store_true",
                     help="check only what the primaries do (no apexd)")
    harness.main(body, ap_)
