#!/usr/bin/python3
"""Never an open resolver, never a better amplifier than Knot.

    /usr/bin/python3 tests/integration/hostile_amplification.py --apexd build/apexd

apexd serves amp.test. (zones/hostile/amp.test.zone: a large TXT RRset, DNSKEYs, RRSIGs,
a signed delegation with DS, several types at one name) and hostile.test. (flatten =
"all"), with a scripted upstream; knotd (harness.start_knotd) serves the same amp.test.

- Open resolver: after apexd resolved amp-target.tgt.example. to flatten
  amp.hostile.test. (so it sits in apexd's cache), a client asking for that name (RD=0
  and RD=1, A/AAAA/ANY/NS/TXT, UDP and TCP, with and without EDNS, any letter case)
  gets REFUSED: no records in any section, RA=0, EDE 20 when the query had EDNS; a new
  outside name is REFUSED without apexd asking its upstream.  A flattening target below
  one of apexd's own delegations, once resolved and cached, still gets the referral
  when asked directly.
- Amplification: for ANY, a large TXT RRset, a TXT RRset that fits 1232 but not 512,
  DNSKEY, RRSIG, DS, NS, a referral and NXDOMAIN, each over UDP without EDNS, with EDNS
  1232, EDNS 4096 with and without DO, and EDNS 512 with DO, apexd's answer is never
  larger than Knot's for the same query; UDP answers never exceed 512 bytes without EDNS
  or 1232 bytes (udp_payload) with EDNS 4096; REFUSED answers are never larger than
  Knot's either.

Ends with `N passed, N failed`; exits 1 on any failure.  About 10 s.
"""

import dns.flags
import dns.rcode
import dns.rdatatype

import harness
import hostile_common as hc

NOTES = []

SIZE_QUERIES = [
    ("amp.test.", "ANY"), ("many.amp.test.", "ANY"), ("big.amp.test.", "ANY"),
    ("big.amp.test.", "TXT"), ("mid.amp.test.", "TXT"), ("many.amp.test.", "TXT"),
    ("amp.test.", "DNSKEY"), ("amp.test.", "RRSIG"), ("many.amp.test.", "RRSIG"),
    ("big.amp.test.", "RRSIG"), ("sub.amp.test.", "DS"), ("sub.amp.test.", "RRSIG"),
    ("amp.test.", "DS"), ("amp.test.", "NS"), ("amp.test.", "TXT"), ("amp.test.", "SOA"),
    ("amp.test.", "MX"), ("sub.amp.test.", "A"), ("x.sub.amp.test.", "ANY"),
    ("nope.amp.test.", "A"), ("nope.amp.test.", "ANY"), ("ns1.amp.test.", "ANY"),
    ("big.amp.test.", "DNSKEY"),
]
VARIANTS = [
    ("no EDNS", dict(edns=False)),
    ("EDNS 1232", dict(payload=1232)),
    ("EDNS 4096", dict(payload=4096)),
    ("EDNS 4096 DO", dict(payload=4096, do=True)),
    ("EDNS 512 DO", dict(payload=512, do=True)),
]
OUTSIDE = ["amp-target.tgt.example.", "AMP-Target.TGT.example.", "tgt.example.",
           "example.", "com.", ".", "fresh-name.tgt.example."]
OUTSIDE_TYPES = ["A", "AAAA", "ANY", "NS", "TXT"]


def udp_wire(port, qname, qtype, **kw):
    q = hc.make_query(qname, qtype, **kw)
    w = q.to_wire()
    return w, harness.send_udp_raw(port, w, timeout=2.0)


def section_counts(wire):
    return [int.from_bytes(wire[i:i + 2], "big") for i in (4, 6, 8, 10)]


