"""Shared plumbing for apexd's benchmarks: peers on loopback, CPU pinning, dnsperf, CPU time.

Reuses tests/integration/harness.py for process handling (every process is stopped by PID,
also when the benchmark is interrupted). Only ever talks to 127.0.0.1.
"""

import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

HOST = harness.HOST
SERVER_CPU = "1"   # the server under test
LOAD_CPU = "0"     # dnsperf
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pin(pid, cpu=SERVER_CPU):
    """Pins every thread of `pid` (knotd pins its own workers, so re-pin after start)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=True, stdout=subprocess.DEVNULL)


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return rss_kib(pid)


def children(pid):
    """Every descendant of `pid` (nsd serves from a grandchild)."""
    out = []
    try:
        direct = [int(x) for x in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                 text=True).stdout.split()]
    except OSError:
        return out
    for c in direct:
        out.append(c)
        out.extend(children(c))
    return out


def dnsperf(port, queryfile, seconds, clients=8, outstanding=100, rate=None):
    """Runs dnsperf pinned to LOAD_CPU; returns its figures as a dict."""
    argv = ["taskset", "-c", LOAD_CPU, "dnsperf", "-s", HOST, "-p", str(port), "-d", queryfile,
            "-c", str(clients), "-q", str(outstanding), "-l", str(seconds), "-t", "2"]
    if rate:
        argv += ["-Q", str(rate)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    return parse_dnsperf(out)


def parse_dnsperf(out):
    """dnsperf's closing statistics as a dict (0 for anything missing; "parsed" says whether any were)."""
    def grab(pattern, cast=float, default=0.0):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else default
    rcodes = {}
    m = re.search(r"Response codes:\s*(.*)", out)
    if m:
        for name, count in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            rcodes[name] = int(count)
    return {
        "sent": grab(r"Queries sent:\s+(\d+)", int, 0),
        "completed": grab(r"Queries completed:\s+(\d+)", int, 0),
        "lost": grab(r"Queries lost:\s+(\d+)", int, 0),
        "interrupted": grab(r"Queries interrupted:\s+(\d+)", int, 0),
        "qps": grab(r"Queries per second:\s+([\d.]+)"),
        "avg_ms": grab(r"Average Latency \(s\):\s+([\d.]+)") * 1000,
        "max_ms": grab(r"Average Latency \(s\):.*max ([\d.]+)") * 1000,
        "rcodes": rcodes,
        "parsed": "Queries sent:" in out,
        "raw": out,
    }


def tree_cpu_seconds(pid):
    """CPU seconds of `pid` and its descendants (nsd serves from a forked grandchild)."""
    total = 0.0
    for p in [pid] + children(pid):
        try:
            total += cpu_seconds(p)
        except OSError:
            pass
    return total


def measure(proc_pid, port, queryfile, seconds, **kw):
    """dnsperf against one server, with the server's CPU time per answered query."""
    before = tree_cpu_seconds(proc_pid)
    r = dnsperf(port, queryfile, seconds, **kw)
    used = tree_cpu_seconds(proc_pid) - before
    r["cpu_us_per_q"] = used * 1e6 / r["completed"] if r["completed"] else float("inf")
    return r


def write_queries(path, lines, repeat=1):
    with open(path, "w") as f:
        for _ in range(repeat):
            for line in lines:
                f.write(line + "\n")


# ----------------------------------------------------------------------------- peers

