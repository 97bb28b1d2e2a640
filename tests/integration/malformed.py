#!/usr/bin/python3
"""Hostile / malformed packets against apexd, with the exact expected reaction.

    /usr/bin/python3 tests/integration/malformed.py --apexd build/apexd
    /usr/bin/python3 tests/integration/malformed.py --knot     # same corpus vs knotd

Expected reactions (the apexd contract):
  * packets shorter than 12 bytes, and packets with QR=1: dropped (no reply)
  * QDCOUNT != 1, bad names (pointer loops, forward pointers, pointers past
    the end, labels > 63, names > 255), truncated question, truncated OPT,
    two OPT records, trailing garbage: FORMERR with the query's ID
  * opcode other than QUERY, NOTIFY and UPDATE: NOTIMP (NOTIFY and UPDATE refused as
    their RFCs say)
  * class != IN: REFUSED
  * EDNS version > 0: BADVERS (extended rcode 16, carried in the OPT)
  * AXFR over UDP: REFUSED; IXFR over UDP: the zone's SOA alone (RFC 1995 §2); AXFR / IXFR over
    TCP of a zone without allow_transfer: REFUSED
  * an answer the kernel refuses to send (to source port 0) costs only itself,
    not the other answers of its sendmmsg batch
  * seeded random fuzz: no reply, or a reply dnspython parses, with QR=1 and
    the query's ID (and never a reply to a packet with QR=1 or < 12 bytes)
After each group the server must still answer a normal query.

With --knot the same corpus is run against knotd 3.2 for comparison (knotd
does not follow this contract in every point; the differences are printed).
"""

import os
import random
import select
import socket
import struct
import time

import dns.flags
import dns.opcode
import dns.rcode

import harness

FORMERR = dns.rcode.FORMERR
NOTIMP = dns.rcode.NOTIMP
REFUSED = dns.rcode.REFUSED
BADVERS = dns.rcode.BADVERS
NOERROR = dns.rcode.NOERROR
DROP = "DROP"

T_A, T_SOA, T_OPT, T_AXFR, T_IXFR = 1, 6, 41, 252, 251
C_IN, C_CH, C_HS, C_NONE, C_ANY = 1, 3, 4, 254, 255


# --------------------------------------------------------------------------
# packet building
# --------------------------------------------------------------------------

def hdr(qid, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wname(text):
    if text in (".", ""):
        return b"\x00"
    out = b""
    for lab in text.rstrip(".").split("."):
        out += bytes([len(lab)]) + lab.encode()
    return out + b"\x00"


def question(name="www.diff.test.", qtype=T_A, qclass=C_IN):
    n = wname(name) if isinstance(name, str) else name
    return n + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ext_rcode=0, version=0, do=False, rdata=b"",
        owner=b"\x00", rdlen=None):
    flags = 0x8000 if do else 0
    ttl = (ext_rcode << 24) | (version << 16) | flags
    if rdlen is None:
        rdlen = len(rdata)
    return owner + struct.pack("!HHIH", T_OPT, payload, ttl, rdlen) + rdata


def opcode_flags(op):
    return (op & 0xF) << 11


def soa_rr(name="diff.test.", serial=1):
    rdata = wname("ns1.diff.test.") + wname("h.diff.test.") + \
        struct.pack("!IIIII", serial, 3600, 600, 86400, 300)
    return wname(name) + struct.pack("!HHIH", T_SOA, C_IN, 0, len(rdata)) + rdata


def valid_query(qid, name="www.diff.test.", qtype=T_A):
    return hdr(qid, ar=1) + question(name, qtype) + opt()


# --------------------------------------------------------------------------
# checking
# --------------------------------------------------------------------------

