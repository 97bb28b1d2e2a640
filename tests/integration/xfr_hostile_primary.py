#!/usr/bin/python3
"""apexd as a secondary of a hostile primary: a scripted DNS server in this
process (dnspython, threads, UDP and TCP on one free port of 127.0.0.1).

    /usr/bin/python3 tests/integration/xfr_hostile_primary.py --apexd build-rel/apexd
    /usr/bin/python3 tests/integration/xfr_hostile_primary.py --peers-only

apexd has two secondary zones from it: hostile.test. (max_zone_size =
20000) and secure-hostile.test. (primary_key = hostile-key, hmac-sha256 from
`tsig-keygen`), no copy on disk at start, allow_transfer 127.0.0.0/8, a
[control] endpoint. SOA refresh/retry are 3600 s: only our NOTIFYs make apexd
look. First both zones arrive by AXFR at serial 10 (apexd logs
`event=transfer_in ... type=AXFR serial=10 records=6`). Then for each
scenario the zone's advertised serial goes up (11, 12, ...), the data sent
is "evil" (www A changed, evil.Z added), apexd gets a NOTIFY from
127.0.0.1, and once apexd logs `event=transfer_in_failed zone=Z
primary=127.0.0.1:P reason="..."` and its requests settle, the checks are:
apexd still serves serial 10 (SOA) and www A 192.0.2.10, evil.Z is
NXDOMAIN, the copy on disk is byte-identical, apexd_transfers_in_total
{result="failed"} went up, apexd is alive. The reasons are printed.

Scenarios (the transfer answer; IXFR and AXFR requests alike):
  garbage          random bytes in a length-prefixed frame
  truncated        first message (SOA + half the zone), then close
  first_not_soa    the stream starts with an A record
  closing_serial   closing SOA with another serial
  other_zone_soa   both SOAs owned by other.test.
  axfr_backwards   SOA query says N, the transfer brings serial 5
  oversize         ~50 KB of TXT (max_zone_size 20000)
  no_ns            no NS at the apex
  cname_beside     dup CNAME www + dup A
  wrong_id         every message with another ID
  stall            accept, read the request, send nothing for 15 s (apexd
                   must give up (~10 s a read) and keep serving; checked
                   halfway too)
  len_eof          length prefix 65535, 100 bytes, EOF
  rdlength_past    the last RR's rdlength points past the message end
  pointer_loop     an owner name whose compression pointer loops
  backwards        SOA query answers serial 5: no transfer request may
                   arrive, nothing changes (a transfer_in_failed is not
                   required here; printed if logged)
secure-hostile.test.:
  tsig_unsigned    SOA answer signed, transfer answer unsigned
  tsig_badsig      transfer answer signed with another secret
  tsig_soa_unsigned SOA answer unsigned (serial N), transfer signed
Then:
  ixfr_garbage     IXFR answered with garbage, AXFR with a good zone at N:
                   either the failure is logged and nothing changes, or
                   apexd falls back to AXFR and serves exactly that zone
                   (printed which); the spec ("AXFR ... when the
                   primary's IXFR answer is ... an error") implies the
                   fallback
  final            serial 40, new data, answered as an incremental IXFR:
                   apexd logs type=IXFR serial=20 and serves exactly it
                   (its AXFR and its copy on disk), also secure-hostile.test.
                   (signed) - the failures left both zones refreshable.

--peers-only runs only the hostile primary and checks each scenario looks
as meant to dnspython (dns.query.xfr raises, or the SOA says 5) and to
`kdig AXFR` (exit code / error printed), the good transfers parse.

Ends with `N passed, N failed`; exits 1 on any failure. About 50 s (the
stall alone 10-20 s; bounds 15 s per scenario, 40 s for the stall,
3 minutes in all).
"""

import io
import os
import random
import re
import select
import socket
import struct
import subprocess
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

import harness
from harness import distinct_ports, tail  # noqa: E402
import ops_common as oc

HOST = harness.HOST
ZONE = "hostile.test."
SZONE = "secure-hostile.test."
KEYNAME = "hostile-key"
TSIG_KEYGEN = "/usr/sbin/tsig-keygen"
KDIG = "/usr/bin/kdig"
MAX_ZONE_SIZE = 20000
GOOD_SERIAL = 10
FINAL_SERIAL = 40        # above every scenario's serial (11..~30)
WWW_GOOD = "192.0.2.10"
WWW_EVIL = "192.0.2.66"
STALL = 15.0             # seconds the stall scenario holds a connection
SCENARIO_WAIT = 15.0     # for apexd's transfer_in_failed after the NOTIFY
STALL_WAIT = 40.0        # ... in the stall scenario
LOAD_WAIT = 10.0
TOTAL_BOUND = 180.0

SCENARIOS = ["garbage", "truncated", "first_not_soa", "closing_serial",
             "other_zone_soa", "axfr_backwards", "oversize", "no_ns",
             "cname_beside", "wrong_id", "stall", "len_eof", "rdlength_past",
             "pointer_loop"]
TSIG_SCENARIOS = ["tsig_unsigned", "tsig_badsig", "tsig_soa_unsigned"]


# --------------------------------------------------------------------------
# zone data: lists of RRsets of one RR each, in order
# --------------------------------------------------------------------------

def rr(origin, line):
    """'name ttl TYPE rdata' (name relative or @) -> an RRset of one RR."""
    name, ttl, rdtype, rdata = line.split(None, 3)
    owner = origin if name == "@" else (name if name.endswith(".")
                                        else "%s.%s" % (name, origin))
    rd = dns.rdata.from_text("IN", rdtype, rdata, origin=dns.name.from_text(origin),
                             relativize=False)
    return dns.rrset.from_rdata(owner, int(ttl), rd)


def soa(origin, serial, owner=None):
    return rr(origin, "%s 300 SOA ns1.%s hostmaster.%s %d 3600 3600 86400 300"
              % (owner or "@", origin, origin, serial))


