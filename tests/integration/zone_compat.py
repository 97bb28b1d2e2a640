#!/usr/bin/python3
"""Zone-file compatibility: `apexd check` against BIND's named-checkzone and Knot, and the RDATA
apexd serves against what knotd serves.

    /usr/bin/python3 tests/integration/zone_compat.py --apexd build/apexd [--only RE] [-v]

The corpus is tests/integration/compat/: accept/*.zone must load, reject/*.zone must be refused
(one defect each); files not ending in .zone (accept/inc/, reject/inc/) are $INCLUDEd parts. A
zone's origin is its file name's stem under compat.test. (`loc.zone` -> `loc.compat.test.`).
Comment lines at the top of a file (before the first line that is not a comment) may say:

    ; origin: NAME             another origin than <stem>.compat.test.
    ; expect-error-line: N     (reject/) apexd's error names <file>:N
    ; expect-error-file: PATH  (reject/) ... in PATH, relative to the zone file (an $INCLUDEd part)
    ; apexd-differs: REASON    apexd's verdict is deliberately the opposite of BIND's
    ; knot-differs: REASON     Knot 3.2's verdict is the opposite of BIND's (it lacks the type, ...)
    ; knot-reads-differently: REASON  knotd loads it but reads it otherwise than BIND (e.g. TTLs);
                               knotd is given BIND's reading to serve (see below)

and a record line of an accepted file may end in `; expect-warning`: apexd check must print a
warning naming <file>:<that line> (records outside the origin are ignored with a warning).

For every file (one check each):
- BIND (named-checkzone, with the integrity checks apexd does not make turned off) must give the
  folder's verdict, or the opposite one when the file says apexd-differs; for reject/ files its
  error line, when it names one, must be N, and it must warn about every expect-warning line
  (checks of the corpus itself);
- knotd (`knotc zone-check`, semantic checks off as in the differential test) must agree with
  BIND, or disagree when the file says knot-differs;
- `apexd check` must give the folder's verdict (exit 0 or 1), name <file>:N in its error for a
  reject/ file, and name every expect-warning line for an accept/ file.

Then one apexd and one knotd serve every accepted zone on 127.0.0.1 and, per accepted zone (one
check each), every (owner, type) BIND loaded from it is asked of both over TCP: rcode, answer
and authority RRsets (owner, type, TTL, RDATA wire form) must be equal. A zone knotd cannot
load (or reads differently) is given to knotd as BIND read it, every RRset in RFC 3597 form
taken from named-compilezone's raw dump, so knotd serves BIND's encoding. A zone BIND refuses
(apexd-differs) is asked for the owners and types written in the file. RDATA is compared
uncompressed: apexd may compress the names in MB/MG/MR/MD/MF RDATA (RFC 3597 §4 allows it for
RFC 1035 types) where knotd does not, so dnspython is taught to read those as names.

Ends with `N passed, N failed`; exit 1 on any failure.
"""

import glob
import os
import re
import struct
import subprocess
import sys

import types

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.nsbase

import diff_knot
import harness

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "compat")
SUFFIX = "compat.test."
NAMED_CHECKZONE = "/usr/bin/named-checkzone"
NAMED_COMPILEZONE = "/usr/bin/named-compilezone"
KNOTC = "/usr/sbin/knotc"
TOOL_TIMEOUT = 30  # seconds for one checker run on one small file

# BIND's checks that apexd does not make, all off: names that are not host names (-k), MX/NS
# pointing at addresses or without address records (-m, -n, -i none), RRsets with identical
# records (-r), MX/SRV at CNAMEs (-M, -S), SPF without TXT (-T), wildcards in non-terminal
# labels (-W). What remains is what apexd refuses too: syntax, SOA and NS at the apex, CNAME
# beside other data, singleton types.
NAMED_OPTIONS = ["-i", "none", "-k", "ignore", "-m", "ignore", "-n", "ignore", "-r", "ignore",
                 "-M", "ignore", "-S", "ignore", "-T", "ignore", "-W", "ignore"]

