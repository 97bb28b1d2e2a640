#!/usr/bin/python3
"""Worker threads: with `[server] threads = 2` both workers serve (each has its
own SO_REUSEPORT UDP socket and TCP acceptor), and the per-worker counters of
/metrics add up to exactly the answers received.

    /usr/bin/python3 tests/integration/ops_threads.py --apexd build/apexd

Steps:
  * start apexd with threads = 2 and a control listener; /metrics has exactly
    the series apexd_worker_queries_total{worker="0"} and {worker="1"};
    the process has at least 3 threads (2 workers + main)
  * UDP: 2,400 queries from 200 sockets (a new source port every 12
    queries); every one answered correctly; afterwards every worker's counter
    moved, and the sum of the per-worker deltas equals the answers received
    (and equals the delta of apexd_queries_total)
  * TCP: 60 connections of 3 pipelined queries each; every one answered
    correctly; every worker's counter moved; deltas add up again, and
    apexd_tcp_connections_total moved by exactly 60
  * threads = 0 means one worker per core: os.cpu_count() worker series
"""

import os
import random
import select
import socket
import struct
import time

import dns.message
import dns.rcode
import dns.rdatatype

import harness
import ops_common as oc

UDP_SOCKETS = 200
PER_SOCKET = 12
TCP_CONNS = 60
PER_CONN = 3
WWW = "www.ops.test."
WWW_A = "192.0.2.10"


def worker_counts(prom):
    out = {}
    for labels, v in prom.series("apexd_worker_queries_total").items():
        out[dict(labels).get("worker")] = v
    return out


def good_answer(m, qid):
    if m is None or m.id != qid or m.rcode() != dns.rcode.NOERROR:
        return False
    rrs = [rr for rrset in m.answer for rr in rrset
           if rrset.rdtype == dns.rdatatype.A]
    return [rr.address for rr in rrs] == [WWW_A]


def udp_burst(port, nsock, per_sock, timeout=3.0):
    """Each socket sends per_sock queries then collects its replies.
    Returns (sent, answered, wrong)."""
    sent = answered = wrong = 0
    rnd = random.Random(1234)
    for _ in range(nsock):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect((harness.HOST, port))
            pending = {}
            for _ in range(per_sock):
                qid = rnd.randrange(1, 65536)
                while qid in pending:
                    qid = rnd.randrange(1, 65536)
                pending[qid] = True
                s.send(harness.make_query(WWW, "A", qid=qid).to_wire())
                sent += 1
            deadline = time.monotonic() + timeout
            while pending and time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
                if not r:
                    break
                try:
                    data = s.recv(65535)
                except ConnectionRefusedError:
                    continue
                try:
                    m = harness.parse(data)
                except Exception:  # noqa: BLE001 - counted as wrong
                    wrong += 1
                    continue
                if m.id in pending:
                    del pending[m.id]
                    answered += 1
                    if not good_answer(m, m.id):
                        wrong += 1
        finally:
            s.close()
    return sent, answered, wrong


def tcp_recv_msg(s, deadline):
    hdr = harness._recv_exact(s, 2, deadline)
    if hdr is None:
        return None
    (n,) = struct.unpack("!H", hdr)
    return harness._recv_exact(s, n, deadline)


