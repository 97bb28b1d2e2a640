"""Shared helpers for apexd integration tests.

Only ever talks to 127.0.0.1.  Every process started here is registered and
stopped by PID at exit (atexit) or explicitly with stop().  Every wait loop is
bounded in time.

Run with /usr/bin/python3 (needs python3-dnspython).
"""

import argparse
import atexit
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import dns.flags
import dns.message
import dns.rcode

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
ZONES_DIR = os.path.join(HERE, "zones")
KNOTD = "/usr/sbin/knotd"

# The zones shipped in zones/, as (origin, absolute path).  First one is the
# one used for readiness checks.
DEFAULT_ZONES = [
    ("diff.test.", os.path.join(ZONES_DIR, "diff.test.zone")),
    ("child.diff.test.", os.path.join(ZONES_DIR, "child.diff.test.zone")),
    ("other.test.", os.path.join(ZONES_DIR, "other.test.zone")),
]

_procs = []  # every Proc started, stopped at exit


# --------------------------------------------------------------------------
# ports and processes
# --------------------------------------------------------------------------

def free_port(tries=50):
    """A port on 127.0.0.1 that is free for both UDP and TCP right now."""
    for _ in range(tries):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((HOST, 0))
            port = u.getsockname()[1]
            try:
                t.bind((HOST, port))
            except OSError:
                continue
            return port
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port found")


class Proc:
    def __init__(self, name, popen, port, workdir, stderr_path, stdout_path,
                 config_path):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.port = port
        self.workdir = workdir
        self.stderr_path = stderr_path
        self.stdout_path = stdout_path
        self.config_path = config_path

    def alive(self):
        return self.popen.poll() is None

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __repr__(self):
        return "<%s pid=%d port=%d>" % (self.name, self.pid, self.port)


def stop(proc, timeout=5.0):
    """Stop a Proc by its PID: SIGTERM, wait, then SIGKILL."""
    if proc is None:
        return
    p = proc.popen
    if p.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
    if proc in _procs:
        _procs.remove(proc)


def _stop_all():
    for p in list(_procs):
        try:
            stop(p)
        except Exception:
            pass


atexit.register(_stop_all)


def _sig_exit(signum, frame):
    _stop_all()
    sys.exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_s, _sig_exit)
    except (ValueError, OSError):
        pass


