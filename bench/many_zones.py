#!/usr/bin/env python3
"""Many zones: load time and memory of apexd, knotd and nsd with 100,000 small zones, and reloads.

    /usr/bin/python3 bench/many_zones.py --apexd build-rel/apexd            # 100,000 zones
    /usr/bin/python3 bench/many_zones.py --apexd build-rel/apexd --smoke    # 2,000 zones, for CI

1. Generates N zones (z00000.example. …, 11 records each: SOA, 2 NS, A, AAAA, MX, TXT, www CNAME,
   ns1/ns2/mail A), deterministically, into --work-dir (default: a scratch dir under /tmp).
2. Starts each server in turn (apexd, knotd, nsd; the settings of bench/lib.py, one worker each)
   with all N zones. Load time: from the spawn until the last zone answers its SOA (and a sample
   of 100 zones spread over the list does too); memory after load: VmRSS, PSS summed over nsd's
   processes.
3. Reloads, each timed from the signal until the first answer that shows it (UDP polls ~10 ms):
   add one zone (config + file, SIGHUP) until it answers NOERROR with its SOA; remove one zone
   from the config until it answers REFUSED; change one zone's file (new serial, one new record)
   until the new serial is served. apexd and knotd: SIGHUP (knotd re-reads its config and
   changed zone files); nsd: `nsd-control reconfig` for add/remove, SIGHUP for the change.
4. Prints a markdown table (also to --out) and the targets: load ≤ nsd, RSS ≤ knotd, each apexd
   reload ≤ 0.05 × apexd's full load time.

Exit status: 0 if every load and every apexd reload answered (--smoke), and in a full run also
every target met.
"""

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = ("apexd", "apexd-include", "knotd", "nsd")
APEXD_VARIANTS = ("apexd", "apexd-include")
PART_SIZE = 1000  # zones per included file in the apexd-include layout
REMOVED, CHANGED = 1, 2   # indices of the zone removed and the zone changed by the reloads
POLL = 0.01               # seconds between polls while waiting for a reload


def origin(i):
    return f"z{i:05d}.example."


def zone_text(i, serial=1, extra=""):
    o = origin(i)
    a, b = i >> 8 & 255, i & 255
    return (f"$ORIGIN {o}\n$TTL 3600\n"
            f"@ SOA ns1.{o} hostmaster.{o} {serial} 7200 3600 1209600 300\n"
            "@ NS ns1\n@ NS ns2\n"
            f"@ A 10.{a}.{b}.1\n@ AAAA 2001:db8:{a:x}:{b:x}::1\n"
            "@ MX 10 mail\n"
            f'@ TXT "v=spf1 mx -all z{i}"\n'
            "www CNAME @\n"
            f"ns1 A 10.{a}.{b}.53\nns2 A 10.{a}.{b}.54\nmail A 10.{a}.{b}.25\n" + extra)


def generate(zdir, n):
    """N zone files (skipped when an identical set is already there); returns [(origin, path)]."""
    os.makedirs(zdir, exist_ok=True)
    zones = []
    for i in range(n):
        path = os.path.join(zdir, f"{origin(i)}zone")
        text = zone_text(i)
        if not (os.path.exists(path) and os.path.getsize(path) == len(text)):
            with open(path, "w") as f:
                f.write(text)
        zones.append((origin(i), path))
    return zones


# ----------------------------------------------------------------------------- waiting

def poll_until(proc, qname, ok, timeout):
    """Seconds until `ok(reply)` holds for `qname` SOA (a UDP query every POLL s), None on timeout."""
    return lib.poll_answer(proc, qname, "SOA", ok, timeout, POLL)


def has_soa(r):
    return r.rcode() == 0 and bool(r.answer)


def is_refused(r):
    return r.rcode() == 5


def serial_is(serial):
    return lambda r: has_soa(r) and r.answer[0][0].serial == serial


# ----------------------------------------------------------------------------- servers

def start(name, args, d, zones):
    if name == "apexd":
        return lib.start_apexd(args.apexd, d, zones, wait=False)
    if name == "apexd-include":
        return start_apexd_include(args.apexd, d, zones)
    if name == "knotd":
        return lib.start_knotd(d, zones, wait=False)
    return start_nsd_with_control(d, zones)