def tcp_burst(port, nconn, per_conn, timeout=3.0):
    sent = answered = wrong = 0
    for c in range(nconn):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect((harness.HOST, port))
            ids = [(c * per_conn + i) % 65535 + 1 for i in range(per_conn)]
            data = b""
            for qid in ids:
                w = harness.make_query(WWW, "A", qid=qid).to_wire()
                data += struct.pack("!H", len(w)) + w
            s.sendall(data)
            sent += per_conn
            deadline = time.monotonic() + timeout
            for qid in ids:
                rep = tcp_recv_msg(s, deadline)
                if rep is None:
                    break
                answered += 1
                try:
                    m = harness.parse(rep)
                except Exception:  # noqa: BLE001
                    wrong += 1
                    continue
                if not good_answer(m, qid):
                    wrong += 1
        finally:
            s.close()
    return sent, answered, wrong


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    port, cport = harness.free_port(), harness.free_port()
    conf = oc.write_config(os.path.join(workdir, "apexd.toml"), port,
                           [oc.OPS_ZONE], control_port=cport, threads=2,
                           level="warn")
    proc = oc.start(binary, conf, workdir, port, "ops.test.")
    try:
        p0 = oc.get_metrics(cport)
        w0 = worker_counts(p0)
        res.check(sorted(w0) == ["0", "1"], "threads=2: exactly workers 0 and 1 in /metrics",
                  "series: %r" % sorted(w0))
        try:
            ntask = len(os.listdir("/proc/%d/task" % proc.pid))
        except OSError:
            ntask = -1
        res.check(ntask >= 3, "threads=2: process has >= 3 threads (2 workers + main)",
                  "threads: %d" % ntask)

        # ---- UDP from many source ports
        t = time.monotonic()
        sent, answered, wrong = udp_burst(port, UDP_SOCKETS, PER_SOCKET)
        print("udp: %d queries from %d sockets, %d answered, %d wrong (%.1fs)"
              % (sent, UDP_SOCKETS, answered, wrong, time.monotonic() - t))
        res.check(sent >= 2000 and answered == sent, "udp: every query answered",
                  "sent %d answered %d" % (sent, answered))
        res.check(wrong == 0, "udp: every answer correct", "wrong %d" % wrong)
        p1 = oc.get_metrics(cport)
        w1 = worker_counts(p1)
        deltas = {k: w1.get(k, 0) - w0.get(k, 0) for k in w1}
        print("udp: per-worker deltas %s" % sorted(deltas.items()))
        res.check(all(d > 0 for d in deltas.values()) and len(deltas) == 2,
                  "udp: every worker answered some queries", repr(deltas))
        res.check(sum(deltas.values()) == answered,
                  "udp: sum of worker deltas == answers received",
                  "sum %r, answered %d, per worker %r" % (sum(deltas.values()), answered, deltas))
        q_delta = p1.sum("apexd_queries_total") - p0.sum("apexd_queries_total")
        res.check(q_delta == sum(deltas.values()),
                  "udp: apexd_queries_total delta == sum of worker deltas",
                  "queries_total delta %r, workers %r" % (q_delta, sum(deltas.values())))
        udp_delta = (p1.sum("apexd_queries_total", transport="udp")
                     - p0.sum("apexd_queries_total", transport="udp"))
        res.check(udp_delta == answered, "udp: transport=\"udp\" delta == answers",
                  "delta %r answered %d" % (udp_delta, answered))

        # ---- TCP
        t = time.monotonic()
        tsent, tans, twrong = tcp_burst(port, TCP_CONNS, PER_CONN)
        print("tcp: %d queries over %d connections, %d answered, %d wrong (%.1fs)"
              % (tsent, TCP_CONNS, tans, twrong, time.monotonic() - t))
        res.check(tans == tsent, "tcp: every query answered (pipelined)",
                  "sent %d answered %d" % (tsent, tans))
        res.check(twrong == 0, "tcp: every answer correct", "wrong %d" % twrong)
        p2 = oc.get_metrics(cport)
        w2 = worker_counts(p2)
        tdeltas = {k: w2.get(k, 0) - w1.get(k, 0) for k in w2}
        print("tcp: per-worker deltas %s" % sorted(tdeltas.items()))
        res.check(all(d > 0 for d in tdeltas.values()) and len(tdeltas) == 2,
                  "tcp: every worker's acceptor got connections", repr(tdeltas))
        res.check(sum(tdeltas.values()) == tans,
                  "tcp: sum of worker deltas == answers received",
                  "sum %r answered %d" % (sum(tdeltas.values()), tans))
        tcp_q = (p2.sum("apexd_queries_total", transport="tcp")
                 - p1.sum("apexd_queries_total", transport="tcp"))
        res.check(tcp_q == tans, "tcp: transport=\"tcp\" delta == answers",
                  "delta %r answered %d" % (tcp_q, tans))
        conns = p2.get("apexd_tcp_connections_total") - p1.get("apexd_tcp_connections_total")
        res.check(conns == TCP_CONNS, "tcp: apexd_tcp_connections_total delta == connections",
                  "delta %r, connections %d" % (conns, TCP_CONNS))
        res.check(p2.get("apexd_dropped_total") == 0, "no packet dropped during the test",
                  "dropped %r" % p2.get("apexd_dropped_total"))
        res.check(proc.alive(), "apexd still running")
    finally:
        harness.stop(proc)

    # ---- threads = 0: one worker per core
    port, cport = harness.free_port(), harness.free_port()
    wd = os.path.join(workdir, "auto")
    os.makedirs(wd)
    conf = oc.write_config(os.path.join(wd, "apexd.toml"), port, [oc.OPS_ZONE],
                           control_port=cport, threads=0, level="warn")
    proc = oc.start(binary, conf, wd, port, "ops.test.")
    try:
        n = len(worker_counts(oc.get_metrics(cport)))
        res.check(n == (os.cpu_count() or 1), "threads=0: one worker per core",
                  "workers %d, cpu_count %r" % (n, os.cpu_count()))
    finally:
        harness.stop(proc)


if __name__ == "__main__":
    harness.main(body, description=__doc__)