def _die_with_parent():
    """Run in the child before exec: get SIGKILL when the test process dies
    (even by SIGKILL, e.g. a CTest timeout), so no server is left behind."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort
        pass


def _spawn(name, argv, workdir, port, config_path):
    errp = os.path.join(workdir, name + ".stderr")
    outp = os.path.join(workdir, name + ".stdout")
    with open(errp, "wb") as ef, open(outp, "wb") as of:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=of,
                                 stderr=ef, cwd=workdir,
                                 preexec_fn=_die_with_parent)
    proc = Proc(name, popen, port, workdir, errp, outp, config_path)
    _procs.append(proc)
    return proc


def wait_ready(proc, origins, timeout=10.0):
    """Poll with SOA queries for each origin until answered NOERROR."""
    deadline = time.monotonic() + timeout
    pending = list(origins)
    last = None
    while pending and time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError("%s exited with %s before ready; stderr:\n%s"
                               % (proc.name, proc.popen.returncode,
                                  proc.stderr()))
        try:
            r = query(proc.port, pending[0], "SOA", timeout=0.3)
            last = r
            if r is not None and r.rcode() == dns.rcode.NOERROR and r.answer:
                pending.pop(0)
                continue
        except Exception as e:  # noqa: BLE001 - keep polling
            last = e
        time.sleep(0.05)
    if pending:
        raise RuntimeError("%s not ready after %.0fs (waiting for %s; last=%r);"
                           " stderr:\n%s" % (proc.name, timeout, pending[0],
                                             last, proc.stderr()))


def write_apexd_config(zones, workdir, port, level="warn", extra=""):
    path = os.path.join(workdir, "apexd.toml")
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, port), "",
             "[log]", 'level = "%s"' % level, ""]
    for origin, zpath in zones:
        lines += ["[[zone]]", 'origin = "%s"' % origin,
                  'file = "%s"' % os.path.abspath(zpath), ""]
    with open(path, "w") as f:
        f.write("\n".join(lines) + extra)
    return path


def start_apexd(binary, zones=None, workdir=None, port=None, level="warn",
                timeout=10.0, ready_origins=None):
    """Write a config for `zones`, start apexd, wait until it answers."""
    zones = zones or DEFAULT_ZONES
    workdir = workdir or tempfile.mkdtemp(prefix="apexd-it-")
    os.makedirs(workdir, exist_ok=True)
    port = port or free_port()
    conf = write_apexd_config(zones, workdir, port, level)
    proc = _spawn("apexd", [os.path.abspath(binary), "--config", conf],
                  workdir, port, conf)
    try:
        wait_ready(proc, ready_origins or [zones[0][0]], timeout)
    except Exception:
        stop(proc)
        raise
    return proc


def start_apexd_config(binary, config_path, port, ready_origin, workdir,
                       timeout=10.0):
    """Start apexd on an existing config file (listening on `port`)."""
    proc = _spawn("apexd", [os.path.abspath(binary), "--config", config_path],
                  workdir, port, config_path)
    try:
        wait_ready(proc, [ready_origin], timeout)
    except Exception:
        stop(proc)
        raise
    return proc


def start_knotd(zones=None, workdir=None, port=None, timeout=10.0):
    """Write a knot.conf in workdir for `zones`, start knotd, wait ready
    (every zone must answer its SOA)."""
    zones = zones or DEFAULT_ZONES
    workdir = workdir or tempfile.mkdtemp(prefix="knotd-it-")
    os.makedirs(workdir, exist_ok=True)
    port = port or free_port()
    kdir = os.path.join(workdir, "knot")
    for d in ("run", "db", "storage"):
        os.makedirs(os.path.join(kdir, d), exist_ok=True)
    conf = os.path.join(kdir, "knot.conf")
    text = [
        "server:",
        "    listen: %s@%d" % (HOST, port),
        "    rundir: %s" % os.path.join(kdir, "run"),
        "",
        "database:",
        "    storage: %s" % os.path.join(kdir, "db"),
        "",
        "log:",
        "  - target: stderr",
        "    any: warning",
        "",
        "template:",
        "  - id: default",
        "    storage: %s" % os.path.join(kdir, "storage"),
        "    semantic-checks: off",
        "    zonefile-sync: -1",
        "    zonefile-load: whole",
        "    journal-content: none",
        "",
        "zone:",
    ]
    for origin, zpath in zones:
        text += ["  - domain: %s" % origin,
                 "    file: %s" % os.path.abspath(zpath)]
    with open(conf, "w") as f:
        f.write("\n".join(text) + "\n")
    proc = _spawn("knotd", [KNOTD, "-c", conf], workdir, port, conf)
    try:
        wait_ready(proc, [z[0] for z in zones], timeout)
    except Exception:
        stop(proc)
        raise
    return proc


# --------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------

def make_query(qname, qtype, qclass="IN", edns=True, payload=1232, do=False,
               rd=False, qid=None, edns_version=0, options=None):
    flags = dns.flags.RD if rd else 0
    kw = dict(flags=flags)
    if qid is not None:
        kw["id"] = qid
    if edns:
        kw.update(use_edns=edns_version, payload=payload, want_dnssec=do,
                  options=options)
    else:
        kw.update(use_edns=False)
    return dns.message.make_query(qname, qtype, qclass, **kw)


def send_udp_raw(port, data, timeout=1.0, bufsize=65535):
    """Send one datagram, return the reply bytes or None on timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.send(data)
        try:
            return s.recv(bufsize)
        except (socket.timeout, ConnectionRefusedError):
            return None
    finally:
        s.close()


def _recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def send_tcp_raw(port, data, timeout=2.0, frame=True):
    """Send data over a new TCP connection (length-prefixed when frame=True),
    return one reply message (without length) or None (closed/timeout)."""
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.sendall(struct.pack("!H", len(data)) + data if frame else data)
        hdr = _recv_exact(s, 2, deadline)
        if hdr is None:
            return None
        (n,) = struct.unpack("!H", hdr)
        return _recv_exact(s, n, deadline)
    finally:
        s.close()


