#!/usr/bin/env python3
"""Changes at run time among many zones: apexd next to knotd, in the same run, on the same zones.

    /usr/bin/python3 bench/changes.py --apexd build-rel/apexd            # 100,000 zones
    /usr/bin/python3 bench/changes.py --apexd build-rel/apexd --smoke    # 2,000 zones, for CI

1. The zones of bench/many_zones.py (N of them, 11 records each), the first 100 open to RFC 2136
   updates signed with one hmac-sha256 key (`tsig-keygen`). Each server runs alone, pinned to one
   core (knotd re-pinned after it starts), the client on the other.
2. Update latency (both): a signed update over TCP adds one TXT to one of the 100 zones (dnspython,
   as nsupdate would); from its acknowledgement, UDP queries in a tight loop until the TXT is
   served. --samples of them: median and p99.
3. Sustained updates (both): for --seconds, one client sends signed updates back to back over TCP
   (each waits for its acknowledgement), round-robin over the 100 zones: updates/s.
4. Zone create and delete (apexd, through its PowerDNS-compatible API; knotd has no equivalent
   without a configuration database): POST a zone, then poll its SOA until it is served; DELETE
   it, then poll until REFUSED. --samples/2 each: median and p99 from the 201/204.
5. A markdown table (also to --out) and the targets: median visibility ≤ 10 ms for every apexd
   row, apexd updates/s ≥ knotd's.

Exit status: 0 when every measurement completed (--smoke), and in a full run every target met.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.update

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
import many_zones  # noqa: E402
from lib import harness  # noqa: E402
import tsig_keys  # noqa: E402

UPDATABLE = 100   # zones open to updates
API_KEY = "bench-api-key-0123456789"


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def send_update(port, key, zone, name, value):
    u = dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.name, keyalgorithm=key.dns_algorithm)
    u.add(name, 60, "TXT", '"%s"' % value)
    r = dns.query.tcp(u, lib.HOST, port=port, timeout=5)
    if r.rcode() != dns.rcode.NOERROR:
        raise RuntimeError("update %s %s: %s" % (zone, name, dns.rcode.to_text(r.rcode())))


def visible_after(port, qname, qtype, ok, timeout=5.0):
    """Seconds from now until `ok(reply)` (UDP, no pause between queries); None on timeout."""
    start = time.monotonic()
    q = dns.message.make_query(qname, qtype)
    while time.monotonic() - start < timeout:
        try:
            r = dns.query.udp(q, lib.HOST, port=port, timeout=0.5)
            if ok(r):
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - keep polling
            pass
    return None


def has_txt(value):
    return lambda r: r.rcode() == 0 and any(('"%s"' % value) in rr.to_text() for rr in r.answer)


def update_latency(proc, key, samples):
    out = []
    for k in range(samples):
        zone = many_zones.origin(k % UPDATABLE)
        name = "lat%d.%s" % (k, zone)
        send_update(proc.port, key, zone, name, "v%d" % k)
        t = visible_after(proc.port, name, "TXT", has_txt("v%d" % k))
        if t is None:
            raise RuntimeError("%s: update %s never visible" % (proc.name, name))
        out.append(t)
    return out


def sustained(proc, key, seconds):
    n = 0
    end = time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < end:
        zone = many_zones.origin(n % UPDATABLE)
        send_update(proc.port, key, zone, "rate%d.%s" % (n, zone), "r%d" % n)
        n += 1
    return n / (time.monotonic() - start)


def api(cport, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s:%d%s" % (lib.HOST, cport, path), data=data, method=method)
    req.add_header("X-API-Key", API_KEY)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def create_delete(proc, cport, samples):
    created, deleted = [], []
    for k in range(samples):
        zone = "new%d.bench." % k
        status = api(cport, "POST", "/api/v1/servers/localhost/zones",
                     {"name": zone, "kind": "Native", "nameservers": ["ns1.%s" % zone]})
        if status != 201:
            raise RuntimeError("POST %s: %s" % (zone, status))
        t = visible_after(proc.port, zone, "SOA", lambda r: r.rcode() == 0 and bool(r.answer))
        if t is None:
            raise RuntimeError("created %s never served" % zone)
        created.append(t)
        status = api(cport, "DELETE", "/api/v1/servers/localhost/zones/" + zone)
        if status != 204:
            raise RuntimeError("DELETE %s: %s" % (zone, status))
        t = visible_after(proc.port, zone, "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
        if t is None:
            raise RuntimeError("deleted %s still served" % zone)
        deleted.append(t)
    return created, deleted


def start_apexd(binary, d, zones, key):
    port, cport = harness.distinct_ports(2)
    conf = os.path.join(d, "apexd.toml")
    lines = ["[server]", f'listen = ["{lib.HOST}:{port}"]', "threads = 1", f'state_dir = "{d}/state"',
             "[log]", 'level = "warn"', "[control]", f'listen = "{lib.HOST}:{cport}"', f'api_key = "{API_KEY}"',
             "[[key]]", f'name = "{key.name}"', f'algorithm = "{key.algorithm}"', f'secret = "{key.secret}"']
    for i, (origin, path) in enumerate(zones):
        lines += ["[[zone]]", f'origin = "{origin}"', f'file = "{path}"']
        if i < UPDATABLE:
            lines.append(f'allow_update = [{{ key = "{key.name}" }}]')
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = harness._spawn("apexd", [os.path.abspath(binary), "--config", conf], d, port, conf)
    proc.cport = cport
    return proc


def start_knotd(d, zones, key):
    port = harness.free_port()
    for sub in ("run", "db", "storage", "journal"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, "knot.conf")
    lines = ["server:", f"    listen: {lib.HOST}@{port}", f"    rundir: {d}/run", "    udp-workers: 1",
             "    tcp-workers: 1", "    background-workers: 1", "database:", f"    storage: {d}/db",
             f"    journal-db: {d}/journal", "log:", "  - target: stderr", "    any: warning",
             "key:", f"  - id: {key.name}", f"    algorithm: {key.algorithm}", f"    secret: {key.secret}",
             "acl:", "  - id: upd", f"    key: {key.name}", "    action: update",
             "template:", "  - id: default", f"    storage: {d}/storage", "    semantic-checks: off",
             "    zonefile-sync: -1", "    zonefile-load: whole", "    journal-content: changes",
             "  - id: updatable", f"    storage: {d}/storage", "    semantic-checks: off", "    zonefile-sync: -1",
             "    zonefile-load: whole", "    journal-content: changes", "    acl: upd", "zone:"]
    for i, (origin, path) in enumerate(zones):
        lines += [f"  - domain: {origin}", f"    file: {path}"]
        if i < UPDATABLE:
            lines.append("    template: updatable")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return harness._spawn("knotd", ["/usr/sbin/knotd", "-c", conf], d, port, conf)


def run_server(name, args, d, zones, key):
    proc = start_apexd(args.apexd, d, zones, key) if name == "apexd" else start_knotd(d, zones, key)
    try:
        lib.wait_answer(proc, zones[-1][0], "SOA", timeout=900)
        lib.wait_answer(proc, zones[0][0], "SOA", timeout=60)
        lib.pin(proc.pid)
        row = {"latency": update_latency(proc, key, args.samples), "rate": sustained(proc, key, args.seconds)}
        if name == "apexd":
            row["created"], row["deleted"] = create_delete(proc, proc.cport, max(2, args.samples // 2))
        row["rss_mib"] = lib.rss_kib(proc.pid) / 1024.0
        return row
    finally:
        harness.stop(proc, timeout=30)


def ms(v):
    return "%.2f" % (v * 1000.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apexd", required=True)
    ap.add_argument("--zones", type=int, default=100000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--smoke", action="store_true", help="2,000 zones, 20 samples, 2 s: for CI")
    ap.add_argument("--work-dir")
    ap.add_argument("--out", default=os.path.join(lib.ROOT, "bench", "results", "changes.md"))
    args = ap.parse_args()
    if args.smoke:
        args.zones, args.samples, args.seconds = 2000, 20, 2.0
    work = args.work_dir or tempfile.mkdtemp(prefix="apexd-changes-")
    zones = many_zones.generate(os.path.join(work, "zones"), args.zones)
    key = tsig_keys.tsig_keygen("hmac-sha256", "bench-upd")
    rows = {}
    os.sched_setaffinity(0, {int(lib.LOAD_CPU)})
    for name in ("apexd", "knotd"):
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        if name == "knotd":  # fresh zone files: apexd's run does not touch them, but start equal
            zones = many_zones.generate(os.path.join(work, "zones"), args.zones)
        print(f"{name}: {args.zones} zones ...", flush=True)
        rows[name] = run_server(name, args, d, zones, key)
    a, k = rows["apexd"], rows["knotd"]
    lines = [f"# Changes among {args.zones:,} zones — {datetime.date.today()} — commit {lib.git_commit()}", "",
             "One core per server (pinned), the client on the other; both servers in the same run.", "",
             "| measurement | apexd median ms | apexd p99 ms | knotd median ms | knotd p99 ms |",
             "|---|---|---|---|---|",
             f"| update: ack → answer visible ({args.samples}) | {ms(statistics.median(a['latency']))} | "
             f"{ms(pct(a['latency'], 99))} | {ms(statistics.median(k['latency']))} | {ms(pct(k['latency'], 99))} |",
             f"| zone create (API 201) → SOA served ({len(a['created'])}) | {ms(statistics.median(a['created']))} | "
             f"{ms(pct(a['created'], 99))} | — | — |",
             f"| zone delete (API 204) → REFUSED ({len(a['deleted'])}) | {ms(statistics.median(a['deleted']))} | "
             f"{ms(pct(a['deleted'], 99))} | — | — |", "",
             "| | apexd | knotd | ratio |", "|---|---|---|---|",
             f"| signed updates/s, sustained ({args.seconds:.0f} s, one client, TCP) | {a['rate']:.0f} | {k['rate']:.0f} | "
             f"{a['rate'] / k['rate']:.2f}× |",
             f"| RSS after, MiB | {a['rss_mib']:.0f} | {k['rss_mib']:.0f} | {a['rss_mib'] / k['rss_mib']:.2f}× |", ""]
    targets = [("median visibility ≤ 10 ms (update, create, delete)",
                max(statistics.median(a[x]) for x in ("latency", "created", "deleted")) <= 0.010),
               ("apexd updates/s ≥ knotd's", a["rate"] >= k["rate"])]
    lines += ["Targets:", ""] + [f"- {'met' if ok else 'NOT met'}: {what}" for what, ok in targets] + [""]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    return 0 if args.smoke or all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
