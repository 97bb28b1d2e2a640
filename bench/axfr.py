#!/usr/bin/env python3
"""AXFR of a 1,000,000-record zone to kdig: apexd next to knotd as the primary, in the same run.

    /usr/bin/python3 bench/axfr.py --apexd build-rel/apexd                    # 1,000,000 records
    /usr/bin/python3 bench/axfr.py --apexd build-rel/apexd --smoke            # 20,000, for CI

1. Generates one zone big.test. with --records records, deterministically, into --work-dir
   (default: a scratch dir under /tmp; kept and reused when given): SOA, NS, ns1 A, then names
   of 1.5 records on average (60 % A, 23 % AAAA, 7 % TXT, 3 % MX, 7 % CNAME to an in-zone
   name), and a query mix of names from the zone.
2. Starts apexd (`threads = 1`, `allow_transfer = ["127.0.0.0/8"]`) and knotd (one UDP, one TCP,
   one background worker; an acl allowing transfer from 127.0.0.0/8), each on its own free port
   of 127.0.0.1, every thread pinned to CPU 1 after start (knotd pins its own workers).
3. Idle AXFR, interleaved (apexd knotd apexd …) --repeat times: `kdig +noall +stat AXFR` on
   CPU 0, wall time, the record count kdig reports (must be records + 1: the closing SOA), the
   server's CPU time, and its RSS before and at peak (VmHWM reset through clear_refs before each
   transfer, and VmRSS polled every 10 ms).
4. Under load: dnsperf on CPU 0 at --rate queries/s (0 = as fast as it goes, -c 8 -q 100) for
   --seconds, first alone, then with back-to-back AXFRs for the whole window.
5. Prints a markdown table (also to --out) and the targets: AXFR time ≤ knotd, peak RSS ≤
   knotd, no lost query during the AXFRs, qps drop ≤ 10 %.

Exit status: 0 if every transfer was complete (--smoke), and in a full run also every target met.
"""

import argparse
import datetime
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import harness  # noqa: E402

ORIGIN = "big.test."
SERVERS = ("apexd", "knotd")
BLOCK = 20              # names per block of the record mix (30 records, see zone_lines)
RSS_POLL = 0.01         # seconds between VmRSS samples during a transfer
WARMUP = 0.5            # seconds of dnsperf alone before the first AXFR under load
MAX_DROP = 0.10         # target: qps during the AXFRs at most 10 % below the baseline


# ----------------------------------------------------------------------------- data

def host(i):
    return f"h{i}"


def name_records(i):
    """The records of name i: per BLOCK names, 18 with an A (7 of those also AAAA, 2 TXT, 1 MX)
    and 2 CNAMEs to the A name before them — 30 records over 20 names."""
    k = i % BLOCK
    n = host(i)
    if k in (9, 19):
        return [f"{n} CNAME {host(i - 1)}"]
    out = [f"{n} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"]
    if k % 2 == 0 and k < 14:
        out.append(f"{n} AAAA 2001:db8:{i >> 16:x}:{i & 0xffff:x}::1")
    if k in (1, 11):
        out.append(f'{n} TXT "v=spf1 ip4:10.{i >> 16 & 255}.{i >> 8 & 255}.0/24 -all" "id={i}"')
    if k == 3:
        out.append(f"{n} MX 10 {host(i - 1)}")
    return out


def zone_lines(records):
    """Exactly `records` records (SOA, NS, ns1 A, then the mix); yields lines and returns nothing.
    Names with a CNAME are the `k in (9, 19)` ones: never the target of another CNAME or MX."""
    yield f"$ORIGIN {ORIGIN}\n$TTL 3600\n"
    yield f"@ SOA ns1.{ORIGIN} hostmaster.{ORIGIN} 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n"
    left, i = records - 3, 0
    while left > 0:
        rs = name_records(i)[:left]
        left -= len(rs)
        yield "\n".join(rs) + "\n"
        i += 1


def names_used(records):
    """How many h<i> names zone_lines writes for `records` records."""
    left, i = records - 3, 0
    while left > 0:
        left -= len(name_records(i))
        i += 1
    return i


def generate(work, records):
    """The zone file (reused when the one there says it has `records` records) and the query file."""
    path = os.path.join(work, "big.test.zone")
    stamp = f"; bench/axfr.py {records} records\n"
    fresh = False
    try:
        with open(path) as f:
            fresh = f.readline() == stamp
    except OSError:
        pass
    if not fresh:
        with open(path + ".tmp", "w") as f:
            f.write(stamp)
            for chunk in zone_lines(records):
                f.write(chunk)
        os.replace(path + ".tmp", path)
    qfile = os.path.join(work, "mix.q")
    query_mix(qfile, names_used(records))
    return path, qfile