def expect(res, port, label, pkt, want, tcp=False, timeout=None):
    """Send pkt and check the reaction.  want: DROP or an rcode (int; values
    > 15 are extended rcodes that need an OPT in the reply)."""
    timeout = timeout if timeout is not None else (0.4 if want == DROP else 2.0)
    if tcp:
        try:
            rep = harness.send_tcp_raw(port, pkt, timeout=timeout)
        except (ConnectionError, OSError) as e:
            rep = None
            if want != DROP:
                res.fail(label, "TCP error %r" % e)
                return
    else:
        rep = harness.send_udp_raw(port, pkt, timeout=timeout)
    qid = struct.unpack("!H", pkt[:2])[0] if len(pkt) >= 2 else None
    if want == DROP:
        res.check(rep is None, label,
                  "expected no reply, got %d bytes: %s" % (
                      len(rep or b""), (rep or b"")[:64].hex()))
        return
    if rep is None:
        res.fail(label, "expected %s, got no reply" % dns.rcode.to_text(want))
        return
    try:
        m, opcode = harness.parse_lenient(rep)
    except Exception as e:  # noqa: BLE001
        res.fail(label, "unparsable reply %r: %s" % (e, rep[:64].hex()))
        return
    problems = []
    q_opcode = (pkt[2] >> 3) & 0xF if len(pkt) > 2 else 0
    if opcode != q_opcode:
        problems.append("opcode %d does not echo query opcode %d"
                        % (opcode, q_opcode))
    if m.rcode() != want:
        problems.append("rcode %s, expected %s" % (
            dns.rcode.to_text(m.rcode()), dns.rcode.to_text(want)))
    if m.id != qid:
        problems.append("ID %d does not echo query ID %d" % (m.id, qid))
    if not m.flags & dns.flags.QR:
        problems.append("QR not set")
    if want > 15 and m.edns < 0:
        problems.append("extended rcode needs an OPT in the reply")
    res.check(not problems, label, "; ".join(problems) + "\n" + m.to_text())
    return m


def still_alive(res, port, group, proc):
    ok = harness.ok_with(port, timeout=2.0)
    res.check(ok, "[%s] server still answers a normal query" % group,
              "" if proc is None or proc.alive()
              else "server exited %s; stderr:\n%s" % (proc.popen.returncode,
                                                      proc.stderr()))


# --------------------------------------------------------------------------
# groups
# --------------------------------------------------------------------------

def group_short(res, port):
    base = valid_query(0x1234)
    for n in range(0, 12):
        expect(res, port, "[short] %d-byte packet dropped" % n, base[:n], DROP)


def group_qr(res, port):
    expect(res, port, "[qr] QR=1 query dropped",
           hdr(0x2001, flags=0x8000) + question(), DROP)
    expect(res, port, "[qr] QR=1 with EDNS dropped",
           hdr(0x2002, flags=0x8000, ar=1) + question() + opt(), DROP)
    expect(res, port, "[qr] QR=1 header-only dropped",
           hdr(0x2003, flags=0x8000, qd=0), DROP)
    expect(res, port, "[qr] QR=1 response-looking packet dropped",
           hdr(0x2004, flags=0x8400, qd=1, an=0) + question("diff.test.", T_SOA), DROP)


def group_qdcount(res, port):
    expect(res, port, "[qdcount] QDCOUNT=0 header only -> FORMERR",
           hdr(0x3001, qd=0), FORMERR)
    expect(res, port, "[qdcount] QDCOUNT=0 with OPT -> FORMERR",
           hdr(0x3002, qd=0, ar=1) + opt(), FORMERR)
    expect(res, port, "[qdcount] QDCOUNT=2 -> FORMERR",
           hdr(0x3003, qd=2) + question() + question("diff.test.", T_SOA),
           FORMERR)
    expect(res, port, "[qdcount] QDCOUNT=2 but one question present -> FORMERR",
           hdr(0x3004, qd=2) + question(), FORMERR)
    expect(res, port, "[qdcount] QDCOUNT=65535 -> FORMERR",
           hdr(0x3005, qd=0xFFFF) + question(), FORMERR)