def test_not_open(res, port, knot_port, up):
    up.set_mode("normal")
    r, dt = hc.udp(port, "amp.hostile.test.", timeout=3)
    res.check(r is not None and hasattr(r, "answer") and r.rcode() == dns.rcode.NOERROR
              and hc.addresses(r) == {hc.genuine_a("amp-target.tgt.example.")},
              "flattening resolved amp-target.tgt.example. (now in apexd's cache)", hc.describe(r))
    r, _ = hc.udp(port, "amp.hostile.test.", "ANY", timeout=3)
    res.check(r is not None and hasattr(r, "answer") and len(r.answer) == 1
              and hc.addresses(r) == {hc.genuine_a("amp-target.tgt.example.")}
              and not r.authority, "flattened name, ANY: the A RRset only", hc.describe(r))
    # targets below one of our own delegations: resolved (and cached) for flattening,
    # yet asked directly they get the referral, never the cached addresses
    for label, target in (("via-deleg", "x.deleg.hostile.test."),
                          ("via-glue", "ns.deleg.hostile.test.")):
        r, _ = hc.udp(port, label + ".hostile.test.", timeout=3)
        want = hc.genuine_a(target)
        res.check(r is not None and hasattr(r, "answer") and hc.addresses(r) == {want},
                  "flattened %s.hostile.test. -> %s (below our own delegation): resolved through the"
                  " upstream" % (label, target), "  got " + hc.describe(r))
        bad = []
        for rd in (False, True):
            for qtype in ("A", "ANY"):
                r, _ = hc.udp(port, target, qtype, rd=rd, timeout=2)
                if r is None or not hasattr(r, "answer") or r.rcode() != dns.rcode.NOERROR \
                        or r.answer or (r.flags & dns.flags.AA) \
                        or not any(rr.rdtype == dns.rdatatype.NS for rr in r.authority) \
                        or want in hc.all_addresses(r):
                    bad.append("%s rd=%d: %s" % (qtype, rd, hc.describe(r)))
        res.check(not bad, "%s asked directly (after flattening resolved it): the referral,"
                  " never the upstream's address" % target, "\n".join("  " + x for x in bad))
    asked_before = len(up.queries())
    bad = []
    n = 0
    for name in OUTSIDE:
        for qtype in OUTSIDE_TYPES:
            for rd in (False, True):
                for edns in (True, False):
                    for tcp in (False, True):
                        n += 1
                        kw = dict(rd=rd, edns=edns)
                        r, _ = (hc.tcp if tcp else hc.udp)(port, name, qtype, timeout=2.0, **kw)
                        label = "%s %s rd=%d edns=%d %s" % (name, qtype, rd, edns,
                                                            "tcp" if tcp else "udp")
                        if r is None or isinstance(r, (bytes, bytearray)):
                            bad.append("%s: %s" % (label, hc.describe(r)))
                            continue
                        probs = []
                        if r.rcode() != dns.rcode.REFUSED:
                            probs.append("rcode %s" % dns.rcode.to_text(r.rcode()))
                        if r.answer or r.authority or r.additional:
                            probs.append("records present")
                        if r.flags & dns.flags.RA:
                            probs.append("RA=1")
                        if r.flags & dns.flags.AA:
                            probs.append("AA=1")
                        if edns and 20 not in hc.ede_codes(r):
                            probs.append("no EDE 20")
                        if hc.all_addresses(r):
                            probs.append("addresses %s" % hc.all_addresses(r))
                        if probs:
                            bad.append("%s: %s (%s)" % (label, ", ".join(probs), hc.describe(r)))
    res.check(not bad, "%d queries for names outside apexd's zones (cached target included):"
              " all REFUSED, nothing revealed" % n, "\n".join("  " + b for b in bad[:10]))
    asked = [e for e in up.queries()[asked_before:]]
    res.check(not asked, "no client query for an outside name made apexd ask its upstream",
              "  upstream saw %s" % [(e["qname"], e["qtype"]) for e in asked[:5]])
    # REFUSED answers are no larger than Knot's
    bigger = []
    for name in ("amp-target.tgt.example.", "example.", "."):
        for vname, kw in VARIANTS:
            qw, a = udp_wire(port, name, "ANY", **kw)
            _, k = udp_wire(knot_port, name, "ANY", **kw)
            if a is None or k is None or len(a) > len(k):
                bigger.append("%s ANY %s: apexd %s, knot %s bytes" % (
                    name, vname, len(a) if a else None, len(k) if k else None))
    res.check(not bigger, "REFUSED answers are never larger than Knot's", "\n".join(bigger))


def test_sizes(res, port, knot_port):
    bigger, over, missing = [], [], []
    worst = (0.0, "")
    rows = 0
    for qname, qtype in SIZE_QUERIES:
        for vname, kw in VARIANTS:
            rows += 1
            qw, a = udp_wire(port, qname, qtype, **kw)
            _, k = udp_wire(knot_port, qname, qtype, **kw)
            label = "%s %s %s" % (qname, qtype, vname)
            if a is None:
                missing.append(label + ": apexd did not answer")
                continue
            if k is None:
                missing.append(label + ": knotd did not answer")
                continue
            if len(a) > len(k):
                bigger.append("%s: apexd %d bytes (%s), knot %d bytes (%s)" % (
                    label, len(a), _flags(a), len(k), _flags(k)))
            limit = 512 if not kw.get("edns", True) else 1232
            if len(a) > limit:
                over.append("%s: %d bytes > %d" % (label, len(a), limit))
            f = len(a) / float(len(qw))
            if f > worst[0]:
                worst = (f, "%s (%d -> %d bytes; knot %d)" % (label, len(qw), len(a), len(k)))
    res.check(not missing, "size comparison: every query answered by both", "\n".join(missing[:5]))
    res.check(not bigger, "%d UDP queries: apexd's answer is never larger than Knot's" % rows,
              "\n".join("  " + b for b in bigger))
    res.check(not over, "UDP answers stay within 512 bytes (no EDNS) / 1232 bytes (EDNS 4096)",
              "\n".join("  " + o for o in over))
    NOTES.append("largest amplification factor of apexd over UDP: %.1fx, %s" % worst)
    # the TC answers carry no records
    for qname, qtype in (("big.amp.test.", "TXT"), ("mid.amp.test.", "TXT")):
        _, a = udp_wire(port, qname, qtype, edns=False)
        m = hc._parse(a) if a else None
        ok = m is not None and hasattr(m, "flags") and bool(m.flags & dns.flags.TC) \
            and section_counts(a)[1:] == [0, 0, 0]
        res.check(ok, "%s %s without EDNS: TC=1 and no records" % (qname, qtype), hc.describe(m))


def _flags(wire):
    return "TC" if wire[2] & 0x02 else "-"


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    up = hc.ScriptedUpstream("up")
    try:
        knot = harness.start_knotd(zones=[hc.AMP_ZONE], workdir=workdir + "/knot")
        proc, port, control = hc.start_apexd(
            binary, workdir, threads=2, upstreams=[up.address],
            zones=[hc.AMP_ZONE + (None,), hc.HOSTILE_ZONE + ("all",)],
            resolver={"timeout": '"600ms"', "deadline": '"1000ms"'})
        test_not_open(res, port, knot.port, up)
        test_sizes(res, port, knot.port)
        res.check(proc.alive(), "apexd alive", proc.stderr()[-2000:])
        harness.stop(proc)
        harness.stop(knot)
    finally:
        up.close()
        for n in NOTES:
            print("NOTE %s" % n)


if __name__ == "__main__":
    harness.main(body, description=__doc__.split("\n")[0])