def query_mix(path, names, n=100000):
    """70 % A and 15 % AAAA of address names, 5 % A of CNAME names, 5 % MX/TXT, 5 % NXDOMAIN."""
    rnd = random.Random(42)

    def address_name():
        while True:
            i = rnd.randrange(names)
            if i % BLOCK not in (9, 19):
                return i
    lines = []
    for _ in range(n):
        x = rnd.random()
        if x < 0.70:
            lines.append(f"{host(address_name())}.{ORIGIN} A")
        elif x < 0.85:
            lines.append(f"{host(address_name())}.{ORIGIN} AAAA")
        elif x < 0.90:
            i = rnd.randrange(names // BLOCK or 1) * BLOCK + 9
            lines.append(f"{host(min(i, names - 1))}.{ORIGIN} A")
        elif x < 0.95:
            lines.append(f"{host(address_name())}.{ORIGIN} {'MX' if rnd.random() < 0.5 else 'TXT'}")
        else:
            lines.append(f"nohost{rnd.randrange(100000)}.{ORIGIN} A")
    lib.write_queries(path, lines)


# ----------------------------------------------------------------------------- servers

def start_apexd(binary, d, zone_path):
    port = harness.free_port()
    conf = os.path.join(d, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join(["[server]", f'listen = ["{lib.HOST}:{port}"]', "threads = 1", "",
                           "[log]", 'level = "warn"', "",
                           "[[zone]]", f'origin = "{ORIGIN}"', f'file = "{zone_path}"',
                           'allow_transfer = ["127.0.0.0/8"]', ""]))
    return harness._spawn("apexd", [os.path.abspath(binary), "--config", conf], d, port, conf)


def start_knotd(d, zone_path):
    """bench/lib.py's knotd settings plus an acl that allows AXFR from loopback."""
    port = harness.free_port()
    for sub in ("run", "db", "storage"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, "knot.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            "server:", f"    listen: {lib.HOST}@{port}", f"    rundir: {d}/run", "    udp-workers: 1",
            "    tcp-workers: 1", "    background-workers: 1",
            "database:", f"    storage: {d}/db",
            "log:", "  - target: stderr", "    any: warning",
            "acl:", "  - id: transfer_loopback", "    address: 127.0.0.0/8", "    action: transfer",
            "template:", "  - id: default", f"    storage: {d}/storage", "    semantic-checks: off",
            "    zonefile-sync: -1", "    zonefile-load: whole", "    journal-content: none",
            "zone:", f"  - domain: {ORIGIN}", f"    file: {zone_path}", "    acl: [transfer_loopback]", ""]))
    return harness._spawn("knotd", ["/usr/sbin/knotd", "-c", conf], d, port, conf)


def start_all(args, work, zone_path):
    procs = {}
    for name in SERVERS:
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        t = time.monotonic()
        procs[name] = start_apexd(args.apexd, d, zone_path) if name == "apexd" else start_knotd(d, zone_path)
        harness.wait_ready(procs[name], [ORIGIN], timeout=args.load_timeout)
        time.sleep(0.5)  # knotd pins its workers as they start
        lib.pin(procs[name].pid)
        print(f"{name:6s} loaded {args.records:,} records in {time.monotonic() - t:6.2f} s "
              f"(port {procs[name].port}, {lib.rss_kib(procs[name].pid) / 1024:.1f} MiB)", flush=True)
    return procs


# ----------------------------------------------------------------------------- one transfer

def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (clear_refs "5"); False where that is not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssPoller:
    """Samples VmRSS of `pid` every RSS_POLL s until stopped; `peak` is the largest seen."""

    def __init__(self, pid):
        self.pid, self.peak = pid, lib.rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(RSS_POLL):
            try:
                self.peak = max(self.peak, lib.rss_kib(self.pid))
            except OSError:
                return

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


def kdig_axfr(port, timeout):
    """One AXFR with kdig on LOAD_CPU; (seconds, records kdig counted or None, error text,
    (bytes, messages))."""
    argv = ["taskset", "-c", lib.LOAD_CPU, "kdig", f"@{lib.HOST}", "-p", str(port), ORIGIN, "AXFR",
            "+noall", "+stat", "+time=30", "+retry=0"]
    t = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return time.monotonic() - t, None, f"kdig did not finish within {timeout:.0f} s", (0, 0)
    seconds = time.monotonic() - t
    m = re.search(r"Received (\d+) B \((\d+) messages?, (\d+) records?\)", p.stdout)
    if p.returncode != 0 or not m:
        return seconds, None, f"kdig exit {p.returncode}: {(p.stdout + p.stderr)[-500:]}", (0, 0)
    return seconds, int(m.group(3)), "", (int(m.group(1)), int(m.group(2)))


