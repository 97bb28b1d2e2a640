"""Helpers for integration tests that run apexd next to real peers (knotd as the
authoritative server of a flattening target, unbound as apexd's upstream resolver).

Builds on harness.py: every process is started through harness's spawner, so it
is registered, stopped by PID at exit and killed if the test process dies.
Only 127.0.0.1 is ever used, and every wait is bounded in time.
"""

import os
import selectors
import socket
import subprocess
import time

import dns.edns
import dns.message
import dns.rcode

import harness

UNBOUND = "/usr/sbin/unbound"
UNBOUND_CONTROL = "/usr/sbin/unbound-control"
KNOTC = "/usr/sbin/knotc"
EDE_OPTION = 15  # RFC 8914 EDNS option code


# --------------------------------------------------------------------------
# unbound
# --------------------------------------------------------------------------

def write_unbound_conf(workdir, port, stubs, control_port=None, extra=()):
    """An unbound.conf that resolves only through `stubs` ({zone: port of an
    authoritative server on 127.0.0.1}).  The root itself is stubbed to the
    first of them, so no query can ever leave 127.0.0.1."""
    udir = os.path.join(workdir, "unbound")
    os.makedirs(udir, exist_ok=True)
    conf = os.path.join(udir, "unbound.conf")
    lines = [
        "server:",
        "    interface: %s" % harness.HOST,
        "    port: %d" % port,
        "    do-ip6: no",
        "    do-not-query-localhost: no",
        '    username: ""',
        '    chroot: ""',
        '    directory: "%s"' % udir,
        '    pidfile: "%s"' % os.path.join(udir, "unbound.pid"),
        "    use-syslog: no",
        '    logfile: ""',
        "    verbosity: 0",
        '    local-zone: "test." nodefault',
        '    module-config: "iterator"',
        "    access-control: 127.0.0.0/8 allow",
    ]
    lines += ["    %s" % e for e in extra]
    if control_port:
        lines += [
            "remote-control:",
            "    control-enable: yes",
            "    control-interface: %s" % harness.HOST,
            "    control-port: %d" % control_port,
            "    control-use-cert: no",
        ]
    first = None
    for zone, zport in stubs.items():
        first = first or zport
        lines += ["stub-zone:", '    name: "%s"' % zone,
                  "    stub-addr: %s@%d" % (harness.HOST, zport)]
    if "." not in stubs and first:
        # Containment: anything else goes to the local authoritative server
        # (which refuses it), never to the real root servers.
        lines += ["stub-zone:", '    name: "."',
                  "    stub-addr: %s@%d" % (harness.HOST, first)]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


def start_unbound(workdir, stubs, port=None, control_port=None, extra=(),
                  ready_name="platform.test.", timeout=10.0):
    """Start `unbound -d -c conf` (foreground: we own its PID) and wait until it
    answers an SOA query for ready_name.  Returns a harness Proc."""
    port = port or harness.free_port()
    conf = write_unbound_conf(workdir, port, stubs, control_port, extra)
    proc = harness._spawn("unbound", [UNBOUND, "-d", "-c", conf], workdir,
                          port, conf)
    deadline = time.monotonic() + timeout
    last = None
    try:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError("unbound exited with %s; stderr:\n%s"
                                   % (proc.popen.returncode, proc.stderr()))
            try:
                r = harness.query(port, ready_name, "SOA", rd=True,
                                  timeout=0.5)
                last = r
                if r is not None and r.rcode() == dns.rcode.NOERROR \
                        and r.answer:
                    return proc
            except Exception as e:  # noqa: BLE001 - keep polling
                last = e
            time.sleep(0.05)
        raise RuntimeError("unbound not ready after %.0fs (last=%r); stderr:\n%s"
                           % (timeout, last, proc.stderr()))
    except Exception:
        harness.stop(proc)
        raise