def start_apexd_include(binary, d, zones):
    """apexd with the zone list spread over zones.d/*.toml (PART_SIZE zones a file), the layout
    for many zones: a reload parses only the included files that changed."""
    inc = os.path.join(d, "zones.d")
    shutil.rmtree(inc, ignore_errors=True)  # a reused --work-dir keeps no zone added by an earlier run
    os.makedirs(inc)
    for k in range(0, len(zones), PART_SIZE):
        with open(os.path.join(inc, f"part-{k // PART_SIZE:05d}.toml"), "w") as f:
            f.write("".join(conf_block("apexd", o, p) for o, p in zones[k:k + PART_SIZE]))
    port = harness.free_port()
    conf = os.path.join(d, "apexd.toml")
    with open(conf, "w") as f:
        f.write(f'include = ["zones.d/*.toml"]\n[server]\nlisten = ["{lib.HOST}:{port}"]\nthreads = 1\n'
                '[log]\nlevel = "warn"\n')
    proc = harness._spawn("apexd", [os.path.abspath(binary), "--config", conf], d, port, conf)
    proc.include_dir = inc
    return proc


def start_nsd_with_control(d, zones):
    """lib.start_nsd, with remote control on a unix socket (nsd-control reconfig adds/removes zones)."""
    real_spawn = harness._spawn

    def spawn(name, argv, workdir, port, conf):
        with open(conf) as f:
            text = f.read()
        assert "    control-enable: no\n" in text
        text = text.replace("    control-enable: no\n",
                            f"    control-enable: yes\n    control-interface: {d}/nsd.ctl\n")
        with open(conf, "w") as f:
            f.write(text)
        return real_spawn(name, argv, workdir, port, conf)

    harness._spawn = spawn
    try:
        return lib.start_nsd(d, zones, wait=False)
    finally:
        harness._spawn = real_spawn


def conf_block(name, o, path):
    """The text bench/lib.py writes for one zone into each server's config."""
    if name in APEXD_VARIANTS:
        return f'[[zone]]\norigin = "{o}"\nfile = "{path}"\n'
    if name == "knotd":
        return f"  - domain: {o}\n    file: {path}\n"
    return f"zone:\n    name: {o}\n    zonefile: {path}\n"


def edit_conf(proc, add=None, remove=None):
    if getattr(proc, "include_dir", None):
        return edit_included(proc.include_dir, add, remove)
    with open(proc.config_path) as f:
        text = f.read()
    if remove:
        assert remove in text, f"{proc.name}: zone block not in {proc.config_path}"
        text = text.replace(remove, "", 1)
    if add:
        text = text if text.endswith("\n") else text + "\n"
        text += add
    with open(proc.config_path, "w") as f:
        f.write(text)


def edit_included(inc, add, remove):
    """A new zone goes into a file of its own; a removed one out of the file that lists it."""
    if add:
        with open(os.path.join(inc, "zz-added.toml"), "w") as f:
            f.write(add)
    if remove:
        for part in sorted(os.listdir(inc)):
            path = os.path.join(inc, part)
            with open(path) as f:
                text = f.read()
            if remove in text:
                with open(path, "w") as f:
                    f.write(text.replace(remove, "", 1))
                return
        raise RuntimeError(f"zone block not found in {inc}")


def trigger(name, proc, zone_list_changed):
    """Signals a reload; returns the monotonic time just before."""
    t0 = time.monotonic()
    if name == "nsd" and zone_list_changed:
        r = subprocess.run(["nsd-control", "-c", proc.config_path, "reconfig"], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"nsd-control reconfig: {r.stdout}{r.stderr}")
    else:
        os.kill(proc.pid, signal.SIGHUP)
    return t0


def memory_kib(name, proc):
    if name == "nsd":
        return sum(lib.pss_kib(p) for p in [proc.pid] + lib.children(proc.pid))
    return lib.rss_kib(proc.pid)


