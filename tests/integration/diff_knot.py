#!/usr/bin/python3
"""Differential test: apexd versus Knot DNS 3.2 on the same zones.

    /usr/bin/python3 tests/integration/diff_knot.py --apexd build/apexd
    /usr/bin/python3 tests/integration/diff_knot.py --only-knot [--name RE]

Both servers load tests/integration/zones/*.zone.  Every query of the list
(owner names x types, plus tricky extra names) is sent to both, in several
transport variants (UDP/TCP, without EDNS, EDNS 512/1232/4096, DO bit), and
the replies are compared: rcode (incl. extended), AA/TC/RD flags, exact
question echo, OPT presence/payload/version/DO/options, section counts and
the answer/authority/additional sections as RRsets (owner case-insensitive,
type, class, TTL, exact rdata set; order ignored).  When both replies are
truncated UDP replies only rcode/flags are compared.  Every UDP query is then
asked again with another ID and compared again: apexd answers the repeat from
its answer cache.
"""

import os
import re
import struct
import time

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import dns.zone

import harness

BASE_TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "DS", "ANY",
              "DNAME", "RRSIG", "NSEC"]

# (label, tcp, edns, payload, do)
VARIANTS = [
    ("udp-noedns", False, False, 0, False),
    ("udp-edns512", False, True, 512, False),
    ("udp-edns1232", False, True, 1232, False),
    ("udp-edns4096-do", False, True, 4096, True),
    ("tcp-noedns", True, False, 0, False),
    ("tcp-edns1232", True, True, 1232, False),
]
QUICK_VARIANTS = ("udp-noedns", "udp-edns1232", "tcp-edns1232")


def zone_contents(zones):
    """Owner names and types present in the zone files (parsed by dnspython
    from the zone's folder so relative $INCLUDE works)."""
    owners, types = [], set()
    cwd = os.getcwd()
    try:
        for origin, path in zones:
            os.chdir(os.path.dirname(path))
            z = dns.zone.from_file(os.path.basename(path), origin,
                                   relativize=False, check_origin=False)
            for name in sorted(z.nodes):
                owners.append(name)
                for rds in z.nodes[name].rdatasets:
                    types.add(dns.rdatatype.to_text(rds.rdtype))
    finally:
        os.chdir(cwd)
    return owners, types


def long_name_under(suffix, total_wire_len):
    """A name under `suffix` whose wire length is exactly total_wire_len."""
    suffix = dns.name.from_text(suffix)
    need = total_wire_len - len(suffix.to_wire())
    labels = []
    while need > 0:
        n = min(63, need - 1)
        if need - (n + 1) == 1:  # avoid leaving a 1-byte gap
            n -= 1
        labels.append("l" * n)
        need -= n + 1
    return dns.name.Name(tuple(l.encode() for l in labels) + suffix.labels)


EXTRA_NAMES = [
    # nonexistent
    "nx.diff.test.", "a.nx.diff.test.", "nx.other.test.",
    "nx.child.diff.test.", "nx.types.diff.test.",
    # wildcard
    "foo.wild.diff.test.", "a.b.wild.diff.test.", "wild.diff.test.",
    "x.wcname.diff.test.", "x.wcext.diff.test.", "a.wloop.diff.test.",
    "b.wloop.diff.test.", "x.wnx.diff.test.", "nx.exist.wild.diff.test.",
    "z.deep.exist.wild.diff.test.", "foo.b.ent.diff.test.",
    "x.y.b.ent.diff.test.", "wcname.diff.test.",
    # ENT
    "ent.diff.test.", "b.ent.diff.test.", "nx.ent.diff.test.",
    "tcp.diff.test.", "_tcp.diff.test.",
    # under delegations
    "host.sub.diff.test.", "a.b.sub.diff.test.", "x.outns.diff.test.",
    "x.nsref.diff.test.", "x.grand.child.diff.test.",
    "ns.grand.child.diff.test.", "deep.x.grand.child.diff.test.",
    # DNAME
    "x.dn.diff.test.", "a.b.dn.diff.test.", "nx.dn.diff.test.",
    "a.dnin.diff.test.", "b.dnin.diff.test.", "zz.dnin.diff.test.",
    "x.a.dnin.diff.test.", "x.dnloop.diff.test.", "x.dnloop2.diff.test.",
    # out of zone
    "example.org.", "www.example.org.", "test.", ".", "com.",
    "diff.test.example.org.", "xdiff.test.", "other.test.diff.test.",
    # mixed case
    "WWW.Diff.TEST.", "C1.diff.test.", "FOO.WILD.diff.test.",
    "X.DN.diff.test.", "Host.SUB.diff.test.", "mixed.OTHER.test.",
    "NX.Diff.Test.", "X.WcName.diff.test.", "A.DnIn.Diff.Test.",
    "WWW2.diff.test.", "Child.Diff.Test.", "TYPES.diff.test.",
]


