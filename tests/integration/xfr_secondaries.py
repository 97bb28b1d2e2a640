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
- after the change each secondary's IXFR is answered from the journal
  (apexd logs answer=incremental);
- IXFR: with the current serial just the SOA, with an unknown older one the
  full zone;
- access: AXFR of platform.test. is REFUSED, of nothere.test. NOTAUTH, AXFR
  over UDP REFUSED.

TSIG (RFC 8945): apexd also serves secure.test. (an apex CNAME into
platform.test., 2500 TXT records so that its AXFR takes 3 messages) with
allow_transfer = ["key:xfr-key", "127.0.0.1 key:xfr-key512"]; the keys come
from `tsig-keygen -a hmac-sha256 xfr-key` and `-a hmac-sha512 xfr-key512` at
start.  knotd and named pull it with xfr-key, nsd with xfr-key512; NOTIFY stays
unsigned.  Checks:
- apexd's signed AXFR (dnspython dns.query.xfr, which verifies the chained
  TSIG of every message), with each key: every message signed, the zone as
  clients see it; kdig -y exits 0 and prints a TSIG record;
- each secondary loads secure.test. and serves exactly apexd's signed AXFR;
  after a change + SIGHUP each serves the new name within 10 s (NOTIFY);
- a fourth server, a knotd whose xfr-key has another secret, does not get the
  zone (it answers SERVFAIL) and apexd logs `TSIG error 16` for it;
- signed IXFR: the SOA alone when current, else the zone, every message signed;
- against apexd directly: unsigned AXFR/IXFR REFUSED; an unknown key BADKEY,
  a wrong secret BADSIG, the key's name with another algorithm BADKEY (each
  NOTAUTH with an unsigned TSIG; dnspython raises PeerBadKey /
  PeerBadSignature); a time signed 1000 s ago BADTIME, signed with the key and
  carrying apexd's time; xfr-key works from 127.0.0.2, xfr-key512 from there is
  REFUSED with a signed answer; apexd logs TSIG errors 16, 17 and 18.

A secondary whose binary is absent is skipped (printed); one that cannot start
is a failure, with its stderr. Ends with `N passed, N failed`; exits 1 on any
failure. About 5 s (bounds: 20 s for the first load, 30 s after each
SIGHUP, 8 s for the wrong-secret knotd).