def good_zone(origin, serial):
    """The zone at serial 10, 20 (final) or N (ixfr_garbage's AXFR)."""
    lines = ["@ 3600 NS ns1", "ns1 3600 A 192.0.2.1", "@ 3600 MX 10 mail",
             "mail 3600 A 192.0.2.11"]
    if serial == GOOD_SERIAL:
        lines += ["www 3600 A %s" % WWW_GOOD, 'txt 3600 TXT "serial ten"']
    elif serial == FINAL_SERIAL:
        lines += ["www 3600 A 192.0.2.20", "new40 3600 A 192.0.2.140"]
    else:
        lines += ["www 3600 A %s" % WWW_GOOD, 'txt 3600 TXT "serial ten"',
                  "fallback%d 3600 A 192.0.2.%d" % (serial, serial)]
    return [soa(origin, serial)] + [rr(origin, l) for l in lines]


def evil_zone(origin, serial, ns=True, extra=()):
    lines = (["@ 3600 NS ns1"] if ns else []) + [
        "ns1 3600 A 192.0.2.1", "www 3600 A %s" % WWW_EVIL, "evil 3600 A %s" % WWW_EVIL]
    lines += list(extra)
    return [soa(origin, serial)] + [rr(origin, l) for l in lines]


def canon_rrsets(rrsets):
    out = set()
    for rs in rrsets:
        for rd in rs:
            out.add("%s %d %s %s" % (rs.name.to_text().lower(), rs.ttl,
                                     dns.rdatatype.to_text(rd.rdtype),
                                     rd.to_text().lower()))
    return out


def zone_canon(zone_rrsets):
    return canon_rrsets(zone_rrsets)


def bytes_of(rrsets, origin):
    """RR wire bytes (uncompressed), as max_zone_size counts."""
    total = 0
    for rs in rrsets:
        f = io.BytesIO()
        rs.to_wire(f)
        total += len(f.getvalue())
    return total


# --------------------------------------------------------------------------
# the hostile primary
# --------------------------------------------------------------------------

class ZoneState:
    def __init__(self, origin, key=None):
        self.origin = origin
        self.key = key
        self.scenario = "good"
        self.serial = GOOD_SERIAL
        self.versions = {GOOD_SERIAL: good_zone(origin, GOOD_SERIAL)}