def start_unbound(workdir, stubs, port=None):
    """unbound as a recursive resolver that stubs each (zone, port) to a local authoritative."""
    port = port or harness.free_port()
    conf = os.path.join(workdir, "unbound.conf")
    lines = ["server:", f"    interface: {HOST}", f"    port: {port}", "    do-not-query-localhost: no",
             '    username: ""', '    chroot: ""', f'    directory: "{workdir}"',
             f'    pidfile: "{workdir}/unbound.pid"', "    use-syslog: no", '    logfile: ""',
             "    verbosity: 0", '    module-config: "iterator"', "    access-control: 127.0.0.0/8 allow",
             "    num-threads: 1"]
    for zone, _ in stubs:
        tld = zone.rstrip(".").split(".")[-1] + "."
        lines.append(f'    local-zone: "{tld}" nodefault')
    for zone, zport in stubs:
        lines += ["stub-zone:", f'    name: "{zone}"', f"    stub-addr: {HOST}@{zport}"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = harness._spawn("unbound", ["/usr/sbin/unbound", "-d", "-c", conf], workdir, port, conf)
    wait_recursive(proc, stubs[0][0], timeout=10.0)
    return proc


def wait_recursive(proc, name, timeout=10.0):
    """Waits until a recursive resolver answers `name` SOA (RD=1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early: {proc.stderr()}")
        try:
            r = harness.query(proc.port, name, "SOA", rd=True, timeout=0.5)
            if r is not None and r.rcode() == 0 and r.answer:
                return
        except Exception:  # noqa: BLE001 - keep polling
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not answering {name} after {timeout}s: {proc.stderr()}")


def start_pdns(workdir, zones, resolver_port=None, port=None, expand_alias=True):
    """pdns_server with the bind backend (always --no-config and an empty security poll suffix)."""
    port = port or harness.free_port()
    named = os.path.join(workdir, "named.conf")
    with open(named, "w") as f:
        for origin, path in zones:
            f.write(f'zone "{origin.rstrip(".")}" {{ type master; file "{path}"; }};\n')
    argv = ["/usr/sbin/pdns_server", "--no-config", "--daemon=no", "--guardian=no", "--disable-syslog",
            "--write-pid=no", f"--socket-dir={workdir}", f"--local-address={HOST}", f"--local-port={port}",
            "--launch=bind", f"--bind-config={named}", "--security-poll-suffix=",
            "--distributor-threads=1", "--receiver-threads=1", "--loglevel=3"]
    if expand_alias:
        argv += ["--expand-alias=yes", f"--resolver={HOST}:{resolver_port}"]
    proc = harness._spawn("pdns_server", argv, workdir, port, named)
    harness.wait_ready(proc, [zones[0][0]], timeout=15.0)
    return proc


def start_nsd(workdir, zones, port=None, timeout=60.0, wait=True):
    """nsd with minimal responses and response rate limiting off (Debian enables RRL)."""
    port = port or harness.free_port()
    conf = os.path.join(workdir, "nsd.conf")
    lines = ["server:", f"    ip-address: {HOST}@{port}", "    server-count: 1", "    minimal-responses: yes",
             "    rrl-ratelimit: 0", f'    zonesdir: "{workdir}"', f'    pidfile: "{workdir}/nsd.pid"',
             f'    database: ""', f'    xfrdfile: "{workdir}/xfrd.state"', f'    zonelistfile: "{workdir}/zone.list"',
             '    username: ""', '    logfile: "/dev/stderr"', "    verbosity: 0", "remote-control:",
             "    control-enable: no"]
    for origin, path in zones:
        lines += ["zone:", f"    name: {origin}", f"    zonefile: {path}"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = harness._spawn("nsd", ["/usr/sbin/nsd", "-d", "-c", conf], workdir, port, conf)
    if wait:
        harness.wait_ready(proc, [zones[0][0]], timeout=timeout)
    return proc


def start_knotd(workdir, zones, port=None, timeout=120.0, wait=True):
    """knotd with one UDP, one TCP and one background worker (for per-core comparisons)."""
    port = port or harness.free_port()
    for d in ("run", "db", "storage"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    conf = os.path.join(workdir, "knot.conf")
    lines = ["server:", f"    listen: {HOST}@{port}", f"    rundir: {workdir}/run", "    udp-workers: 1",
             "    tcp-workers: 1", "    background-workers: 1", "database:", f"    storage: {workdir}/db",
             "log:", "  - target: stderr", "    any: warning", "template:", "  - id: default",
             f"    storage: {workdir}/storage", "    semantic-checks: off", "    zonefile-sync: -1",
             "    zonefile-load: whole", "    journal-content: none", "zone:"]
    for origin, path in zones:
        lines += [f"  - domain: {origin}", f"    file: {path}"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = harness._spawn("knotd", ["/usr/sbin/knotd", "-c", conf], workdir, port, conf)
    if wait:
        harness.wait_ready(proc, [zones[0][0]], timeout=timeout)
    return proc


def start_apexd(binary, workdir, zones, port=None, threads=1, extra="", timeout=120.0, wait=True):
    port = port or harness.free_port()
    conf = os.path.join(workdir, "apexd.toml")
    lines = ["[server]", f'listen = ["{HOST}:{port}"]', f"threads = {threads}", "[log]", 'level = "warn"', extra]
    for origin, path in zones:
        lines += ["[[zone]]", f'origin = "{origin}"', f'file = "{path}"']
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = harness._spawn("apexd", [os.path.abspath(binary), "--config", conf], workdir, port, conf)
    if wait:
        harness.wait_ready(proc, [zones[0][0]], timeout=timeout)
    return proc


def start_floor(binary, workdir, port=None, timeout=10.0):
    """bench/udp_floor: a UDP loop that answers every datagram with itself (QR set), no DNS work."""
    port = port or harness.free_port()
    proc = harness._spawn("udp_floor", [os.path.abspath(binary), HOST, str(port)], workdir, port, None)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"udp_floor exited: {proc.stderr()[-2000:]}")
            try:
                s.sendto(b"\x12\x34" + bytes(10), (HOST, port))
                if s.recv(512)[:2] == b"\x12\x34":
                    return proc
            except OSError:
                pass
    raise RuntimeError("udp_floor did not answer")


def poll_answer(proc, qname, qtype, ok, timeout, interval=0.02):
    """Seconds until `ok(reply)` holds for a UDP query of `qname` `qtype`, None on timeout."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited: {proc.stderr()[-2000:]}")
        try:
            r = harness.query(proc.port, qname, qtype, timeout=0.2)
            if r is not None and ok(r):
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - keep polling
            pass
        time.sleep(interval)
    return None


def wait_answer(proc, qname, qtype="A", timeout=600.0):
    """Seconds until `qname` is answered NOERROR with data (for load-time measurements)."""
    seconds = poll_answer(proc, qname, qtype, lambda r: r.rcode() == 0 and bool(r.answer), timeout)
    if seconds is None:
        raise RuntimeError(f"{proc.name} did not answer {qname} within {timeout}s")
    return seconds


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_commit():
    """The checkout's short commit, for the reports."""
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"