def build_queries(zones):
    owners, ztypes = zone_contents(zones)
    types = sorted(set(BASE_TYPES) | ztypes)
    names = []
    for o in owners:  # child.diff.test. is an owner in two zones
        if o.to_text() not in names:
            names.append(o.to_text())
    for n in EXTRA_NAMES:
        if n not in names:  # exact match: mixed-case variants are kept
            names.append(n)
    # a name under the DNAME that becomes too long after substitution
    # (dn.diff.test. -> target.other.test. adds 5 bytes): YXDOMAIN
    names.append(long_name_under("dn.diff.test.", 253).to_text())
    names.append(long_name_under("dnin.diff.test.", 255).to_text())
    queries = []
    for n in names:
        for t in types:
            queries.append((n, t))
    return queries


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------

def rrset_key_set(section):
    out = set()
    for rrset in section:
        # exact (case-preserving, uncompressed) rdata wire format
        rdatas = frozenset(rd.to_wire() for rd in rrset)
        out.add((rrset.name.to_text().lower(), rrset.rdclass, rrset.rdtype,
                 rrset.ttl, rdatas))
    return out


def header_counts(wire):
    return struct.unpack("!HHHH", wire[4:12])


def question_bytes(msg_wire):
    # question starts at 12; qname uncompressed in a query echo
    i = 12
    while i < len(msg_wire):
        ln = msg_wire[i]
        if ln == 0:
            i += 1
            break
        if ln & 0xC0:
            i += 2
            break
        i += 1 + ln
    return msg_wire[12:i + 4]


def describe(r):
    if r is None:
        return "  <no reply>"
    if isinstance(r, Exception):
        return "  <unparsable reply: %r>" % r
    txt = r.to_text()
    c = header_counts(r.wire)
    return ("  ;; counts qd=%d an=%d ns=%d ar=%d size=%d\n" % (c + (len(r.wire),))
            + "\n".join("  " + l for l in txt.splitlines()))


def compare(k, a, tcp):
    """Return (list of differences, note)."""
    if k is None or a is None or isinstance(k, Exception) or \
            isinstance(a, Exception):
        if k is None and a is None:
            return [], "both silent"
        if type(k) is type(a) and isinstance(k, Exception):
            return [], "both unparsable"
        return ["reply presence/parse differs"], ""
    diffs = []
    if k.rcode() != a.rcode():
        diffs.append("rcode %s != %s" % (dns.rcode.to_text(k.rcode()),
                                         dns.rcode.to_text(a.rcode())))
    for fl in (dns.flags.AA, dns.flags.TC, dns.flags.RD, dns.flags.QR,
               dns.flags.RA, dns.flags.AD, dns.flags.CD):
        if (k.flags & fl) != (a.flags & fl):
            diffs.append("flag %s differs" % dns.flags.to_text(fl))
    if k.opcode() != a.opcode():
        diffs.append("opcode differs")
    if k.id != a.id:
        diffs.append("id differs")
    # OPT
    if (k.edns >= 0) != (a.edns >= 0):
        diffs.append("OPT presence differs")
    elif k.edns >= 0:
        if k.edns != a.edns:
            diffs.append("EDNS version %d != %d" % (k.edns, a.edns))
        if k.payload != a.payload:
            diffs.append("EDNS payload %d != %d" % (k.payload, a.payload))
        if (k.ednsflags & dns.flags.DO) != (a.ednsflags & dns.flags.DO):
            diffs.append("DO bit differs")
        ko = sorted((o.otype, o.to_wire()) for o in k.options)
        ao = sorted((o.otype, o.to_wire()) for o in a.options)
        if ko != ao:
            diffs.append("EDNS options differ")
    both_tc = (not tcp and (k.flags & dns.flags.TC) and
               (a.flags & dns.flags.TC))
    if both_tc:
        return diffs, "both truncated"
    if question_bytes(k.wire) != question_bytes(a.wire):
        diffs.append("question echo differs")
    kc, ac = header_counts(k.wire), header_counts(a.wire)
    for i, sec in enumerate(("qd", "an", "ns", "ar")):
        if kc[i] != ac[i]:
            diffs.append("%scount %d != %d" % (sec, kc[i], ac[i]))
    for secname in ("answer", "authority", "additional"):
        ks = rrset_key_set(getattr(k, secname))
        as_ = rrset_key_set(getattr(a, secname))
        if ks != as_:
            diffs.append("%s section differs" % secname)
    return diffs, ""


def ask(port, qname, qtype, variant, qid, timeout=2.0):
    _label, tcp, edns, payload, do = variant
    r = None
    for _attempt in range(2):  # one retry: a UDP datagram may get lost
        try:
            r = harness.query(port, qname, qtype, tcp=tcp, edns=edns,
                              payload=payload or 1232, do=do, qid=qid,
                              timeout=timeout)
        except Exception as e:  # noqa: BLE001 - unparsable reply
            return e
        if r is not None:
            return r
    return r


# --------------------------------------------------------------------------

