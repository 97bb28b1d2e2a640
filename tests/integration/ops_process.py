#!/usr/bin/python3
"""Process-level behaviour: command line, privilege drop, systemd readiness
(sd_notify), signals and exit codes.

    /usr/bin/python3 tests/integration/ops_process.py --apexd build/apexd

Steps:
  * `apexd --version` / `-V` print exactly "apexd 0.1.0"; `--help` prints the
    usage; an unknown argument exits 2
  * `[server] user = "nobody"` (only as root, else skipped with a note):
    apexd listens on a port below 1024 (so the bind happened as root), then
    every thread's Uid and Gid lines in /proc/PID/task/*/status are nobody's
    (real, effective, saved, filesystem), supplementary groups are nobody's,
    no effective capability is left; it still answers on its port, reloads
    after SIGHUP (zone files readable by nobody), logs
    event=privileges_dropped; an unknown user makes it exit 1 before serving
  * readiness with NOTIFY_SOCKET=/path (a Unix datagram socket we bound):
    READY=1 (with STATUS=) within 10 s, and a query sent at once after it is
    answered (no retry); SIGHUP gives RELOADING=1 then READY=1, so does
    POST /reload; SIGTERM gives STOPPING=1 and exit code 0
  * the same with the abstract form NOTIFY_SOCKET=@name, ending with SIGINT
  * a zone that cannot load: exit 1, and no READY=1 is ever sent
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import dns.rcode
import json

import harness
import ops_common as oc


def run_cli(binary, argv, timeout=10.0):
    r = subprocess.run([binary] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout,
                       preexec_fn=harness._die_with_parent)
    return r.returncode, r.stdout, r.stderr


def status_fields(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.split()
    except OSError:
        pass
    return out


class Notify:
    """A Unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.address = address

    def env(self):
        a = self.address
        return "@" + a[1:] if a.startswith("\0") else a

    def recv(self, timeout):
        """One datagram as text, or None after `timeout` seconds."""
        self.sock.settimeout(max(0.001, timeout))
        try:
            return self.sock.recv(4096).decode("utf-8", "replace")
        except socket.timeout:
            return None

    def drain(self, timeout=0.2):
        out = []
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(deadline - time.monotonic())
            if m is None:
                return out
            out.append(m)

    def close(self):
        self.sock.close()
        if not self.address.startswith("\0"):
            try:
                os.unlink(self.address)
            except OSError:
                pass


def lines_of(msg):
    return [l for l in (msg or "").split("\n") if l]


def wait_exit(proc, timeout=10.0):
    try:
        return proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


# --------------------------------------------------------------------------

def test_cli(res, binary):
    for arg in ("--version", "-V"):
        rc, out, err = run_cli(binary, [arg])
        res.check(rc == 0 and out == "apexd 0.1.0\n", "%s prints 'apexd 0.1.0'" % arg,
                  "rc %d stdout %r stderr %r" % (rc, out, err))
    rc, out, err = run_cli(binary, ["--help"])
    res.check(rc == 0 and "Usage: apexd" in out and "check" in out, "--help prints the usage",
              "rc %d %r" % (rc, out))
    rc, out, err = run_cli(binary, ["--bogus"])
    res.check(rc == 2 and "unknown argument" in err, "an unknown argument exits 2",
              "rc %d %r" % (rc, err))


def privileged_free_port():
    for p in list(range(990, 600, -7)):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((harness.HOST, p))
            t.bind((harness.HOST, p))
            return p
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    return None


