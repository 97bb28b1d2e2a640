#!/usr/bin/python3
"""Connection and resolver limits under hostile load.

    /usr/bin/python3 tests/integration/hostile_limits.py --apexd build/apexd

apexd runs with small TCP limits (threads = 2, tcp_max_connections = 32 per worker,
tcp_max_per_client = 8, tcp_idle_timeout = 3 s) and a scripted upstream that never
answers, with resolver.max_inflight = 5.  Checks:

TCP
- 2000 idle connections from 127.0.0.5: at most tcp_max_per_client of them are kept,
  the rest closed at once (apexd_tcp_refused_total moves); meanwhile UDP queries are
  answered promptly (p99 < 50 ms) and a well-behaved TCP client on 127.0.0.1 gets every
  answer; the kept idle connections are closed after tcp_idle_timeout (+ margin).
- every slot taken by idle connections from eight addresses (127.0.0.2..127.0.0.9): a
  well-behaved client retrying from 127.0.0.1 is answered within a few seconds.
- slow-drip senders (length prefix, then one byte per second) from 127.0.0.6 are cut off
  within a few seconds, without an answer; a connection that sends half a length
  prefix is closed by the idle timeout; well-behaved clients are unaffected (an idle
  flood from 127.0.0.5 goes on meanwhile).

Resolver
- 50 concurrent flattened queries for distinct names, upstream silent, max_inflight = 5:
  every one answered (SERVFAIL with an EDE) within the deadline (+ margin), most of them
  at once; apexd_upstream_overloaded_total moves; the in-flight slots are released.
- over max_inflight, a name cached within serve_stale gets its stale answer at once.
- 5000 queries for one flattened name (2000/s), upstream silent, resolver deadline 3 s
  (a second apexd): coalesced into one upstream query, every client answered (SERVFAIL
  with EDE) within the deadline (+ margin), static answers unaffected.

Ends with `N passed, N failed`; exits 1 on any failure.  About 30-40 s.
"""

import errno
import socket
import struct
import threading
import time

import harness
import hostile_common as hc

IDLE = 3.0          # tcp_idle_timeout
QUERY_READ = 2.0    # apexd's deadline from a length prefix to the whole query
MARGIN = 2.0        # allowance for a loaded machine
DEADLINE = 1.0
RES_MARGIN = 1.0
STATIC_P99 = 0.050
PER_CLIENT = 8
PER_WORKER = 32
THREADS = 2

NOTES = []


