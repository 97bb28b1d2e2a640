#!/usr/bin/python3
"""Shared helpers for the ops_*.py integration tests (operational features of
apexd: worker threads, /metrics and the control endpoint, reload, process
handling, packaging).

Builds on harness.py: processes are registered with harness (stopped by PID at
exit, SIGKILLed if the test dies), every wait is bounded in time, and only
127.0.0.1 is used.

Run directly, it checks its own Prometheus parser on a few fixed inputs:

    /usr/bin/python3 tests/integration/ops_common.py [--apexd PATH]
"""

import http.client as httpclient
import json
import os
import re
import subprocess

import harness

HOST = harness.HOST
OPS_ZONES = os.path.join(harness.ZONES_DIR, "ops")
OPS_ZONE = ("ops.test.", os.path.join(OPS_ZONES, "ops.test.zone"))
OPS_RECORDS = 18  # RRs in ops.test.zone
OPS_SERIAL = 2026010101

METRIC_NAME_RE = re.compile(r"^apexd_[a-z_]+$")
_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


# --------------------------------------------------------------------------
# configuration and processes
# --------------------------------------------------------------------------

def write_config(path, port, zones, control_port=None, threads=None,
                 level="info", log_queries=None, log_file=None, user=None,
                 listen=None):
    """An apexd.toml; zones is a list of (origin, file)."""
    listen = listen or ["%s:%d" % (HOST, port)]
    lines = ["[server]",
             "listen = [%s]" % ", ".join('"%s"' % a for a in listen)]
    if threads is not None:
        lines.append("threads = %d" % threads)
    if user is not None:
        lines.append('user = "%s"' % user)
    lines += ["", "[log]", 'level = "%s"' % level]
    if log_queries is not None:
        lines.append("queries = %s" % ("true" if log_queries else "false"))
    if log_file is not None:
        lines.append('file = "%s"' % log_file)
    lines.append("")
    if control_port:
        lines += ["[control]", 'listen = "%s:%d"' % (HOST, control_port), ""]
    for origin, zfile in zones:
        lines += ["[[zone]]", 'origin = "%s"' % origin,
                  'file = "%s"' % os.path.abspath(zfile), ""]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)
    return path


def spawn(binary, config, workdir, port, name="apexd", env=None, args=None):
    """Start apexd (registered with harness, so stopped at exit whatever
    happens); the caller still stops it by PID with harness.stop()."""
    errp = os.path.join(workdir, name + ".stderr")
    outp = os.path.join(workdir, name + ".stdout")
    full_env = dict(os.environ)
    full_env.pop("NOTIFY_SOCKET", None)
    if env:
        full_env.update(env)
    argv = [os.path.abspath(binary)] + (args or ["--config", config])
    with open(errp, "wb") as ef, open(outp, "wb") as of:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=of,
                                 stderr=ef, cwd=workdir, env=full_env,
                                 preexec_fn=harness._die_with_parent)
    proc = harness.Proc(name, popen, port, workdir, errp, outp, config)
    harness._procs.append(proc)
    return proc


def start(binary, config, workdir, port, ready_origin, env=None, name="apexd",
          timeout=10.0):
    proc = spawn(binary, config, workdir, port, name=name, env=env)
    try:
        harness.wait_ready(proc, [ready_origin], timeout)
    except Exception:
        harness.stop(proc)
        raise
    return proc