Typical convergence: knotd and named well under 1 s; nsd about 1 s when its
previous reload was less than a second before (nsd's own xfrd-reload-timeout,
default 1 s, delays applying a transfer it already committed).  named sends a
SOA query signed with the key before each transfer of secure.test. and drops
an unsigned answer ("refresh: failure trying primary ...: expected a TSIG or
SIG(0)"), so its load needs apexd's answers to signed queries signed too.
"""

import ipaddress
import os
import re
import signal
import socket
import struct
import subprocess
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.wire
import dns.zone

import harness
from harness import distinct_ports, tail  # noqa: E402
import ops_common as oc  # noqa: E402
from tsig_keys import TsigKey, tsig_keygen  # noqa: E402

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

# secure.test.: transfers only with a TSIG key
SECURE = "secure.test."
SEC_SERIAL1 = 2026120401
SEC_SERIAL2 = 2026120402
SEC_NEW_NAME = "new.secure.test."
SEC_NEW_ADDR = "192.0.2.98"
SEC_BULK = 2500          # TXT records: the signed AXFR spans several messages
KEY256 = "xfr-key"       # hmac-sha256: knotd, named, the wrong-secret knotd
KEY512 = "xfr-key512"    # hmac-sha512: nsd; allowed only from 127.0.0.1
OTHER_SRC = "127.0.0.2"  # a source address that "127.0.0.1 key:xfr-key512" refuses
BADTIME_SKEW = 1000      # seconds; the fudge is 300
KDIG = "/usr/bin/kdig"
TSIG_ERRORS = {16: "BADSIG", 17: "BADKEY", 18: "BADTIME"}  # rcode 16 is BADVERS

LOAD_TIMEOUT = 20.0      # a secondary's first transfer
CONVERGE_BOUND = 30.0    # polling bound after SIGHUP
CONVERGE_MAX = 10.0      # what counts as converged in time
POLL = 0.1
BAD_WAIT = 8.0           # how long the wrong-secret knotd is given

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


def canon_zone_text(text, origin=ORIGIN):
    z = dns.zone.from_text(text, origin=origin, relativize=False,
                           check_origin=False)
    return {canon(n, ttl, rd) for n, ttl, rd in z.iterate_rdatas()}


def _secure_lines(serial, new):
    lines = [
        "$ORIGIN secure.test.",
        "$TTL 3600",
        "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % serial,
        "@ NS ns1",
        "@ NS ns2",
        "ns1 A 192.0.2.21",
        "ns2 A 192.0.2.22",
        "www A 192.0.2.23",
        "api AAAA 2001:db8::23",
        "_sip._tcp SRV 10 5 5060 www",
    ]
    lines += ['h%04d TXT "bulk record %04d, padding padding padding"' % (i, i)
              for i in range(SEC_BULK)]
    if new:
        lines.append("new A %s" % SEC_NEW_ADDR)
    return lines


def secure_zone(serial, new=False):
    """secure.test.: an apex CNAME (flattened) like example.test., and enough
    records that its AXFR takes several messages, each one signed."""
    lines = _secure_lines(serial, new)
    lines.insert(5, "@ CNAME app.platform.test.")
    return "\n".join(lines) + "\n"


def expected_secure(serial, new=False):
    """secure.test. as clients see it, as a set of canonical lines."""
    lines = _secure_lines(serial, new)
    lines += ["@ 300 A %s" % TARGET4, "@ 300 AAAA %s" % TARGET6]
    return canon_zone_text("\n".join(lines) + "\n", SECURE)


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
# TSIG
# --------------------------------------------------------------------------

class SignedXfr:
    """A zone transfer with dnspython's dns.query.xfr and a TSIG key: it
    verifies the TSIG of every message (chained, RFC 8945 5.3.1) and raises
    on a bad one; `error` holds what it raised."""

    def __init__(self):
        self.msgs = []
        self.error = None

    def rrs(self):
        return [(rrset.name, rrset.ttl, rd) for m in self.msgs
                for rrset in m.answer for rd in rrset]

    def records(self):
        return {canon(n, t, rd) for n, t, rd in self.rrs()}

    def unsigned(self):
        return [i for i, m in enumerate(self.msgs) if not m.had_tsig]

    def soa_serial(self):
        rrs = self.rrs()
        if rrs and rrs[0][2].rdtype == dns.rdatatype.SOA:
            return rrs[0][2].serial
        return None

    def describe(self):
        return "%d messages, %d RRs, error %s" % (
            len(self.msgs), len(self.rrs()),
            "%s: %s" % (type(self.error).__name__, self.error)
            if self.error is not None else None)


def signed_xfr(port, zone, key, rdtype="AXFR", serial=0, source=None,
               timeout=8.0):
    out = SignedXfr()
    try:
        for m in dns.query.xfr(HOST, zone, rdtype=rdtype, port=port,
                               keyring=key.keyring(), keyname=key.name,
                               keyalgorithm=key.algorithm, relativize=False,
                               timeout=timeout, lifetime=2 * timeout,
                               serial=serial, source=source):
            out.msgs.append(m)
    except Exception as e:  # noqa: BLE001 - reported by the caller
        out.error = e
    return out


def signed_request(zone, rdtype, key, time_signed=None, fudge=300):
    """A query signed with `key`, built by hand so the time signed can be
    chosen.  Returns (wire, request MAC)."""
    q = dns.message.make_query(zone, rdtype, use_edns=False)
    base = q.to_wire()
    k = key.dns_key()
    rd = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG,
                                   k.algorithm, 0, fudge, b"", q.id, 0, b"")
    now = int(time.time()) if time_signed is None else time_signed
    tsig, _ = dns.tsig.sign(base, k, rd, now)
    rdw = tsig.to_wire()
    rr = k.name.to_wire() + struct.pack("!HHIH", dns.rdatatype.TSIG,
                                        dns.rdataclass.ANY, 0, len(rdw)) + rdw
    (ar,) = struct.unpack("!H", base[10:12])
    return base[:10] + struct.pack("!H", ar + 1) + base[12:] + rr, tsig.mac


def tcp_exchange(port, wire, source=None, timeout=5.0):
    """One request, one reply message over TCP (None when none came)."""
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((HOST, port))
        s.sendall(struct.pack("!H", len(wire)) + wire)
        (n,) = struct.unpack("!H", _recv_exact(s, 2, deadline))
        return _recv_exact(s, n, deadline)
    except (OSError, ConnectionError, struct.error):
        return None
    finally:
        s.close()


class RawTsig:
    """The header rcode of a reply and its TSIG RR, parsed without
    validating anything."""

    def __init__(self, wire):
        self.wire = wire
        self.rcode = None
        self.owner = None
        self.rd = None
        self.start = None
        self.last = False
        self.problem = None
        try:
            p = dns.wire.Parser(wire)
            _, flags, qd, an, ns, ar = p.get_struct("!HHHHHH")
            self.rcode = flags & 0xF
            for _ in range(qd):
                p.get_name()
                p.get_struct("!HH")
            total = an + ns + ar
            for i in range(total):
                start = p.current
                name = p.get_name()
                rdtype, rdclass, _, rdlen = p.get_struct("!HHIH")
                if rdtype == dns.rdatatype.TSIG:
                    with p.restrict_to(rdlen):
                        self.rd = dns.rdata.from_wire_parser(rdclass, rdtype, p)
                    self.owner, self.start = name, start
                    self.last = (i == total - 1 and i >= an + ns)
                else:
                    p.seek(p.current + rdlen)
            if p.remaining():
                self.problem = "%d bytes after the last RR" % p.remaining()
        except Exception as e:  # noqa: BLE001
            self.problem = "%s: %s" % (type(e).__name__, e)

    def error(self):
        return self.rd.error if self.rd is not None else None

    def mac_ok(self, key, request_mac):
        """Whether the TSIG's MAC is `key`'s over this reply (RFC 8945 4.3.3,
        the request MAC first) - also for a TSIG error, where dnspython's own
        validate() only raises Peer*.  Returns None or a problem text."""
        if self.rd is None:
            return "no TSIG"
        k = key.dns_key()
        if self.owner != k.name or self.rd.algorithm != k.algorithm:
            return "TSIG of key %s algorithm %s" % (self.owner, self.rd.algorithm)
        if len(self.rd.mac) != dns.tsig.mac_sizes[k.algorithm]:
            return "MAC of %d bytes" % len(self.rd.mac)
        (ar,) = struct.unpack("!H", self.wire[10:12])
        body = self.wire[:10] + struct.pack("!H", ar - 1) + self.wire[12:self.start]
        try:
            ctx = dns.tsig._digest(body, k, self.rd, None, request_mac, None, False)
            ctx.verify(self.rd.mac)
        except dns.tsig.BadSignature:
            return "the MAC does not verify"
        except AttributeError as e:  # a dnspython without _digest
            return "cannot verify with this dnspython: %s" % e
        return None

    def text(self):
        if self.problem:
            return "unparsable (%s)" % self.problem
        return "rcode %s, TSIG %s" % (
            dns.rcode.to_text(self.rcode) if self.rcode is not None else None,
            "none" if self.rd is None else
            "owner %s algorithm %s error %d mac %d bytes time %d other %s" % (
                self.owner, self.rd.algorithm, self.rd.error, len(self.rd.mac),
                self.rd.time_signed, self.rd.other.hex()))


def kdig_signed_axfr(port, zone, key):
    try:
        p = subprocess.run([KDIG, "-y", "%s:%s:%s" % (key.algorithm, key.name,
                                                     key.secret),
                            "@%s" % HOST, "-p", str(port), zone.rstrip("."),
                            "AXFR", "+time=5", "+retry=0"],
                           capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)
    return p.returncode, p.stdout, p.stderr


# --------------------------------------------------------------------------
# secondaries
# --------------------------------------------------------------------------

def knot_conf(d, port, aport, key, zones=(ORIGIN, SECURE), name="knot"):
    """example.test. unsigned, secure.test. with `key` (knotd's key: section:
    algorithm and secret as separate fields)."""
    for sub in ("run", "db", "storage", "journal"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    path = os.path.join(d, "%s.conf" % name)
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

key:
  - id: {kname}
    algorithm: {kalg}
    secret: {ksecret}

remote:
  - id: apexd
    address: {host}@{aport}
  - id: apexd_tsig
    address: {host}@{aport}
    key: {kname}

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
""".format(host=HOST, port=port, aport=aport, d=d, kname=key.name,
           kalg=key.algorithm, ksecret=key.secret)
    for z in zones:
        text += """  - domain: {zone}
    master: {remote}
    acl: [notify_from_apexd, transfer_to_test]
""".format(zone=z, remote="apexd_tsig" if z == SECURE else "apexd")
    with open(path, "w") as f:
        f.write(text)
    return path, [KNOTD, "-c", path]


def nsd_conf(d, port, aport, key):
    """nsd's key: clause wants the secret quoted; request-xfr names the key,
    allow-notify stays NOKEY (apexd's NOTIFY is unsigned)."""
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

key:
    name: {kname}
    algorithm: {kalg}
    secret: "{ksecret}"

zone:
    name: {origin}
    zonefile: "example.test.zone"
    request-xfr: {host}@{aport} NOKEY
    allow-notify: {host} NOKEY
    provide-xfr: {host} NOKEY

zone:
    name: {secure}
    zonefile: "secure.test.zone"
    request-xfr: {host}@{aport} {kname}
    allow-notify: {host} NOKEY
    provide-xfr: {host} NOKEY
""".format(host=HOST, port=port, aport=aport, d=d, origin=ORIGIN,
           secure=SECURE, kname=key.name, kalg=key.algorithm,
           ksecret=key.secret)
    with open(path, "w") as f:
        f.write(text)
    return path, [NSD, "-d", "-c", path]


def named_conf(d, port, aport, key):
    """named takes tsig-keygen's output as it is."""
    path = os.path.join(d, "named.conf")
    text = key.text + """
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

zone "{secure}" {{
    type secondary;
    primaries {{ {host} port {aport} key "{kname}"; }};
    file "{d}/secure.test.db";
    allow-notify {{ {host}; }};
    allow-transfer {{ {host}; }};
    notify no;
}};
""".format(host=HOST, port=port, aport=aport, d=d, zone=ORIGIN.rstrip("."),
           secure=SECURE.rstrip("."), kname=key.name)
    with open(path, "w") as f:
        f.write(text)
    return path, [NAMED, "-g", "-c", path]


# (name, binary, configuration, the key it pulls secure.test. with)
SECONDARIES = [("knotd", KNOTD, knot_conf, KEY256), ("nsd", NSD, nsd_conf, KEY512),
               ("named", NAMED, named_conf, KEY256)]


def soa_serial(port, timeout=0.3, zone=ORIGIN):
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


def has_new(port, timeout=0.3, name=NEW_NAME, addr=NEW_ADDR):
    try:
        r = harness.query(port, name, "A", timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return False
    return any(rrset.rdtype == dns.rdatatype.A and
               any(rd.address == addr for rd in rrset) for rrset in r.answer)


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


def check_secure_apexd(res, aport, keys, serial, new, label):
    """apexd's signed AXFR of secure.test. with each key: every message
    signed and verified (by dnspython), several messages, the zone as clients
    see it; kdig -y too.  Returns the SignedXfr with the first key."""
    want = expected_secure(serial, new)
    first = None
    for key in keys:
        a = signed_xfr(aport, SECURE, key)
        what = "%s: signed AXFR of secure.test. with %s (%s)" % (
            label, key.name, key.algorithm)
        ok = a.error is None and a.msgs
        res.check(ok, "%s: answered, the TSIG of every message verified by "
                  "dnspython" % what, "  %s" % a.describe())
        if not ok:
            continue
        first = first or a
        res.check(not a.unsigned() and len(a.msgs) > 1,
                  "%s: %d messages, each signed" % (what, len(a.msgs)),
                  "  unsigned messages: %s of %d" % (a.unsigned(), len(a.msgs)))
        got = a.records()
        res.check(got == want, "%s: the zone as clients see it (apex "
                  "flattened)" % what,
                  "  missing: %s\n  extra: %s" % (sorted(want - got)[:10],
                                                  sorted(got - want)[:10]))
        rrs = a.rrs()
        res.check(len(rrs) == len(want) + 1 and
                  rrs[-1][2].rdtype == dns.rdatatype.SOA and
                  a.soa_serial() == serial,
                  "%s: each RR once, between two SOAs of serial %d"
                  % (what, serial), "  %d RRs, want %d, first serial %s"
                  % (len(rrs), len(want) + 1, a.soa_serial()))
        bad = [canon(n, t, rd) for n, t, rd in rrs
               if rd.rdtype == dns.rdatatype.CNAME or "platform.test" in rd.to_text()]
        res.check(not bad, "%s: no CNAME, no platform.test. name" % what,
                  "  %s" % bad[:5])

        rc, out, err = kdig_signed_axfr(aport, SECURE, key)
        tsig_lines = [l for l in out.splitlines() if "\tTSIG\t" in l
                      or re.search(r"\sTSIG\s", l)]
        res.check(rc == 0 and tsig_lines and "WARNING" not in err
                  and "WARNING" not in out,
                  "%s: kdig -y %s:%s:... AXFR exits 0, prints a TSIG record and "
                  "no warning" % (label, key.algorithm, key.name),
                  "  exit %s\n  stdout tail:\n%s\n  stderr: %s"
                  % (rc, tail(out, 6), err.strip()))
        if label.startswith("serial 1") and tsig_lines:
            print("NOTE kdig: %s" % tsig_lines[-1].strip())
    return first


def check_secure_ixfr(res, aport, key, serial):
    r = signed_xfr(aport, SECURE, key, rdtype="IXFR", serial=serial)
    res.check(r.error is None and len(r.msgs) == 1 and len(r.rrs()) == 1
              and r.soa_serial() == serial and not r.unsigned(),
              "signed IXFR of secure.test. from the current serial: the SOA, "
              "signed", "  %s" % r.describe())
    r = signed_xfr(aport, SECURE, key, rdtype="IXFR", serial=serial - 1)
    res.check(r.error is None and not r.unsigned() and r.soa_serial() == serial and len(r.rrs()) > 4,
              "signed IXFR of secure.test. from the previous serial: the difference, "
              "%d message(s), each signed" % len(r.msgs), "  %s" % r.describe())
    r = signed_xfr(aport, SECURE, key, rdtype="IXFR", serial=serial - 100)
    res.check(r.error is None and len(r.msgs) > 1 and not r.unsigned()
              and r.soa_serial() == serial,
              "signed IXFR of secure.test. from a serial the journal does not reach: the zone in "
              "%d messages, each signed" % len(r.msgs), "  %s" % r.describe())


def check_key_reload(res, apexd, aport, conf, lines, k256, k512):
    """A reload takes [[key]]s: a key added to the config and named by secure.test.'s
    allow_transfer works without a restart; a removed key is BADKEY afterwards."""
    try:
        late = tsig_keygen("hmac-sha256", "late-key")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        res.fail("tsig-keygen makes late-key", "  %s" % e)
        return
    r = signed_xfr(aport, SECURE, late)
    res.check(r.error is not None, "before the reload, late-key is unknown to apexd",
              "  %s" % r.describe())
    old_acl = 'allow_transfer = ["key:%s", "%s key:%s"]' % (k256.name, HOST, k512.name)
    new_lines = [l.replace(old_acl, 'allow_transfer = ["%s key:%s", "key:late-key"]' % (HOST, k512.name))
                 for l in lines if l]
    keys = ["[[key]]", 'name = "late-key"', 'algorithm = "hmac-sha256"', 'secret = "%s"' % late.secret]
    # xfr-key (k256) dropped from the config: its table and its allow_transfer entry
    out, skip = [], 0
    for l in new_lines:
        if l == "[[key]]" and skip == 0:
            out.append(l)
            continue
        if l == 'name = "%s"' % k256.name and out and out[-1] == "[[key]]":
            out.pop()
            skip = 2
            continue
        if skip:
            skip -= 1
            continue
        out.append(l)
    first_zone = out.index("[[zone]]")
    out[first_zone:first_zone] = keys
    with open(conf, "w") as f:
        f.write("\n".join(out) + "\n")
    mark = len(apexd.stderr())
    os.kill(apexd.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    # The keys are published first and the zones' allow_transfer lists with the zone set at the
    # end of the reload (event=reload): until then the old list, which does not name late-key,
    # still applies. Waiting for keys_reloaded alone made this check race the zone swap.
    while time.monotonic() < deadline and "event=reload trigger=sighup" not in apexd.stderr()[mark:]:
        time.sleep(POLL)
    res.check("event=keys_reloaded" in apexd.stderr()[mark:], "a reload with a new key logs event=keys_reloaded",
              "  apexd stderr:\n%s" % tail(apexd.stderr()))
    r = signed_xfr(aport, SECURE, late)
    res.check(r.error is None and len(r.msgs) > 1 and not r.unsigned(),
              "after the reload, a key added to the config transfers secure.test. (every message signed)",
              "  %s" % r.describe())
    r = signed_xfr(aport, SECURE, k256)
    res.check(r.error is not None, "after the reload, the key removed from the config is refused",
              "  %s" % r.describe())


def check_secure_refusals(res, aport, apexd, k256, k512, unknown):
    """Against apexd directly: unsigned, unknown key, wrong secret, wrong
    algorithm, clock skew, key allowed only from another address."""
    for rdtype in ("AXFR", "IXFR"):
        r = xfr(aport, SECURE, rdtype, serial=SEC_SERIAL1)
        tsig = RawTsig(r.wires[0]) if r.wires else None
        res.check(r.rcode == dns.rcode.REFUSED and not r.rrs and tsig is not None
                  and tsig.rd is None,
                  "unsigned %s of secure.test. is REFUSED (and not signed)" % rdtype,
                  "  rcode %s, %d RRs, error %s, %s" % (
                      dns.rcode.to_text(r.rcode) if r.rcode is not None else None,
                      len(r.rrs), r.error, tsig.text() if tsig else "no reply"))

    # dnspython's view: the peer's TSIG error raised as dns.tsig.Peer*
    for key, exc, what in (
            (unknown, dns.tsig.PeerBadKey, "an unknown key name: PeerBadKey"),
            (k256.with_secret(unknown.secret), dns.tsig.PeerBadSignature,
             "the right name and a wrong secret: PeerBadSignature")):
        a = signed_xfr(aport, SECURE, key)
        res.check(isinstance(a.error, exc) and not a.rrs(),
                  "AXFR of secure.test. signed with %s" % what,
                  "  %s" % a.describe())

    # the raw replies: NOTAUTH, the TSIG error, unsigned (RFC 8945 5.3.2)
    wrong_alg = TsigKey(k256.name, "hmac-sha512", k512.secret)
    for key, err, what in (
            (unknown, dns.rcode.BADKEY, "an unknown key name"),
            (k256.with_secret(unknown.secret), dns.rcode.BADSIG,
             "the right name and a wrong secret"),
            (wrong_alg, dns.rcode.BADKEY,
             "the right name and another algorithm (hmac-sha512)")):
        wire, _ = signed_request(SECURE, "AXFR", key)
        rep = tcp_exchange(aport, wire)
        t = RawTsig(rep) if rep else None
        res.check(t is not None and not t.problem and t.rcode == dns.rcode.NOTAUTH
                  and t.rd is not None and t.last and t.error() == err
                  and len(t.rd.mac) == 0 and t.owner == key.dns_key().name,
                  "AXFR signed with %s: NOTAUTH, TSIG error %s (%d), an "
                  "unsigned TSIG" % (what, TSIG_ERRORS[err], err),
                  "  %s" % (t.text() if t else "no reply"))

    # clock skew: BADTIME, signed with the key, the server's time as other data
    now = int(time.time())
    wire, mac = signed_request(SECURE, "AXFR", k256,
                               time_signed=now - BADTIME_SKEW)
    rep = tcp_exchange(aport, wire)
    t = RawTsig(rep) if rep else None
    ok = (t is not None and not t.problem and t.rcode == dns.rcode.NOTAUTH
          and t.error() == dns.rcode.BADTIME)
    res.check(ok, "AXFR signed %d s in the past: NOTAUTH, TSIG error BADTIME (18)"
              % BADTIME_SKEW, "  %s" % (t.text() if t else "no reply"))
    if ok:
        problem = t.mac_ok(k256, mac)
        server_time = (int.from_bytes(t.rd.other, "big")
                       if len(t.rd.other) == 6 else None)
        res.check(problem is None and server_time is not None
                  and abs(server_time - now) <= 5,
                  "the BADTIME answer is signed with %s (its MAC verifies) and "
                  "carries the server's time" % k256.name,
                  "  %s; %s" % (problem, t.text()))
        try:
            dns.message.from_wire(rep, keyring=k256.keyring(), request_mac=mac)
            res.fail("dnspython raises PeerBadTime on the BADTIME answer",
                     "  it parsed without an error")
        except dns.tsig.PeerBadTime:
            res.ok("dnspython raises PeerBadTime on the BADTIME answer")
        except Exception as e:  # noqa: BLE001
            res.fail("dnspython raises PeerBadTime on the BADTIME answer",
                     "  %s: %s" % (type(e).__name__, e))

    # "key:xfr-key" holds from any address; "127.0.0.1 key:xfr-key512" not
    # from 127.0.0.2, and the REFUSED is signed (the request verified)
    a = signed_xfr(aport, SECURE, k256, source=OTHER_SRC)
    res.check(a.error is None and a.msgs and not a.unsigned(),
              "AXFR signed with %s from %s is allowed (\"key:%s\": any address)"
              % (k256.name, OTHER_SRC, k256.name), "  %s" % a.describe())
    wire, mac = signed_request(SECURE, "AXFR", k512)
    rep = tcp_exchange(aport, wire, source=OTHER_SRC)
    t = RawTsig(rep) if rep else None
    problem = t.mac_ok(k512, mac) if t is not None and not t.problem else "no reply"
    res.check(t is not None and t.rcode == dns.rcode.REFUSED and t.error() == 0
              and problem is None,
              "AXFR signed with %s from %s is REFUSED (\"%s key:%s\"), the "
              "REFUSED signed with the key" % (k512.name, OTHER_SRC, HOST, k512.name),
              "  %s; %s" % (problem, t.text() if t else ""))

    # apexd logged each TSIG failure
    deadline = time.monotonic() + 2.0
    pats = {err: re.compile(r'event=transfer_refused type=AXFR zone=secure\.test\. '
                            r'client=\S+ rcode=9 reason="TSIG error %d ' % err)
            for err in (16, 17, 18)}
    while time.monotonic() < deadline and \
            not all(p.search(apexd.stderr()) for p in pats.values()):
        time.sleep(POLL)
    err = apexd.stderr()
    for code, p in sorted(pats.items()):
        res.check(bool(p.search(err)),
                  "apexd logs event=transfer_refused ... TSIG error %d" % code,
                  "  apexd stderr:\n%s" % tail(err))


def compare_secondary_secure(res, name, port, apex_axfr, label):
    s = xfr(port, SECURE)
    if s.error is not None or s.rcode != dns.rcode.NOERROR:
        res.fail("%s: %s answers AXFR of secure.test." % (label, name),
                 "  rcode %s, error %s, %d RRs" % (s.rcode, s.error, len(s.rrs)))
        return
    want = apex_axfr.records()
    got = s.records()
    res.check(got == want, "%s: %s serves exactly apexd's signed AXFR of "
              "secure.test." % (label, name),
              "  only at apexd: %s\n  only at %s: %s"
              % (sorted(want - got)[:10], name, sorted(got - want)[:10]))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def wait_loaded(res, secs, zones):
    """Wait (all at once, bounded) until every secondary serves each zone's
    serial with AA; report each.  Returns {(name, zone): seconds}."""
    loaded = {}
    last = {}
    want = len(secs) * len(zones)
    t0 = time.monotonic()
    while time.monotonic() - t0 < LOAD_TIMEOUT and len(loaded) < want:
        for s in secs:
            if not s["proc"].alive():
                continue
            for zone, serial_want in zones:
                if (s["name"], zone) in loaded:
                    continue
                serial, r = soa_serial(s["port"], zone=zone)
                last[(s["name"], zone)] = r
                if serial == serial_want and r is not None and r.flags & dns.flags.AA:
                    loaded[(s["name"], zone)] = time.monotonic() - t0
        if all(not s["proc"].alive() for s in secs
               if any((s["name"], z) not in loaded for z, _ in zones)):
            break
        time.sleep(POLL)
    for s in secs:
        p = s["proc"]
        for zone, serial_want in zones:
            how = " with TSIG key %s" % s["key"].name if zone == SECURE else ""
            what = "%s loads %s from apexd%s" % (s["name"], zone, how)
            if (s["name"], zone) in loaded:
                res.ok("%s (SOA serial %d, AA)" % (what, serial_want))
                print("NOTE %s had %s serial %d %.2f s after it started"
                      % (s["name"], zone, serial_want, loaded[(s["name"], zone)]))
            elif not p.alive():
                res.fail(what, "  %s exited with %s before loading the zone (%s); "
                         "stderr:\n%s" % (s["name"], p.popen.returncode,
                                          " ".join(s["argv"]), tail(p.stderr(), 40)))
            else:
                r = last.get((s["name"], zone))
                res.fail(what, "  no SOA serial %d within %.0f s; last reply: %s\n"
                         "  stderr:\n%s" % (serial_want, LOAD_TIMEOUT,
                                            r.to_text() if r is not None else "(none)",
                                            tail(p.stderr(), 40)))
    return loaded


def converge(res, apexd, live, zone, name, addr, zpath, text, label):
    """Write the zone's new text, SIGHUP apexd, poll until every live
    secondary serves name A addr.  Returns {secondary: seconds}."""
    with open(zpath, "w") as f:
        f.write(text)
    t0 = time.monotonic()
    os.kill(apexd.pid, signal.SIGHUP)
    conv = {}
    pending = list(live)
    while pending and time.monotonic() - t0 < CONVERGE_BOUND:
        tick = time.monotonic()
        for s in list(pending):
            if has_new(s["port"], timeout=0.2, name=name, addr=addr):
                conv[s["name"]] = time.monotonic() - t0
                pending.remove(s)
        left = POLL - (time.monotonic() - tick)
        if left > 0:
            time.sleep(left)
    for s in live:
        sname = s["name"]
        what = "%s serves %s A %s within %.0f s of the SIGHUP (NOTIFY%s)" % (
            sname, name, addr, CONVERGE_MAX, label)
        if sname in conv:
            print("%s converged%s in %.2f s after SIGHUP"
                  % (sname, "" if zone == ORIGIN else " on " + zone, conv[sname]))
            res.check(conv[sname] < CONVERGE_MAX, what, "  took %.2f s" % conv[sname])
        else:
            serial, _ = soa_serial(s["port"], zone=zone)
            res.fail(what, "  not within %.0f s (its SOA serial now %s)\n  %s stderr:\n%s"
                     "\n  apexd stderr:\n%s"
                     % (CONVERGE_BOUND, serial, sname, tail(s["proc"].stderr()),
                        tail(apexd.stderr())))
    return conv


def check_notify_sent(res, apexd, secs, zone, serial):
    """apexd logged one notify_sent per target (bounded wait: the retries)."""
    deadline = time.monotonic() + 5.0
    want_lines = {s["name"]: re.compile(
        r"event=notify_sent zone=%s serial=%d target=%s:%d\b"
        % (re.escape(zone), serial, re.escape(HOST), s["port"])) for s in secs}
    while time.monotonic() < deadline:
        err = apexd.stderr()
        if all(p.search(err) for p in want_lines.values()):
            break
        time.sleep(POLL)
    err = apexd.stderr()
    for s in secs:
        res.check(bool(want_lines[s["name"]].search(err)),
                  "apexd logs event=notify_sent for %s (%s:%d)%s"
                  % (s["name"], HOST, s["port"],
                     "" if zone == ORIGIN else " for " + zone),
                  "  apexd stderr:\n%s" % tail(err))
    xfer = [l for l in err.splitlines() if "event=transfer " in l
            and "zone=%s" % zone in l and "serial=%d" % serial in l]
    print("NOTE apexd transfers of %s serial %d after the SIGHUP:\n%s"
          % (zone, serial, "\n".join("    " + l for l in xfer) or "    (none)"))
    # RFC 1995: the secondaries hold the previous serial, so each asks IXFR, and the journal
    # (the reload's difference) answers it with the difference rather than the whole zone.
    incremental = [l for l in xfer if "type=IXFR" in l and "answer=incremental" in l]
    res.check(len(incremental) >= len(secs),
              "each secondary's IXFR of %s serial %d answered from the journal (%d of %d)"
              % (zone, serial, len(incremental), len(secs)),
              "  apexd transfers:\n%s" % "\n".join("    " + l for l in xfer))


def check_zone_metrics(res, cport, live, secs):
    """Per-zone transfer and NOTIFY counters, after the transfers and refusals above."""
    try:
        p = oc.get_metrics(cport)
    except Exception as e:  # noqa: BLE001
        res.fail("/metrics answers", "  %s" % e)
        return
    got = lambda name, zone, result: p.get(name, None, zone=zone, result=result)  # noqa: E731
    n = got("apexd_zone_transfers_out_total", ORIGIN, "ok")
    res.check(n is not None and n >= 2 * len(live),
              "apexd_zone_transfers_out_total{zone=\"%s\",result=\"ok\"} >= %d "
              "(each secondary's AXFR and IXFR, our own checks)" % (ORIGIN, 2 * len(live)),
              "  got %r" % n)
    n = got("apexd_zone_transfers_out_total", ORIGIN, "up_to_date")
    res.check(n is not None and n >= 1,
              "apexd_zone_transfers_out_total{zone=\"%s\",result=\"up_to_date\"} >= 1 "
              "(the IXFR from the current serial)" % ORIGIN, "  got %r" % n)
    n = got("apexd_zone_transfers_out_total", SECURE, "refused")
    res.check(n is not None and n >= 3,
              "apexd_zone_transfers_out_total{zone=\"%s\",result=\"refused\"} >= 3 "
              "(unsigned, BADKEY, BADSIG...)" % SECURE, "  got %r" % n)
    for zone in (ORIGIN, SECURE):
        n = got("apexd_zone_notify_sent_total", zone, "acknowledged")
        res.check(n is not None and n >= len(secs),
                  "apexd_zone_notify_sent_total{zone=\"%s\",result=\"acknowledged\"} >= %d"
                  % (zone, len(secs)), "  got %r" % n)
    # platform.test. has no allow_transfer: check_access's AXFR was refused, nothing sent.
    res.check(got("apexd_zone_transfers_out_total", PLATFORM, "refused") == 1 and
              got("apexd_zone_transfers_out_total", PLATFORM, "ok") == 0,
              "%s: one transfer refused, none sent" % PLATFORM,
              "  got %r" % {dict(l).get("result"): v for l, v in
                            p.series("apexd_zone_transfers_out_total").items()
                            if dict(l).get("zone") == PLATFORM})
    res.check(not any(dict(l).get("zone") == "nothere.test."
                      for l in p.series("apexd_zone_transfers_out_total")),
              "a name that is not a zone of ours gets no per-zone counters")


def check_wrong_secret(res, bad, apexd, key):
    """The knotd whose xfr-key has another secret: apexd answers BADSIG, so
    it never has secure.test. (knotd answers SERVFAIL for a zone it has not
    got).  Runs before the direct BADSIG check, so the log line is knotd's."""
    pat = re.compile(r'event=transfer_refused type=[AI]XFR zone=secure\.test\. '
                     r'client=\S+ rcode=9 reason="TSIG error 16 \(key %s\.\)"'
                     % re.escape(key.name))
    deadline = bad["started"] + BAD_WAIT
    while time.monotonic() < deadline and not pat.search(apexd.stderr()):
        time.sleep(POLL)
    # the rest of the few seconds: it must not get the zone meanwhile
    while time.monotonic() < bad["started"] + 2.0:
        time.sleep(POLL)
    m = pat.search(apexd.stderr())
    res.check(bool(m), "apexd logs TSIG error 16 (BADSIG) for the knotd with a "
              "wrong secret for %s" % key.name,
              "  within %.0f s of its start; apexd stderr:\n%s"
              % (BAD_WAIT, tail(apexd.stderr())))
    if m:
        print("NOTE %s" % m.group(0))
    try:
        r = harness.query(bad["port"], SECURE, "SOA", timeout=1.0)
    except Exception:  # noqa: BLE001
        r = None
    res.check(bad["proc"].alive() and (r is None or r.rcode() != dns.rcode.NOERROR
                                        or not r.answer),
              "the knotd with a wrong secret does not serve secure.test. "
              "(SERVFAIL or nothing)",
              "  alive %s, reply:\n%s" % (bad["proc"].alive(),
                                         r.to_text() if r is not None else "(none)"))
    if r is not None:
        print("NOTE knotd-wrong answers secure.test. SOA with %s"
              % dns.rcode.to_text(r.rcode()))
    lines = [l for l in bad["proc"].stderr().splitlines() if "secure.test" in l]
    print("NOTE knotd-wrong log:\n%s" % "\n".join("    " + l for l in lines[:6]))


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    t_start = time.monotonic()
    aport, badport, cport, *sports = distinct_ports(3 + len(SECONDARIES))

    # TSIG keys as tsig-keygen prints them; "nokey"'s secret doubles as the
    # wrong secret
    try:
        k256 = tsig_keygen("hmac-sha256", KEY256)
        k512 = tsig_keygen("hmac-sha512", KEY512)
        unknown = tsig_keygen("hmac-sha256", "nokey")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        res.fail("tsig-keygen makes the keys", "  %s" % e)
        return
    keys = {KEY256: k256, KEY512: k512}
    wrong = k256.with_secret(unknown.secret)

    # which secondaries can run at all
    secs = []   # dicts: name, port, dir, argv, conf, key
    for (name, path, confn, kname), port in zip(SECONDARIES, sports):
        if not os.path.exists(path):
            print("SKIP %s: %s is not installed" % (name, path))
            continue
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        conf, argv = confn(d, port, aport, keys[kname])
        secs.append(dict(name=name, port=port, dir=d, argv=argv, conf=conf,
                         proc=None, key=keys[kname]))
    if not secs:
        res.fail("no secondary is installed (knotd, nsd, named)")
    bad = None  # one more knotd: secure.test. only, xfr-key with a wrong secret
    if os.path.exists(KNOTD):
        d = os.path.join(workdir, "knotd-wrong")
        conf, argv = knot_conf(d, badport, aport, wrong, zones=(SECURE,),
                               name="knot-wrong")
        bad = dict(name="knotd-wrong", port=badport, dir=d, argv=argv, conf=conf,
                   proc=None, key=wrong)
    else:
        print("SKIP the knotd with a wrong secret: %s is not installed" % KNOTD)

    # apexd
    adir = os.path.join(workdir, "apexd")
    os.makedirs(adir, exist_ok=True)
    zpath = os.path.join(adir, "example.test.zone")
    ppath = os.path.join(adir, "platform.test.zone")
    spath = os.path.join(adir, "secure.test.zone")
    with open(zpath, "w") as f:
        f.write(example_zone(SERIAL1))
    with open(ppath, "w") as f:
        f.write(PLATFORM_ZONE)
    with open(spath, "w") as f:
        f.write(secure_zone(SEC_SERIAL1))
    notify = "notify = [%s]" % ", ".join('"%s:%d"' % (HOST, s["port"]) for s in secs)
    lines = [
        "[server]", 'listen = ["%s:%d"]' % (HOST, aport),
        'state_dir = "%s"' % os.path.join(workdir, "state"), "",
        "[log]", 'level = "info"', "",
        "[control]", 'listen = "%s:%d"' % (HOST, cport), "",
        "[proxy]", 'ipv4 = ["%s"]' % EDGE4, 'ipv6 = ["%s"]' % EDGE6,
        "ttl = %d" % PROXY_TTL, ""]
    for k in (k256, k512):
        lines += ["[[key]]", 'name = "%s"' % k.name,
                  'algorithm = "%s"' % k.algorithm, 'secret = "%s"' % k.secret, ""]
    lines += [
        "[[zone]]", 'origin = "%s"' % ORIGIN, 'file = "%s"' % zpath,
        'allow_transfer = ["127.0.0.0/8"]', notify, "",
        "[[zone]]", 'origin = "%s"' % PLATFORM, 'file = "%s"' % ppath, "",
        "[[zone]]", 'origin = "%s"' % SECURE, 'file = "%s"' % spath,
        'allow_transfer = ["key:%s", "%s key:%s"]' % (k256.name, HOST, k512.name),
        notify, ""]
    conf = os.path.join(adir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    apexd = harness.start_apexd_config(binary, conf, aport, ORIGIN, adir)

    check_access(res, aport)
    apex1 = check_apexd_axfr(res, aport, workdir, SERIAL1, False, "serial 1")
    sec1 = check_secure_apexd(res, aport, [k256, k512], SEC_SERIAL1, False,
                              "serial 1")

    # start the secondaries (and the one with the wrong secret); wait for
    # serial 1 of both zones
    for s in secs + ([bad] if bad else []):
        s["proc"] = harness._spawn(s["name"], s["argv"], s["dir"], s["port"],
                                   s["conf"])
        s["started"] = time.monotonic()
    loaded = wait_loaded(res, secs, [(ORIGIN, SERIAL1), (SECURE, SEC_SERIAL1)])
    live = [s for s in secs if (s["name"], ORIGIN) in loaded]
    live_sec = [s for s in secs if (s["name"], SECURE) in loaded]

    for s in live:
        compare_secondary(res, s["name"], s["port"], apex1, "serial 1")
    if sec1 is not None:
        for s in live_sec:
            compare_secondary_secure(res, s["name"], s["port"], sec1, "serial 1")

    # the change: new serial, one new name, SIGHUP; NOTIFY must do the rest
    conv = converge(res, apexd, live, ORIGIN, NEW_NAME, NEW_ADDR, zpath,
                    example_zone(SERIAL2, new=True), "")
    check_notify_sent(res, apexd, secs, ORIGIN, SERIAL2)

    apex2 = check_apexd_axfr(res, aport, workdir, SERIAL2, True, "serial 2")
    for s in live:
        if s["name"] in conv:
            compare_secondary(res, s["name"], s["port"], apex2, "serial 2")

    # the same for secure.test.: the secondaries' transfers signed
    conv_sec = converge(res, apexd, live_sec, SECURE, SEC_NEW_NAME, SEC_NEW_ADDR,
                        spath, secure_zone(SEC_SERIAL2, new=True), ", TSIG transfer")
    check_notify_sent(res, apexd, secs, SECURE, SEC_SERIAL2)
    err = apexd.stderr()
    res.check("event=notify_failed" not in err, "apexd logs no notify_failed",
              "  %s" % "\n  ".join(l for l in err.splitlines()
                                   if "notify_failed" in l))
    sec2 = check_secure_apexd(res, aport, [k256, k512], SEC_SERIAL2, True,
                              "serial 2")
    if sec2 is not None:
        for s in live_sec:
            if s["name"] in conv_sec:
                compare_secondary_secure(res, s["name"], s["port"], sec2, "serial 2")

    if bad:
        check_wrong_secret(res, bad, apexd, wrong)

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
    else:
        # From the journal (RFC 1995 §4): new SOA, old SOA, what went, new SOA, what came, new
        # SOA; the reload added NEW_NAME and changed nothing else.
        names = [str(n) for n, _, rd in r.rrs if rd.rdtype != dns.rdatatype.SOA]
        soas = [rd.serial for _, _, rd in r.rrs if rd.rdtype == dns.rdatatype.SOA]
        res.check(r.rrs[1][2].rdtype == dns.rdatatype.SOA and soas == [SERIAL2, SERIAL1, SERIAL2, SERIAL2]
                  and names == [NEW_NAME],
                  "IXFR from the previous serial: the difference from %d to %d (the new name alone)"
                  % (SERIAL1, SERIAL2), "  RRs:\n%s" % r.text())
    r = xfr(aport, ORIGIN, "IXFR", serial=SERIAL1 - 7)
    got = r.records() if r.error is None else set()
    res.check(r.error is None and len(r.rrs) > 2 and r.rrs[1][2].rdtype != dns.rdatatype.SOA and got == want,
              "IXFR from a serial the journal does not reach: the new zone, AXFR-style",
              "  error %s\n  missing: %s\n  extra: %s" % (r.error, sorted(want - got), sorted(got - want)))
    check_secure_ixfr(res, aport, k512, SEC_SERIAL2)

    # TSIG refusals, against apexd directly
    check_secure_refusals(res, aport, apexd, k256, k512, unknown)
    check_zone_metrics(res, cport, live, secs)

    for s in secs + ([bad] if bad else []):
        p = s["proc"]
        res.check(p.alive(), "%s still running at the end" % s["name"],
                  "  exit %s; stderr:\n%s" % (p.popen.returncode, tail(p.stderr())))
    check_key_reload(res, apexd, aport, conf, lines, k256, k512)

    res.check(apexd.alive(), "apexd still running at the end",
              "  exit %s; stderr:\n%s" % (apexd.popen.returncode, tail(apexd.stderr())))
    odd = [l for l in apexd.stderr().splitlines()  # by level, not "TSIG error"
           if re.match(r"\S+\s+(warn|warning|error|critical)\b", l)]
    if odd:
        print("NOTE apexd warnings/errors:\n%s" % "\n".join("    " + l for l in odd))

    # clean shutdown by PID
    for s in secs + ([bad] if bad else []):
        harness.stop(s["proc"])
        res.check(not s["proc"].alive(), "%s stopped by PID" % s["name"])
    harness.stop(apexd)
    res.check(apexd.popen.returncode == 0, "apexd exits 0 on SIGTERM",
              "  exit %s" % apexd.popen.returncode)
    print("NOTE took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    harness.main(body, harness.base_parser(
        "zone transfers from apexd to knotd, nsd and named"))
