#!/usr/bin/python3
"""Soak: apexd under steady load for minutes, with reloads and an upstream that flaps.

knotd serves the target zone platform.test. (TTLs 10..30 s, so flattened entries refresh, and
not all in step with the flaps); unbound is the recursive resolver stubbing platform.test. to
knotd; apexd (threads = 2, pinned to CPU 1, serve_stale = "1h", min_ttl = 5) serves cust.test.
(500 static names, an apex CNAME flattened) and flat.test. (flatten = "all", 50 CNAMEs to
platform.test. apps, 10 of them "cold": TTL 5 and queried rarely, so steady-state misses happen
too). A warm-up (10 s, or 30 s for runs of 5 min and more) already goes through a short upstream
outage and a reload. Meanwhile:

- dnsperf (CPU 0) sends a fixed rate (~80 % static, ~20 % flattened) in chunks of up to 60 s;
- every --reload-every s one customer zone is rewritten (serial bumped, a record changed) and
  apexd reloaded, alternating SIGHUP and POST /reload; the change must be visible within 10 s;
- every --flap-every s unbound is stopped for ~10 s and started again on the same port;
- a sampler thread sends one query at a time (200/s, 2 s timeout) with dnspython, checks each
  answer's content and records its latency (p50/p99; timeouts are losses);
- apexd must stay alive (checked every 0.25 s); its RSS is sampled after warm-up, during the run
  and at the end. Start and end are both taken just after a reload (apexd trims its heap on
  reloads), so heap freed after an outage but not yet returned does not read as growth; the raw
  end figure and the RSS after every reload (the leak trend) are printed too.

    /usr/bin/python3 bench/soak.py --apexd build-rel/apexd [--minutes 10] [--qps 20000]
                                   [--reload-every 20] [--flap-every 30]

Exit 0 (and "1 passed, 0 failed") when apexd never crashed and its RSS grew by at most 20 %.
Only 127.0.0.1 is used; every process is registered with tests/integration/harness.py and
stopped by PID (SIGKILLed if this script dies); every loop is bounded in time.
"""

import argparse
import hashlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import harness  # noqa: E402
import ops_common  # noqa: E402  (tests/integration is on sys.path through lib)

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

HOST = harness.HOST

N_STATIC = 500      # h0..h499.cust.test. (A and AAAA)
N_WARM = 40         # w0..w39.flat.test. CNAME app0..app39.platform.test. (TTL 10..30)
N_COLD = 10         # c0..c9.flat.test.  CNAME cold0..cold9.platform.test. (TTL 5, queried rarely)
TARGET_TTL = 30      # my-app.platform.test.; the appN TTLs are spread over 10..30 s
COLD_TTL = 5
QUERY_LINES = 200000  # dnsperf cycles through the file every QUERY_LINES / qps seconds
SAMPLER_QPS = 200
SAMPLER_TIMEOUT = 2.0
RELOAD_VISIBLE_TIMEOUT = 10.0
FLAP_DOWN = 10.0
RSS_LIMIT = 0.20

MY_APP_A = ["198.51.100.10", "198.51.100.11"]
MY_APP_AAAA = ["2001:db8:100::10", "2001:db8:100::11"]


# ----------------------------------------------------------------------------- zones

def app_ttl(i):
    # 10..30 s, spread: with one TTL the cache refreshes in phase with the flaps, and whether an
    # outage ever meets an expired entry (stale answers) would depend on luck.
    return 10 + (i * 13) % 21 if TARGET_TTL == 30 else TARGET_TTL


def app_a(i):
    return [f"198.51.101.{i}"] + ([f"198.51.102.{i}"] if i % 2 == 0 else [])


def app_aaaa(i):
    return [f"2001:db8:101::{i:x}"]


def cold_a(i):
    return [f"198.51.103.{i}"]


def cold_aaaa(i):
    return [f"2001:db8:103::{i:x}"]


def static_a(i):
    return [f"10.1.{i // 256}.{i % 256}"]


def static_aaaa(i):
    return [f"2001:db8:1::{i:x}"]


def canary_a(serial):
    return f"10.255.{(serial // 256) % 256}.{serial % 256}"


def target_zone():
    lines = ["$ORIGIN platform.test.", f"$TTL {TARGET_TTL}",
             f"@ 3600 SOA ns.platform.test. ops.platform.test. 1 3600 600 604800 {TARGET_TTL}",
             "@ 3600 NS ns", "ns 3600 A 127.0.0.1"]
    lines += [f"my-app A {a}" for a in MY_APP_A] + [f"my-app AAAA {a}" for a in MY_APP_AAAA]
    for i in range(N_WARM):
        ttl = app_ttl(i)
        lines += [f"app{i} {ttl} A {a}" for a in app_a(i)] + [f"app{i} {ttl} AAAA {a}" for a in app_aaaa(i)]
    for i in range(N_COLD):
        lines += [f"cold{i} {COLD_TTL} A {a}" for a in cold_a(i)]
        lines += [f"cold{i} {COLD_TTL} AAAA {a}" for a in cold_aaaa(i)]
    return "\n".join(lines) + "\n"