# Types dnspython 2.3 has no mnemonic for (from ldns's descriptor table).
EXTRA_TYPES = {"EID": 31, "NIMLOC": 32, "ATMA": 34, "SINK": 40, "TALINK": 58}

# RFC 1035 types whose RDATA is one name, which dnspython 2.3 keeps as opaque bytes (a
# compression pointer included): read them as names so RDATA compares uncompressed.
NAME_TYPES = {"MD": 3, "MF": 4, "MB": 7, "MG": 8, "MR": 9}


def teach_dnspython():
    for text, code in NAME_TYPES.items():
        if dns.rdata.get_rdata_class(dns.rdataclass.IN, code) is not dns.rdata.GenericRdata:
            continue  # a later dnspython knows it
        cls = type(text, (dns.rdtypes.nsbase.NSBase,), {"__slots__": []})
        dns.rdata.register_type(types.SimpleNamespace(**{text: cls}), code, text,
                                rdclass=dns.rdataclass.IN)


# --------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------

class Case:
    def __init__(self, path):
        self.path = path
        self.folder = os.path.basename(os.path.dirname(path))  # "accept" or "reject"
        self.name = self.folder + "/" + os.path.basename(path)
        self.stem = os.path.basename(path)[:-len(".zone")]
        self.origin = self.stem + "." + SUFFIX
        self.error_line = None
        self.error_file = os.path.basename(path)
        self.apexd_differs = None
        self.knot_differs = None
        self.knot_reads_differently = None
        self.warning_lines = []
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        in_header = True
        for i, line in enumerate(lines, 1):
            line = line.rstrip("\r")
            if in_header and line.startswith(";"):
                m = re.match(r";\s*([a-z-]+):\s*(.*?)\s*$", line)
                if m:
                    self._header(m.group(1), m.group(2))
                continue
            in_header = False
            if re.search(r";\s*expect-warning\s*$", line):
                self.warning_lines.append(i)
        self.lines = lines

    def _header(self, key, value):
        if key == "origin":
            self.origin = value if value.endswith(".") else value + "."
        elif key == "expect-error-line":
            self.error_line = int(value)
        elif key == "expect-error-file":
            self.error_file = value
        elif key == "apexd-differs":
            self.apexd_differs = value
        elif key == "knot-differs":
            self.knot_differs = value
        elif key == "knot-reads-differently":
            self.knot_reads_differently = value

    @property
    def expect_accept(self):
        return self.folder == "accept"

    @property
    def bind_expect_accept(self):
        return self.expect_accept != bool(self.apexd_differs)

    @property
    def knot_expect_accept(self):
        return self.bind_expect_accept != bool(self.knot_differs)


def load_corpus(only=None):
    cases = [Case(p) for folder in ("accept", "reject")
             for p in sorted(glob.glob(os.path.join(CORPUS, folder, "*.zone")))]
    if only:
        cases = [c for c in cases if re.search(only, c.name)]
    return cases


def verdict(ok):
    return "accepts" if ok else "refuses"


def run(argv, cwd=None):
    try:
        p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ds" % TOOL_TIMEOUT
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def first_lines(text, n=3):
    lines = [l for l in text.splitlines() if l.strip()]
    return " | ".join(lines[:n])


def names_file_line(text, relpath, line):
    """Does text name relpath:line (relpath at the end of whatever path is printed)?"""
    return re.search(r"(?:^|[\s/'\"(\[])" + re.escape(relpath) + ":" + str(line) + r"(?!\d)",
                     text, re.M) is not None


# --------------------------------------------------------------------------
# the three checkers
# --------------------------------------------------------------------------

def bind_check(case):
    """(accepts, output, reported line or None)."""
    d = os.path.dirname(case.path)  # -w: $INCLUDE is relative to the zone file's folder
    rc, out = run([NAMED_CHECKZONE] + NAMED_OPTIONS + ["-w", d, case.origin,
                                                      os.path.basename(case.path)])
    m = re.search(re.escape(case.error_file) + r":(\d+):", out)
    return rc == 0, out, (int(m.group(1)) if m else None)