def unbound_stats(proc, timeout=5.0):
    """unbound-control stats_noreset as a dict, or None when unavailable."""
    try:
        r = subprocess.run([UNBOUND_CONTROL, "-c", proc.config_path,
                            "stats_noreset"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            pass
    return out


# --------------------------------------------------------------------------
# knotd
# --------------------------------------------------------------------------

def knot_conf_path(knot_proc):
    return knot_proc.config_path


def knotc_reload(knot_proc, zone, timeout=5.0):
    """`knotc -c knot.conf zone-reload ZONE`; returns (rc, output)."""
    try:
        r = subprocess.run([KNOTC, "-c", knot_proc.config_path, "-t", "3",
                            "zone-reload", zone], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        return r.returncode, r.stdout
    except subprocess.TimeoutExpired as e:
        return -1, "TIMEOUT %s" % (e.stdout or "")


def wait_answer(port, qname, qtype, predicate, timeout=5.0, interval=0.1,
                rd=False):
    """Poll until predicate(reply) is true; returns the last reply (or None)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = harness.query(port, qname, qtype, rd=rd, timeout=0.5)
            if last is not None and predicate(last):
                return last
        except Exception:  # noqa: BLE001 - keep polling
            pass
        time.sleep(interval)
    return last


# --------------------------------------------------------------------------
# apexd configuration and `apexd check`
# --------------------------------------------------------------------------

def toml_list(items):
    return "[" + ", ".join('"%s"' % i for i in items) + "]"


def write_flatten_config(path, port, zones, upstreams=(), ipv4=(), ipv6=(),
                         proxy_ttl=300, threads=1, resolver=None,
                         level="warn"):
    """zones: list of dicts with origin, file and optional flatten, proxied.
    resolver: extra [resolver] keys (dict of key -> TOML literal text)."""
    lines = ["[server]", "listen = %s" % toml_list(["%s:%d" % (harness.HOST, port)]),
             "threads = %d" % threads, "",
             "[log]", 'level = "%s"' % level, "",
             "[proxy]"]
    if ipv4:
        lines.append("ipv4 = %s" % toml_list(ipv4))
    if ipv6:
        lines.append("ipv6 = %s" % toml_list(ipv6))
    lines += ["ttl = %d" % proxy_ttl, ""]
    if upstreams:
        lines += ["[resolver]", "upstreams = %s" % toml_list(upstreams)]
        for k, v in (resolver or {}).items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    for z in zones:
        lines += ["[[zone]]", 'origin = "%s"' % z["origin"],
                  'file = "%s"' % os.path.abspath(z["file"])]
        if "flatten" in z:
            lines.append('flatten = "%s"' % z["flatten"])
        if "proxied" in z:
            lines.append("proxied = %s" % toml_list(z["proxied"]))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def apexd_check(binary, config, timeout=20.0):
    """Run `apexd check --config FILE`; returns (rc, stdout, stderr)."""
    try:
        r = subprocess.run([binary, "check", "--config", config],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout,
                           preexec_fn=harness._die_with_parent)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        return -1, e.stdout or "", "TIMEOUT"


# --------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------

def timed_query(port, qname, qtype, timeout=4.0, **kw):
    """(reply or None, seconds it took)."""
    t = time.monotonic()
    r = harness.query(port, qname, qtype, timeout=timeout, **kw)
    return r, time.monotonic() - t


def ede_options(msg):
    """[(info_code, text)] of every EDE option (EDNS option 15) in msg."""
    out = []
    if msg is None:
        return out
    for o in msg.options or ():
        if int(o.otype) != EDE_OPTION:
            continue
        code = getattr(o, "code", None)
        text = getattr(o, "text", None)
        if code is None:  # a GenericOption: decode by hand
            data = getattr(o, "data", b"")
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            text = data[2:].decode("utf-8", "replace") if len(data) > 2 else None
        out.append((int(code) if code is not None else None, text))
    return out


def silent_udp_socket():
    """A UDP socket on 127.0.0.1 that is bound but never read: queries sent to
    it are never answered.  Returns (socket, port); close the socket when done."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((harness.HOST, 0))
    return s, s.getsockname()[1]


def concurrent_udp(port, qname, qtype, n, timeout=4.0):
    """Send n identical queries (each from its own socket, distinct IDs) as
    close together as possible; returns a list of n replies (Message or None)
    and the seconds until the last reply came."""
    sel = selectors.DefaultSelector()
    socks = []
    replies = [None] * n
    start = time.monotonic()
    try:
        wires = [harness.make_query(qname, qtype, qid=(1000 + i)).to_wire()
                 for i in range(n)]
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            s.connect((harness.HOST, port))
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, i)
        start = time.monotonic()
        for i, s in enumerate(socks):
            s.send(wires[i])
        deadline = start + timeout
        pending = n
        last = start
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                i = key.data
                try:
                    data = key.fileobj.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                try:
                    m = harness.parse(data)
                    m.wire = data
                except Exception:  # noqa: BLE001 - keep as unparsable
                    m = data
                if replies[i] is None:
                    pending -= 1
                    last = time.monotonic()
                replies[i] = m
                sel.unregister(key.fileobj)
        return replies, last - start
    finally:
        sel.close()
        for s in socks:
            s.close()
