#!/usr/bin/python3
"""/metrics counters move exactly with what was sent; the exposition format is
well formed; /healthz, /zones, 404/405; the query log.

    /usr/bin/python3 tests/integration/ops_metrics.py --apexd build/apexd

Steps:
  * apexd (threads = 2, [control], [log] queries = true on stderr) serves
    zones/ops/ops.test.zone
  * format: every sample has a HELP and a TYPE line, each family once, its
    lines contiguous; every name matches ^apexd_[a-z_]+$; counters end in
    _total; Content-Type is the Prometheus text type
  * a known mix is sent: A NOERROR, NXDOMAIN, REFUSED (out of zone and class
    CH), NOTIMP, TCP queries, TXT answers truncated without EDNS (TC=1) and the
    same with EDNS (not truncated), FORMERR (QDCOUNT=0 and trailing garbage),
    QR=1 packets, short packets and an oversized datagram (dropped); then the
    delta of every apexd_queries_total series, apexd_truncated_total,
    apexd_malformed_total, apexd_dropped_total, apexd_tcp_connections_total
    and the per-worker sum must be exactly the expected numbers
  * gauges: apexd_zones_loaded, apexd_zone_serial, apexd_zone_records,
    apexd_process_start_time_seconds, apexd_reloads_total
  * /healthz, /zones (every field), HEAD, query strings, 404 and 405
  * query log: one `event=query` line per answered query with client
    (address:port of the sending socket), transport, qname, qtype, rcode,
    flags, size (= reply length) and us; then `[log] file = PATH`
"""

import json
import os
import re
import socket
import struct
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rcode

import harness
import ops_common as oc

QUERY_LINE = re.compile(
    r"event=query client=(?P<client>\S+) transport=(?P<transport>udp|tcp) "
    r"qname=(?P<qname>\S+) qtype=(?P<qtype>\S+) rcode=(?P<rcode>\S+) "
    r"flags=(?P<flags>\S+) size=(?P<size>\d+) us=(?P<us>\d+)\s*$")


# --------------------------------------------------------------------------
# sending, with the sender's port and the reply kept for the log checks
# --------------------------------------------------------------------------

class Sent:
    def __init__(self, transport, data, reply, port):
        self.transport = transport
        self.data = data
        self.reply = reply   # bytes or None
        self.port = port     # our source port