def parser():
    ap = harness.base_parser("apexd vs knotd differential test")
    ap.add_argument("--only-knot", action="store_true",
                    help="only start knotd and print its answers")
    ap.add_argument("--name", help="regex filter on query names")
    ap.add_argument("--type", help="regex filter on query types")
    ap.add_argument("--variant", help="regex filter on variant labels")
    ap.add_argument("--quick", action="store_true",
                    help="only variants %s" % (QUICK_VARIANTS,))
    ap.add_argument("--self-test", action="store_true",
                    help="compare knotd against a second knotd (no apexd)")
    ap.add_argument("--skip", action="append", default=[],
                    help="regex on 'qname qtype variant': skip those "
                         "comparisons (repeatable; e.g. accepted deviations)")
    ap.add_argument("--time-limit", type=float, default=900.0,
                    help="give up (as a failure) after this many seconds")
    ap.add_argument("--max-fail-print", type=int, default=200,
                    help="print details of at most this many mismatches")
    return ap


def body(args, res, workdir):
    zones = harness.DEFAULT_ZONES
    queries = build_queries(zones)
    if args.name:
        queries = [q for q in queries if re.search(args.name, q[0], re.I)]
    if args.type:
        queries = [q for q in queries if re.fullmatch(args.type, q[1], re.I)]
    variants = VARIANTS
    skips = [re.compile(x, re.I) for x in args.skip]
    if args.quick:
        variants = [v for v in variants if v[0] in QUICK_VARIANTS]
    if args.variant:
        variants = [v for v in variants if re.search(args.variant, v[0])]

    knot = harness.start_knotd(zones, os.path.join(workdir, "k"))
    kerr = knot.stderr()
    res.check(kerr.strip() == "", "knotd loads every zone without warnings",
              kerr)

    if args.only_knot:
        n = 0
        for qname, qtype in queries:
            for v in variants:
                n += 1
                r = ask(knot.port, qname, qtype, v, n & 0xFFFF)
                print(";; ===== %s %s %s" % (qname, qtype, v[0]))
                print(describe(r))
        kerr = knot.stderr()
        if kerr.strip():
            print(";; knotd stderr:\n" + kerr)
        harness.stop(knot)
        return

    if args.self_test:
        # compare knotd with a second knotd: checks the comparison itself
        apex = harness.start_knotd(zones, os.path.join(workdir, "k2"))
    else:
        binary = harness.require_apexd(args, res)
        if binary is None:
            return
        apex = harness.start_apexd(binary, zones, os.path.join(workdir, "a"))
    printed = 0
    started = time.monotonic()
    deadline = started + args.time_limit
    n = 0
    both_tc = 0
    skipped = 0
    silent_in_a_row = 0
    for qname, qtype in queries:
        if time.monotonic() > deadline:
            res.fail("time limit of %.0fs reached after %d comparisons"
                     % (args.time_limit, n))
            break
        if silent_in_a_row >= 20:
            res.fail("apexd did not answer 20 queries in a row; giving up")
            break
        for v in variants:
            label = "%s %s %s" % (qname, qtype, v[0])
            if any(x.search(label) for x in skips):
                skipped += 1
                continue
            n += 1
            qid = n & 0xFFFF
            k = ask(knot.port, qname, qtype, v, qid)
            a = ask(apex.port, qname, qtype, v, qid)
            if a is None and k is not None:
                silent_in_a_row += 1
            else:
                silent_in_a_row = 0
            diffs, note = compare(k, a, v[1])
            if not v[1] and not diffs:
                # The same query again over UDP, with another ID: apexd now answers it from its
                # answer cache, which must be indistinguishable from the first answer.
                rqid = (qid + 0x8000) & 0xFFFF
                diffs, note = compare(ask(knot.port, qname, qtype, v, rqid),
                                      ask(apex.port, qname, qtype, v, rqid), v[1])
                diffs = ["repeated query: " + d for d in diffs]
            if note == "both truncated":
                both_tc += 1
            if not diffs:
                res.ok(label + ((" (" + note + ")") if note else ""))
                continue
            detail = ""
            if printed < args.max_fail_print:
                printed += 1
                detail = ("  differences: %s\n  --- knotd:\n%s\n  --- apexd:\n%s"
                          % ("; ".join(diffs), describe(k), describe(a)))
            else:
                detail = "  differences: %s" % "; ".join(diffs)
            res.fail(label, detail)
            if not apex.alive():
                res.fail("apexd died (exit %s); stderr:\n%s"
                         % (apex.popen.returncode, apex.stderr()))
                return
    print(";; %d comparisons (each UDP one asked twice: the repeat comes from apexd's answer"
          " cache) in %.1fs, %d where both replies were truncated"
          " (only rcode/flags/OPT compared), %d skipped by --skip"
          % (n, time.monotonic() - started, both_tc, skipped))
    res.check(apex.alive(), "apexd still running at the end", apex.stderr())


if __name__ == "__main__":
    harness.main(body, parser())
