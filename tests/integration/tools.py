#!/usr/bin/python3
"""apexd with real DNS tools: dig (BIND 9) and kdig (Knot).

    /usr/bin/python3 tests/integration/tools.py --apexd build/apexd
    /usr/bin/python3 tests/integration/tools.py --knot   # same checks vs knotd

Each check runs the tool against 127.0.0.1 only, with +time/+tries bounds
and a subprocess timeout, and looks for the expected flags, status, counts
and records in its text output.
"""

import os
import re
import shutil
import subprocess

import harness

DIG = shutil.which("dig") or "/usr/bin/dig"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"


def run(argv, timeout=20):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        return -1, "TIMEOUT\n%s" % (e.stdout or "")


def dig(port, *args):
    return run([DIG, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1"]
               + list(args))


def kdig(port, *args):
    return run([KDIG, "@127.0.0.1", "-p", str(port), "+time=2", "+retry=0"]
               + list(args))


# ---- dig output parsing ---------------------------------------------------

def dig_header(out):
    m = re.search(r"status: (\w+), id: \d+\s*\n;; flags:([^;]*); QUERY: (\d+), "
                  r"ANSWER: (\d+), AUTHORITY: (\d+), ADDITIONAL: (\d+)", out)
    if not m:
        return None
    return dict(status=m.group(1), flags=m.group(2).split(),
                counts=tuple(int(m.group(i)) for i in range(3, 7)))


def kdig_header(out):
    m = re.search(r"status: (\w+); id: \d+\s*\n;; Flags:([^;]*); QUERY: (\d+); "
                  r"ANSWER: (\d+); AUTHORITY: (\d+); ADDITIONAL: (\d+)", out)
    if not m:
        return None
    return dict(status=m.group(1), flags=m.group(2).split(),
                counts=tuple(int(m.group(i)) for i in range(3, 7)))


def section(out, name):
    """Lines of a dig/kdig section (';; ANSWER SECTION:' ... blank line)."""
    m = re.search(r";; %s SECTION:\n(.*?)(?:\n\n|\Z)" % name, out, re.S)
    return m.group(1).splitlines() if m else []


class Checker:
    def __init__(self, res):
        self.res = res

    def header(self, label, out, hdr, status=None, has=(), lacks=(),
               counts=None, contains=(), regex=()):
        problems = []
        if hdr is None:
            problems.append("no header found in output")
        else:
            if status and hdr["status"] != status:
                problems.append("status %s, expected %s" % (hdr["status"],
                                                           status))
            for f in has:
                if f not in hdr["flags"]:
                    problems.append("flag %r missing" % f)
            for f in lacks:
                if f in hdr["flags"]:
                    problems.append("flag %r unexpectedly set" % f)
            if counts is not None:
                for i, (want, got) in enumerate(zip(counts, hdr["counts"])):
                    if want is not None and want != got:
                        problems.append("%s count %d, expected %d" % (
                            ("QUERY", "ANSWER", "AUTHORITY",
                             "ADDITIONAL")[i], got, want))
        for c in contains:
            if c not in out:
                problems.append("output lacks %r" % c)
        for r in regex:
            if not re.search(r, out, re.M):
                problems.append("output does not match /%s/" % r)
        self.res.check(not problems, label,
                       "; ".join(problems) + "\n--- output:\n" + out)


def checks(res, port):
    c = Checker(res)
    p = port

    # --- dig, basic -------------------------------------------------------
    rc, out = dig(p, "diff.test.", "SOA", "+norec")
    c.header("dig SOA +norec: NOERROR aa", out, dig_header(out), "NOERROR",
             has=("qr", "aa"), lacks=("rd", "tc", "ra"), counts=(1, 1, 0, 1),
             regex=(r"^diff\.test\.\s+3600\s+IN\s+SOA\s+ns1\.diff\.test\. "
                    r"hostmaster\.diff\.test\. 2024010101 7200 3600 1209600 300$",
                    r"SERVER: 127\.0\.0\.1#\d+\(127\.0\.0\.1\) \(UDP\)"))
    rc, out = dig(p, "diff.test.", "SOA", "+norec", "+tcp")
    c.header("dig SOA +norec +tcp: NOERROR aa over TCP", out, dig_header(out),
             "NOERROR", has=("qr", "aa"), counts=(1, 1, 0, 1),
             regex=(r"\(TCP\)",))
    rc, out = dig(p, "diff.test.", "SOA", "+norec", "+dnssec")
    c.header("dig SOA +dnssec: DO bit echoed, NOERROR aa", out,
             dig_header(out), "NOERROR", has=("qr", "aa"),
             counts=(1, 1, 0, 1),
             regex=(r"EDNS: version: 0, flags: do; udp: 1232",))
    rc, out = dig(p, "diff.test.", "SOA")  # default: rd, cookie
    c.header("dig SOA with defaults (RD, COOKIE): NOERROR aa rd, no ra",
             out, dig_header(out), "NOERROR", has=("qr", "aa", "rd"),
             lacks=("ra",), counts=(1, 1, 0, 1))
    res.check("COOKIE:" not in out,
              "dig SOA with COOKIE: option ignored (no cookie echoed, as knotd"
              " without the cookies module)", out)
    rc, out = dig(p, "www.diff.test.", "A", "+norec", "+noedns")
    c.header("dig A +noedns: no OPT in reply", out, dig_header(out),
             "NOERROR", has=("aa",), counts=(1, 1, 0, 0),
             regex=(r"^www\.diff\.test\.\s+3600\s+IN\s+A\s+192\.0\.2\.80$",))
    res.check("OPT PSEUDOSECTION" not in out,
              "dig A +noedns: reply has no OPT pseudosection", out)

    # --- status codes -----------------------------------------------------
    rc, out = dig(p, "nx.diff.test.", "A", "+norec")
    c.header("dig NXDOMAIN: aa, SOA in authority with TTL=MINIMUM (300)",
             out, dig_header(out), "NXDOMAIN", has=("aa",),
             counts=(1, 0, 1, 1),
             regex=(r"^diff\.test\.\s+300\s+IN\s+SOA\s",))
    rc, out = dig(p, "nx.other.test.", "A", "+norec")
    c.header("dig NXDOMAIN other.test.: negative TTL = SOA TTL (60)", out,
             dig_header(out), "NXDOMAIN", has=("aa",), counts=(1, 0, 1, 1),
             regex=(r"^other\.test\.\s+60\s+IN\s+SOA\s",))
    rc, out = dig(p, "www.diff.test.", "TXT", "+norec")
    c.header("dig NODATA: NOERROR aa, empty answer, SOA in authority", out,
             dig_header(out), "NOERROR", has=("aa",), counts=(1, 0, 1, 1))
    rc, out = dig(p, "example.org.", "A", "+norec")
    c.header("dig name in no zone: REFUSED without aa", out, dig_header(out),
             "REFUSED", lacks=("aa",), counts=(1, 0, 0, None))
    rc, out = dig(p, "host.sub.diff.test.", "A", "+norec")
    c.header("dig below a delegation: referral (no aa, NS + glue)", out,
             dig_header(out), "NOERROR", lacks=("aa",), counts=(1, 0, 2, 3),
             regex=(r"^sub\.diff\.test\.\s+3600\s+IN\s+NS\s+ns\.sub\.diff\.test\.$",
                    r"^ns\.sub\.diff\.test\.\s+3600\s+IN\s+A\s+192\.0\.2\.53$"))
    rc, out = dig(p, "c1.diff.test.", "A", "+norec")
    c.header("dig CNAME chain c1->c2->c3->www followed", out, dig_header(out),
             "NOERROR", has=("aa",), counts=(1, 4, 0, 1),
             regex=(r"^www\.diff\.test\.\s+3600\s+IN\s+A\s+192\.0\.2\.80$",))
    rc, out = dig(p, "diff.test.", "MX", "+norec")
    c.header("dig MX: in-zone target address in additional", out,
             dig_header(out), "NOERROR", has=("aa",), counts=(1, 2, 0, 3),
             regex=(r"^mail\.diff\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.25$",))
    rc, out = dig(p, "diff.test.", "AXFR")
    c.header("dig AXFR: transfer refused", out, {"status": "", "flags": [],
                                                  "counts": (0, 0, 0, 0)},
             contains=("Transfer failed.",))
    rc, out = dig(p, "version.bind.", "TXT", "CH", "+norec")
    c.header("dig CH TXT version.bind.: REFUSED (class != IN)", out,
             dig_header(out), "REFUSED")
    rc, out = dig(p, "diff.test.", "SOA", "+opcode=status", "+norec")
    c.header("dig +opcode=status: NOTIMP", out, dig_header(out), "NOTIMP")

    # --- truncation --------------------------------------------------------
    rc, out = dig(p, "many.diff.test.", "A", "+norec", "+bufsize=512",
                  "+ignore")
    c.header("dig +bufsize=512 +ignore on a 680-byte answer: tc", out,
             dig_header(out), "NOERROR", has=("tc",))
    rc, out = dig(p, "many.diff.test.", "A", "+norec", "+noedns", "+ignore")
    c.header("dig +noedns +ignore on a 680-byte answer: tc", out,
             dig_header(out), "NOERROR", has=("tc",))
    rc, out = dig(p, "many.diff.test.", "A", "+norec", "+bufsize=512")
    c.header("dig +bufsize=512 retries over TCP and gets all 40 A", out,
             dig_header(out), "NOERROR", has=("aa",), lacks=("tc",),
             counts=(1, 40, 0, 1), contains=("Truncated, retrying in TCP mode",))
    rc, out = dig(p, "many.diff.test.", "A", "+norec", "+bufsize=512", "+tcp")
    c.header("dig +bufsize=512 +tcp: full answer", out, dig_header(out),
             "NOERROR", lacks=("tc",), counts=(1, 40, 0, 1))
    rc, out = dig(p, "many.diff.test.", "A", "+norec", "+bufsize=1232",
                  "+ignore")
    c.header("dig +bufsize=1232: 680-byte answer fits over UDP", out,
             dig_header(out), "NOERROR", lacks=("tc",), counts=(1, 40, 0, 1),
             regex=(r"\(UDP\)",))
    rc, out = dig(p, "huge.diff.test.", "TXT", "+norec", "+bufsize=4096",
                  "+ignore")
    c.header("dig +bufsize=4096 on a 1.5 kB answer: tc (server max 1232)",
             out, dig_header(out), "NOERROR", has=("tc",))
    rc, out = dig(p, "huge.diff.test.", "TXT", "+norec", "+vc")
    c.header("dig +vc on a 1.5 kB answer: full answer over TCP", out,
             dig_header(out), "NOERROR", lacks=("tc",), counts=(1, 3, 0, 1),
             regex=(r"\(TCP\)",))

    # --- 0x20 / mixed case ---------------------------------------------------
    rc, out = dig(p, "WwW.DiFf.TeSt.", "A", "+norec", "+nocookie")
    c.header("dig mixed case: question echoed with the same case", out,
             dig_header(out), "NOERROR", has=("aa",), counts=(1, 1, 0, 1),
             regex=(r"^;WwW\.DiFf\.TeSt\.\s+IN\s+A$",
                    r"^(?i:www\.diff\.test\.)\s+3600\s+IN\s+A\s+192\.0\.2\.80$"))
    rc, out = dig(p, "FoO.WiLd.DiFf.TeSt.", "TXT", "+norec", "+nocookie")
    c.header("dig mixed case into the wildcard", out, dig_header(out),
             "NOERROR", has=("aa",), counts=(1, 1, 0, 1),
             regex=(r"^;FoO\.WiLd\.DiFf\.TeSt\.\s+IN\s+TXT$",
                    r"(?i)^foo\.wild\.diff\.test\.\s+3600\s+IN\s+TXT\s+\"wildcard txt\"$"))

    # --- kdig ----------------------------------------------------------------
    rc, out = kdig(p, "+tcp", "+norec", "diff.test.", "SOA")
    c.header("kdig +tcp SOA: NOERROR aa over TCP", out, kdig_header(out),
             "NOERROR", has=("qr", "aa"), lacks=("rd",), counts=(1, 1, 0, 0),
             regex=(r"From 127\.0\.0\.1@\d+\(TCP\)",))
    rc, out = kdig(p, "+norec", "diff.test.", "SOA")
    c.header("kdig UDP SOA without EDNS: NOERROR aa", out, kdig_header(out),
             "NOERROR", has=("aa",), counts=(1, 1, 0, 0),
             regex=(r"From 127\.0\.0\.1@\d+\(UDP\)",))
    rc, out = kdig(p, "+norec", "+edns=0", "+bufsize=1232", "diff.test.", "NS")
    c.header("kdig NS with EDNS: glue in additional", out, kdig_header(out),
             "NOERROR", has=("aa",), counts=(1, 2, 0, 3),
             regex=(r"UDP size: 1232 B",
                    r"^ns1\.diff\.test\.\s+3600\s+IN\s+AAAA\s+2001:db8::1$"))
    rc, out = kdig(p, "+norec", "+edns=1", "diff.test.", "SOA")
    c.header("kdig +edns=1: BADVERS", out, kdig_header(out), "BADVERS",
             regex=(r"Version: 0;",))
    rc, out = kdig(p, "+norec", "+ignore", "many.diff.test.", "A")
    c.header("kdig UDP no EDNS +ignore on a 680-byte answer: tc", out,
             kdig_header(out), "NOERROR", has=("tc",))
    rc, out = kdig(p, "+norec", "+tcp", "huge.diff.test.", "TXT")
    c.header("kdig +tcp on a 1.5 kB answer: full", out, kdig_header(out),
             "NOERROR", lacks=("tc",), counts=(1, 3, 0, 0))
    rc, out = kdig(p, "+norec", "x.dn.diff.test.", "A")
    c.header("kdig DNAME: DNAME + synthesized CNAME", out, kdig_header(out),
             "NOERROR", has=("aa",), counts=(1, 2, 0, 0),
             regex=(r"^dn\.diff\.test\.\s+3600\s+IN\s+DNAME\s+target\.other\.test\.$",
                    r"^x\.dn\.diff\.test\.\s+3600\s+IN\s+CNAME\s+x\.target\.other\.test\.$"))
    # (no kdig mixed-case check: kdig lower-cases the query name itself)


BAD_ZONE = """$ORIGIN bad.test.
$TTL 300
@    SOA ns h 1 2 3 4 5
@    NS  ns
ns   A   192.0.2.1
bad  A   999.1.2.3
"""


def check_command(res, binary, workdir):
    """`apexd check` and relative zone paths in the config."""
    cdir = os.path.join(workdir, "cfg")
    shutil.copytree(harness.ZONES_DIR, os.path.join(cdir, "zones"))
    port = harness.free_port()
    good = os.path.join(cdir, "apexd.toml")
    with open(good, "w") as f:
        f.write('[server]\nlisten = ["127.0.0.1:%d"]\n\n[log]\nlevel = "warn"\n\n'
                % port)
        for origin, path in harness.DEFAULT_ZONES:
            f.write('[[zone]]\norigin = "%s"\nfile = "zones/%s"\n\n'
                    % (origin, os.path.basename(path)))
    rc, out = run([binary, "check", "--config", good], timeout=30)
    res.check(rc == 0, "apexd check: the test zones (relative paths) are valid",
              "exit %d\n%s" % (rc, out))

    with open(os.path.join(cdir, "bad.test.zone"), "w") as f:
        f.write(BAD_ZONE)
    bad = os.path.join(cdir, "bad.toml")
    with open(bad, "w") as f:
        f.write('[server]\nlisten = ["127.0.0.1:%d"]\n\n[[zone]]\n'
                'origin = "bad.test."\nfile = "bad.test.zone"\n' % port)
    rc, out = run([binary, "check", "--config", bad], timeout=30)
    res.check(rc != 0 and re.search(r"bad\.test\.zone:6: ", out),
              "apexd check: bad A rdata reported as bad.test.zone:6: reason",
              "exit %d\n%s" % (rc, out))

    # Every broken zone is reported, not only the first.
    with open(os.path.join(cdir, "bad2.test.zone"), "w") as f:
        f.write(BAD_ZONE.replace("bad.test.", "bad2.test."))
    two = os.path.join(cdir, "two.toml")
    with open(two, "w") as f:
        f.write('[[zone]]\norigin = "bad.test."\nfile = "bad.test.zone"\n'
                '[[zone]]\norigin = "bad2.test."\nfile = "bad2.test.zone"\n')
    rc, out = run([binary, "check", "--config", two], timeout=30)
    res.check(rc != 0 and re.search(r"bad\.test\.zone:6: ", out) and re.search(r"bad2\.test\.zone:6: ", out),
              "apexd check: both broken zones reported with file:line",
              "exit %d\n%s" % (rc, out))

    # Warnings, exit 0: a record outside the origin (ignored, file:line), and a flattened apex
    # CNAME pointing outside our zones while [resolver] upstreams is empty (it would SERVFAIL).
    with open(os.path.join(cdir, "warn.test.zone"), "w") as f:
        f.write("$ORIGIN warn.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n"
                "@ CNAME app.platform.example.\nwww.other.example. A 192.0.2.2\n")
    warn = os.path.join(cdir, "warn.toml")
    with open(warn, "w") as f:
        f.write('[[zone]]\norigin = "warn.test."\nfile = "warn.test.zone"\n')
    rc, out = run([binary, "check", "--config", warn], timeout=30)
    res.check(rc == 0 and re.search(r"warning: \S*warn\.test\.zone:7: record www\.other\.example\. A is outside", out),
              "apexd check: a record outside the origin is a file:line warning, exit 0",
              "exit %d\n%s" % (rc, out))
    res.check(re.search(r"warning: \S*warn\.toml: resolver\.upstreams: empty, but the flattened CNAME at warn\.test\.", out),
              "apexd check: flattened CNAME outside our zones with no upstreams is a warning", out)
    with open(warn, "a") as f:
        f.write('[resolver]\nupstreams = ["127.0.0.1:5300"]\n')
    rc, out = run([binary, "check", "--config", warn], timeout=30)
    res.check(rc == 0 and "upstreams" not in out, "apexd check: no such warning once upstreams are set", out)

    badkey = os.path.join(cdir, "badkey.toml")
    with open(badkey, "w") as f:
        f.write('[server]\nlisten = ["127.0.0.1:%d"]\nno_such_key = 1\n' % port)
    rc, out = run([binary, "check", "--config", badkey], timeout=30)
    res.check(rc != 0 and re.search(r"badkey\.toml:3: ", out),
              "apexd check: unknown config key reported as badkey.toml:3: reason",
              "exit %d\n%s" % (rc, out))

    # serving with relative zone paths, started from another folder
    proc = harness.start_apexd_config(binary, good, port, "diff.test.",
                                      workdir)
    try:
        r = harness.query(port, "x.b.ent.diff.test.", "A")
        res.check(r is not None and len(r.answer) == 1,
                  "apexd serves zones given relative to its config's folder",
                  str(r))
    finally:
        harness.stop(proc)


def parser():
    ap = harness.base_parser("apexd with dig and kdig")
    ap.add_argument("--knot", action="store_true",
                    help="run the same checks against knotd")
    return ap


def body(args, res, workdir):
    for tool in (DIG, KDIG):
        if not os.access(tool, os.X_OK):
            res.fail("tool missing: %s" % tool)
            return
    if args.knot:
        proc = harness.start_knotd(harness.DEFAULT_ZONES,
                                   os.path.join(workdir, "k"))
    else:
        binary = harness.require_apexd(args, res)
        if binary is None:
            return
        proc = harness.start_apexd(binary, harness.DEFAULT_ZONES,
                                   os.path.join(workdir, "a"))
    checks(res, proc.port)
    res.check(proc.alive(), "server still running at the end", proc.stderr())
    harness.stop(proc)
    if not args.knot:
        check_command(res, binary, workdir)


if __name__ == "__main__":
    harness.main(body, parser())