def test_privileges(res, binary, workdir):
    if os.geteuid() != 0:
        print("SKIP privilege drop: needs root (running as uid %d)" % os.geteuid())
        res.ok("privilege drop skipped (not root)")
        return
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("SKIP privilege drop: no user 'nobody'")
        res.ok("privilege drop skipped (no nobody)")
        return
    wd = os.path.join(workdir, "priv")
    os.makedirs(wd)
    os.chmod(workdir, 0o755)
    os.chmod(wd, 0o755)
    zfile = os.path.join(wd, "ops.test.zone")
    shutil.copy(oc.OPS_ZONE[1], zfile)
    os.chmod(zfile, 0o644)
    port = privileged_free_port()
    if port is None:
        res.fail("privilege drop: no free port below 1024 on 127.0.0.1")
        return
    cport = harness.free_port()
    conf = oc.write_config(os.path.join(wd, "apexd.toml"), port, [("ops.test.", zfile)],
                           control_port=cport, threads=2, level="info", user="nobody")
    os.chmod(conf, 0o644)
    # the notify socket must be writable by nobody: systemd's is mode 0777
    nsock = Notify(os.path.join(wd, "notify.sock"))
    os.chmod(nsock.address, 0o777)
    proc = None
    try:
        proc = oc.start(binary, conf, wd, port, "ops.test.", env={"NOTIFY_SOCKET": nsock.env()})
        msg = nsock.recv(5.0)
        res.check(msg is not None and "READY=1" in lines_of(msg),
                  "user=nobody: READY=1 still sent after the switch", repr(msg))
        res.check(True, "user=nobody: listening on privileged port %d" % port)
        want = [str(nobody.pw_uid)] * 4
        wantg = [str(nobody.pw_gid)] * 4
        groups = sorted(str(g) for g in os.getgrouplist("nobody", nobody.pw_gid))
        tasks = sorted(os.listdir("/proc/%d/task" % proc.pid))
        bad = []
        for t in tasks:
            st = status_fields("/proc/%d/task/%s/status" % (proc.pid, t))
            if st.get("Uid") != want or st.get("Gid") != wantg:
                bad.append("task %s: Uid %r Gid %r" % (t, st.get("Uid"), st.get("Gid")))
            if sorted(st.get("Groups", [])) != groups:
                bad.append("task %s: Groups %r (want %r)" % (t, st.get("Groups"), groups))
            if st.get("CapEff") and int(st["CapEff"][0], 16) != 0:
                bad.append("task %s: CapEff %r" % (t, st.get("CapEff")))
        res.check(tasks and not bad,
                  "user=nobody: every thread runs as nobody (4 uids, 4 gids, groups, no caps)",
                  "\n".join(bad))
        st = status_fields("/proc/%d/status" % proc.pid)
        print("user=nobody: Uid %s Gid %s Groups %s (%d threads)"
              % (st.get("Uid"), st.get("Gid"), st.get("Groups"), len(tasks)))
        r = harness.query(port, "www.ops.test.", "A", timeout=2.0)
        res.check(r is not None and r.rcode() == dns.rcode.NOERROR and r.answer,
                  "user=nobody: answers UDP on its port")
        r = harness.query(port, "www.ops.test.", "A", tcp=True, timeout=2.0)
        res.check(r is not None and r.rcode() == dns.rcode.NOERROR and r.answer,
                  "user=nobody: answers TCP on its port")
        res.check("event=privileges_dropped user=nobody uid=%d" % nobody.pw_uid in proc.stderr(),
                  "user=nobody: event=privileges_dropped logged", proc.stderr()[-800:])
        os.kill(proc.pid, signal.SIGHUP)
        ok = False
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            p = oc.get_metrics(cport)
            if p.get("apexd_reloads_total", result="success") + p.get("apexd_reloads_total", result="failure") >= 1:
                ok = p.get("apexd_reloads_total", result="success") == 1
                break
            time.sleep(0.05)
        res.check(ok, "user=nobody: SIGHUP reload succeeds after the switch", proc.stderr()[-800:])
        harness.stop(proc)
        res.check(proc.popen.returncode == 0, "user=nobody: SIGTERM exit code 0",
                  "rc %r" % proc.popen.returncode)
        proc = None
    finally:
        harness.stop(proc)
        nsock.close()

    # an unknown user: exit 1 before serving
    port = harness.free_port()
    conf = oc.write_config(os.path.join(wd, "bad-user.toml"), port, [("ops.test.", zfile)],
                           level="info", user="no-such-user-apexd-test")
    proc = oc.spawn(binary, conf, wd, port, name="apexd-baduser")
    try:
        rc = wait_exit(proc, 10.0)
        res.check(rc == 1, "unknown user: exit 1", "rc %r" % rc)
        res.check("no-such-user-apexd-test" in proc.stderr(), "unknown user: named in the error",
                  proc.stderr()[-500:])
    finally:
        harness.stop(proc)