def knot_config(cases, workdir):
    """One knot.conf naming every zone of the corpus, for `knotc zone-check` (no server)."""
    kdir = os.path.join(workdir, "knotc")
    for sub in ("run", "db", "storage"):
        os.makedirs(os.path.join(kdir, sub), exist_ok=True)
    text = ["server:", "    rundir: %s" % os.path.join(kdir, "run"),
            "database:", "    storage: %s" % os.path.join(kdir, "db"),
            "template:", "  - id: default", "    storage: %s" % os.path.join(kdir, "storage"),
            "    semantic-checks: off", "zone:"]
    for c in cases:
        text += ["  - domain: %s" % c.origin, "    file: %s" % c.path]
    conf = os.path.join(kdir, "knot.conf")
    with open(conf, "w") as f:
        f.write("\n".join(text) + "\n")
    return conf


def knot_check(case, conf):
    rc, out = run([KNOTC, "-c", conf, "zone-check", case.origin])
    return rc == 0, out


def apexd_check(binary, case, workdir, port):
    d = os.path.join(workdir, "check", case.folder + "-" + case.stem)
    os.makedirs(d, exist_ok=True)
    conf = harness.write_apexd_config([(case.origin, case.path)], d, port)
    rc, out = run([binary, "check", "--config", conf])
    return rc, out


def check_file(res, case, binary, knot_conf, workdir, port):
    """One check per file: BIND, knotd and apexd against the expectations. Returns the
    verdicts of apexd and knotd (True = accepted)."""
    problems = []
    b_ok, b_out, b_line = bind_check(case)
    k_ok, k_out = knot_check(case, knot_conf)
    a_rc, a_out = apexd_check(binary, case, workdir, port)
    a_ok = a_rc == 0

    if b_ok != case.bind_expect_accept:
        problems.append("corpus: BIND %s it%s: %s" % (
            verdict(b_ok), " (the file says apexd-differs)" if case.apexd_differs else "",
            first_lines(b_out)))
    if not case.expect_accept and case.error_line is None:
        problems.append("corpus: a reject/ file without '; expect-error-line: N'")
    if (not case.expect_accept and not b_ok and b_line is not None and case.error_line is not None
            and b_line != case.error_line and not case.apexd_differs):
        problems.append("corpus: BIND reports line %d, the file expects %d"
                        % (b_line, case.error_line))
    for line in case.warning_lines:
        if b_ok and not names_file_line(b_out, os.path.basename(case.path), line):
            problems.append("corpus: BIND gives no warning for line %d" % line)
    if k_ok != case.knot_expect_accept:
        if case.knot_differs:
            problems.append("knot-differs is stale: knotd %s it like BIND" % verdict(k_ok))
        else:
            problems.append("knotd %s it, BIND %s it: %s" % (verdict(k_ok), verdict(b_ok),
                                                            first_lines(k_out)))
    if a_rc not in (0, 1):
        problems.append("apexd check exited %s: %s" % (a_rc, first_lines(a_out)))
    elif a_ok != case.expect_accept:
        problems.append("apexd %s it (BIND %s, knotd %s): %s" % (
            verdict(a_ok), verdict(b_ok), verdict(k_ok), first_lines(a_out)))
    elif not a_ok and case.error_line is not None and \
            not names_file_line(a_out, case.error_file, case.error_line):
        problems.append("apexd refuses it but does not name %s:%d: %s" % (
            case.error_file, case.error_line, first_lines(a_out)))
    if a_ok:
        for line in case.warning_lines:
            if not names_file_line(a_out, os.path.basename(case.path), line):
                problems.append("apexd check gives no warning naming %s:%d (output: %s)" % (
                    os.path.basename(case.path), line, first_lines(a_out) or "nothing"))
    label = "%s: verdict (apexd %s, BIND %s, knotd %s)" % (case.name, verdict(a_ok),
                                                             verdict(b_ok), verdict(k_ok))
    res.check(not problems, label, "\n".join("  " + p for p in problems))
    return a_ok, k_ok