def group_names(res, port):
    # header is 12 bytes, so the qname starts at offset 12 (0x0c)
    cases = [
        ("pointer to itself", b"\xc0\x0c"),
        ("two-pointer loop", b"\xc0\x0e\xc0\x0c"),
        ("label then pointer back to start", b"\x03www\xc0\x0c"),
        ("forward pointer", b"\xc0\x0e\x00\x03www\x00"),
        ("pointer beyond packet end", b"\xc3\xff"),
        ("label length 64", b"\x40" + b"a" * 64 + b"\x00"),
        ("label type 0x80 (reserved)", b"\x81a\x00"),
        ("name longer than 255", b"".join(b"\x3f" + b"a" * 63
                                           for _ in range(5)) + b"\x00"),
        ("name exactly 256 bytes", b"".join(b"\x3f" + b"b" * 63
                                             for _ in range(4)) + b"\x00"),
        ("name without terminating zero", b"\x03www\x04diff"),
    ]
    for label, qn in cases:
        pkt = hdr(0x4000 + len(label)) + qn + struct.pack("!HH", T_A, C_IN)
        if label == "name without terminating zero":
            pkt = hdr(0x4100) + qn
        expect(res, port, "[names] %s -> FORMERR" % label, pkt, FORMERR)
    # pointer in question cannot point back to anything valid, but a
    # question whose name is a pointer to a loop *between two names*:
    pkt = hdr(0x4201) + b"\x01a\xc0\x0e" + struct.pack("!HH", T_A, C_IN)
    expect(res, port, "[names] a -> pointer to its own next byte -> FORMERR",
           pkt, FORMERR)
    # 255 bytes exactly is legal: must not be FORMERR (name in no zone)
    legal = b"".join(b"\x3f" + b"c" * 63 for _ in range(3)) + b"\x3d" + \
        b"c" * 61 + b"\x00"
    assert len(legal) == 255
    expect(res, port, "[names] 255-byte name is legal -> REFUSED (no zone)",
           hdr(0x4301) + legal + struct.pack("!HH", T_A, C_IN), REFUSED)


def group_truncated(res, port):
    q = question()
    expect(res, port, "[truncated] question missing type and class -> FORMERR",
           hdr(0x5001) + wname("www.diff.test."), FORMERR)
    expect(res, port, "[truncated] question missing class -> FORMERR",
           hdr(0x5002) + wname("www.diff.test.") + b"\x00\x01", FORMERR)
    expect(res, port, "[truncated] question with 1 byte of class -> FORMERR",
           hdr(0x5003) + q[:-1], FORMERR)
    expect(res, port, "[truncated] ARCOUNT=1 but no OPT -> FORMERR",
           hdr(0x5004, ar=1) + q, FORMERR)
    full = opt()
    for cut in (1, 3, 5, 9, 10):
        expect(res, port, "[truncated] OPT cut to %d bytes -> FORMERR" % cut,
               hdr(0x5010 + cut, ar=1) + q + full[:cut], FORMERR)
    expect(res, port, "[truncated] OPT rdlength past end -> FORMERR",
           hdr(0x5020, ar=1) + q + opt(rdlen=8), FORMERR)
    expect(res, port, "[truncated] OPT option length past rdata -> FORMERR",
           hdr(0x5021, ar=1) + q + opt(rdata=b"\x00\x0a\x00\x08\x01\x02"),
           FORMERR)
    expect(res, port, "[truncated] ANCOUNT=1 but nothing there -> FORMERR",
           hdr(0x5030, an=1) + q, FORMERR)


def group_opt(res, port):
    q = question()
    expect(res, port, "[opt] two OPT records -> FORMERR",
           hdr(0x6001, ar=2) + q + opt() + opt(), FORMERR)
    expect(res, port, "[opt] two OPT records, second different -> FORMERR",
           hdr(0x6002, ar=2) + q + opt(4096) + opt(512, do=True), FORMERR)
    expect(res, port, "[opt] OPT with non-root owner -> FORMERR",
           hdr(0x6003, ar=1) + q + opt(owner=wname("diff.test.")), FORMERR)
    m = expect(res, port, "[opt] EDNS version 1 -> BADVERS",
               hdr(0x6004, ar=1) + q + opt(version=1), BADVERS)
    if m is not None:
        res.check(m.edns == 0, "[opt] BADVERS reply carries OPT version 0",
                  "reply EDNS version %d" % m.edns)
        res.check(not m.answer, "[opt] BADVERS reply has an empty answer",
                  m.to_text())
    expect(res, port, "[opt] EDNS version 255 -> BADVERS",
           hdr(0x6005, ar=1) + q + opt(version=255), BADVERS)
    expect(res, port, "[opt] OPT payload 0 is treated as 512 -> NOERROR",
           hdr(0x6006, ar=1) + q + opt(payload=0), NOERROR)
    expect(res, port, "[opt] unknown EDNS option ignored -> NOERROR",
           hdr(0x6007, ar=1) + q + opt(rdata=b"\xfd\xe9\x00\x02ab"), NOERROR)