class HostilePrimary:
    """UDP and TCP on one port.  Every request is recorded in `requests` as
    dicts (t, zone, qtype, transport, serial asked, signed)."""

    def __init__(self, port, key):
        self.port = port
        self.key = key          # dns.tsig.Key of hostile-key
        self.wrong_key = None   # same name, another secret
        self.keyring = {key.name: key}
        self.zones = {ZONE: ZoneState(ZONE), SZONE: ZoneState(SZONE, key)}
        self.requests = []
        self.lock = threading.Lock()
        self.active = 0         # transfer answers being sent
        self.stop_ev = threading.Event()
        self.errors = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((HOST, port))
        self.tcp.listen(16)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def close(self):
        self.stop_ev.set()
        for s in (self.udp, self.tcp):
            try:
                s.close()
            except OSError:
                pass

    def set(self, origin, scenario, serial):
        with self.lock:
            z = self.zones[origin]
            z.scenario = scenario
            z.serial = serial

    def xfr_requests(self, origin, since):
        with self.lock:
            return [r for r in self.requests if r["zone"] == origin and r["t"] >= since
                    and r["qtype"] in ("AXFR", "IXFR")]

    def soa_requests(self, origin, since):
        with self.lock:
            return [r for r in self.requests if r["zone"] == origin and r["t"] >= since
                    and r["qtype"] == "SOA"]

    def last_request(self):
        with self.lock:
            return self.requests[-1]["t"] if self.requests else 0.0

    # ---- parsing and answering

    def _parse(self, wire):
        try:
            return dns.message.from_wire(wire, keyring=self.keyring)
        except Exception as e:  # noqa: BLE001 - a request we cannot take
            self.errors.append("request: %s: %s" % (type(e).__name__, e))
            return None

    def _record(self, q, transport):
        qtype = dns.rdatatype.to_text(q.question[0].rdtype) if q.question else "?"
        zone = q.question[0].name.to_text().lower() if q.question else "?"
        asked = None
        for rs in q.authority:
            if rs.rdtype == dns.rdatatype.SOA:
                asked = rs[0].serial
        with self.lock:
            self.requests.append(dict(t=time.monotonic(), zone=zone, qtype=qtype,
                                      transport=transport, serial=asked,
                                      signed=q.had_tsig, id=q.id))
        return zone, qtype, asked

    def _response(self, q, rrsets, sign="right"):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        r.set_rcode(dns.rcode.NOERROR)
        for rs in rrsets:
            r.answer.append(rs)
        if sign == "none" or not q.had_tsig:
            r.keyring = None
            r.tsig = None
        elif sign == "wrong":
            r.use_tsig(self.wrong_key)
            r.request_mac = q.mac
        return r

    def _soa_answer(self, q, z):
        serial = 5 if z.scenario == "backwards" else z.serial
        sign = "none" if z.scenario == "tsig_soa_unsigned" else "right"
        r = self._response(q, [soa(z.origin, serial)], sign=sign)
        return r.to_wire()

    def _udp_loop(self):
        self.udp.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                wire, addr = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            q = self._parse(wire)
            if q is None or not q.question or q.opcode() != dns.opcode.QUERY:
                continue
            zone, qtype, _ = self._record(q, "udp")
            z = self.zones.get(zone)
            try:
                if z is None:
                    r = dns.message.make_response(q)
                    r.set_rcode(dns.rcode.REFUSED)
                    self.udp.sendto(r.to_wire(), addr)
                elif qtype in ("SOA", "IXFR"):  # IXFR over UDP: the SOA alone
                    self.udp.sendto(self._soa_answer(q, z), addr)
                else:
                    r = dns.message.make_response(q)
                    r.set_rcode(dns.rcode.REFUSED)
                    self.udp.sendto(r.to_wire(), addr)
            except OSError:
                pass

    def _tcp_loop(self):
        self.tcp.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _read_frame(self, c, timeout=20.0):
        deadline = time.monotonic() + timeout
        hdr = harness._recv_exact(c, 2, deadline)
        if hdr is None:
            return None
        return harness._recv_exact(c, struct.unpack("!H", hdr)[0], deadline)

    def _conn(self, c):
        try:
            while not self.stop_ev.is_set():
                wire = self._read_frame(c)
                if wire is None:
                    return
                q = self._parse(wire)
                if q is None or not q.question:
                    return
                zone, qtype, asked = self._record(q, "tcp")
                z = self.zones.get(zone)
                if z is None:
                    return
                if qtype == "SOA":
                    self._send(c, [self._soa_answer(q, z)])
                    continue
                if qtype not in ("AXFR", "IXFR"):
                    return
                with self.lock:
                    self.active += 1
                try:
                    if not self._transfer(c, q, z, qtype, asked):
                        return
                finally:
                    with self.lock:
                        self.active -= 1
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    @staticmethod
    def _send(c, wires):
        for w in wires:
            c.sendall(struct.pack("!H", len(w)) + w)

    def _messages(self, q, rrsets, per=60, sign="right"):
        """The RRsets in messages of `per` RRs; signed ones chained."""
        out = []
        ctx = None
        for i in range(0, max(1, len(rrsets)), per):
            r = self._response(q, rrsets[i:i + per], sign=sign)
            if r.keyring is not None and r.tsig is not None or (sign != "none" and q.had_tsig):
                w = r.to_wire(multi=True, tsig_ctx=ctx)
                ctx = r.tsig_ctx
            else:
                w = r.to_wire()
            out.append(w)
        return out

    def _full(self, z, serial):
        data = z.versions.get(serial) or good_zone(z.origin, serial)
        return data + [soa(z.origin, serial)]

    def _ixfr_rrsets(self, z, asked):
        """Incremental IXFR (RFC 1995 §4) from `asked` to the current serial."""
        old = z.versions[asked]
        new = z.versions[z.serial]
        oc_, nc = canon_rrsets(old[1:]), canon_rrsets(new[1:])
        dels = [rs for rs in old[1:] if canon_rrsets([rs]) - nc]
        adds = [rs for rs in new[1:] if canon_rrsets([rs]) - oc_]
        return ([soa(z.origin, z.serial), soa(z.origin, asked)] + dels +
                [soa(z.origin, z.serial)] + adds + [soa(z.origin, z.serial)])

    def _transfer(self, c, q, z, qtype, asked):
        """Answers one AXFR/IXFR by the zone's scenario.  False: close now."""
        sc, n, o = z.scenario, z.serial, z.origin
        evil = evil_zone(o, n)
        if sc == "good" or (sc == "ixfr_garbage" and qtype == "AXFR"):
            if n not in z.versions:
                z.versions[n] = good_zone(o, n)
            if qtype == "IXFR" and asked == n:
                rrsets = [soa(o, n)]
            elif qtype == "IXFR" and asked in z.versions and asked != n:
                rrsets = self._ixfr_rrsets(z, asked)
            else:
                rrsets = self._full(z, n)
            self._send(c, self._messages(q, rrsets))
            return True
        if sc in ("garbage", "ixfr_garbage"):
            rnd = random.Random(n)
            self._send(c, [bytes(rnd.randrange(256) for _ in range(300))])
            return False
        if sc == "truncated":
            body = evil + [rr(o, "t%03d 3600 A 192.0.2.%d" % (i, i % 250)) for i in range(120)]
            msgs = self._messages(q, body + [soa(o, n)], per=60)
            self._send(c, msgs[:1])
            return False
        if sc == "first_not_soa":
            rrsets = evil[1:] + [evil[0], soa(o, n)]
        elif sc == "closing_serial":
            # then close: a client that took this SOA for the end has
            # already accepted; one that waits for the right one gets EOF
            self._send(c, self._messages(q, evil + [soa(o, n + 100)]))
            return False
        elif sc == "other_zone_soa":
            rrsets = [soa(o, n, owner="other.test.")] + evil[1:] + \
                     [soa(o, n, owner="other.test.")]
        elif sc == "axfr_backwards":
            rrsets = evil_zone(o, 5) + [soa(o, 5)]
        elif sc == "oversize":
            big = evil + [rr(o, 'big%03d 3600 TXT "%s"' % (i, "x" * 60)) for i in range(600)]
            rrsets = big + [soa(o, n)]
        elif sc == "no_ns":
            rrsets = evil_zone(o, n, ns=False) + [soa(o, n)]
        elif sc == "cname_beside":
            rrsets = evil_zone(o, n, extra=["dup 3600 CNAME www", "dup 3600 A %s" % WWW_EVIL]) \
                + [soa(o, n)]
        elif sc == "wrong_id":
            msgs = []
            for w in self._messages(q, evil + [soa(o, n)]):
                msgs.append(struct.pack("!H", (q.id + 1) & 0xFFFF) + w[2:])
            self._send(c, msgs)
            return True
        elif sc == "stall":
            end = time.monotonic() + STALL
            while time.monotonic() < end and not self.stop_ev.is_set():
                r, _, _ = select.select([c], [], [], 0.2)
                if r:
                    try:
                        if not c.recv(4096):
                            return False   # the peer gave up and closed
                    except OSError:
                        return False
            return False
        elif sc == "len_eof":
            w = self._messages(q, evil + [soa(o, n)])[0]
            c.sendall(b"\xff\xff" + w[:100])
            return False
        elif sc == "rdlength_past":
            w = bytearray(self._messages(q, evil, sign="none")[0])
            # the last RR is evil A: ... rdlength(2) rdata(4) at the end
            struct.pack_into("!H", w, len(w) - 6, 200)
            self._send(c, [bytes(w)] + self._messages(q, [soa(o, n)]))
            return True
        elif sc == "pointer_loop":
            self._send(c, [pointer_loop_message(q)])
            return True
        elif sc == "tsig_unsigned":
            self._send(c, self._messages(q, evil + [soa(o, n)], sign="none"))
            return True
        elif sc == "tsig_badsig":
            self._send(c, self._messages(q, evil + [soa(o, n)], sign="wrong"))
            return True
        elif sc == "tsig_soa_unsigned":
            self._send(c, self._messages(q, evil + [soa(o, n)]))
            return True
        else:
            self.errors.append("unknown scenario %s" % sc)
            return False
        self._send(c, self._messages(q, rrsets))
        return True