# --------------------------------------------------------------------------
# what BIND loaded: named-compilezone's raw dump
# --------------------------------------------------------------------------

def bind_rrsets(case, workdir):
    """[(owner Name, type, ttl, [rdata wire])] as BIND loaded the zone, or None if it cannot.
    Raw format (lib/dns/masterdump.c): a 24-byte header, then per RRset: total length (4),
    class (2), type (2), covers (2), TTL (4), count (4), owner (2-byte length + wire), and
    each RDATA as a 2-byte length and the bytes."""
    out_path = os.path.join(workdir, "raw", case.folder + "-" + case.stem + ".raw")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    rc, _ = run([NAMED_COMPILEZONE] + NAMED_OPTIONS + ["-w", os.path.dirname(case.path),
                                                      "-F", "raw", "-o", out_path, case.origin,
                                                      os.path.basename(case.path)])
    if rc != 0:
        return None
    with open(out_path, "rb") as f:
        data = f.read()
    fmt, version = struct.unpack("!II", data[:8])
    if fmt != 2 or version != 1:
        raise RuntimeError("unexpected named-compilezone raw header %d/%d" % (fmt, version))
    rrsets, pos = [], 24
    while pos < len(data):
        total, _cls, rtype, _covers, ttl, count, nlen = struct.unpack("!IHHHIIH",
                                                                      data[pos:pos + 20])
        q = pos + 20
        owner = dns.name.from_wire(data[q:q + nlen], 0)[0]
        q += nlen
        rdatas = []
        for _ in range(count):
            (rlen,) = struct.unpack("!H", data[q:q + 2])
            rdatas.append(data[q + 2:q + 2 + rlen])
            q += 2 + rlen
        rrsets.append((owner, rtype, ttl, rdatas))
        pos += total
    return rrsets


def generic_copy(case, rrsets, workdir):
    """The zone as BIND read it, every RRset in RFC 3597 form, for knotd."""
    path = os.path.join(workdir, "generic", case.stem + ".zone")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for owner, rtype, ttl, rdatas in rrsets:
            for rd in rdatas:
                f.write("%s %d IN TYPE%d \\# %d %s\n" % (owner.to_text(), ttl, rtype, len(rd),
                                                         rd.hex() or ""))
    return path


def type_code(token):
    t = token.upper()
    if t in EXTRA_TYPES:
        return EXTRA_TYPES[t]
    try:
        return dns.rdatatype.from_text(t)
    except Exception:  # noqa: BLE001 - not a type
        return None


def written_queries(case):
    """(owner, type) of the simple one-line records of a file BIND refuses: owner in the first
    column, then the first token that is a type."""
    origin = dns.name.from_text(case.origin)
    out, owner = [], origin
    for line in case.lines:
        line = line.split(";", 1)[0].rstrip()
        if not line or line.startswith("$"):
            continue
        toks = line.split()
        if not line[0].isspace():
            owner = origin if toks[0] == "@" else dns.name.from_text(toks[0], origin)
            toks = toks[1:]
        for t in toks:
            code = type_code(t)
            if code is not None:
                out.append((owner, code))
                break
    return out


# --------------------------------------------------------------------------
# served RDATA: apexd against knotd
# --------------------------------------------------------------------------

def served(port, qname, qtype):
    for _attempt in range(2):
        try:
            r = harness.query(port, qname, qtype, tcp=True, timeout=3.0)
        except Exception as e:  # noqa: BLE001 - unparsable reply
            return e
        if r is not None:
            return r
    return None


def show(rrsets):
    return "; ".join(sorted("%s %d %s %s" % (n, ttl, dns.rdatatype.to_text(t),
                                              " / ".join(sorted(rd.hex() for rd in rds)))
                            for n, _c, t, ttl, rds in rrsets)) or "-"