def group_trailing(res, port):
    q = question()
    expect(res, port, "[trailing] garbage after question -> FORMERR",
           hdr(0x7001) + q + b"\xde\xad\xbe\xef", FORMERR)
    expect(res, port, "[trailing] one byte after question -> FORMERR",
           hdr(0x7002) + q + b"\x00", FORMERR)
    expect(res, port, "[trailing] garbage after OPT -> FORMERR",
           hdr(0x7003, ar=1) + q + opt() + b"\x01\x02\x03", FORMERR)


def expect_bare_notimp(res, port, label, pkt, tcp=False):
    """An unimplemented opcode: the reply is exactly the 12-byte header with
    the query's ID and opcode, QR and NOTIMP, nothing else (no RD, no CD, no
    question, no OPT) -- what BIND 9.18 sends and ISC's genreport checks
    ("opcode", "opcodeflg")."""
    if tcp:
        rep = harness.send_tcp_raw(port, pkt, timeout=2.0)
    else:
        rep = harness.send_udp_raw(port, pkt, timeout=2.0)
    op = (pkt[2] >> 3) & 0xF
    want = struct.pack("!HHHHHH", struct.unpack("!H", pkt[:2])[0],
                       0x8000 | op << 11 | NOTIMP, 0, 0, 0, 0)
    res.check(rep == want, label, "expected %s, got %s"
              % (want.hex(), rep.hex() if rep is not None else "no reply"))


def group_opcode(res, port):
    for op in (1, 2, 3, 6, 15):
        expect(res, port, "[opcode] opcode %d (%s) -> NOTIMP"
               % (op, dns.opcode.to_text(op) if op < 7 else "unassigned"),
               hdr(0x8000 + op, flags=opcode_flags(op)) + question(), NOTIMP)
    # NOTIFY (RFC 1996) and UPDATE (RFC 2136) are implemented: a NOTIFY whose question is not
    # an SOA is FORMERR, one for a zone that is not a secondary of ours NOTAUTH; an unsigned
    # UPDATE is REFUSED. Each reply keeps the opcode.
    for label, pkt, want in (
            ("NOTIFY with an A question -> FORMERR", hdr(0x8004, flags=opcode_flags(4)) + question(), dns.rcode.FORMERR),
            ("NOTIFY for a zone that is not a secondary -> NOTAUTH",
             hdr(0x8014, flags=opcode_flags(4)) + question("diff.test.", qtype=6), dns.rcode.NOTAUTH),
            ("unsigned UPDATE -> REFUSED",
             hdr(0x8005, flags=opcode_flags(5)) + question("diff.test.", qtype=6), dns.rcode.REFUSED)):
        rep = harness.send_udp_raw(port, pkt, timeout=2.0)
        ok = rep is not None and len(rep) >= 12 and rep[:2] == pkt[:2] and (rep[2] >> 3) & 0xF == (pkt[2] >> 3) & 0xF \
            and rep[2] & 0x80 and rep[3] & 0xF == want
        res.check(ok, "[opcode] " + label, "got %s" % (rep.hex() if rep else "no reply"))
    # dig +opcode=15 +header-only +noedns: no question at all -> NOTIMP, not FORMERR.
    expect_bare_notimp(res, port, "[opcode] opcode 15, no question -> bare NOTIMP",
                       hdr(0x8101, flags=opcode_flags(15) | 0x0100, qd=0))
    # RD and CD set in the query are not copied into the NOTIMP reply.
    expect_bare_notimp(res, port, "[opcode] opcode 15 with RD+CD+question -> bare NOTIMP",
                       hdr(0x8102, flags=opcode_flags(15) | 0x0100 | 0x0010) + question())
    expect_bare_notimp(res, port, "[opcode] opcode 6 with EDNS -> bare NOTIMP",
                       hdr(0x8103, flags=opcode_flags(6), ar=1) + question() + opt())
    expect_bare_notimp(res, port, "[opcode] opcode 15 with two questions -> bare NOTIMP",
                       hdr(0x8104, flags=opcode_flags(15), qd=2) + question() + question())
    expect_bare_notimp(res, port, "[opcode] opcode 3, truncated question -> bare NOTIMP",
                       hdr(0x8105, flags=opcode_flags(3)) + b"\x03ww")
    expect_bare_notimp(res, port, "[tcp] opcode 15, no question -> bare NOTIMP",
                       hdr(0x8106, flags=opcode_flags(15) | 0x0100, qd=0), tcp=True)