def pointer_loop_message(q):
    """Header + the question + one answer RR whose owner is 'a' followed by
    a compression pointer back to that same 'a' (a loop)."""
    qwire = q.question[0].name.to_wire() + struct.pack(
        "!HH", q.question[0].rdtype, q.question[0].rdclass)
    hdr = struct.pack("!HHHHHH", q.id, 0x8400, 1, 1, 0, 0)
    off = len(hdr) + len(qwire)
    owner = b"\x01a" + struct.pack("!H", 0xC000 | off)
    rrw = owner + struct.pack("!HHIH", dns.rdatatype.A, dns.rdataclass.IN, 300, 4) + \
        bytes([192, 0, 2, 66])
    return hdr + qwire + rrw


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def tsig_key():
    p = subprocess.run([TSIG_KEYGEN, "-a", "hmac-sha256", KEYNAME], capture_output=True,
                       text=True, timeout=10)
    m = re.search(r'secret\s+"([A-Za-z0-9+/=]+)";', p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError("tsig-keygen: exit %d %s" % (p.returncode, p.stderr))
    return m.group(1)


def soa_serial(port, zone, timeout=0.5):
    try:
        r = harness.query(port, zone, "SOA", timeout=timeout)
    except Exception:  # noqa: BLE001
        return None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None
    return next((rs[0].serial for rs in r.answer if rs.rdtype == dns.rdatatype.SOA), None)


def a_of(port, name, timeout=0.5):
    try:
        r = harness.query(port, name, "A", timeout=timeout)
    except Exception:  # noqa: BLE001
        return None, None
    if r is None:
        return None, None
    return r.rcode(), sorted(rd.address for rs in r.answer
                             if rs.rdtype == dns.rdatatype.A for rd in rs)


NOTIFY_KEY = {}   # zone -> dns.tsig.Key its NOTIFYs are signed with


def send_notify(port, zone, serial, signed=True):
    """NOTIFY from 127.0.0.1; for secure-hostile.test. signed with hostile-key
    (what a primary with that key does), unless signed=False."""
    q = dns.message.make_query(zone, "SOA", use_edns=False)
    q.flags = dns.flags.AA          # (flags hold the opcode: set it after)
    q.set_opcode(dns.opcode.NOTIFY)
    q.answer.append(soa(zone, serial))
    if signed and zone in NOTIFY_KEY:
        q.use_tsig(NOTIFY_KEY[zone])
    try:
        return harness.parse(harness.send_udp_raw(port, q.to_wire(), timeout=1.0) or b"")
    except Exception:  # noqa: BLE001
        return None


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def failed_metric(cport):
    try:
        return oc.get_metrics(cport).sum("apexd_transfers_in_total", result="failed")
    except Exception:  # noqa: BLE001
        return None


def failure_lines(text, zone, pport):
    # other key=value fields (type=, serial=) may stand before reason=
    rx = re.compile(r'event=transfer_in_failed zone=%s primary=%s:%d(?: [a-z_]+=[^ "]*)* '
                    r'reason="([^"]*)"' % (re.escape(zone), re.escape(HOST), pport))
    return [m.group(1) for m in rx.finditer(text)]


def apexd_axfr(port, zone, timeout=5.0):
    try:
        msgs = list(dns.query.xfr(HOST, zone, port=port, relativize=False,
                                  timeout=timeout, lifetime=2 * timeout))
    except Exception as e:  # noqa: BLE001
        return None, e
    rrsets = [rs for m in msgs for rs in m.answer]
    if len(rrsets) > 1:
        rrsets = rrsets[:-1]  # the closing SOA
    return canon_rrsets(rrsets), None


def file_canon(path, origin):
    import dns.zone
    try:
        z = dns.zone.from_file(path, origin=origin, relativize=False, check_origin=False)
    except Exception as e:  # noqa: BLE001
        return None, e
    out = set()
    for n, ttl, rd in z.iterate_rdatas():
        out.add("%s %d %s %s" % (n.to_text().lower(), ttl,
                                 dns.rdatatype.to_text(rd.rdtype), rd.to_text().lower()))
    return out, None


# --------------------------------------------------------------------------
# the checks against apexd
# --------------------------------------------------------------------------

def settle(prim, since, timeout):
    """Wait until no transfer is being answered and no request came for 1 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with prim.lock:
            busy = prim.active
        if not busy and time.monotonic() - max(prim.last_request(), since) > 1.0:
            return True
        time.sleep(0.1)
    return False


def run_scenario(res, ap, aport, cport, prim, zone, scenario, serial, copy_path,
                 baseline):
    """One hostile scenario; baseline = (serial, www address) served before."""
    label = "%s %s (serial %d)" % (zone, scenario, serial)
    before_lines = len(failure_lines(ap.stderr(), zone, prim.port))
    before_failed = failed_metric(cport)
    before_file = read_bytes(copy_path)
    prim.set(zone, scenario, serial)
    t0 = time.monotonic()
    send_notify(aport, zone, serial)
    wait = STALL_WAIT if scenario == "stall" else SCENARIO_WAIT
    mid_checked = False
    notifies = 1
    while time.monotonic() - t0 < wait:
        if len(failure_lines(ap.stderr(), zone, prim.port)) > before_lines:
            break
        if not ap.alive():
            break
        el = time.monotonic() - t0
        if not prim.soa_requests(zone, t0) and not prim.xfr_requests(zone, t0) \
                and el > 3 * notifies and notifies < 3:
            send_notify(aport, zone, serial)   # NOTIFY is UDP: a primary retries
            notifies += 1
        if scenario == "stall" and not mid_checked and el > STALL / 3:
            mid_checked = True
            s = soa_serial(aport, zone)
            res.check(s == baseline[0], "%s: apexd still answers (SOA serial %d) "
                      "during the stall" % (label, baseline[0]), "  got %s" % s)
        if scenario == "backwards" and prim.soa_requests(zone, t0) and el > 3.0:
            break
        time.sleep(0.1)
    took = time.monotonic() - t0
    settle(prim, t0, 30.0 if scenario == "stall" else 10.0)
    err = ap.stderr()
    new = failure_lines(err, zone, prim.port)[before_lines:]
    xfrs = prim.xfr_requests(zone, t0)
    if scenario == "backwards":
        res.check(bool(prim.soa_requests(zone, t0)),
                  "%s: apexd asked for the SOA after the NOTIFY" % label)
        res.check(not xfrs, "%s: no transfer requested (serial 5 is older than 10)"
                  % label, "  requests: %s" % xfrs)
        print("NOTE %s: %s" % (label, ("transfer_in_failed reason=\"%s\"" % new[0])
                               if new else "no transfer_in_failed logged"))
    else:
        res.check(bool(new), "%s: apexd logs transfer_in_failed zone=%s primary=%s:%d "
                  "reason=\"...\"" % (label, zone, HOST, prim.port),
                  "  within %.0f s; requests seen: %s\n  apexd stderr:\n%s"
                  % (wait, [(r["qtype"], r["transport"]) for r in prim.xfr_requests(zone, t0)],
                     tail(err)))
        if new:
            print("NOTE %s: after %.1f s, %d failure(s), requests %s, reason=\"%s\""
                  % (label, took, len(new), "+".join(r["qtype"] for r in xfrs), new[0]))
        if scenario.startswith("tsig") and scenario != "tsig_soa_unsigned":
            res.check(all(r["signed"] for r in xfrs) and xfrs,
                      "%s: apexd's transfer requests were signed" % label,
                      "  %s" % xfrs)
        if scenario == "stall" and new:
            res.check(took <= 2 * 10 + 6, "%s: apexd gave up within ~10 s a read "
                      "(%.1f s for %d request(s))" % (label, took, len(xfrs)))
    check_unchanged(res, ap, aport, cport, zone, label, baseline, copy_path,
                    before_file, before_failed, scenario != "backwards")


def check_unchanged(res, ap, aport, cport, zone, label, baseline, copy_path,
                    before_file, before_failed, want_failed_up):
    s = soa_serial(aport, zone)
    res.check(s == baseline[0], "%s: apexd still serves serial %d" % (label, baseline[0]),
              "  SOA serial %s" % s)
    rc, addrs = a_of(aport, "www." + zone)
    res.check(rc == dns.rcode.NOERROR and addrs == [baseline[1]],
              "%s: www.%s A is still %s" % (label, zone, baseline[1]),
              "  rcode %s, %s" % (rc, addrs))
    rc, addrs = a_of(aport, "evil." + zone)
    res.check(rc == dns.rcode.NXDOMAIN, "%s: evil.%s is NXDOMAIN" % (label, zone),
              "  rcode %s, %s" % (rc, addrs))
    res.check(read_bytes(copy_path) == before_file and before_file is not None,
              "%s: the copy on disk is byte-identical" % label)
    after = failed_metric(cport)
    if want_failed_up:
        res.check(after is not None and before_failed is not None and after > before_failed,
                  "%s: apexd_transfers_in_total{result=\"failed\"} went up" % label,
                  "  %s -> %s" % (before_failed, after))
    res.check(ap.alive(), "%s: apexd alive" % label,
              "  exit %s\n%s" % (ap.popen.returncode, tail(ap.stderr())))


def check_ixfr_garbage(res, ap, aport, cport, prim, serial, copy_path):
    zone = ZONE
    label = "%s ixfr_garbage (serial %d)" % (zone, serial)
    before_lines = len(failure_lines(ap.stderr(), zone, prim.port))
    before_ok = len(re.findall(r"event=transfer_in zone=%s " % re.escape(zone), ap.stderr()))
    before_file = read_bytes(copy_path)
    prim.set(zone, "ixfr_garbage", serial)
    t0 = time.monotonic()
    send_notify(aport, zone, serial)
    rx_ok = re.compile(r"event=transfer_in zone=%s primary=%s:%d type=AXFR serial=%d "
                       % (re.escape(zone), re.escape(HOST), prim.port, serial))

    def done():
        e = ap.stderr()
        return (len(failure_lines(e, zone, prim.port)) > before_lines and
                not prim.xfr_requests(zone, time.monotonic() - 1.0)) or rx_ok.search(e)
    while time.monotonic() - t0 < SCENARIO_WAIT and not done():
        time.sleep(0.1)
    settle(prim, t0, 10.0)
    err = ap.stderr()
    reqs = "+".join(r["qtype"] for r in prim.xfr_requests(zone, t0))
    s = soa_serial(aport, zone)
    got, e = apexd_axfr(aport, zone)
    if rx_ok.search(err):
        want = zone_canon(good_zone(zone, serial))
        print("NOTE %s: apexd fell back to AXFR (requests %s)" % (label, reqs))
        res.check(s == serial and got == want,
                  "%s: AXFR fallback; apexd serves exactly the zone at %d" % (label, serial),
                  "  SOA %s, missing %s, extra %s" % (s, sorted(want - (got or set())),
                                                      sorted((got or set()) - want)))
        fc, _ = file_canon(copy_path, zone)
        res.check(fc == want, "%s: the copy on disk is the zone at %d" % (label, serial))
        return serial
    new = failure_lines(err, zone, prim.port)[before_lines:]
    print("NOTE %s: failed without an AXFR fallback (requests %s): %s"
          % (label, reqs, new[:2]))
    want = zone_canon(good_zone(zone, GOOD_SERIAL))
    res.check(bool(new) and s == GOOD_SERIAL and got == want and
              read_bytes(copy_path) == before_file,
              "%s: the failure is logged and nothing changed (serial %d, same data, "
              "same file)" % (label, GOOD_SERIAL),
              "  failures %s, SOA %s, AXFR diff %s" % (new, s, sorted((got or set()) ^ want)))
    _ = before_ok
    return GOOD_SERIAL


def check_final(res, ap, aport, prim, zone, copy_path, from_serial):
    label = "%s final (serial %d)" % (zone, FINAL_SERIAL)
    z = prim.zones[zone]
    z.versions[FINAL_SERIAL] = good_zone(zone, FINAL_SERIAL)
    if from_serial not in z.versions:
        z.versions[from_serial] = good_zone(zone, from_serial)
    prim.set(zone, "good", FINAL_SERIAL)
    t0 = time.monotonic()
    send_notify(aport, zone, FINAL_SERIAL)
    rx = re.compile(r"event=transfer_in zone=%s primary=%s:%d type=(AXFR|IXFR) "
                    r"serial=%d records=(\d+)\b.* ms=\d+" % (re.escape(zone), re.escape(HOST),
                                                         prim.port, FINAL_SERIAL))
    while time.monotonic() - t0 < SCENARIO_WAIT and not rx.search(ap.stderr()):
        if time.monotonic() - t0 > 4 and not prim.soa_requests(zone, t0):
            send_notify(aport, zone, FINAL_SERIAL)
            t0b = time.monotonic()
            while time.monotonic() - t0b < 1 and not rx.search(ap.stderr()):
                time.sleep(0.1)
        time.sleep(0.1)
    m = rx.search(ap.stderr())
    res.check(bool(m), "%s: apexd logs transfer_in serial=%d" % (label, FINAL_SERIAL),
              "  stderr:\n%s" % tail(ap.stderr()))
    if m:
        reqs = [(r["qtype"], r["serial"]) for r in prim.xfr_requests(zone, t0)]
        print("NOTE %s: %s, requests %s" % (label, m.group(0), reqs))
        res.check(m.group(1) == "IXFR" and ("IXFR", from_serial) in reqs,
                  "%s: an incremental IXFR from %d (apexd has a copy)" % (label, from_serial),
                  "  %s; requests %s" % (m.group(0), reqs))
    want = zone_canon(good_zone(zone, FINAL_SERIAL))
    settle(prim, t0, 5.0)
    t1 = time.monotonic()   # published a moment after the log line, at most 3 s
    while time.monotonic() - t1 < 3.0 and soa_serial(aport, zone) != FINAL_SERIAL:
        time.sleep(0.1)
    got, e = apexd_axfr(aport, zone)
    res.check(got == want, "%s: apexd serves exactly the new zone (its AXFR)" % label,
              "  error %r, missing %s, extra %s" % (e, sorted(want - (got or set())),
                                                    sorted((got or set()) - want)))
    rc, addrs = a_of(aport, "new40." + zone)
    res.check(rc == dns.rcode.NOERROR and addrs == ["192.0.2.140"],
              "%s: new40.%s A 192.0.2.140" % (label, zone), "  %s %s" % (rc, addrs))
    rc, _ = a_of(aport, "txt." + zone)
    res.check(rc == dns.rcode.NXDOMAIN, "%s: txt.%s (deleted by the IXFR) is NXDOMAIN"
              % (label, zone), "  rcode %s" % rc)
    deadline = time.monotonic() + 3.0
    fc = None
    while time.monotonic() < deadline:
        fc, _ = file_canon(copy_path, zone)
        if fc == want:
            break
        time.sleep(0.1)
    res.check(fc == want, "%s: the copy on disk is the new zone" % label,
              "  %s" % (sorted((fc or set()) ^ want)[:6]))


def load_first(res, ap, aport, prim, zone, copy_path):
    t0 = time.monotonic()
    while time.monotonic() - t0 < LOAD_WAIT and soa_serial(aport, zone, 0.3) != GOOD_SERIAL:
        if not ap.alive():
            break
        time.sleep(0.1)
    ok = soa_serial(aport, zone) == GOOD_SERIAL
    res.check(ok, "apexd loads %s from the hostile primary (serial %d) within %.0f s"
              % (zone, GOOD_SERIAL, LOAD_WAIT), "  stderr:\n%s" % tail(ap.stderr()))
    if not ok:
        return False
    print("NOTE %s served %.2f s after apexd's start" % (zone, time.monotonic() - t0))
    n = len(good_zone(zone, GOOD_SERIAL))
    # records: the zone's RRs or the stream's (closing SOA too)
    pat = (r"event=transfer_in zone=%s primary=%s:%d type=AXFR serial=%d records=(%d|%d)\b"
           r".* ms=\d+" % (re.escape(zone), re.escape(HOST), prim.port, GOOD_SERIAL, n, n + 1))
    res.check(bool(re.search(pat, ap.stderr())),
              "apexd logs event=transfer_in zone=%s primary=%s:%d type=AXFR serial=%d "
              "records=%d" % (zone, HOST, prim.port, GOOD_SERIAL, n),
              "  %s" % [l for l in ap.stderr().splitlines() if "transfer_in" in l])
    want = zone_canon(good_zone(zone, GOOD_SERIAL))
    got, e = apexd_axfr(aport, zone)
    res.check(got == want, "%s: apexd's AXFR is the zone at serial %d" % (zone, GOOD_SERIAL),
              "  error %r, diff %s" % (e, sorted((got or set()) ^ want)))
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and not os.path.isfile(copy_path):
        time.sleep(0.1)
    fc, e = file_canon(copy_path, zone)
    res.check(fc == want, "%s: the copy on disk holds the zone at serial %d"
              % (zone, GOOD_SERIAL), "  %r %s" % (e, sorted((fc or set()) ^ want)))
    return True


def run_apexd_test(res, binary, workdir, prim, secret):
    aport, cport = distinct_ports(2, avoid=(prim.port,))
    d = os.path.join(workdir, "apexd")
    os.makedirs(d, exist_ok=True)
    copies = {ZONE: os.path.join(d, "hostile.test.zone"),
              SZONE: os.path.join(d, "secure-hostile.test.zone")}
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, aport), "",
             "[log]", 'level = "info"', "",
             "[control]", 'listen = "%s:%d"' % (HOST, cport), "",
             "[[key]]", 'name = "%s"' % KEYNAME, 'algorithm = "hmac-sha256"',
             'secret = "%s"' % secret, "",
             "[[zone]]", 'origin = "%s"' % ZONE, 'file = "%s"' % copies[ZONE],
             'primaries = ["%s:%d"]' % (HOST, prim.port),
             'allow_transfer = ["127.0.0.0/8"]', "max_zone_size = %d" % MAX_ZONE_SIZE, "",
             "[[zone]]", 'origin = "%s"' % SZONE, 'file = "%s"' % copies[SZONE],
             'primaries = ["%s:%d"]' % (HOST, prim.port),
             'allow_transfer = ["127.0.0.0/8"]', 'primary_key = "%s"' % KEYNAME, ""]
    conf = os.path.join(d, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    ap = oc.spawn(binary, conf, d, aport)
    if not (load_first(res, ap, aport, prim, ZONE, copies[ZONE]) and
            load_first(res, ap, aport, prim, SZONE, copies[SZONE])):
        return
    NOTIFY_KEY[SZONE] = prim.key
    r = send_notify(aport, SZONE, GOOD_SERIAL, signed=False)
    res.check(r is not None and r.rcode() == dns.rcode.NOERROR,
              "an unsigned NOTIFY for %s from 127.0.0.1 is accepted (allow_notify "
              "defaults to the primaries' addresses)" % SZONE,
              "  reply %s" % (dns.rcode.to_text(r.rcode()) if r is not None else None))
    n_req = len(prim.requests)
    bad_reqs = [r for r in prim.requests if r["zone"] == SZONE and not r["signed"]]
    res.check(not bad_reqs, "apexd signs every request for %s (%d requests)"
              % (SZONE, len([r for r in prim.requests if r["zone"] == SZONE])),
              "  unsigned: %s" % bad_reqs)
    _ = n_req
    t_start = time.monotonic()
    serial = GOOD_SERIAL
    baseline = (GOOD_SERIAL, WWW_GOOD)
    for sc in SCENARIOS + ["backwards"]:
        if time.monotonic() - t_start > TOTAL_BOUND - 40:
            res.fail("no time left for %s" % sc)
            break
        serial += 1
        run_scenario(res, ap, aport, cport, prim, ZONE, sc, serial, copies[ZONE], baseline)
    s_serial = GOOD_SERIAL
    for sc in TSIG_SCENARIOS:
        s_serial += 1
        run_scenario(res, ap, aport, cport, prim, SZONE, sc, s_serial, copies[SZONE],
                     baseline)
    at = check_ixfr_garbage(res, ap, aport, cport, prim, serial + 1, copies[ZONE])
    check_final(res, ap, aport, prim, ZONE, copies[ZONE], at)
    check_final(res, ap, aport, prim, SZONE, copies[SZONE], GOOD_SERIAL)
    res.check(not [r for r in prim.requests if r["zone"] == SZONE and not r["signed"]],
              "apexd signed every request for %s" % SZONE)
    if prim.errors:
        print("NOTE hostile primary: %s" % prim.errors[:5])
    res.check(ap.alive(), "apexd still running at the end")
    harness.stop(ap)
    res.check(ap.popen.returncode == 0, "apexd exits 0 on SIGTERM",
              "  exit %s" % ap.popen.returncode)


# --------------------------------------------------------------------------
# peers-only: the scenarios as dnspython and kdig see them
# --------------------------------------------------------------------------

def client_xfr(port, zone, keyring=None, keyname=None, rdtype="AXFR", serial=0,
               timeout=3.0):
    msgs = []
    try:
        for m in dns.query.xfr(HOST, zone, port=port, rdtype=rdtype, serial=serial,
                               relativize=False, keyring=keyring, keyname=keyname,
                               timeout=timeout, lifetime=timeout * 2):
            msgs.append(m)
    except Exception as e:  # noqa: BLE001
        return msgs, e
    return msgs, None


def kdig(port, zone, key=None, timeout=3):
    argv = [KDIG, "@%s" % HOST, "-p", str(port), zone, "AXFR", "+time=%d" % timeout,
            "+retry=0"]
    if key:
        argv[1:1] = ["-y", key]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    out = p.stdout + p.stderr
    err = [l for l in out.splitlines() if "ERROR" in l or "WARNING" in l]
    return p.returncode, "; ".join(err[:2]) or out.strip().splitlines()[-1:]


def peers_only(res, prim, secret):
    keyring = dns.tsigkeyring.from_text({KEYNAME: ("hmac-sha256", secret)})
    kd = "hmac-sha256:%s:%s" % (KEYNAME, secret)
    msgs, e = client_xfr(prim.port, ZONE)
    got = canon_rrsets([rs for m in msgs for rs in m.answer][:-1])
    res.check(e is None and got == zone_canon(good_zone(ZONE, GOOD_SERIAL)),
              "peer: good AXFR of %s parses to the zone at 10" % ZONE, "  %r" % e)
    msgs, e = client_xfr(prim.port, SZONE, keyring=keyring, keyname=KEYNAME)
    res.check(e is None and msgs and all(m.had_tsig for m in msgs),
              "peer: good signed AXFR of %s verifies" % SZONE, "  %r" % e)
    rc, out = kdig(prim.port, ZONE)
    res.check(rc == 0, "peer: kdig AXFR of %s exits 0" % ZONE, "  %s" % out)
    serial = GOOD_SERIAL
    for sc in SCENARIOS:
        serial += 1
        prim.set(ZONE, sc, serial)
        t = time.monotonic()
        msgs, e = client_xfr(prim.port, ZONE, timeout=2.0)
        rc, out = kdig(prim.port, ZONE, timeout=2)
        prim.set(ZONE, "good", GOOD_SERIAL)
        if sc == "axfr_backwards":
            s = [rs[0].serial for m in msgs for rs in m.answer
                 if rs.rdtype == dns.rdatatype.SOA]
            ok = s and s[0] == 5
            res.check(ok, "peer %s: the transfer brings serial 5 (SOA says %d)" % (sc, serial),
                      "  %s %r" % (s, e))
            continue
        if sc == "oversize":
            rrsets = [rs for m in msgs for rs in m.answer]
            size = bytes_of(rrsets, ZONE)
            res.check(e is None and size > 2.5 * MAX_ZONE_SIZE,
                      "peer %s: a complete transfer of %d bytes of RR data (%d messages)"
                      % (sc, size, len(msgs)), "  %r" % e)
            continue
        if sc in ("no_ns", "cname_beside"):
            # well-formed transfers of an invalid zone
            rrsets = [rs for m in msgs for rs in m.answer]
            types = {(rs.name.to_text(), dns.rdatatype.to_text(rs.rdtype)) for rs in rrsets}
            if sc == "no_ns":
                ok = e is None and (ZONE, "NS") not in types
            else:
                ok = e is None and {("dup." + ZONE, "CNAME"), ("dup." + ZONE, "A")} <= types
            res.check(ok and rc == 0, "peer %s: a well-formed transfer of the invalid zone "
                      "(kdig exit 0)" % sc, "  %r, kdig %s %s" % (e, rc, out))
            continue
        if sc == "wrong_id":
            # dnspython 2.3's dns.query.xfr does not compare IDs; kdig does
            res.check(rc != 0 and "ID" in str(out), "peer wrong_id: kdig reports the "
                      "reply ID mismatch", "  exit %s %s" % (rc, out))
            continue
        res.check(e is not None, "peer %s: dnspython's AXFR fails (%s: %s)"
                  % (sc, type(e).__name__, str(e)[:60]),
                  "  %d messages parsed" % len(msgs))
        if sc == "stall":
            res.check(time.monotonic() - t < 12, "peer stall: the clients time out")
        print("NOTE peer %s: kdig exit %s: %s" % (sc, rc, out))
        res.check(rc != 0 or "ERROR" in str(out) or sc in ("first_not_soa", "other_zone_soa",
                                                           "closing_serial"),
                  "peer %s: kdig reports a failure" % sc, "  exit %s %s" % (rc, out))
    # SOA answers
    prim.set(ZONE, "backwards", serial + 1)
    res.check(soa_serial(prim.port, ZONE) == 5, "peer backwards: SOA query answers serial 5")
    prim.set(ZONE, "good", GOOD_SERIAL)
    for sc, exc in (("tsig_unsigned", dns.message.UnknownTSIGKey),
                    ("tsig_badsig", dns.tsig.BadSignature)):
        prim.set(SZONE, sc, 11)
        msgs, e = client_xfr(prim.port, SZONE, keyring=keyring, keyname=KEYNAME)
        rc, out = kdig(prim.port, SZONE, key=kd)
        prim.set(SZONE, "good", GOOD_SERIAL)
        res.check(e is not None, "peer %s: dnspython's signed AXFR fails (%s: %s)"
                  % (sc, type(e).__name__, str(e)[:60]))
        res.check(rc != 0 or "WARNING" in str(out) or "ERROR" in str(out),
                  "peer %s: kdig -y reports it" % sc, "  exit %s %s" % (rc, out))
        print("NOTE peer %s: kdig exit %s: %s" % (sc, rc, out))
    prim.set(SZONE, "tsig_soa_unsigned", 13)
    q = dns.message.make_query(SZONE, "SOA", use_edns=False)
    q.use_tsig(keyring, keyname=KEYNAME)
    rep = harness.send_udp_raw(prim.port, q.to_wire())
    m = harness.parse(rep) if rep else None
    res.check(m is not None and not m.had_tsig and m.answer and m.answer[0][0].serial == 13,
              "peer tsig_soa_unsigned: a signed SOA query gets an unsigned answer, serial 13",
              "  %s" % (m.to_text() if m else "(none)"))
    prim.set(SZONE, "good", GOOD_SERIAL)
    # ixfr_garbage: IXFR garbage, AXFR good; and an incremental good IXFR
    prim.set(ZONE, "ixfr_garbage", 30)
    _, e1 = client_xfr(prim.port, ZONE, rdtype="IXFR", serial=GOOD_SERIAL)
    msgs, e2 = client_xfr(prim.port, ZONE)
    res.check(e1 is not None and e2 is None and msgs,
              "peer ixfr_garbage: IXFR fails, AXFR succeeds", "  %r %r" % (e1, e2))
    z = prim.zones[ZONE]
    z.versions[FINAL_SERIAL] = good_zone(ZONE, FINAL_SERIAL)
    prim.set(ZONE, "good", FINAL_SERIAL)
    msgs, e = client_xfr(prim.port, ZONE, rdtype="IXFR", serial=GOOD_SERIAL)
    rrs = [(rs.name, rd) for m in msgs for rs in m.answer for rd in rs]
    res.check(e is None and len(rrs) > 4 and rrs[1][1].rdtype == dns.rdatatype.SOA
              and rrs[1][1].serial == GOOD_SERIAL,
              "peer final: IXFR from 10 is incremental (%d RRs)" % len(rrs), "  %r" % e)
    if prim.errors:
        print("NOTE hostile primary errors: %s" % prim.errors[:5])


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def body(args, res, workdir):
    t0 = time.monotonic()
    binary = None
    if not args.peers_only:
        binary = harness.require_apexd(args, res)
        if not binary:
            return
    try:
        secret = tsig_key()
        wrong = tsig_key()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        res.fail("tsig-keygen makes the key", "  %s" % e)
        return
    key = dns.tsig.Key(KEYNAME, secret, "hmac-sha256")
    (pport,) = distinct_ports(1)
    prim = HostilePrimary(pport, key)
    prim.wrong_key = dns.tsig.Key(KEYNAME, wrong, "hmac-sha256")
    try:
        if args.peers_only:
            peers_only(res, prim, secret)
        else:
            run_apexd_test(res, binary, workdir, prim, secret)
    finally:
        prim.close()
    print("NOTE took %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    p = harness.base_parser("apexd as a secondary of a hostile primary")
    p.add_argument("--peers-only", action="store_true",
                   help="check only the hostile primary's scenarios (no apexd)")
    harness.main(body, p)