def read_text(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# --------------------------------------------------------------------------
# HTTP control endpoint
# --------------------------------------------------------------------------

def http_request(port, method, path, body=None, timeout=10.0):
    """(status, headers dict with lower-case keys, body text)."""
    c = httpclient.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def get_metrics(port, timeout=5.0):
    st, _, body = http_request(port, "GET", "/metrics", timeout=timeout)
    if st != 200:
        raise RuntimeError("GET /metrics -> %d" % st)
    return parse_prom(body)


def post_reload(port, timeout=30.0):
    """(status, parsed JSON or None, body)."""
    st, _, body = http_request(port, "POST", "/reload", timeout=timeout)
    try:
        js = json.loads(body)
    except ValueError:
        js = None
    return st, js, body


# --------------------------------------------------------------------------
# Prometheus text format
# --------------------------------------------------------------------------

class Prom:
    """Parsed exposition text: samples {(name, ((k, v), ...)): value},
    help {family: text}, type {family: type}, errors [str]."""

    def __init__(self):
        self.samples = {}
        self.help = {}
        self.type = {}
        self.errors = []
        self.order = []  # sample names, in order

    def get(self, name, default=0.0, **labels):
        key = (name, tuple(sorted(labels.items())))
        return self.samples.get(key, default)

    def sum(self, name, **match):
        """Sum of every sample of `name` whose labels include `match`."""
        total = 0.0
        for (n, labels), v in self.samples.items():
            if n != name:
                continue
            d = dict(labels)
            if all(d.get(k) == v2 for k, v2 in match.items()):
                total += v
        return total

    def series(self, name):
        return {labels: v for (n, labels), v in self.samples.items()
                if n == name}


def parse_labels(text):
    out = []
    pos = 0
    while pos < len(text):
        m = _LABEL_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError("bad labels %r" % text)
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return tuple(sorted(out))


def parse_prom(text):
    p = Prom()
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "HELP":
                if parts[2] in p.help:
                    p.errors.append("line %d: second HELP for %s" % (i, parts[2]))
                p.help[parts[2]] = parts[3] if len(parts) > 3 else ""
            elif len(parts) >= 4 and parts[1] == "TYPE":
                if parts[2] in p.type:
                    p.errors.append("line %d: second TYPE for %s" % (i, parts[2]))
                p.type[parts[2]] = parts[3].strip()
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            p.errors.append("line %d: not a sample: %r" % (i, line))
            continue
        name = m.group(1)
        try:
            labels = parse_labels(m.group(3)) if m.group(3) else ()
            value = float(m.group(4))
        except ValueError as e:
            p.errors.append("line %d: %s" % (i, e))
            continue
        key = (name, labels)
        if key in p.samples:
            p.errors.append("line %d: duplicate sample %s%s" % (i, name, labels))
        p.samples[key] = value
        p.order.append(name)
    return p


def family_of(sample_name, types):
    """The metric family a sample belongs to (summary/histogram suffixes)."""
    if sample_name in types:
        return sample_name
    for suf in ("_sum", "_count", "_bucket"):
        if sample_name.endswith(suf) and sample_name[:-len(suf)] in types:
            return sample_name[:-len(suf)]
    return None


# --------------------------------------------------------------------------
# self-test
# --------------------------------------------------------------------------

def _self_test(args, res, workdir):
    text = ('# HELP apexd_x_total X things.\n# TYPE apexd_x_total counter\n'
            'apexd_x_total{a="1",b="two"} 3\napexd_x_total{a="2",b="x\\"y"} 4.5\n'
            '# HELP apexd_s summary\n# TYPE apexd_s summary\n'
            'apexd_s_sum 1.25\napexd_s_count 7\n')
    p = parse_prom(text)
    res.check(not p.errors, "prom parser: no errors", repr(p.errors))
    res.check(p.get("apexd_x_total", a="1", b="two") == 3.0, "prom parser: labels")
    res.check(p.get("apexd_x_total", a="2", b='x\\"y') == 4.5, "prom parser: escaped label")
    res.check(p.sum("apexd_x_total") == 7.5, "prom parser: sum")
    res.check(family_of("apexd_s_count", p.type) == "apexd_s", "prom parser: summary family")
    bad = parse_prom("apexd_y{a=1} 2\n")
    res.check(bool(bad.errors), "prom parser: rejects unquoted label")


if __name__ == "__main__":
    harness.main(_self_test, description="ops_common self-test")