def cust_zone(serial):
    lines = ["$ORIGIN cust.test.", "$TTL 300",
             f"@ SOA ns1.cust.test. hostmaster.cust.test. {serial} 7200 3600 1209600 300",
             "@ NS ns1", "@ 60 CNAME my-app.platform.test.", "ns1 A 192.0.2.53",
             f"canary 60 A {canary_a(serial)}", f'canary 60 TXT "serial {serial}"']
    for i in range(N_STATIC):
        lines += [f"h{i} A {static_a(i)[0]}", f"h{i} AAAA {static_aaaa(i)[0]}"]
    return "\n".join(lines) + "\n"


def flat_zone(serial):
    lines = ["$ORIGIN flat.test.", "$TTL 300",
             f"@ SOA ns1.flat.test. hostmaster.flat.test. {serial} 7200 3600 1209600 300",
             "@ NS ns1", "ns1 A 192.0.2.54",
             f"canary 60 A {canary_a(serial)}", f'canary 60 TXT "serial {serial}"']
    lines += [f"w{i} 60 CNAME app{i}.platform.test." for i in range(N_WARM)]
    lines += [f"c{i} 60 CNAME cold{i}.platform.test." for i in range(N_COLD)]
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # apexd never reads a half-written file


def norm(addr):
    return str(ipaddress.ip_address(addr))


def expected_answers():
    """{(qname, qtype): (kind, frozenset of addresses)}; kind is static, flat or cold."""
    exp = {}
    for i in range(N_STATIC):
        exp[(f"h{i}.cust.test.", "A")] = ("static", static_a(i))
        exp[(f"h{i}.cust.test.", "AAAA")] = ("static", static_aaaa(i))
    exp[("cust.test.", "A")] = ("flat", MY_APP_A)
    exp[("cust.test.", "AAAA")] = ("flat", MY_APP_AAAA)
    for i in range(N_WARM):
        exp[(f"w{i}.flat.test.", "A")] = ("flat", app_a(i))
        exp[(f"w{i}.flat.test.", "AAAA")] = ("flat", app_aaaa(i))
    for i in range(N_COLD):
        exp[(f"c{i}.flat.test.", "A")] = ("cold", cold_a(i))
    return {k: (kind, frozenset(norm(a) for a in addrs)) for k, (kind, addrs) in exp.items()}


def query_mix(rng):
    """QUERY_LINES (qname, qtype): 80 % static, 20 % flattened (each cold name once per cycle)."""
    n_flat = QUERY_LINES // 5
    out = []
    for _ in range(QUERY_LINES - n_flat):
        out.append((f"h{rng.randrange(N_STATIC)}.cust.test.", "A" if rng.random() < 0.75 else "AAAA"))
    out += [(f"c{i}.flat.test.", "A") for i in range(N_COLD)]
    for _ in range(n_flat - N_COLD):
        t = "A" if rng.random() < 0.75 else "AAAA"
        out.append(("cust.test.", t) if rng.random() < 0.25 else (f"w{rng.randrange(N_WARM)}.flat.test.", t))
    rng.shuffle(out)
    return out


# ----------------------------------------------------------------------------- helpers

def fmt_int(n):
    return f"{int(n):,}"


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def proc_cpu(pid):
    try:
        return lib.cpu_seconds(pid)
    except OSError:
        return 0.0


def system_busy_seconds():
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / lib.CLK_TCK, steal / lib.CLK_TCK


BUILD_TOOLS = {"cc1plus", "cc1", "ld", "collect2", "ninja", "make", "ld.gold", "lto1", "clang", "clang++"}


def build_tools_running():
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() in BUILD_TOOLS:
                    n += 1
        except OSError:
            pass
    return n


# ----------------------------------------------------------------------------- the soak