def parse(wire):
    """Parse a reply; returns a Message or raises."""
    return dns.message.from_wire(wire, raise_on_truncation=False)


def parse_lenient(wire):
    """Parse a reply that may carry an opcode dnspython does not handle
    (unassigned opcodes, UPDATE, ...): on failure the opcode bits are
    cleared and the parse retried, so the rest of the message is still
    checked for well-formedness.  Returns (message, opcode) or raises."""
    opcode = (wire[2] >> 3) & 0xF if len(wire) > 2 else 0
    try:
        return parse(wire), opcode
    except Exception:
        if opcode == 0 or len(wire) < 12:
            raise
        patched = bytearray(wire)
        patched[2] &= 0x87
        return parse(bytes(patched)), opcode


def query(port, qname, qtype, tcp=False, edns=True, payload=1232, do=False,
          rd=False, qclass="IN", timeout=2.0, qid=None, edns_version=0,
          raw=False):
    """Send one query to 127.0.0.1:port.  Returns the parsed Message (with
    attribute .wire holding the bytes), or None when no reply came.
    With raw=True returns (query_message, reply_bytes_or_None)."""
    q = make_query(qname, qtype, qclass, edns, payload, do, rd, qid,
                   edns_version)
    wire = q.to_wire()
    if tcp:
        rep = send_tcp_raw(port, wire, timeout)
    else:
        rep = send_udp_raw(port, wire, timeout)
    if raw:
        return q, rep
    if rep is None:
        return None
    m = parse(rep)
    m.wire = rep
    return m


def ok_with(port, name="diff.test.", qtype="SOA", timeout=1.0):
    """True when the server still answers a normal query with NOERROR."""
    try:
        r = query(port, name, qtype, timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    return r is not None and r.rcode() == dns.rcode.NOERROR


# --------------------------------------------------------------------------
# results and main
# --------------------------------------------------------------------------

class Results:
    def __init__(self, verbose=False):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.verbose = verbose

    def ok(self, name):
        self.passed += 1
        if self.verbose:
            print("PASS %s" % name)

    def fail(self, name, detail=""):
        self.failed += 1
        self.failures.append(name)
        print("FAIL %s%s" % (name, ("\n" + detail.rstrip()) if detail else ""))
        sys.stdout.flush()

    def check(self, cond, name, detail=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, detail)
        return cond

    def summary_line(self):
        return "%d passed, %d failed" % (self.passed, self.failed)


def base_parser(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--apexd", help="path to the apexd binary")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary work directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(body, parser=None, description=""):
    """Parse arguments, make a work dir, run body(args, results, workdir),
    stop every process, print 'N passed, N failed' and exit 1 on failure."""
    parser = parser or base_parser(description)
    args = parser.parse_args()
    res = Results(verbose=getattr(args, "verbose", False))
    workdir = tempfile.mkdtemp(prefix="apexd-it-")
    try:
        body(args, res, workdir)
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - report as a failure
        res.fail("harness: unexpected exception", traceback.format_exc())
    finally:
        _stop_all()
        if getattr(args, "keep", False):
            print("work dir kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if res.passed + res.failed == 0:
        res.fail("harness: no test ran")
    print(res.summary_line())
    sys.stdout.flush()
    sys.exit(1 if res.failed else 0)


def require_apexd(args, res):
    """Validate --apexd; records a failure and returns None if unusable."""
    b = getattr(args, "apexd", None)
    if not b:
        res.fail("harness: --apexd PATH is required")
        return None
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        res.fail("harness: apexd binary not found or not executable: %s" % b)
        return None
    return os.path.abspath(b)


def tail(text, n=25):
    """The last `n` lines of `text`, indented: for failure details."""
    return "\n".join("    " + l for l in text.rstrip().splitlines()[-n:])


def distinct_ports(n, avoid=()):
    """`n` different free ports, none in `avoid`."""
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in ports and p not in avoid:
            ports.append(p)
    return ports