def connect_from(src, port, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    try:
        s.connect((harness.HOST, port))
    except OSError:
        s.close()
        return None
    s.setblocking(False)
    return s


def closed_by_peer(s):
    """True when the peer closed (EOF or reset); False while it is open and silent."""
    try:
        data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    return data == b""


def count_open(socks):
    return sum(1 for s in socks if not closed_by_peer(s))


def good_tcp_client(port, n, box, src="127.0.0.1", qname="static.hostile.test."):
    """n TCP queries (new connection each): box gets (answered, [failures])."""
    ok, fails = 0, []
    for i in range(n):
        r, dt = hc.tcp(port, qname, src=src, timeout=2.0)
        if r is not None and hasattr(r, "answer") and r.answer and r.rcode() == 0:
            ok += 1
        else:
            fails.append((i, hc.describe(r), round(dt, 3)))
    box.append((ok, fails))


def static_in_thread(port, box, n=500):
    def run():
        box.append(hc.static_latencies(port, n))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_idle_flood(res, port, control):
    before = hc.metrics(control)
    sbox, tbox = [], []
    st = static_in_thread(port, sbox)
    gt = threading.Thread(target=good_tcp_client, args=(port, 20, tbox), daemon=True)
    gt.start()
    socks = []
    t0 = time.monotonic()
    failed = 0
    for _ in range(2000):
        s = connect_from("127.0.0.5", port)
        if s is None:
            failed += 1
            if failed > 50:
                break
            continue
        socks.append(s)
    opened = time.monotonic()
    NOTES.append("idle flood: %d connections opened from 127.0.0.5 in %.2f s (%d connects failed)"
                 % (len(socks), opened - t0, failed))
    st.join(timeout=30)
    gt.join(timeout=60)
    # apexd accepts, counts, and closes the excess at once
    kept = None
    end = time.monotonic() + 5.0
    while time.monotonic() < end:
        kept = count_open(socks)
        if kept <= PER_CLIENT:
            break
        time.sleep(0.1)
    res.check(len(socks) >= 1900, "idle flood: 2000 connections attempted from 127.0.0.5",
              "  only %d connected" % len(socks))
    res.check(kept is not None and kept <= PER_CLIENT,
              "idle flood: at most tcp_max_per_client (%d) kept open, the rest closed" % PER_CLIENT,
              "  %s still open %.1f s after the flood" % (kept, time.monotonic() - opened))
    NOTES.append("idle flood: %s of %d kept open" % (kept, len(socks)))
    after = hc.metrics(control)
    refused = hc.metric(after, "apexd_tcp_refused_total") - hc.metric(before, "apexd_tcp_refused_total")
    res.check(refused >= len(socks) - PER_CLIENT - 20,
              "idle flood: apexd_tcp_refused_total moved by about the excess",
              "  +%d for %d connections" % (refused, len(socks)))
    lat, bad = sbox[0] if sbox else ([None], ["no result"])
    ok, summary = hc.p99_ok(lat, STATIC_P99)
    NOTES.append("UDP latency during the idle flood: %s" % summary)
    res.check(ok and not bad, "idle flood: 500 UDP queries meanwhile all answered, p99 < 50 ms",
              "  %s %s" % (summary, bad[:2]))
    good, fails = tbox[0] if tbox else (0, ["no result"])
    res.check(good == 20, "idle flood: a well-behaved TCP client on 127.0.0.1 gets 20/20 answers"
              " meanwhile", "  %d/20; failures %s" % (good, fails[:3]))
    # once the flood is established, still
    tbox2 = []
    good_tcp_client(port, 10, tbox2)
    res.check(tbox2[0][0] == 10, "idle flood held: the well-behaved TCP client still gets 10/10",
              "  failures %s" % (tbox2[0][1][:3],))
    # the kept ones are idle: closed after tcp_idle_timeout
    open_ones = [s for s in socks if not closed_by_peer(s)]
    end = opened + IDLE + MARGIN + 1.0
    closed_at = None
    while time.monotonic() < end:
        if all(closed_by_peer(s) for s in open_ones):
            closed_at = time.monotonic()
            break
        time.sleep(0.05)
    res.check(closed_at is not None and closed_at - opened <= IDLE + MARGIN,
              "idle flood: the kept idle connections are closed after tcp_idle_timeout (%.0f s)"
              " + %.0f s" % (IDLE, MARGIN),
              "  still open %.1f s after the flood" % (time.monotonic() - opened))
    if closed_at is not None:
        NOTES.append("idle flood: kept connections closed %.2f s after the flood (idle timeout %.0f s)"
                     % (closed_at - opened, IDLE))
    for s in socks:
        s.close()


def test_all_slots(res, port):
    """Idle connections from 8 addresses fill every slot (2 workers x 32)."""
    socks = []
    for a in range(2, 10):
        for _ in range(PER_CLIENT + 2):
            s = connect_from("127.0.0.%d" % a, port)
            if s is not None:
                socks.append(s)
    t0 = time.monotonic()
    time.sleep(0.2)
    kept = count_open(socks)
    NOTES.append("all slots: %d idle connections from 8 addresses kept (limit %d x %d workers)"
                 % (kept, PER_WORKER, THREADS))
    # a well-behaved client retries until answered
    answered_at = None
    tries = 0
    while time.monotonic() < t0 + IDLE + MARGIN + 1:
        tries += 1
        r, _ = hc.tcp(port, "static.hostile.test.", timeout=1.0)
        if r is not None and hasattr(r, "answer") and r.answer:
            answered_at = time.monotonic()
            break
        time.sleep(0.1)
    res.check(answered_at is not None and answered_at - t0 <= IDLE,
              "all slots taken by idle connections: a retrying well-behaved TCP client is"
              " answered within %.0f s" % IDLE,
              "  answered after %s s (%d tries)" % (
                  "%.2f" % (answered_at - t0) if answered_at else "never", tries))
    if answered_at:
        NOTES.append("all slots: well-behaved client answered after %.2f s, %d tries"
                     % (answered_at - t0, tries))
    r, dt = hc.udp(port, "static.hostile.test.", timeout=1.0)
    res.check(r is not None and dt < 0.5, "all slots taken: UDP still answered",
              hc.describe(r))
    end = t0 + IDLE + MARGIN
    while time.monotonic() < end and count_open(socks):
        time.sleep(0.05)
    left = count_open(socks)
    res.check(left == 0, "all slots taken: every idle connection closed within tcp_idle_timeout"
              " + margin", "  %d still open" % left)
    NOTES.append("all slots: idle connections gone %.2f s after they were opened"
                 % (time.monotonic() - t0))
    for s in socks:
        s.close()


def test_slow_drip(res, port):
    # an idle flood from 127.0.0.5 goes on meanwhile
    flood = [s for s in (connect_from("127.0.0.5", port) for _ in range(2000)) if s is not None]
    q = hc.make_query("static.hostile.test.", "A").to_wire()
    drips = []
    for _ in range(5):
        s = connect_from("127.0.0.6", port)
        if s is None:
            continue
        s.send(struct.pack("!H", len(q)))
        drips.append(dict(sock=s, start=time.monotonic(), sent=0, closed=None, got=b"",
                          kind="drip"))
    half = connect_from("127.0.0.7", port)
    if half is not None:
        half.send(b"\x00")  # half a length prefix, then nothing
        drips.append(dict(sock=half, start=time.monotonic(), sent=0, closed=None, got=b"",
                          kind="half"))
    sbox, tbox = [], []
    st = static_in_thread(port, sbox, n=300)
    gt = threading.Thread(target=good_tcp_client, args=(port, 10, tbox), daemon=True)
    gt.start()
    end = time.monotonic() + IDLE + MARGIN + 1.0
    while time.monotonic() < end and any(d["closed"] is None for d in drips):
        now = time.monotonic()
        for d in drips:
            if d["closed"] is not None:
                continue
            s = d["sock"]
            try:
                data = s.recv(4096)
                if data == b"":
                    d["closed"] = now
                    continue
                d["got"] += data
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                d["closed"] = now
                continue
            if d["kind"] == "drip" and d["sent"] < len(q) and now - d["start"] >= d["sent"] + 1:
                try:
                    s.send(q[d["sent"]:d["sent"] + 1])
                    d["sent"] += 1
                except OSError as e:
                    if e.errno in (errno.EPIPE, errno.ECONNRESET):
                        d["closed"] = now
        time.sleep(0.05)
    st.join(timeout=20)
    gt.join(timeout=40)
    for d in drips:
        took = d["closed"] - d["start"] if d["closed"] else None
        if d["kind"] == "drip":
            res.check(took is not None and took <= QUERY_READ + MARGIN and not d["got"],
                      "slow drip (prefix, then a byte a second): cut off within %.0f s, no answer"
                      % (QUERY_READ + MARGIN),
                      "  closed after %s s, %d bytes dripped, got %r" % (
                          "%.2f" % took if took else "never", d["sent"], d["got"][:20]))
        else:
            res.check(took is not None and took <= IDLE + MARGIN,
                      "half a length prefix: closed within tcp_idle_timeout + %.0f s" % MARGIN,
                      "  closed after %s s" % ("%.2f" % took if took else "never"))
        if took is not None:
            NOTES.append("slow drip (%s): closed after %.2f s, %d bytes dripped" % (d["kind"], took, d["sent"]))
        d["sock"].close()
    lat, bad = sbox[0] if sbox else ([None], ["no result"])
    ok, summary = hc.p99_ok(lat, STATIC_P99)
    res.check(ok and not bad, "slow drip: UDP answered promptly meanwhile (p99 < 50 ms)", summary)
    good, fails = tbox[0] if tbox else (0, ["no result"])
    res.check(good == 10, "slow drip (and 2000 idle connections from 127.0.0.5): a"
              " well-behaved TCP client gets 10/10 meanwhile", "  failures %s" % (fails[:3],))
    for s in flood:
        s.close()


def test_max_inflight(res, port, control, up):
    up.set_mode("silent")
    before = hc.metrics(control)
    items = [("lim%03d.hostile.test." % i, "A") for i in range(50)]
    fl = hc.Flight(port, items, timeout=DEADLINE + RES_MARGIN + 1, nsocks=5).start()
    sbox = []
    st = static_in_thread(port, sbox, n=300)
    recs = fl.wait()
    st.join(timeout=20)
    after = hc.metrics(control)
    silent = [r for r in recs if r.reply is None]
    late = [r for r in recs if r.latency is not None and r.latency > DEADLINE + RES_MARGIN]
    wrong = [r for r in recs if r.reply is not None and not hc.is_servfail_ede(r.reply)]
    res.check(not silent and not late and not wrong,
              "max_inflight = 5, upstream silent: 50 concurrent flattened queries (distinct"
              " names) all SERVFAIL with EDE within %.1f s" % (DEADLINE + RES_MARGIN),
              "  silent %d, late %d %s, other %d %s" % (len(silent), len(late), late[:2],
                                                       len(wrong), wrong[:2]))
    fast = [r for r in recs if r.latency is not None and r.latency < 0.5]
    res.check(len(fast) >= 40, "max_inflight: the queries over the limit are answered at once",
              "  %d of 50 within 0.5 s" % len(fast))
    codes = {}
    for r in recs:
        for c in hc.ede_codes(r.reply):
            codes[c] = codes.get(c, 0) + 1
    NOTES.append("max_inflight: %d of 50 answered within 0.5 s; EDE codes %s" % (len(fast), codes))
    ov = hc.metric(after, "apexd_upstream_overloaded_total") - \
        hc.metric(before, "apexd_upstream_overloaded_total")
    res.check(ov >= 40, "max_inflight: apexd_upstream_overloaded_total moved (+%d, expected 45)" % ov)
    upq = hc.metric(after, "apexd_upstream_queries_total") - \
        hc.metric(before, "apexd_upstream_queries_total")
    NOTES.append("max_inflight: overloaded +%d, upstream queries +%d" % (ov, upq))
    res.check(upq <= 5 * 2, "max_inflight: at most 5 resolutions reached the upstream",
              "  apexd_upstream_queries_total +%d" % upq)
    lat, bad = sbox[0] if sbox else ([None], ["no result"])
    ok, summary = hc.p99_ok(lat, STATIC_P99)
    res.check(ok and not bad, "max_inflight: static UDP answered promptly meanwhile", summary)
    # the slots come back
    before = hc.metrics(control)
    r, dt = hc.udp(port, "lim060.hostile.test.", timeout=DEADLINE + RES_MARGIN + 1)
    after = hc.metrics(control)
    ov = hc.metric(after, "apexd_upstream_overloaded_total") - \
        hc.metric(before, "apexd_upstream_overloaded_total")
    res.check(hc.is_servfail_ede(r) and ov == 0 and dt >= DEADLINE * 0.5,
              "max_inflight: afterwards the in-flight slots are free again (a new name goes"
              " upstream, times out, SERVFAIL)",
              "  %s after %.2f s, overloaded +%d" % (hc.describe(r), dt, ov))

    # over the limit, a stale entry is served at once
    up.set_mode("normal")
    up.ttl_for = lambda name: 1
    r, _ = hc.udp(port, "lim070.hostile.test.", timeout=2)
    res.check(hc.is_genuine(r, "lim070.hostile.test.", "lim070"), "max_inflight: lim070 cached (TTL 1)",
              hc.describe(r))
    time.sleep(1.3)
    up.set_mode("silent")
    fl = hc.Flight(port, [("lim%03d.hostile.test." % i, "A") for i in range(80, 85)],
                   timeout=DEADLINE + RES_MARGIN + 1, nsocks=5).start()
    time.sleep(0.2)  # the five slots are taken now
    r, dt = hc.udp(port, "lim070.hostile.test.", timeout=DEADLINE + RES_MARGIN + 1)
    fl.wait()
    res.check(hc.is_stale(r, "lim070.hostile.test.", "lim070") and dt < 0.5,
              "max_inflight reached: a name cached within serve_stale gets its stale answer at once",
              "  %s after %.2f s" % (hc.describe(r), dt))
    up.ttl_for = lambda name: 300


def test_query_flood(res, binary, workdir, up):
    """5000 queries for one flattened name (2000 a second) while the upstream is silent,
    on an apexd whose resolver deadline is 3 s: every query arrives while the one upstream
    resolution is in flight.  One upstream query; every client answered (SERVFAIL with an
    EDE) within the deadline + margin; static answers unaffected."""
    up.set_mode("silent")
    proc, port, control = hc.start_apexd(
        binary, workdir, name="apexd-flood", threads=THREADS, upstreams=[up.address],
        resolver={"timeout": '"3s"', "deadline": '"3s"'})
    bound = 3.0 + RES_MARGIN
    name = "lim099.hostile.test."
    before = hc.metrics(control)
    d0 = hc.socket_drops(port)
    fl = hc.Flight(port, [(name, "A")] * 5000, interval=2.5 / 5000, nsocks=50,
                   timeout=bound + 0.5).start()
    time.sleep(0.2)
    lat, bad = hc.static_latencies(port, 300)
    recs = fl.wait(slack=10)
    d1 = hc.socket_drops(port)
    after = hc.metrics(control)
    silent = [r for r in recs if r.reply is None]
    late = [r for r in recs if r.latency is not None and r.latency > bound]
    wrong = [r for r in recs if r.reply is not None and not hc.is_servfail_ede(r.reply)]
    fast = [r for r in recs if r.latency is not None and r.latency < 0.5]
    upq = hc.metric(after, "apexd_upstream_queries_total") - \
        hc.metric(before, "apexd_upstream_queries_total")
    coal = hc.metric(after, "apexd_cache_coalesced_total") - \
        hc.metric(before, "apexd_cache_coalesced_total")
    drops = (d1 - d0) if d0 is not None and d1 is not None else None
    NOTES.append("query flood, one failing name: %d/5000 answered, %d within 0.5 s, %d late,"
                 " upstream queries +%d, coalesced +%d, dropped by the kernel at apexd's"
                 " socket: %s" % (5000 - len(silent), len(fast), len(late), upq, coal, drops))
    res.check(not silent and not late and not wrong and not fl.error,
              "query flood: 5000 queries for one flattened name (upstream silent) all"
              " SERVFAIL with EDE within %.1f s" % bound,
              "  silent %d (kernel drops at apexd's socket: %s), late %d %s, other %d %s; %s"
              % (len(silent), drops, len(late), late[:1], len(wrong), wrong[:1], fl.error))
    res.check(upq <= 2, "query flood: coalesced into one upstream query",
              "  apexd_upstream_queries_total +%d" % upq)
    ok, summary = hc.p99_ok(lat, STATIC_P99)
    NOTES.append("query flood: static UDP latency meanwhile %s" % summary)
    res.check(ok and not bad, "query flood: static UDP answered promptly meanwhile", summary)
    res.check(proc.alive(), "query flood: apexd alive", proc.stderr()[-2000:])
    harness.stop(proc)


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    limit = hc.raise_nofile(8192)
    res.check(limit is None or limit >= 4500, "enough file descriptors for the floods",
              "  RLIMIT_NOFILE %s" % limit)
    up = hc.ScriptedUpstream("up")
    try:
        proc, port, control = hc.start_apexd(
            binary, workdir, threads=THREADS,
            server={"tcp_max_connections": str(PER_WORKER),
                    "tcp_max_per_client": str(PER_CLIENT),
                    "tcp_idle_timeout": '"3s"'},
            upstreams=[up.address],
            resolver={"timeout": '"600ms"', "deadline": '"1000ms"', "max_inflight": "5",
                      "min_ttl": "1", "serve_stale": '"1h"'})
        test_idle_flood(res, port, control)
        res.check(proc.alive(), "apexd alive after the idle flood", proc.stderr()[-2000:])
        test_all_slots(res, port)
        test_slow_drip(res, port)
        test_max_inflight(res, port, control, up)
        res.check(proc.alive(), "apexd survived every flood", proc.stderr()[-2000:])
        harness.stop(proc)
        res.check(proc.popen.returncode == 0, "apexd stops cleanly on SIGTERM",
                  "  exit status %s" % proc.popen.returncode)
        test_query_flood(res, binary, workdir, up)
    finally:
        up.close()
        for n in NOTES:
            print("NOTE %s" % n)


if __name__ == "__main__":
    harness.main(body, description=__doc__.split("\n")[0])