class Soak:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.expected = expected_answers()
        self.rng = random.Random(20261129)
        self.mix = query_mix(self.rng)
        self.apexd = self.knot = self.unbound = None
        self.dnsperf_proc = None
        self.crash = None          # text when apexd died
        self.upstream_down = False
        # counters
        self.reloads = self.reload_failures = 0
        self.reload_notes = []
        self.reload_ms = []
        self.flaps = self.flap_failures = 0
        self.flap_notes = []
        self.flap_windows = []     # (t down, t back)
        self.stale_times = []      # t of each stale answer the sampler saw
        self.events = []           # (t, text): flaps and reloads, written to events.log
        self.lat = {"static": [], "flat": [], "cold": []}
        self.s_sent = self.s_lost = self.s_wrong = self.s_stale = 0
        self.s_outage = {"sent": 0, "answered": 0, "stale": 0, "lost": 0, "wrong": 0}
        self.wrong_examples = []
        self.totals = {"sent": 0, "completed": 0, "lost": 0, "interrupted": 0, "rcodes": {}, "max_ms": 0.0,
                       "lat_weighted": 0.0, "seconds": 0.0}
        self.rss = []              # (t, KiB)
        self.rss_after_reload = [] # (t, KiB) right after each successful reload (apexd trims its heap then)
        self.rss_last = 0.0
        self.rss_every = 60.0
        self.other_cpu = []        # (t, cores used by processes not ours, steal cores, build tools)
        self.serial = {"cust.test.": 2026112901, "flat.test.": 2026112901}

    # -- setup

    def setup(self):
        a = self.args
        self.paths = {n: os.path.join(self.work, n) for n in ("platform.test.zone", "cust.test.zone", "flat.test.zone")}
        write_atomic(self.paths["platform.test.zone"], target_zone())
        write_atomic(self.paths["cust.test.zone"], cust_zone(self.serial["cust.test."]))
        write_atomic(self.paths["flat.test.zone"], flat_zone(self.serial["flat.test."]))

        # Run a copy of the binary, so a rebuild of the original during the soak cannot touch it.
        self.binary_src = os.path.abspath(a.apexd)
        self.binary_mtime = os.stat(self.binary_src).st_mtime
        with open(self.binary_src, "rb") as f:
            self.binary_sha = hashlib.sha256(f.read()).hexdigest()[:12]
        adir = os.path.join(self.work, "apexd")
        os.makedirs(adir)
        self.binary = os.path.join(adir, "apexd")
        shutil.copy2(self.binary_src, self.binary)

        kdir = os.path.join(self.work, "knot")
        os.makedirs(kdir)
        self.knot = lib.start_knotd(kdir, [("platform.test.", self.paths["platform.test.zone"])], timeout=20.0)
        self.udir = os.path.join(self.work, "unbound")
        os.makedirs(self.udir)
        self.unbound_port = harness.free_port()
        self.unbound = lib.start_unbound(self.udir, [("platform.test.", self.knot.port)], port=self.unbound_port)

        self.port = harness.free_port()
        self.cport = harness.free_port()
        conf = os.path.join(adir, "apexd.toml")
        with open(conf, "w") as f:
            f.write(f"""[server]
listen = ["{HOST}:{self.port}"]
threads = 2
[log]
level = "warn"
[control]
listen = "{HOST}:{self.cport}"
[resolver]
upstreams = ["{HOST}:{self.unbound_port}"]
serve_stale = "1h"
min_ttl = 5
[[zone]]
origin = "cust.test."
file = "{self.paths['cust.test.zone']}"
[[zone]]
origin = "flat.test."
file = "{self.paths['flat.test.zone']}"
flatten = "all"
""")
        self.apexd = harness.start_apexd_config(self.binary, conf, self.port, "cust.test.", adir, timeout=20.0)
        harness.wait_ready(self.apexd, ["flat.test."], timeout=10.0)
        lib.pin(self.apexd.pid)

        # Every flattened name answers with its target's addresses before the load starts.
        for (qname, qtype), (kind, want) in self.expected.items():
            if kind == "static" and not qname.startswith("h1."):
                continue
            r = harness.query(self.port, qname, qtype, timeout=3.0)
            got = frozenset(norm(rr.to_text()) for rrset in (r.answer if r else []) for rr in rrset
                            if rrset.rdtype == dns.rdatatype.from_text(qtype))
            if r is None or r.rcode() != 0 or got != want:
                raise RuntimeError(f"setup: {qname} {qtype} answered {r and dns.rcode.to_text(r.rcode())} "
                                   f"{sorted(got)}, expected {sorted(want)}")
        self.qfile = os.path.join(self.work, "queries.txt")
        lib.write_queries(self.qfile, [f"{n} {t}" for n, t in self.mix])

    # -- dnsperf in chunks

    def run_dnsperf(self, seconds, tag, tick=None):
        """One dnsperf run (pinned to CPU 0); returns its figures. Polls apexd every 0.25 s (a crash
        stops the run at once), samples RSS and the machine's load, and calls tick() if given."""
        argv = ["taskset", "-c", lib.LOAD_CPU, "dnsperf", "-s", HOST, "-p", str(self.port), "-d", self.qfile,
                "-c", "8", "-q", "200", "-l", str(seconds), "-t", "2", "-Q", str(self.args.qps)]
        p = harness._spawn(f"dnsperf-{tag}", argv, self.work, self.port, None)
        self.dnsperf_proc = p
        deadline = time.monotonic() + seconds + 30
        try:
            while p.popen.poll() is None and time.monotonic() < deadline:
                if not self.check_alive():
                    break
                self.sample_machine()
                if hasattr(self, "t0") and time.monotonic() - self.rss_last >= self.rss_every:
                    self.sample_rss()
                if tick:
                    tick()
                time.sleep(0.25)
        finally:
            if p.popen.poll() is None:  # apexd died, or dnsperf overran: stop it by its PID
                try:
                    os.kill(p.pid, signal.SIGINT)  # dnsperf prints its statistics on SIGINT
                    p.popen.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
                harness.stop(p)
            elif p in harness._procs:
                harness._procs.remove(p)
            self.dnsperf_proc = None
        r = lib.parse_dnsperf(ops_common.read_text(p.stdout_path))
        if not r["parsed"]:
            r["error"] = ops_common.read_text(p.stderr_path)[-500:]
        return r

    def add_chunk(self, r, seconds):
        t = self.totals
        for k in ("sent", "completed", "lost", "interrupted"):
            t[k] += r[k]
        for k, v in r["rcodes"].items():
            t["rcodes"][k] = t["rcodes"].get(k, 0) + v
        t["max_ms"] = max(t["max_ms"], r["max_ms"])
        t["lat_weighted"] += r["avg_ms"] * r["completed"]
        t["seconds"] += seconds

    # -- apexd watch

    def check_alive(self):
        if self.crash:
            return False
        if self.apexd.popen.poll() is not None or not os.path.exists(f"/proc/{self.apexd.pid}"):
            rc = self.apexd.popen.poll()
            how = f"killed by signal {-rc} ({signal.Signals(-rc).name})" if rc is not None and rc < 0 else f"exit {rc}"
            self.crash = f"apexd (pid {self.apexd.pid}) died at t={self.t():.1f}s: {how}"
            self.stop.set()
            return False
        return True

    def t(self):
        return time.monotonic() - self.t0 if hasattr(self, "t0") else 0.0

    def sample_rss(self):
        self.rss_last = time.monotonic()
        try:
            self.rss.append((self.t(), lib.rss_kib(self.apexd.pid)))
        except OSError:
            pass

    def own_cpu_seconds(self):
        t = os.times()
        total = t.user + t.system + t.children_user + t.children_system  # self (all threads) + reaped children
        for p in list(harness._procs):
            if p.popen.poll() is None:
                total += proc_cpu(p.pid)
        return total

    def sample_machine(self, force=False):
        """Every ~5 s: CPU used by processes that are not ours (a build, say), in cores."""
        now = time.monotonic()
        if not force and hasattr(self, "_m_last") and now - self._m_last[0] < 5.0:
            return
        busy, steal = system_busy_seconds()
        own = self.own_cpu_seconds()
        if hasattr(self, "_m_last"):
            t0, b0, s0, o0 = self._m_last
            dt = now - t0
            if dt > 0:
                other = max(0.0, (busy - b0) - (own - o0)) / dt
                self.other_cpu.append((self.t(), other, (steal - s0) / dt, build_tools_running()))
        self._m_last = (now, busy, steal, own)

    # -- sampler

    def sampler(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect((HOST, self.port))
        rng = random.Random(7)
        interval = 1.0 / SAMPLER_QPS
        next_t = time.monotonic()
        try:
            while not self.stop.is_set() and time.monotonic() < self.end:
                qname, qtype = rng.choice(self.mix)
                kind, want = self.expected[(qname, qtype)]
                q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232)
                q.flags = 0
                wire = q.to_wire()
                outage = self.upstream_down
                start = time.perf_counter()
                sock.send(wire)
                reply = None
                deadline = start + SAMPLER_TIMEOUT
                while True:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    sock.settimeout(left)
                    try:
                        data = sock.recv(65535)
                    except socket.timeout:
                        break
                    except ConnectionRefusedError:  # apexd gone: the watcher reports it
                        time.sleep(0.01)
                        continue
                    if len(data) >= 2 and data[:2] == wire[:2]:
                        reply = data
                        break
                elapsed_ms = (time.perf_counter() - start) * 1000
                self.record_sample(qname, qtype, kind, want, reply, elapsed_ms, outage or self.upstream_down)
                next_t += interval
                now = time.monotonic()
                if next_t > now:
                    time.sleep(next_t - now)
                else:
                    next_t = now  # behind (a timeout): no burst to catch up
        finally:
            sock.close()

    def record_sample(self, qname, qtype, kind, want, reply, ms, outage):
        stale = False
        wrong = None
        if reply is not None:
            try:
                m = dns.message.from_wire(reply)
                rt = dns.rdatatype.from_text(qtype)
                got = frozenset(norm(rr.to_text()) for rrset in m.answer for rr in rrset if rrset.rdtype == rt)
                stale = any(getattr(o, "otype", None) == dns.edns.OptionType.EDE and getattr(o, "code", None) == 3
                            for o in m.options)
                if m.rcode() != dns.rcode.NOERROR or got != want:
                    wrong = f"{qname} {qtype}: {dns.rcode.to_text(m.rcode())} {sorted(got)} (want {sorted(want)})"
            except Exception as e:  # noqa: BLE001 - an unparsable answer is a wrong answer
                wrong = f"{qname} {qtype}: unparsable reply ({e})"
        with self.lock:
            self.s_sent += 1
            if outage:
                self.s_outage["sent"] += 1
            if reply is None:
                self.s_lost += 1
                if outage:
                    self.s_outage["lost"] += 1
                return
            self.lat[kind].append(ms)
            if outage:
                self.s_outage["answered"] += 1
            if stale:
                self.s_stale += 1
                self.stale_times.append(self.t())
                if outage:
                    self.s_outage["stale"] += 1
            if wrong:
                self.s_wrong += 1
                if outage:
                    self.s_outage["wrong"] += 1
                if len(self.wrong_examples) < 10:
                    self.wrong_examples.append(f"t={self.t():.1f}s{' (upstream down)' if outage else ''}: {wrong}")

    def event(self, text):
        with self.lock:
            self.events.append((self.t(), text))

    # -- reloads

    def reloader(self):
        k = 0
        while not self.stop.is_set():
            k += 1
            at = self.t0 + k * self.args.reload_every
            if at >= self.end or self.stop.wait(max(0.0, at - time.monotonic())):
                return
            zone = "cust.test." if k % 2 else "flat.test."
            trigger = "SIGHUP" if k % 2 else "POST /reload"
            try:
                ok, why, ms = self.reload_once(zone, trigger)
            except Exception as e:  # noqa: BLE001 - a reload that raises is a failed reload
                ok, why, ms = False, f"{type(e).__name__}: {e}", None
            self.event(f"reload {k} ({trigger}, {zone}): {'ok in %.0f ms' % ms if ok else why}")
            if ok:
                try:
                    self.rss_after_reload.append((self.t(), lib.rss_kib(self.apexd.pid)))
                except OSError:
                    pass
            with self.lock:
                self.reloads += 1
                if ok:
                    self.reload_ms.append(ms)
                else:
                    self.reload_failures += 1
                    self.reload_notes.append(f"reload {k} ({trigger}, {zone}) at t={self.t():.0f}s: {why}")

    def reload_once(self, zone, trigger, honor_stop=True):
        self.serial[zone] += 1
        serial = self.serial[zone]
        text = cust_zone(serial) if zone == "cust.test." else flat_zone(serial)
        write_atomic(self.paths[zone.rstrip(".") + ".zone"], text)
        before = ops_common.get_metrics(self.cport).get("apexd_reloads_total", result="success")
        start = time.monotonic()
        if trigger == "SIGHUP":
            os.kill(self.apexd.pid, signal.SIGHUP)
        else:
            st, js, body = ops_common.post_reload(self.cport, timeout=30.0)
            if st != 200 or not js or js.get("failed") != 0 or js.get("loaded", 0) < 1:
                return False, f"POST /reload -> {st} {body.strip()[:200]}", None
        want = canary_a(serial)
        deadline = start + RELOAD_VISIBLE_TIMEOUT
        last = None
        while time.monotonic() < deadline and not (honor_stop and self.stop.is_set()):
            try:
                r = harness.query(self.port, "canary." + zone, "A", timeout=0.5)
                soa = harness.query(self.port, zone, "SOA", timeout=0.5)
                got = [rr.to_text() for rrset in (r.answer if r else []) for rr in rrset]
                ser = [rr.serial for rrset in (soa.answer if soa else []) for rr in rrset]
                last = (got, ser)
                if got == [want] and ser == [serial]:
                    ms = (time.monotonic() - start) * 1000
                    after = ops_common.get_metrics(self.cport).get("apexd_reloads_total", result="success")
                    if after < before + 1:
                        return False, f"change visible but apexd_reloads_total{{success}} {before:.0f} -> {after:.0f}", ms
                    return True, "", ms
            except Exception as e:  # noqa: BLE001 - keep polling until the deadline
                last = e
            time.sleep(0.05)
        return False, f"serial {serial} / canary {want} not visible after {RELOAD_VISIBLE_TIMEOUT:.0f}s (last {last})", None

    # -- upstream flaps

    def flapper(self):
        # harness makes each child die with the *thread* that spawned it (PR_SET_PDEATHSIG), so
        # this thread, which restarts unbound, must live until the soak is over.
        try:
            self.flap_loop()
        finally:
            self.stop.wait(max(0.0, self.end - time.monotonic()) + 120)

    def flap_loop(self):
        k = 0
        down = min(FLAP_DOWN, self.args.flap_every / 3.0)
        while not self.stop.is_set():
            k += 1
            at = self.t0 + k * self.args.flap_every
            if at + down >= self.end or self.stop.wait(max(0.0, at - time.monotonic())):
                return
            self.upstream_down = True
            t_down = self.t()
            old = self.unbound
            harness.stop(old)
            self.event(f"flap {k}: unbound pid {old.pid} stopped (exit {old.popen.returncode})")
            self.stop.wait(down)
            err = None
            for _attempt in range(3):  # bounded: 3 tries of at most ~10 s each
                try:
                    self.unbound = lib.start_unbound(self.udir, [("platform.test.", self.knot.port)],
                                                     port=self.unbound_port)
                    self.event(f"flap {k}: unbound pid {self.unbound.pid} answering again")
                    err = None
                    break
                except Exception as e:  # noqa: BLE001 - retry, then count as a failed restart
                    err = f"{type(e).__name__}: {str(e)[:200]}"
                    for p in list(harness._procs):
                        if p.name == "unbound" and p.popen.poll() is None:
                            harness.stop(p)
                    if self.stop.wait(1.0):
                        break
            self.upstream_down = False
            with self.lock:
                self.flap_windows.append((t_down, self.t()))
                self.flaps += 1
                if err:
                    self.flap_failures += 1
                    self.flap_notes.append(f"flap {k}: unbound did not come back: {err}")

    # -- main

    def warmup(self, seconds):
        """Load for `seconds` with one short upstream outage and one reload, so that the RSS baseline
        already holds what every path allocates once (stale answers, a reload's heap trim). Runs
        on the main thread: unbound restarted here lives as long as this thread (PR_SET_PDEATHSIG)."""
        state = {"step": 0}
        start = time.monotonic()
        notes = []

        def tick():
            el = time.monotonic() - start
            if state["step"] == 0 and el >= 0.4 * seconds:
                state["step"] = 1
                harness.stop(self.unbound)
            elif state["step"] == 1 and el >= 0.7 * seconds:
                state["step"] = 2
                try:
                    self.unbound = lib.start_unbound(self.udir, [("platform.test.", self.knot.port)],
                                                     port=self.unbound_port)
                except Exception as e:  # noqa: BLE001 - the soak's flaps will report restarts
                    notes.append(f"unbound restart failed: {e}")
            elif state["step"] == 2 and el >= 0.85 * seconds:
                state["step"] = 3
                ok, why, _ = self.reload_once("cust.test.", "SIGHUP")
                if not ok:
                    notes.append(f"reload failed: {why}")
        r = self.run_dnsperf(seconds, "warmup", tick)
        return r, notes

    def run(self):
        a = self.args
        duration = a.minutes * 60.0
        warm = 30 if duration >= 300 else 10
        self.rss_every = max(5.0, min(60.0, duration / 10))
        print(f"soak: apexd {self.binary_src} (sha256 {self.binary_sha}, run from a copy), port {self.port}, "
              f"control {self.cport}, unbound {self.unbound_port}, knotd {self.knot.port}; "
              f"{duration / 60:.1f} min at {a.qps} qps, warm-up {warm} s", flush=True)
        w, notes = self.warmup(warm)
        if not self.check_alive():
            return
        self.warm_text = (f"warm-up {warm} s (with a {0.3 * warm:.0f} s upstream outage and a reload): "
                          f"{fmt_int(w['completed'])}/{fmt_int(w['sent'])} answered, lost {w['lost']}, rcodes "
                          + ", ".join(f"{k} {fmt_int(v)}" for k, v in sorted(w["rcodes"].items(), key=lambda kv: -kv[1]))
                          + (f"; {'; '.join(notes)}" if notes else ""))
        print(self.warm_text, flush=True)
        self.t0 = time.monotonic()
        self.end = self.t0 + duration
        self.sample_rss()
        self.sample_machine(force=True)
        threads = [threading.Thread(target=f, name=f.__name__, daemon=True)
                   for f in (self.sampler, self.reloader, self.flapper)]
        for th in threads:
            th.start()
        chunk = 0
        chunks = max(1, int(-(-duration // 60)))
        while not self.stop.is_set():
            left = self.end - time.monotonic()
            if left < 1:
                break
            chunk += 1
            seconds = int(min(60, round(left)))
            r = self.run_dnsperf(seconds, str(chunk))
            self.add_chunk(r, seconds)
            with self.lock:
                lat = sorted(self.lat["static"] + self.lat["flat"] + self.lat["cold"])
                reloads, rfail, flaps = self.reloads, self.reload_failures, self.flaps
                s_lost, s_wrong = self.s_lost, self.s_wrong
            other = self.other_cpu[-12:]
            other_avg = sum(o[1] for o in other) / len(other) if other else 0.0
            err = f" dnsperf: {r['error']!r}" if "error" in r else ""
            print(f"[{chunk}/{chunks}] t={self.t():5.0f}s sent {fmt_int(r['sent'])} answered {fmt_int(r['completed'])} "
                  f"lost {r['lost']} rcodes {r['rcodes']} | sampler p50 {percentile(lat, 50):.2f} ms "
                  f"p99 {percentile(lat, 99):.2f} ms lost {s_lost} wrong {s_wrong} | reloads {reloads} "
                  f"({rfail} failed) flaps {flaps} | RSS {self.rss[-1][1] / 1024:.1f} MiB | other CPU "
                  f"{other_avg:.2f} cores{err}", flush=True)
            if not self.check_alive():
                break
        self.elapsed = self.t()
        self.stop.set()
        for th in threads:
            th.join(timeout=40)
        if not self.check_alive():
            return
        self.sample_rss()
        self.rss_raw_end = self.rss[-1][1]
        # The baseline was taken after a reload (which trims apexd's heap); measure the end the
        # same way, so that freed-but-cached heap after an outage does not read as growth.
        try:
            ok, why, ms = self.reload_once("cust.test.", "SIGHUP", honor_stop=False)
        except Exception as e:  # noqa: BLE001
            ok, why, ms = False, str(e), None
        self.event(f"final reload (SIGHUP, cust.test.): {'ok in %.0f ms' % ms if ok else why}")
        self.reloads += 1
        if ok:
            self.reload_ms.append(ms)
        else:
            self.reload_failures += 1
            self.reload_notes.append(f"final reload: {why}")
        time.sleep(1.0)
        if self.check_alive():
            self.sample_rss()
            self.metrics_end = ops_common.get_metrics(self.cport)

    def report(self):
        a = self.args
        t = self.totals
        lines = []
        minutes = getattr(self, "elapsed", self.t()) / 60
        lost = t["sent"] - t["completed"]
        pct = 100.0 * lost / t["sent"] if t["sent"] else 0.0
        lines.append(f"soak: {minutes:.1f} min, {fmt_int(t['sent'])} queries sent, {fmt_int(t['completed'])} answered, "
                     f"{fmt_int(lost)} lost ({pct:.4f}%), crashes {1 if self.crash else 0}")
        if hasattr(self, "warm_text"):
            lines.append(self.warm_text)
        rc = ", ".join(f"{k} {fmt_int(v)}" for k, v in sorted(t["rcodes"].items(), key=lambda kv: -kv[1]))
        avg = t["lat_weighted"] / t["completed"] if t["completed"] else 0.0
        secs = getattr(self, "elapsed", self.t())
        lines.append(f"dnsperf: {a.qps} qps target, {t['sent'] / secs if secs else 0:,.0f} sent/s; "
                     f"rcodes {rc}; avg {avg:.3f} ms, max {t['max_ms']:.0f} ms")
        rms = sorted(self.reload_ms)
        seen = f"visible in p50 {percentile(rms, 50):.0f} ms, max {rms[-1]:.0f} ms" if rms else "none succeeded"
        lines.append(f"reloads {self.reloads} ({self.reload_failures} failed; {seen}), "
                     f"upstream flaps {self.flaps} ({self.flap_failures} failed restarts)")
        lat = sorted(self.lat["static"] + self.lat["flat"] + self.lat["cold"])
        if lat:
            lines.append(f"latency (sampler, n={len(lat)}): p50 {percentile(lat, 50):.2f} ms, p99 "
                         f"{percentile(lat, 99):.2f} ms, max {lat[-1]:.0f} ms")
        else:
            lines.append("latency (sampler, n=0): no answers")
        parts = []
        for kind in ("static", "flat", "cold"):
            v = sorted(self.lat[kind])
            if v:
                parts.append(f"{kind} n={len(v)} p50 {percentile(v, 50):.2f} p99 {percentile(v, 99):.2f} "
                             f"max {v[-1]:.0f} ms")
        o = self.s_outage
        lines.append(f"sampler: {fmt_int(self.s_sent)} sent, {self.s_lost} lost (timeouts), {self.s_wrong} wrong, "
                     f"{self.s_stale} stale (EDE 3); {'; '.join(parts)}")
        lines.append(f"sampler while upstream down: {o['sent']} sent, {o['answered']} answered, {o['stale']} stale, "
                     f"{o['wrong']} wrong, {o['lost']} lost")
        if self.flap_windows:
            per = []
            for i, (d, b) in enumerate(self.flap_windows):
                during = sum(1 for s in self.stale_times if d <= s <= b)
                after = sum(1 for s in self.stale_times if b < s <= b + 30)
                per.append(f"{d:.0f}-{b:.0f}s: {during}+{after}")
            other = len(self.stale_times) - sum(
                1 for s in self.stale_times if any(d <= s <= b + 30 for d, b in self.flap_windows))
            lines.append(f"sampler stale answers per flap (down-back: during+within 30 s after): "
                         f"{', '.join(per[:12])}{' …' if len(per) > 12 else ''}; elsewhere {other}")
        growth = None
        if len(self.rss) >= 2:
            start, end = self.rss[0][1], self.rss[-1][1]
            growth = (end - start) / start if start else 0.0
            mid = ", ".join(f"{s / 1024:.1f}" for _, s in self.rss[1:-1])
            raw = getattr(self, "rss_raw_end", None)
            if raw is not None:
                lines.append(f"RSS: start {start / 1024:.1f} MiB, end {end / 1024:.1f} MiB ({growth * 100:+.1f}%) "
                             f"[both just after a reload]; before the final reload {raw / 1024:.1f} MiB, "
                             f"max {max(s for _, s in self.rss) / 1024:.1f} MiB")
            else:
                lines.append(f"RSS: start {start / 1024:.1f} MiB, last sample {end / 1024:.1f} MiB "
                             f"({growth * 100:+.1f}%), max {max(s for _, s in self.rss) / 1024:.1f} MiB (run cut short)")
            lines.append(f"RSS samples (MiB): [{mid}]")
            if self.rss_after_reload:
                ar = [k for _, k in self.rss_after_reload]
                lines.append(f"RSS after each reload (MiB): first {ar[0] / 1024:.1f}, last {ar[-1] / 1024:.1f}, "
                             f"min {min(ar) / 1024:.1f}, max {max(ar) / 1024:.1f} (n={len(ar)}): "
                             f"[{' '.join(f'{k / 1024:.1f}' for k in ar[:60])}{' …' if len(ar) > 60 else ''}]")
        m = getattr(self, "metrics_end", None)
        if m:
            def g(name, **kw):
                return fmt_int(m.get(name, **kw))
            lines.append(f"/metrics: cache hits {g('apexd_cache_hits_total')}, misses {g('apexd_cache_misses_total')}, "
                         f"stale {g('apexd_cache_stale_total')}, prefetches {g('apexd_cache_prefetches_total')}, "
                         f"coalesced {g('apexd_cache_coalesced_total')}, upstream queries "
                         f"{g('apexd_upstream_queries_total')}, upstream timeouts {g('apexd_upstream_timeouts_total')}, "
                         f"upstream failures {g('apexd_upstream_failures_total')}")
            lines.append(f"/metrics: queries {fmt_int(m.sum('apexd_queries_total'))} (SERVFAIL "
                         f"{fmt_int(m.sum('apexd_queries_total', rcode='SERVFAIL'))}), resolution waits "
                         f"{g('apexd_resolution_waits_total')}, shed {g('apexd_resolution_shed_total')}, dropped "
                         f"{g('apexd_dropped_total')}, reloads ok {g('apexd_reloads_total', result='success')} / failed "
                         f"{g('apexd_reloads_total', result='failure')}, cache entries {g('apexd_cache_entries')}")
        if self.other_cpu:
            avg = sum(x[1] for x in self.other_cpu) / len(self.other_cpu)
            peak = max(x[1] for x in self.other_cpu)
            steal = max(x[2] for x in self.other_cpu)
            busy = sum(1 for x in self.other_cpu if x[3])
            lines.append(f"machine: other processes used {avg:.2f} cores on average (max {peak:.2f}) of "
                         f"{os.cpu_count()}; compiler/linker seen in {busy}/{len(self.other_cpu)} samples; "
                         f"steal max {steal:.2f}")
        if os.path.exists(self.binary_src) and os.stat(self.binary_src).st_mtime != self.binary_mtime:
            lines.append(f"note: {self.binary_src} was rebuilt during the soak (the copy started from it was tested)")
        for n in self.reload_notes[:10] + self.flap_notes[:10]:
            lines.append("  " + n)
        for n in self.wrong_examples:
            lines.append("  wrong: " + n)
        log = self.apexd.stderr() if self.apexd else ""
        warn = sum(1 for l in log.splitlines() if l.strip())
        lines.append(f"apexd log ([log] level warn): {warn} lines" + (f", last: {log.strip().splitlines()[-1][:200]}"
                                                                     if warn else ""))
        with open(os.path.join(self.work, "events.log"), "w") as f:
            f.write("".join(f"{t:7.1f} {e}\n" for t, e in self.events))
        reasons = []
        if self.crash:
            lines.append(self.crash)
            tail = self.apexd.stderr()[-1500:]
            if tail:
                lines.append("apexd stderr (tail):\n" + tail)
            reasons.append("apexd crashed")
        if growth is None:
            reasons.append("no RSS samples")
        elif growth > RSS_LIMIT:
            reasons.append(f"RSS grew {growth * 100:.1f}% (> {RSS_LIMIT * 100:.0f}%)")
        print("\n" + "\n".join(lines))
        if reasons:
            print("FAIL soak: " + "; ".join(reasons))
            print("0 passed, 1 failed")
            return 1
        print("1 passed, 0 failed")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apexd", required=True, help="the apexd binary (e.g. build-rel/apexd)")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--qps", type=int, default=20000)
    ap.add_argument("--reload-every", type=float, default=20.0)
    ap.add_argument("--flap-every", type=float, default=30.0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (zones, configs, logs)")
    args = ap.parse_args()
    if not (os.path.isfile(args.apexd) and os.access(args.apexd, os.X_OK)):
        print(f"apexd binary not found or not executable: {args.apexd}")
        print("0 passed, 1 failed")
        return 1
    if args.minutes <= 0 or args.qps <= 0 or args.reload_every <= 0 or args.flap_every <= 0:
        ap.error("--minutes, --qps, --reload-every and --flap-every must be positive")
    print("command: " + " ".join([sys.executable] + sys.argv), flush=True)
    work = tempfile.mkdtemp(prefix="apexd-soak-")
    soak = Soak(args, work)
    code = 1
    try:
        soak.setup()
        soak.run()
        code = soak.report()
    except Exception:  # noqa: BLE001 - report, stop everything, fail
        traceback.print_exc()
        print("0 passed, 1 failed")
        code = 1
    finally:
        soak.stop.set()
        harness._stop_all()
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