def group_class(res, port):
    for cl, cname in ((C_CH, "CH"), (C_HS, "HS"), (C_NONE, "NONE"),
                      (C_ANY, "ANY"), (2, "CS"), (0x1234, "CLASS4660")):
        expect(res, port, "[class] class %s for www.diff.test. -> REFUSED"
               % cname, hdr(0x9000 + (cl & 0xff)) +
               question("www.diff.test.", T_A, cl), REFUSED)
    expect(res, port, "[class] class CH for version.bind. TXT -> REFUSED",
           hdr(0x9100) + question("version.bind.", 16, C_CH), REFUSED)


def group_xfr(res, port):
    ax = hdr(0xA001) + question("diff.test.", T_AXFR)
    ix = hdr(0xA002, ns=1) + question("diff.test.", T_IXFR) + soa_rr()
    expect(res, port, "[xfr] AXFR over UDP -> REFUSED", ax, REFUSED)
    expect(res, port, "[xfr] IXFR over UDP -> NOERROR", ix, 0)
    rep = harness.send_udp_raw(port, ix, timeout=2.0)
    msg = harness.parse(rep) if rep else None
    res.check(msg is not None and len(msg.answer) == 1 and msg.answer[0].rdtype == T_SOA
              and (msg.flags & 0x0400) != 0,
              "[xfr] IXFR over UDP: the SOA alone, authoritative (RFC 1995 §2)",
              "got %r" % (msg.answer if msg else rep))
    expect(res, port, "[xfr] AXFR over TCP -> REFUSED", ax, REFUSED, tcp=True)
    expect(res, port, "[xfr] IXFR over TCP -> REFUSED", ix, REFUSED, tcp=True)
    expect(res, port, "[xfr] AXFR of other.test. over TCP -> REFUSED",
           hdr(0xA003) + question("other.test.", T_AXFR), REFUSED, tcp=True)


def group_tcp(res, port):
    expect(res, port, "[tcp] QDCOUNT=0 -> FORMERR", hdr(0xB001, qd=0),
           FORMERR, tcp=True)
    expect(res, port, "[tcp] two OPT -> FORMERR",
           hdr(0xB002, ar=2) + question() + opt() + opt(), FORMERR, tcp=True)
    expect(res, port, "[tcp] opcode STATUS -> NOTIMP",
           hdr(0xB003, flags=opcode_flags(2)) + question(), NOTIMP, tcp=True)
    expect(res, port, "[tcp] 5-byte message dropped", valid_query(0xB004)[:5],
           DROP, tcp=True, timeout=1.0)
    expect(res, port, "[tcp] QR=1 dropped",
           hdr(0xB005, flags=0x8000) + question(), DROP, tcp=True, timeout=1.0)
    m = expect(res, port, "[tcp] normal query over TCP answers",
               valid_query(0xB006), NOERROR, tcp=True)
    if m is not None:
        res.check(bool(m.answer), "[tcp] normal query has an answer",
                  m.to_text())
    # length prefix announcing more than is sent, then close: must not hang
    # the server
    s = socket.create_connection((harness.HOST, port), timeout=2)
    try:
        s.sendall(b"\x01\x00" + valid_query(0xB007)[:20])
    finally:
        s.close()
    # zero-length frame
    expect(res, port, "[tcp] zero-length frame -> no reply",
           b"", DROP, tcp=True, timeout=1.0)
    # two queries pipelined on one connection: both answered
    s = socket.create_connection((harness.HOST, port), timeout=2)
    got = []
    try:
        a, b = valid_query(0xB010), valid_query(0xB011, "diff.test.", T_SOA)
        s.sendall(struct.pack("!H", len(a)) + a + struct.pack("!H", len(b)) + b)
        deadline = time.monotonic() + 3
        for _ in range(2):
            h = harness._recv_exact(s, 2, deadline)
            if h is None:
                break
            body = harness._recv_exact(s, struct.unpack("!H", h)[0], deadline)
            if body is None:
                break
            got.append(struct.unpack("!H", body[:2])[0])
    finally:
        s.close()
    res.check(sorted(got) == [0xB010, 0xB011],
              "[tcp] two pipelined queries both answered", "got IDs %r" % got)