def run_server(name, args, work, zones):
    """Load, memory, then the three reloads (apexd always; knotd and nsd unless --skip-peer-reloads)."""
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    n = len(zones)
    # The changed and the added zone get per-server files, so every server starts from serial 1.
    zones = list(zones)
    changed_path = os.path.join(d, f"{origin(CHANGED)}zone")
    with open(changed_path, "w") as f:
        f.write(zone_text(CHANGED))
    zones[CHANGED] = (origin(CHANGED), changed_path)
    added_path = os.path.join(d, f"{origin(n)}zone")
    with open(added_path, "w") as f:
        f.write(zone_text(n))

    out = {"load_s": None, "mem_mib": None, "add_s": None, "remove_s": None, "change_s": None,
           "reloads": name in APEXD_VARIANTS or not args.skip_peer_reloads}
    proc = start(name, args, d, zones)
    try:
        try:
            load = lib.wait_answer(proc, zones[-1][0], "SOA", timeout=args.load_timeout)
        except RuntimeError as e:
            print(f"{name}: {e}", flush=True)
            return out
        # The last zone in the list need not be the last one loaded: wait for a spread-out sample too.
        # If one of them is still missing, the load ends when it answers.
        spawned = time.monotonic() - load
        for i in range(0, n, max(1, n // 100)):
            waited = poll_until(proc, zones[i][0], has_soa, args.load_timeout)
            if waited is None:
                print(f"{name}: {zones[i][0]} never answered", flush=True)
                return out
            if waited > 0.05:
                load = time.monotonic() - spawned
        out["load_s"] = load
        time.sleep(2.0)  # let background work (nsd's forks, knotd's timers) settle
        out["mem_mib"] = memory_kib(name, proc) / 1024
        print(f"{name:6s} {n} zones loaded in {out['load_s']:7.2f} s, {out['mem_mib']:7.1f} MiB", flush=True)
        if not out["reloads"]:
            return out

        steps = [
            ("add_s", origin(n), has_soa,
             lambda: edit_conf(proc, add=conf_block(name, origin(n), added_path)), True),
            ("remove_s", origin(REMOVED), is_refused,
             lambda: edit_conf(proc, remove=conf_block(name, *zones[REMOVED])), True),
            ("change_s", origin(CHANGED), serial_is(2), lambda: write_changed(changed_path), False),
        ]
        for key, qname, ok, change, zone_list_changed in steps:
            change()
            t0 = trigger(name, proc, zone_list_changed)
            waited = poll_until(proc, qname, ok, args.reload_timeout)
            if waited is None:
                print(f"{name:6s} {key[:-2]:6s}: no answer within {args.reload_timeout:.0f} s; "
                      "skipping the remaining reloads", flush=True)
                out[key] = float("inf")
                break
            out[key] = time.monotonic() - t0
            print(f"{name:6s} {key[:-2]:6s} zone answered {out[key]:7.3f} s after the reload signal", flush=True)
            time.sleep(0.5)
        return out
    finally:
        harness.stop(proc, timeout=30.0)


def write_changed(path):
    text = zone_text(CHANGED, serial=2, extra="new A 192.0.2.200\n")
    with open(path, "w") as f:
        f.write(text)
    # A distinct mtime even on filesystems with coarse timestamps (servers compare mtime and size).
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


# ----------------------------------------------------------------------------- report

TIMEOUT_TEXT = "timeout"  # set to "> N s" from --reload-timeout


def fmt(x, spec=".2f"):
    if x is None:
        return "–"
    if x == float("inf"):
        return TIMEOUT_TEXT
    return format(x, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 or a == float("inf") else a / b


def report(args, res, n):
    global TIMEOUT_TEXT
    TIMEOUT_TEXT = f"> {args.reload_timeout:.0f} (timeout)"
    a = res.get("apexd", {})
    lines = [f"Run {datetime.date.today()} at commit {lib.git_commit()}; {n:,} zones × 11 records; "
             "load = spawn until the last zone (and a sample of 100) answers SOA; memory after load "
             "(RSS; PSS summed over nsd's processes).", "",
             "| server | load s | vs nsd | RSS MiB | vs knotd |", "|---|---:|---:|---:|---:|"]
    nsd_load = res.get("nsd", {}).get("load_s")
    knot_mem = res.get("knotd", {}).get("mem_mib")
    for name, r in res.items():
        lines.append(f"| {name} | {fmt(r['load_s'])} | {fmt(ratio(r['load_s'], nsd_load))} | "
                     f"{fmt(r['mem_mib'], '.1f')} | {fmt(ratio(r['mem_mib'], knot_mem))} |")
    peers = [p for p in ("knotd", "nsd") if p in res and res[p]["reloads"]]
    variants = [v for v in APEXD_VARIANTS if v in res]
    lines += ["", "Reloads: seconds from the reload signal to the first answer showing it (apexd, knotd: "
              "SIGHUP; nsd: `nsd-control reconfig` to add/remove, SIGHUP to change). apexd: one config "
              f"file listing every zone; apexd-include: `include = [\"zones.d/*.toml\"]`, {PART_SIZE} zones "
              "a file, the new zone in a file of its own.", "",
              "| reload |" + "".join(f" {v} s | × {v} load |" for v in variants) + "".join(f" {p} s |" for p in peers),
              "|---|" + "---:|---:|" * len(variants) + "---:|" * len(peers)]
    what = {"add_s": "add one zone (NOERROR SOA)", "remove_s": "remove one zone (REFUSED)",
            "change_s": "change one zone (new serial)"}
    for key, label in what.items():
        row = f"| {label} |"
        for v in variants:
            r = res[v]
            row += f" {fmt(r.get(key), '.3f')} | {fmt(ratio(r.get(key), r.get('load_s')), '.3f')} |"
        row += "".join(f" {fmt(res[p][key], '.3f')} |" for p in peers)
        lines.append(row)
    targets = []
    if "apexd" in res and "nsd" in res:
        targets.append(("load ≤ nsd", ratio(a["load_s"], nsd_load) is not None and a["load_s"] <= nsd_load))
    if "apexd" in res and "knotd" in res:
        targets.append(("RSS ≤ knotd", ratio(a["mem_mib"], knot_mem) is not None and a["mem_mib"] <= knot_mem))
    for v in variants:
        for key, label in what.items():
            q = ratio(res[v].get(key), res[v].get("load_s"))
            targets.append((f"{v}: {label.split(' (')[0]} ≤ 0.05 × its load", q is not None and q <= 0.05))
    lines += ["", "| target | met |", "|---|---|"] + [f"| {t} | {'yes' if ok else 'NO'} |" for t, ok in targets]
    return "\n".join(lines), targets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apexd", required=True)
    ap.add_argument("--zones", type=int, default=100000)
    ap.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of apexd,apexd-include,knotd,nsd")
    ap.add_argument("--work-dir", default=None, help="zones and configs (kept); default: a scratch dir in /tmp")
    ap.add_argument("--load-timeout", type=float, default=600.0, help="seconds per server load")
    ap.add_argument("--reload-timeout", type=float, default=120.0, help="seconds per reload wait")
    ap.add_argument("--skip-peer-reloads", action="store_true", help="reloads for apexd only")
    ap.add_argument("--smoke", action="store_true", help="2,000 zones, short timeouts, no targets")
    ap.add_argument("--out", default=None, help="write the markdown table here too")
    args = ap.parse_args()
    if args.smoke:
        args.zones = min(args.zones, 2000)
        args.load_timeout, args.reload_timeout = 60.0, 30.0
    names = [s for s in args.servers.split(",") if s]
    for s in names:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")
    if args.zones < 10:
        ap.error("--zones must be at least 10")

    work = os.path.abspath(args.work_dir) if args.work_dir else tempfile.mkdtemp(prefix="apexd-many-zones-")
    try:
        t = time.monotonic()
        zones = generate(os.path.join(work, "zones"), args.zones)
        print(f"{args.zones} zones in {work}/zones ({time.monotonic() - t:.1f} s)", flush=True)
        res = {}
        for name in names:
            res[name] = run_server(name, args, work, zones)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    table, targets = report(args, res, args.zones)
    print("\n" + table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table + "\n")
    answered = all(r["load_s"] is not None for r in res.values())
    for v in APEXD_VARIANTS:
        if v in res:
            answered = answered and all(res[v][k] not in (None, float("inf")) for k in ("add_s", "remove_s", "change_s"))
    if args.smoke:
        print("1 passed, 0 failed" if answered else "0 passed, 1 failed")
        return 0 if answered else 1
    return 0 if answered and all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