def readiness_run(res, binary, workdir, tag, address, end_signal):
    wd = os.path.join(workdir, "notify-" + tag)
    os.makedirs(wd)
    port, cport = harness.free_port(), harness.free_port()
    conf = oc.write_config(os.path.join(wd, "apexd.toml"), port, [oc.OPS_ZONE],
                           control_port=cport, threads=2, level="info")
    nsock = Notify(address)
    proc = None
    try:
        t0 = time.monotonic()
        proc = oc.spawn(binary, conf, wd, port, env={"NOTIFY_SOCKET": nsock.env()})
        msg = nsock.recv(10.0)
        took = time.monotonic() - t0
        # the very first query after READY must be answered: no retry
        r = None
        if msg is not None:
            try:
                r = harness.query(port, "www.ops.test.", "A", timeout=1.0)
            except Exception:  # noqa: BLE001
                r = None
        ls = lines_of(msg)
        res.check(msg is not None and "READY=1" in ls, "%s: READY=1 within 10 s" % tag,
                  "got %r after %.1fs; stderr:\n%s" % (msg, took, proc.stderr()[-800:]))
        res.check(any(l.startswith("STATUS=") for l in ls), "%s: STATUS= with READY=1" % tag, repr(msg))
        res.check(r is not None and r.rcode() == dns.rcode.NOERROR and r.answer,
                  "%s: a query sent right after READY=1 is answered" % tag, repr(r))
        print("%s: READY after %.0f ms: %r" % (tag, 1000 * took, msg))
        extra = nsock.drain(0.2)
        res.check(not extra, "%s: nothing else sent after READY=1" % tag, repr(extra))

        os.kill(proc.pid, signal.SIGHUP)
        a, b = nsock.recv(5.0), nsock.recv(5.0)
        res.check("RELOADING=1" in lines_of(a) and "READY=1" in lines_of(b),
                  "%s: SIGHUP -> RELOADING=1 then READY=1" % tag, repr((a, b)))
        st, js, body = oc.post_reload(cport)
        a, b = nsock.recv(5.0), nsock.recv(5.0)
        res.check(st == 200 and "RELOADING=1" in lines_of(a) and "READY=1" in lines_of(b),
                  "%s: POST /reload -> RELOADING=1 then READY=1" % tag, repr((st, a, b)))
        r = harness.query(port, "www.ops.test.", "A", timeout=1.0)
        res.check(r is not None and r.rcode() == dns.rcode.NOERROR, "%s: still answers after reloads" % tag)

        os.kill(proc.pid, end_signal)
        a = nsock.recv(5.0)
        rc = wait_exit(proc, 10.0)
        name = signal.Signals(end_signal).name
        res.check("STOPPING=1" in lines_of(a), "%s: %s -> STOPPING=1" % (tag, name), repr(a))
        res.check(rc == 0, "%s: %s -> exit code 0" % (tag, name),
                  "rc %r; stderr:\n%s" % (rc, proc.stderr()[-800:]))
        res.check("event=stopped" in proc.stderr(), "%s: event=stopped logged" % tag)
        rest = nsock.drain(0.2)
        res.check(not rest, "%s: nothing sent after STOPPING=1" % tag, repr(rest))
    finally:
        harness.stop(proc)
        nsock.close()


def _zone_text(origin, serial):
    return ("$ORIGIN %s\n$TTL 300\n@ IN SOA ns1 h %d 7200 3600 1209600 300\n@ IN NS ns1\n"
            "ns1 IN A 192.0.2.53\nwww IN A 192.0.2.1\n" % (origin, serial))