def compare_zone(res, case, queries, apex_port, knot_port, max_print):
    problems = []
    for owner, rtype in queries:
        qname, qtype = owner.to_text(), dns.rdatatype.to_text(rtype)
        k, a = served(knot_port, qname, qtype), served(apex_port, qname, qtype)
        what = "%s %s" % (qname, qtype)
        if not isinstance(k, dns.message.Message) or not isinstance(a, dns.message.Message):
            problems.append("%s: knotd %r, apexd %r" % (what, k, a))
            continue
        if k.rcode() != a.rcode():
            problems.append("%s: rcode knotd %s, apexd %s" % (what, dns.rcode.to_text(k.rcode()),
                                                               dns.rcode.to_text(a.rcode())))
        for section in ("answer", "authority"):
            ks = diff_knot.rrset_key_set(getattr(k, section))
            as_ = diff_knot.rrset_key_set(getattr(a, section))
            if ks != as_:
                problems.append("%s: %s differs\n      knotd: %s\n      apexd: %s"
                                % (what, section, show(ks - as_), show(as_ - ks)))
    detail = "\n".join("  " + p for p in problems[:max_print])
    if len(problems) > max_print:
        detail += "\n  ... %d more" % (len(problems) - max_print)
    res.check(not problems,
              "%s: served RDATA equals knotd's (%d queries)" % (case.name, len(queries)), detail)


def serve_and_compare(res, args, binary, cases, workdir):
    """cases: (Case, knotd loads the file itself)."""
    apex_zones, knot_zones, queries, compared = [], [], {}, []
    for c, knot_loads in cases:
        rrsets = bind_rrsets(c, workdir)
        if rrsets is None:
            pairs = written_queries(c)
        else:
            pairs = sorted({(o, t) for o, t, _ttl, _rds in rrsets})
        if knot_loads and not (c.knot_reads_differently and rrsets is not None):
            knot_file = c.path
        elif rrsets is not None:
            knot_file = generic_copy(c, rrsets, workdir)
        else:
            res.fail("%s: served RDATA not compared: neither knotd nor BIND loads it" % c.name)
            continue
        queries[c.name] = pairs
        compared.append(c)
        apex_zones.append((c.origin, c.path))
        knot_zones.append((c.origin, knot_file))
    if not apex_zones:
        return
    knot = harness.start_knotd(knot_zones, os.path.join(workdir, "k"))
    apex = harness.start_apexd(binary, apex_zones, os.path.join(workdir, "a"),
                               ready_origins=[z[0] for z in apex_zones])
    for c in compared:
        compare_zone(res, c, queries[c.name], apex.port, knot.port, args.max_fail_print)
        if c.name == "accept/txt-279.zone":
            r = served(knot.port, "rr." + c.origin, "TXT")
            print(";; knotd serves for the 279-byte TXT: %s"
                  % [len(s) for rr in r.answer for rd in rr for s in rd.strings])
    res.check(apex.alive(), "apexd still running at the end", apex.stderr())
    harness.stop(apex)
    harness.stop(knot)


# --------------------------------------------------------------------------

def parser():
    ap = harness.base_parser("zone-file compatibility: apexd check vs named-checkzone vs knotd")
    ap.add_argument("--only", help="regex on 'accept/NAME.zone' or 'reject/NAME.zone'")
    ap.add_argument("--max-fail-print", type=int, default=10,
                    help="print at most this many differing queries per zone")
    return ap


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if binary is None:
        return
    for tool in (NAMED_CHECKZONE, NAMED_COMPILEZONE, KNOTC, harness.KNOTD):
        if not os.access(tool, os.X_OK):
            res.fail("harness: %s is missing (bind9-utils, knot)" % tool)
            return
    teach_dnspython()
    cases = load_corpus(args.only)
    knot_conf = knot_config(cases, workdir)
    port = harness.free_port()
    servable, skipped = [], []
    for c in cases:
        a_ok, k_ok = check_file(res, c, binary, knot_conf, workdir, port)
        if c.expect_accept:
            (servable if a_ok else skipped).append((c, k_ok))
    skipped = [c.name for c, _k in skipped]
    if skipped:
        print(";; served RDATA not compared for the %d accepted files apexd refuses: %s"
              % (len(skipped), " ".join(skipped)))
    serve_and_compare(res, args, binary, servable, workdir)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    harness.main(body, parser())