def idle_axfr(proc, args):
    """One transfer with nothing else running: wall s, records, server CPU s, RSS before and peak (KiB)."""
    pid = proc.pid
    before = lib.rss_kib(pid)
    hwm_reset = reset_hwm(pid)
    cpu0 = lib.cpu_seconds(pid)
    poller = RssPoller(pid)
    seconds, count, err, (size, messages) = kdig_axfr(proc.port, args.xfr_timeout)
    peak = poller.stop()
    if hwm_reset:
        peak = max(peak, status_kib(pid, "VmHWM"))
    return {"s": seconds, "records": count, "err": err, "cpu_s": lib.cpu_seconds(pid) - cpu0,
            "bytes": size, "messages": messages,
            "rss_before": before, "rss_peak": peak}


def loaded_run(proc, args, qfile, with_axfr):
    """dnsperf for --seconds, alone or with back-to-back AXFRs from WARMUP s in until it ends."""
    out = {}

    def load():
        out["perf"] = lib.dnsperf(proc.port, qfile, args.seconds, rate=args.rate or None)
    t = threading.Thread(target=load, daemon=True)
    t.start()
    xfrs = []
    if with_axfr:
        time.sleep(WARMUP)
        end = time.monotonic() + args.seconds - WARMUP
        while t.is_alive() and time.monotonic() < end:
            xfrs.append(kdig_axfr(proc.port, args.xfr_timeout))
    t.join(timeout=args.seconds + 90)
    perf = out.get("perf") or lib.parse_dnsperf("")
    return {"qps": perf["qps"], "lost": perf["lost"], "sent": perf["sent"], "parsed": perf["parsed"],
            "xfrs": len(xfrs), "xfr_s": sum(x[0] for x in xfrs),
            "bad_xfrs": [x for x in xfrs if x[1] != args.records + 1]}


# ----------------------------------------------------------------------------- report

def ratio(a, b):
    return a / b if b else float("nan")


def summarize(res, args):
    rows = {}
    for name, r in res.items():
        idle = r["idle"]
        base = r["base"]
        under = r["under"]
        rows[name] = {
            "axfr_s": statistics.median(x["s"] for x in idle),
            "cpu_s": statistics.median(x["cpu_s"] for x in idle),
            "rss_before": statistics.median(x["rss_before"] for x in idle) / 1024,
            "rss_peak": max(x["rss_peak"] for x in idle) / 1024,
            "base_qps": statistics.median(x["qps"] for x in base),
            "under_qps": statistics.median(x["qps"] for x in under),
            "under_sent": statistics.median(x["sent"] for x in under) / args.seconds,
            "base_lost": sum(x["lost"] for x in base),
            "lost": sum(x["lost"] for x in under),
            "xfrs": sum(x["xfrs"] for x in under),
            "xfr_s": sum(x["xfr_s"] for x in under),
            "bytes": idle[-1]["bytes"], "messages": idle[-1]["messages"],
        }
        rows[name]["drop"] = 1 - ratio(rows[name]["under_qps"], rows[name]["base_qps"])
    return rows


def report(args, rows, uptime, complete):
    k = rows["knotd"]
    load = f"{args.rate:,} queries/s offered" if args.rate else "as fast as dnsperf goes (-c 8 -q 100)"
    lines = [f"Run {datetime.date.today()} at commit {lib.git_commit()}; `{ORIGIN}` with {args.records:,} "
             f"records; idle AXFR: median of {args.repeat} (kdig +noall +stat on CPU 0, servers on CPU 1); "
             f"load: dnsperf on CPU 0, {load}, {args.loads} × {args.seconds} s alone and {args.loads} × "
             f"{args.seconds} s with back-to-back AXFRs; load average {uptime}.", "",
             "| server | AXFR s | × knotd | server CPU s | RSS before MiB | peak RSS MiB | × knotd | "
             "baseline qps | qps during AXFR | sent/s during AXFR | drop % | lost (baseline / during) | AXFRs during load (wall s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['axfr_s']:.3f} | {ratio(r['axfr_s'], k['axfr_s']):.2f} | {r['cpu_s']:.2f} | "
                     f"{r['rss_before']:.1f} | {r['rss_peak']:.1f} | {ratio(r['rss_peak'], k['rss_peak']):.2f} | "
                     f"{r['base_qps']:.0f} | {r['under_qps']:.0f} | {r['under_sent']:.0f} | {100 * r['drop']:.1f} | "
                     f"{r['base_lost']} / {r['lost']} | {r['xfrs']} in {r['xfr_s']:.1f} s |")
    lines += ["", "Transfer size as kdig counted it: " + "; ".join(
        f"{n} {r['bytes'] / 2**20:.1f} MiB in {r['messages']} messages" for n, r in rows.items())
        + ". Server CPU s: utime + stime of the whole process over one idle AXFR (median); the wall "
        "time includes kdig receiving and parsing every record on CPU 0. sent/s: what dnsperf managed to "
        "send while kdig shared its CPU; a drop with sent/s down as much and nothing lost is the client, "
        "not the server."]
    a = rows["apexd"]
    targets = [("every transfer complete (records + 1 with the closing SOA)", complete),
               ("AXFR time ≤ knotd", a["axfr_s"] <= k["axfr_s"]),
               ("peak RSS ≤ knotd", a["rss_peak"] <= k["rss_peak"]),
               ("no lost query during the AXFRs", a["lost"] == 0),
               (f"qps drop during the AXFRs ≤ {100 * MAX_DROP:.0f} %", a["drop"] <= MAX_DROP)]
    lines += ["", "| target (apexd) | result |", "|---|---|"]
    lines += [f"| {t} | {'PASS' if ok else 'MISS'} |" for t, ok in targets]
    return "\n".join(lines), targets