def udp4_from_port0(dst_port, payload):
    """An IPv4/UDP datagram 127.0.0.1:0 -> 127.0.0.1:dst_port (checksum 0: none, RFC 768)."""
    udp = struct.pack("!HHHH", 0, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x5EED, 0, 64, 17, 0,
                     socket.inet_aton(harness.HOST), socket.inet_aton(harness.HOST))
    words = struct.unpack("!10H", ip)
    total = sum(words)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    ip = ip[:10] + struct.pack("!H", ~total & 0xFFFF) + ip[12:]
    return ip + udp


def group_batch(res, port, proc):
    """An answer the kernel refuses (to source port 0) must not take the rest of its batch with it.

    The server is stopped while the queries queue up, so one recvmmsg reads them together and one
    sendmmsg carries the answers, the refused one first (regression: it used to drop them all)."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        res.check(True, "[batch] skipped: a raw socket needs root")
        return
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind((harness.HOST, 0))
    ids = list(range(0xC100, 0xC100 + 20))
    try:
        os.kill(proc.popen.pid, 19)  # SIGSTOP
        try:
            raw.sendto(udp4_from_port0(port, valid_query(0xC0FF)), (harness.HOST, 0))
            for qid in ids:
                client.sendto(valid_query(qid), (harness.HOST, port))
        finally:
            os.kill(proc.popen.pid, 18)  # SIGCONT
        got = set()
        deadline = time.monotonic() + 3
        while len(got) < len(ids) and time.monotonic() < deadline:
            r, _, _ = select.select([client], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            data = client.recv(4096)
            if len(data) >= 2:
                got.add(struct.unpack("!H", data[:2])[0])
    finally:
        raw.close()
        client.close()
    res.check(got == set(ids), "[batch] answers in a batch with one refused send all arrive",
              "got %d of %d" % (len(got & set(ids)), len(ids)))


def group_fuzz(res, port, seed=20240101, count=2000, batch=50):
    rng = random.Random(seed)
    seeds = [valid_query(0, "www.diff.test."),
             valid_query(0, "diff.test.", T_SOA),
             valid_query(0, "foo.wild.diff.test.", 16),
             valid_query(0, "x.dn.diff.test.", 1),
             hdr(0) + question("c1.diff.test."),
             hdr(0, ns=1) + question("diff.test.", T_IXFR) + soa_rr()]
    packets = []
    for i in range(count):
        kind = i % 4
        if kind == 0:  # pure random bytes
            pkt = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))
        else:
            pkt = bytearray(rng.choice(seeds))
            if kind == 1:  # bit flips
                for _ in range(rng.randint(1, 6)):
                    pos = rng.randrange(len(pkt))
                    pkt[pos] ^= 1 << rng.randrange(8)
            elif kind == 2:  # random bytes overwritten / truncated / extended
                for _ in range(rng.randint(1, 4)):
                    pkt[rng.randrange(len(pkt))] = rng.getrandbits(8)
                r = rng.random()
                if r < 0.3:
                    pkt = pkt[:rng.randrange(len(pkt) + 1)]
                elif r < 0.6:
                    pkt += bytes(rng.getrandbits(8)
                                 for _ in range(rng.randint(1, 20)))
            else:  # header counts scrambled, body intact
                pkt[4:12] = bytes(rng.choice((0, 0, 0, 1, 1, 2, 0xff))
                                  for _ in range(8))
            # make sure QR is clear on most mutated queries, so they are
            # actually processed; keep QR=1 on some to check they're dropped
            if len(pkt) > 2 and rng.random() < 0.85:
                pkt[2] &= 0x7F
            pkt = bytes(pkt)
        # every packet gets an ID of its own so replies can be matched
        if len(pkt) >= 2:
            pkt = struct.pack("!H", i & 0xFFFF) + pkt[2:]
        packets.append(pkt)

    bad = 0
    answered = 0
    details = []
    started = time.monotonic()
    for b0 in range(0, len(packets), batch):
        chunk = packets[b0:b0 + batch]
        socks = []
        try:
            for pkt in chunk:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.connect((harness.HOST, port))
                socks.append(s)
            for s, pkt in zip(socks, chunk):
                try:
                    s.send(pkt)
                except OSError:
                    pass
            replies = {}
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                left = deadline - time.monotonic()
                rd, _, _ = select.select(socks, [], [], max(0, left))
                if not rd:
                    break
                for s in rd:
                    try:
                        replies.setdefault(s.fileno(), []).append(s.recv(65535))
                    except OSError:
                        replies.setdefault(s.fileno(), [])
            for s, pkt in zip(socks, chunk):
                reps = replies.get(s.fileno(), [])
                if not reps:
                    continue
                answered += 1
                why = None
                if len(reps) > 1:
                    why = "%d replies to one packet" % len(reps)
                elif len(pkt) < 12:
                    why = "reply to a %d-byte packet" % len(pkt)
                elif pkt[2] & 0x80:
                    why = "reply to a packet with QR=1"
                else:
                    try:
                        m, _op = harness.parse_lenient(reps[0])
                        if m.id != struct.unpack("!H", pkt[:2])[0]:
                            why = "ID mismatch"
                        elif not m.flags & dns.flags.QR:
                            why = "QR not set in reply"
                    except Exception as e:  # noqa: BLE001
                        why = "unparsable reply (%r)" % e
                if why:
                    bad += 1
                    if len(details) < 20:
                        details.append("%s: query %s reply %s" % (
                            why, pkt.hex(), reps[0][:80].hex()))
        finally:
            for s in socks:
                s.close()
    res.check(bad == 0, "[fuzz] %d seeded fuzz packets (seed %d): %d answered,"
              " all replies well-formed" % (count, seed, answered),
              "%d bad replies:\n%s" % (bad, "\n".join(details)))
    if getattr(res, "verbose", False):
        print(";; fuzz took %.1fs" % (time.monotonic() - started))


GROUPS = [("short", group_short), ("qr", group_qr), ("qdcount", group_qdcount),
          ("names", group_names), ("truncated", group_truncated),
          ("opt", group_opt), ("trailing", group_trailing),
          ("opcode", group_opcode), ("class", group_class),
          ("xfr", group_xfr), ("tcp", group_tcp), ("batch", group_batch), ("fuzz", group_fuzz)]


def parser():
    ap = harness.base_parser("malformed packet corpus against apexd")
    ap.add_argument("--knot", action="store_true",
                    help="run the corpus against knotd instead of apexd")
    ap.add_argument("--group", help="run only this group")
    ap.add_argument("--fuzz-count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240101)
    return ap


def body(args, res, workdir):
    if args.knot:
        proc = harness.start_knotd(harness.DEFAULT_ZONES,
                                   os.path.join(workdir, "k"))
    else:
        binary = harness.require_apexd(args, res)
        if binary is None:
            return
        proc = harness.start_apexd(binary, harness.DEFAULT_ZONES,
                                   os.path.join(workdir, "a"))
    port = proc.port
    still_alive(res, port, "start", proc)
    for name, fn in GROUPS:
        if args.group and args.group != name:
            continue
        if name == "fuzz":
            fn(res, port, seed=args.seed, count=args.fuzz_count)
        elif name == "batch":
            fn(res, port, proc)
        else:
            fn(res, port)
        still_alive(res, port, name, proc)
    res.check(proc.alive(), "server process still running at the end",
              proc.stderr())


if __name__ == "__main__":
    harness.main(body, parser())