def test_start_with_broken_zone(res, binary, workdir):
    """One broken zone among many (as Knot and NSD): the server starts and serves the others,
    the broken one answers SERVFAIL with EDE 14, /healthz says degraded and names it, /zones and
    the metrics show it; a fixed file plus SIGHUP brings it in."""
    wd = os.path.join(workdir, "broken-start")
    os.makedirs(wd)
    zones = []
    for i in range(200):
        origin = "z%03d.test." % i
        path = os.path.join(wd, "z%03d.zone" % i)
        with open(path, "w") as f:
            f.write(_zone_text(origin, 1))
        zones.append((origin, path))
    bad = os.path.join(wd, "bad.zone")
    with open(bad, "w") as f:
        f.write("$ORIGIN bad.test.\n$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 1.2.3\n")
    zones.insert(100, ("bad.test.", bad))
    port = harness.free_port()
    cport = harness.free_port()
    conf = oc.write_config(os.path.join(wd, "apexd.toml"), port, zones, control_port=cport, level="info")
    nsock = Notify(os.path.join(wd, "notify.sock"))
    proc = None
    tag = "broken zone at start"
    try:
        proc = oc.spawn(binary, conf, wd, port, env={"NOTIFY_SOCKET": nsock.env()})
        msgs = []
        deadline = time.time() + 10.0
        while time.time() < deadline and not any("READY=1" in lines_of(m) for m in msgs):
            m = nsock.recv(0.5)
            if m:
                msgs.append(m)
        res.check(any("READY=1" in lines_of(m) for m in msgs), "%s: the server starts (READY=1)" % tag, repr(msgs))
        res.check(proc.alive(), "%s: still running" % tag, proc.stderr()[-500:])
        err = proc.stderr()
        res.check("%s:5:" % bad in err and "action=servfail" in err,
                  "%s: file:line logged with action=servfail" % tag, err[-800:])
        good = [harness.query(port, "www.z%03d.test." % i, "A") for i in (0, 99, 100, 199)]
        res.check(all(m is not None and m.rcode() == dns.rcode.NOERROR and m.answer for m in good),
                  "%s: the other zones answer" % tag, repr(good))
        m = harness.query(port, "www.bad.test.", "A")
        ede = [o for o in (m.options if m else []) if o.otype == 15]
        res.check(m is not None and m.rcode() == dns.rcode.SERVFAIL and not m.answer,
                  "%s: the broken zone's names get SERVFAIL" % tag, repr(m))
        res.check(bool(ede) and ede[0].code == 14, "%s: ... with EDE 14 (Not Ready)" % tag, repr(ede))
        m = harness.query(port, "bad.test.", "DS")
        res.check(m is not None and m.rcode() == dns.rcode.SERVFAIL, "%s: its apex DS too" % tag, repr(m))
        m = harness.query(port, "nothing.example.", "A")
        res.check(m is not None and m.rcode() == dns.rcode.REFUSED, "%s: other names still REFUSED" % tag, repr(m))
        st, _, body = oc.http_request(cport, "GET", "/healthz")
        res.check(st == 200 and body.startswith("degraded") and "bad.test." in body and "%s:5:" % bad in body,
                  "%s: /healthz degraded, naming the zone and file:line" % tag, "%r %r" % (st, body))
        st, _, body = oc.http_request(cport, "GET", "/zones")
        listed = json.loads(body) if st == 200 else []
        failed = [z for z in listed if z.get("status") == "failed"]
        res.check(len(listed) == 201 and len(failed) == 1 and failed[0]["origin"] == "bad.test."
                  and "%s:5:" % bad in failed[0]["error"], "%s: /zones lists it as failed" % tag, body[:300])
        metrics = oc.get_metrics(cport)
        res.check(metrics.get("apexd_zones_failed") == 1.0
                  and metrics.get("apexd_zone_load_failed", zone="bad.test.") == 1.0
                  and metrics.get("apexd_zones_loaded") == 200.0,
                  "%s: apexd_zones_failed 1, apexd_zone_load_failed{zone} 1, 200 loaded" % tag,
                  repr({k: v for k, v in metrics.samples.items() if k[0].startswith("apexd_zones")}))
        with open(bad, "w") as f:
            f.write(_zone_text("bad.test.", 7))
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.time() + 10.0
        m = None
        while time.time() < deadline:
            m = harness.query(port, "www.bad.test.", "A")
            if m is not None and m.rcode() == dns.rcode.NOERROR:
                break
            time.sleep(0.05)
        res.check(m is not None and m.rcode() == dns.rcode.NOERROR and m.answer,
                  "%s: fixed file + SIGHUP brings it in" % tag, repr(m))
        st, _, body = oc.http_request(cport, "GET", "/healthz")
        res.check(st == 200 and body == "ok\n", "%s: /healthz ok again" % tag, repr(body))
        metrics = oc.get_metrics(cport)
        res.check(metrics.get("apexd_zones_failed", default=-1.0) == 0.0, "%s: apexd_zones_failed 0" % tag)
    finally:
        harness.stop(proc)
        nsock.close()


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    test_cli(res, binary)
    test_privileges(res, binary, workdir)
    readiness_run(res, binary, workdir, "path", os.path.join(workdir, "notify.sock"), signal.SIGTERM)
    readiness_run(res, binary, workdir, "abstract",
                  "\0apexd-ops-test-%d-%d" % (os.getpid(), int(time.time())), signal.SIGINT)
    test_start_with_broken_zone(res, binary, workdir)


if __name__ == "__main__":
    harness.main(body, description=__doc__)