# ----------------------------------------------------------------------------- main

def load_average():
    """The 1, 5 and 15 minute load averages (another build on this 2-core machine shows here)."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apexd", required=True)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=3, help="idle AXFRs per server (median)")
    ap.add_argument("--seconds", type=int, default=10, help="length of each dnsperf run")
    ap.add_argument("--loads", type=int, default=1, help="dnsperf runs per server and kind (median)")
    ap.add_argument("--rate", type=int, default=50000, help="dnsperf -Q; 0 = as fast as it goes")
    ap.add_argument("--xfr-timeout", type=float, default=300.0, help="seconds one kdig AXFR may take")
    ap.add_argument("--load-timeout", type=float, default=600.0, help="seconds a server may take to load")
    ap.add_argument("--work-dir", default=None, help="zone and configs (kept); default: a scratch dir in /tmp")
    ap.add_argument("--smoke", action="store_true", help="20,000 records, 1 repeat, 2 s loads, no targets")
    ap.add_argument("--out", default=None, help="write the markdown table here too")
    args = ap.parse_args()
    if args.smoke:
        args.records, args.repeat, args.seconds, args.loads = min(args.records, 20000), 1, 2, 1
    if args.records < 10:
        ap.error("--records must be at least 10")
    if args.seconds < 2:
        ap.error("--seconds must be at least 2")

    uptime = load_average()
    work = os.path.abspath(args.work_dir) if args.work_dir else tempfile.mkdtemp(prefix="apexd-axfr-")
    os.makedirs(work, exist_ok=True)
    try:
        t = time.monotonic()
        zone_path, qfile = generate(work, args.records)
        print(f"{ORIGIN} with {args.records:,} records in {zone_path} ({time.monotonic() - t:.1f} s)", flush=True)
        procs = start_all(args, work, zone_path)
        res = {n: {"idle": [], "base": [], "under": []} for n in SERVERS}
        complete = True
        for i in range(args.repeat):
            for name, p in procs.items():
                x = idle_axfr(p, args)
                res[name]["idle"].append(x)
                ok = x["records"] == args.records + 1
                complete = complete and ok
                print(f"idle {i + 1} {name:6s} AXFR {x['s']:7.3f} s  {x['records']} records  "
                      f"{x['bytes'] / 2**20:.1f} MiB/{x['messages']} msgs  cpu {x['cpu_s']:.2f} s  "
                      f"RSS {x['rss_before'] / 1024:.1f} → peak {x['rss_peak'] / 1024:.1f} MiB"
                      + ("" if ok else f"  INCOMPLETE {x['err']}"), flush=True)
        for i in range(args.loads):
            for kind in ("base", "under"):
                for name, p in procs.items():
                    x = loaded_run(p, args, qfile, kind == "under")
                    res[name][kind].append(x)
                    complete = complete and not x["bad_xfrs"] and x["parsed"]
                    print(f"load {i + 1} {name:6s} {'with AXFRs' if kind == 'under' else 'alone     '} "
                          f"{x['qps']:9.0f} qps  lost {x['lost']}"
                          + (f"  {x['xfrs']} AXFRs, {x['xfr_s']:.1f} s" if kind == "under" else "")
                          + (f"  {len(x['bad_xfrs'])} INCOMPLETE: {x['bad_xfrs'][0][2]}" if x["bad_xfrs"] else "")
                          + ("" if x["parsed"] else "  dnsperf gave no statistics"), flush=True)
        for p in procs.values():
            harness.stop(p, timeout=30.0)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    rows = summarize(res, args)
    table, targets = report(args, rows, f"{uptime} before, {load_average()} after", complete)
    print("\n" + table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table + "\n")
    if args.smoke:
        print("1 passed, 0 failed" if complete else "0 passed, 1 failed")
        return 0 if complete else 1
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