def send_udp(port, data, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.connect((harness.HOST, port))
        me = s.getsockname()[1]
        s.send(data)
        try:
            rep = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            rep = None
        return Sent("udp", data, rep, me)
    finally:
        s.close()


def send_tcp(port, data, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((harness.HOST, port))
        me = s.getsockname()[1]
        s.sendall(struct.pack("!H", len(data)) + data)
        deadline = time.monotonic() + timeout
        hdr = harness._recv_exact(s, 2, deadline)
        rep = None
        if hdr is not None:
            rep = harness._recv_exact(s, struct.unpack("!H", hdr)[0], deadline)
        return Sent("tcp", data, rep, me)
    finally:
        s.close()


def q(name, qtype, **kw):
    return harness.make_query(name, qtype, **kw).to_wire()


def rcode_of(wire):
    return wire[3] & 0x0F if wire and len(wire) >= 4 else None


def log_lines(text):
    return [m for m in (QUERY_LINE.search(l) for l in text.splitlines()
                        if "event=query" in l) if m]


def wait_log(path_fn, want, timeout=4.0):
    """Poll until at least `want` query lines are there (bounded)."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = log_lines(path_fn())
        if len(lines) >= want:
            break
        time.sleep(0.1)
    time.sleep(0.2)
    return log_lines(path_fn())


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------

def check_format(res, status, headers, text):
    res.check(status == 200, "GET /metrics -> 200", "status %d" % status)
    ctype = headers.get("content-type", "")
    res.check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
              "GET /metrics Content-Type is the Prometheus text format", ctype)
    p = oc.parse_prom(text)
    res.check(not p.errors, "metrics: text parses, no duplicate sample/HELP/TYPE",
              "\n".join(p.errors[:10]))
    bad_names = sorted({n for n, _ in p.samples if not oc.METRIC_NAME_RE.match(n)}
                       | {n for n in p.type if not oc.METRIC_NAME_RE.match(n)})
    res.check(not bad_names, "metrics: every name matches ^apexd_[a-z_]+$", repr(bad_names))
    families = set(p.type) | set(p.help)
    res.check(set(p.type) == set(p.help), "metrics: every family has both HELP and TYPE",
              "HELP only %r, TYPE only %r" % (sorted(set(p.help) - set(p.type)),
                                              sorted(set(p.type) - set(p.help))))
    orphans = sorted({n for n, _ in p.samples if oc.family_of(n, p.type) is None})
    res.check(not orphans, "metrics: every sample belongs to a family with HELP/TYPE", repr(orphans))
    bad_types = {f: t for f, t in p.type.items()
                 if t not in ("counter", "gauge", "summary", "histogram", "untyped")}
    res.check(not bad_types, "metrics: TYPE values valid", repr(bad_types))
    bad_counters = sorted(f for f, t in p.type.items() if t == "counter" and not f.endswith("_total"))
    res.check(not bad_counters, "metrics: counter names end in _total", repr(bad_counters))
    # contiguity: once another family's line was seen, a family does not come back
    seen_done, current, split = set(), None, []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            fam = parts[2] if len(parts) > 2 else None
        else:
            fam = oc.family_of(line.split("{")[0].split()[0], p.type)
        if fam != current:
            if fam in seen_done:
                split.append(fam)
            if current is not None:
                seen_done.add(current)
            current = fam
    res.check(not split, "metrics: each family's lines are contiguous", repr(split))
    for fam in ("apexd_queries_total", "apexd_truncated_total", "apexd_dropped_total",
                "apexd_malformed_total", "apexd_zones_loaded", "apexd_zone_serial",
                "apexd_reloads_total", "apexd_process_start_time_seconds",
                "apexd_worker_queries_total", "apexd_cache_hits_total",
                "apexd_upstream_queries_total"):
        res.check(fam in families, "metrics: family %s present" % fam)
    return p


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    port, cport = harness.free_port(), harness.free_port()
    conf = oc.write_config(os.path.join(workdir, "apexd.toml"), port, [oc.OPS_ZONE],
                           control_port=cport, threads=2, level="info", log_queries=True)
    t_start = time.time()
    proc = oc.start(binary, conf, workdir, port, "ops.test.")
    try:
        run_main(res, proc, port, cport, t_start)
    finally:
        harness.stop(proc)
    run_log_file(res, binary, workdir)


def run_main(res, proc, port, cport, t_start):
    st, hdrs, text = oc.http_request(cport, "GET", "/metrics")
    p0 = check_format(res, st, hdrs, text)
    log0 = len(log_lines(proc.stderr()))

    sent = []
    expect = {}   # (transport, qtype, rcode) -> count

    def exp(t, qt, rc, n=1):
        expect[(t, qt, rc)] = expect.get((t, qt, rc), 0) + n

    # answered, normal
    for i in range(7):
        sent.append(send_udp(port, q("www.ops.test.", "A")))
    exp("udp", "A", "NOERROR", 7)
    for i in range(5):
        sent.append(send_udp(port, q("nx%d.ops.test." % i, "A")))
    exp("udp", "A", "NXDOMAIN", 5)
    for i in range(4):
        sent.append(send_udp(port, q("www.example.org.", "A")))
    exp("udp", "A", "REFUSED", 4)
    sent.append(send_udp(port, q("www.ops.test.", "A", qclass="CH")))
    exp("udp", "A", "REFUSED")
    m = harness.make_query("www.ops.test.", "A", rd=True)
    m.set_opcode(dns.opcode.STATUS)
    sent.append(send_udp(port, m.to_wire()))
    exp("udp", "A", "NOTIMP")
    for i in range(3):
        sent.append(send_tcp(port, q("www.ops.test.", "AAAA")))
    exp("tcp", "AAAA", "NOERROR", 3)
    sent.append(send_tcp(port, q("big.ops.test.", "TXT", edns=False)))
    exp("tcp", "TXT", "NOERROR")
    # truncated without EDNS, whole with EDNS
    tc_sent = []
    for i in range(2):
        s = send_udp(port, q("big.ops.test.", "TXT", edns=False, rd=True))
        sent.append(s)
        tc_sent.append(s)
    whole = send_udp(port, q("big.ops.test.", "TXT"))
    sent.append(whole)
    exp("udp", "TXT", "NOERROR", 3)
    # FORMERR: QDCOUNT = 0, and trailing garbage after a good question
    for i in range(3):
        sent.append(send_udp(port, struct.pack("!HHHHHH", 0x4242 + i, 0, 0, 0, 0, 0)))
    exp("udp", "other", "FORMERR", 3)
    for i in range(2):
        sent.append(send_udp(port, q("www.ops.test.", "A", edns=False) + b"\x00\x00junk"))
    exp("udp", "A", "FORMERR", 2)
    answered_expected = sum(expect.values())

    # dropped: QR=1, short, oversized
    dropped = []
    for i in range(4):
        w = bytearray(q("www.ops.test.", "A"))
        w[2] |= 0x80
        dropped.append(("QR=1", send_udp(port, bytes(w), timeout=0.5)))
    for i in range(2):
        dropped.append(("short", send_udp(port, b"\x12\x34\x00\x00\x00", timeout=0.5)))
    big = bytearray(q("www.ops.test.", "A")) + b"\x00" * 5000
    dropped.append(("oversized", send_udp(port, bytes(big), timeout=0.5)))
    # QR=1 over TCP: dropped and the connection closed
    w = bytearray(q("www.ops.test.", "A"))
    w[2] |= 0x80
    dropped.append(("QR=1 tcp", send_tcp(port, bytes(w), timeout=1.0)))

    # every reply is what it should be
    replies_ok = [s for s in sent if s.reply is not None]
    res.check(len(replies_ok) == answered_expected, "queries: every query answered",
              "%d of %d" % (len(replies_ok), answered_expected))
    res.check(all(s.reply is None for _, s in dropped),
              "queries: QR=1, short and oversized packets get no reply",
              repr([(k, s.reply) for k, s in dropped if s.reply is not None]))
    for s in tc_sent:
        res.check(s.reply is not None and s.reply[2] & 0x02, "TXT without EDNS has TC=1")
    res.check(whole.reply is not None and not whole.reply[2] & 0x02,
              "TXT with EDNS 1232 is not truncated")

    time.sleep(0.2)
    st, hdrs, text = oc.http_request(cport, "GET", "/metrics")
    p1 = check_format(res, st, hdrs, text)

    # ---- exact deltas of apexd_queries_total, series by series
    got = {}
    for labels, v in p1.series("apexd_queries_total").items():
        d = dict(labels)
        key = (d.get("transport"), d.get("qtype"), d.get("rcode"))
        delta = v - p0.get("apexd_queries_total", **d)
        if delta:
            got[key] = int(delta)
    res.check(got == expect, "apexd_queries_total: every series moved exactly as sent",
              "expected %r\ngot      %r" % (sorted(expect.items()), sorted(got.items())))
    for key in sorted(expect):
        res.check(got.get(key) == expect[key],
                  'apexd_queries_total{transport="%s",qtype="%s",rcode="%s"} +%d' % (key + (expect[key],)),
                  "got %r" % got.get(key))

    def delta(name):
        return p1.get(name) - p0.get(name)

    res.check(delta("apexd_truncated_total") == 2, "apexd_truncated_total +2",
              "got %r" % delta("apexd_truncated_total"))
    res.check(delta("apexd_malformed_total") == 7,
              "apexd_malformed_total +7 (3 QDCOUNT=0, 2 trailing garbage, 2 short)",
              "got %r" % delta("apexd_malformed_total"))
    res.check(delta("apexd_dropped_total") == 8,
              "apexd_dropped_total +8 (4 QR=1 UDP, 1 QR=1 TCP, 2 short, 1 oversized)",
              "got %r" % delta("apexd_dropped_total"))
    res.check(delta("apexd_tcp_connections_total") == 5, "apexd_tcp_connections_total +5",
              "got %r" % delta("apexd_tcp_connections_total"))
    wsum = p1.sum("apexd_worker_queries_total") - p0.sum("apexd_worker_queries_total")
    res.check(wsum == answered_expected, "apexd_worker_queries_total sum +%d" % answered_expected,
              "got %r" % wsum)

    # short packets: apexd_malformed_total's own HELP says "answered FORMERR or dropped"
    help_malformed = p1.help.get("apexd_malformed_total", "")
    if "dropped" in help_malformed:
        # send 3 more short packets alone and see whether malformed moves
        pa = oc.get_metrics(cport)
        for i in range(3):
            send_udp(port, b"\x00\x01\x00", timeout=0.3)
        time.sleep(0.1)
        pb = oc.get_metrics(cport)
        dm = pb.get("apexd_malformed_total") - pa.get("apexd_malformed_total")
        dd = pb.get("apexd_dropped_total") - pa.get("apexd_dropped_total")
        res.check(dd == 3, "short packets: apexd_dropped_total +3", "got %r" % dd)
        res.check(dm == 3,
                  "short packets: apexd_malformed_total +3 (its HELP: %r)" % help_malformed,
                  "got %r: packets shorter than a header are dropped but not counted "
                  "as malformed" % dm)

    # ---- gauges
    res.check(p1.get("apexd_zones_loaded") == 1, "apexd_zones_loaded 1")
    res.check(p1.get("apexd_zone_serial", zone="ops.test.") == oc.OPS_SERIAL,
              'apexd_zone_serial{zone="ops.test."}',
              "got %r" % p1.get("apexd_zone_serial", None, zone="ops.test."))
    res.check(p1.get("apexd_zone_records", zone="ops.test.") == oc.OPS_RECORDS,
              'apexd_zone_records{zone="ops.test."}',
              "got %r" % p1.get("apexd_zone_records", None, zone="ops.test."))
    pst = p1.get("apexd_process_start_time_seconds", None)
    res.check(pst is not None and t_start - 2 <= pst <= time.time() + 1,
              "apexd_process_start_time_seconds is the start time",
              "got %r, started ~%r" % (pst, t_start))
    res.check(p1.get("apexd_reloads_total", None, result="success") == 0
              and p1.get("apexd_reloads_total", None, result="failure") == 0,
              'apexd_reloads_total{result="success"|"failure"} present and 0')

    # ---- control endpoint
    st, h, b = oc.http_request(cport, "GET", "/healthz")
    res.check(st == 200 and b.strip() == "ok", "GET /healthz -> 200 ok", "%d %r" % (st, b))
    st, h, b = oc.http_request(cport, "GET", "/zones")
    res.check(st == 200 and h.get("content-type", "").startswith("application/json"),
              "GET /zones -> 200 application/json", "%d %r" % (st, h.get("content-type")))
    try:
        zs = json.loads(b)
    except ValueError:
        zs = None
    res.check(isinstance(zs, list) and len(zs) == 1, "/zones: a JSON array of one zone", b[:300])
    if isinstance(zs, list) and zs:
        z = zs[0]
        want_keys = {"origin", "serial", "records", "flattened", "proxied", "file", "loaded_at"}
        res.check(want_keys <= set(z), "/zones: fields %s" % sorted(want_keys), repr(sorted(z)))
        res.check(z.get("origin") == "ops.test.", "/zones: origin", repr(z.get("origin")))
        res.check(z.get("serial") == oc.OPS_SERIAL, "/zones: serial", repr(z.get("serial")))
        res.check(z.get("records") == oc.OPS_RECORDS, "/zones: records", repr(z.get("records")))
        res.check(z.get("flattened") == [] and z.get("proxied") == [],
                  "/zones: flattened and proxied empty", repr((z.get("flattened"), z.get("proxied"))))
        res.check(z.get("file") == os.path.abspath(oc.OPS_ZONE[1]), "/zones: file",
                  repr(z.get("file")))
        la = z.get("loaded_at")
        res.check(isinstance(la, (int, float)) and t_start - 2 <= la <= time.time() + 1,
                  "/zones: loaded_at is the load time", "%r (started %r)" % (la, t_start))
    st, h, b = oc.http_request(cport, "GET", "/metrics?name=x")
    res.check(st == 200 and "apexd_zones_loaded" in b, "GET /metrics?query -> 200", str(st))
    st, h, b = oc.http_request(cport, "HEAD", "/metrics")
    res.check(st == 200 and b == "", "HEAD /metrics -> 200, no body", "%d %r" % (st, b[:40]))
    for method, path, want in (("GET", "/nope", 404), ("GET", "/", 404),
                               ("GET", "/metrics/x", 404), ("POST", "/nope", 404),
                               ("POST", "/metrics", 405), ("PUT", "/zones", 405),
                               ("DELETE", "/healthz", 405), ("GET", "/reload", 405),
                               ("PUT", "/reload", 405)):
        st, _, _ = oc.http_request(cport, method, path)
        res.check(st == want, "%s %s -> %d" % (method, path, want), "got %d" % st)
    p2 = oc.get_metrics(cport)
    res.check(p2.get("apexd_reloads_total", result="success") == 0,
              "GET /reload (405) did not reload")
    res.check(p2.sum("apexd_queries_total") == p1.sum("apexd_queries_total"),
              "HTTP requests do not count as DNS queries")

    # ---- query log on stderr
    lines = wait_log(proc.stderr, log0 + answered_expected)[log0:]
    res.check(len(lines) == answered_expected,
              "query log: one line per answered query",
              "%d lines for %d answered" % (len(lines), answered_expected))
    by_port = {}
    for m in lines:
        by_port.setdefault(m.group("client"), []).append(m)
    bad = []
    for s in sent:
        if s.reply is None:
            continue
        key = "127.0.0.1:%d" % s.port
        ms = by_port.get(key, [])
        if len(ms) != 1:
            bad.append("%s: %d lines" % (key, len(ms)))
            continue
        m = ms[0]
        try:
            qm = dns.message.from_wire(s.data, ignore_trailing=True)
            qname = qm.question[0].name.to_text() if qm.question else "-"
            qtype = dns.rdatatype.to_text(qm.question[0].rdtype) if qm.question else None
        except Exception:  # noqa: BLE001 - QDCOUNT=0 and friends
            qname, qtype = "-", None
        rflags = s.reply[2]
        flags = ",".join(f for f, bit in (("aa", 4), ("tc", 2), ("rd", 1)) if rflags & bit) or "-"
        want = {"transport": s.transport, "qname": qname,
                "rcode": dns.rcode.to_text(rcode_of(s.reply)),
                "flags": flags, "size": str(len(s.reply))}
        if qtype:
            want["qtype"] = qtype
        diff = {k: (m.group(k), v) for k, v in want.items() if m.group(k).lower() != v.lower()}
        if diff:
            bad.append("%s: %r" % (key, diff))
    res.check(not bad, "query log: every line has the right client, transport, qname, "
              "qtype, rcode, flags and size", "\n".join(bad[:12]))
    flagged = [m for m in lines if m.group("flags") == "aa,tc,rd"]
    res.check(len(flagged) == 2, "query log: truncated answers logged with flags=aa,tc,rd",
              repr([m.group(0) for m in lines if "TXT" in m.group(0)]))

    # answer cache: one socket (so one worker) asks a new name 10 times, with 10 IDs: the first
    # is answered by the answer steps, the other 9 are copies; the IDs are the queries' own
    pa = oc.get_metrics(cport)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        s.connect((harness.HOST, port))
        ids = []
        for i in range(10):
            w = bytearray(q("cache-probe.ops.test.", "A"))
            w[0:2] = struct.pack("!H", 0x5100 + i)
            s.send(bytes(w))
            try:
                ids.append(struct.unpack("!H", s.recv(65535)[:2])[0])
            except socket.timeout:
                ids.append(None)
    time.sleep(0.1)
    pb = oc.get_metrics(cport)
    dh = pb.get("apexd_answer_cache_hits_total") - pa.get("apexd_answer_cache_hits_total")
    res.check(ids == [0x5100 + i for i in range(10)], "answer cache: every copy carries its query's ID",
              "got %r" % ids)
    res.check(dh == 9, "apexd_answer_cache_hits_total +9 (10 identical queries from one socket)",
              "got %r" % dh)


def run_log_file(res, binary, workdir):
    """[log] file = PATH: query lines go to the file, not to stderr."""
    wd = os.path.join(workdir, "logfile")
    os.makedirs(wd)
    port = harness.free_port()
    logf = os.path.join(wd, "apexd.log")
    conf = oc.write_config(os.path.join(wd, "apexd.toml"), port, [oc.OPS_ZONE],
                           level="info", log_queries=True, log_file=logf)
    proc = oc.start(binary, conf, wd, port, "ops.test.", name="apexd-logfile")
    try:
        # the readiness SOA query is logged too (the file is flushed every second)
        n0 = len(wait_log(lambda: oc.read_text(logf), 1))
        ports = [send_udp(port, q("www.ops.test.", "A")).port for _ in range(3)]
        lines = wait_log(lambda: oc.read_text(logf), n0 + 3)[n0:]
        got = sorted(m.group("client") for m in lines)
        res.check(got == sorted("127.0.0.1:%d" % p for p in ports),
                  "[log] file: one query line per query in the file", repr(got))
        res.check(all(m.group("rcode") == "NOERROR" and m.group("qname") == "www.ops.test."
                      for m in lines), "[log] file: lines have the right fields")
        res.check("event=query" not in proc.stderr(), "[log] file: no query line on stderr")
        res.check("event=started" in oc.read_text(logf), "[log] file: server log in the file too")
    finally:
        harness.stop(proc)


if __name__ == "__main__":
    harness.main(body, description=__doc__)
