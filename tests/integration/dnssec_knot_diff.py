#!/usr/bin/python3
"""apexd's online signing next to knotd 3.2's mod-onlinesign, on the same zone and key.

    /usr/bin/python3 tests/integration/dnssec_knot_diff.py --apexd build-rel/apexd
    /usr/bin/python3 tests/integration/dnssec_knot_diff.py --only-knot   # knotd side only

zones/dnssec/sig.test.zone (static: CNAME chains, wildcards, delegations with and
without DS, empty non-terminals; no flattening, no proxied names) is served by apexd
(dnssec = true, key_dir = keys) and by knotd (module: mod-onlinesign) with ONE key: a
BIND key pair from `dnssec-keygen -a ECDSAP256SHA256 -f KSK` that apexd reads from its
key_dir and knotd gets through `keymgr import-bind` (+ `set zsk=yes`: a CSK).  So both
publish the same DNSKEY and the same DS, and every signature of either server is
verified here with dnspython against that key.

Checks:
- the DS agrees everywhere: dnssec-dsfromkey, `keymgr ds`, `apexd ds --config`, and the
  DS computed from the DNSKEY each server publishes;
- ~50 queries (apex SOA/NS/DNSKEY/CDS/CDNSKEY/MX/TXT/ANY, names, CNAME chains, CNAME
  to nothing, wildcards (A, TXT, CNAME, NODATA), DS at both delegations, referrals,
  empty non-terminals, NXDOMAIN, NODATA), DO=1 and DO=0, UDP and TCP, to both: rcode
  (both turn NXDOMAIN into NOERROR with DO=1), AA, TC, and per section the set of
  RRsets (owner, type, TTL, rdata) without RRSIG and NSEC (DO=0: everything, and no
  RRSIG/NSEC at all);
- per server (DO=1): every authoritative RRset of answer/authority has an RRSIG that
  verifies (a referral's NS none); denial of existence is provable (an NSEC owned by
  the name, or by the wildcard plus one covering the next closer name, without the
  type and without CNAME); a referral to the signed child has DS + RRSIG, to the
  unsigned one an NSEC at the cut (NS, no DS, no SOA); CDS/CDNSKEY match the key;
  wildcard answers are signed with the wildcard's labels and come with an NSEC
  covering the next closer name (RFC 4035 3.1.3.3);
- apexd only (the spec of issue 13): RFC 9824 compact denial (NXDOMAIN: NSEC owned by
  the name, next \\000.name, bitmap RRSIG NSEC NXNAME), signature inception about now-1h
  and expiration a few days ahead;
- both through a validating unbound (one per server, the DS as trust anchor): AD=1 for
  every query that stays inside the zone; delv "fully validated" for a few.
NSEC layouts (owner, next name, bitmap, TTL) of the two servers are printed where
they differ: informational.

The accepted deviations of knotd are in ACCEPTED below, each with its reason.
--only-knot runs the knotd side alone (DS, signatures, denial, validators): it
checks the plumbing without an apexd; --self-test compares knotd with a second knotd
(same key) to check the comparison itself.  Ends with `N passed, N failed`.  About 7 s.
"""

import os
import re
import time

import dns.dnssec
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype

import dnssec_common as dc
import harness

ZONE = "sig.test."
ZFILE = dc.zpath("sig.test.zone")
Z = dns.name.from_text(ZONE)
T = dns.rdatatype

# (qname, qtype, kind).  kind: pos, any, nodata, nxdomain, wild (answer from a
# wildcard; extra = the wildcard's parent), wild-nodata, referral (extra = (cut,
# has DS)), cname-nx (CNAME to a name that does not exist), ext (CNAME out of zone).
QUERIES = [
    ("sig.test.", "SOA", "pos", None),
    ("sig.test.", "NS", "pos", None),
    ("sig.test.", "DNSKEY", "pos", None),
    ("sig.test.", "CDS", "pos", None),
    ("sig.test.", "CDNSKEY", "pos", None),
    ("sig.test.", "MX", "pos", None),
    ("sig.test.", "TXT", "pos", None),
    ("sig.test.", "ANY", "any", None),
    ("sig.test.", "A", "nodata", None),
    ("sig.test.", "DS", "nodata", None),
    ("SIG.Test.", "SOA", "pos", None),
    ("host.sig.test.", "A", "pos", None),
    ("host.sig.test.", "AAAA", "pos", None),
    ("host.sig.test.", "TXT", "nodata", None),
    ("host.sig.test.", "ANY", "any", None),
    ("HoSt.sig.test.", "A", "pos", None),
    ("multi.sig.test.", "A", "pos", None),
    ("multi.sig.test.", "TXT", "pos", None),
    ("mail.sig.test.", "AAAA", "nodata", None),
    ("ns2.sig.test.", "AAAA", "pos", None),
    ("alias.sig.test.", "A", "pos", None),
    ("alias.sig.test.", "CNAME", "pos", None),
    ("alias.sig.test.", "TXT", "nodata", None),
    ("chain1.sig.test.", "A", "pos", None),
    ("chain1.sig.test.", "AAAA", "pos", None),
    ("ext.sig.test.", "A", "ext", None),
    ("dangling.sig.test.", "A", "cname-nx", None),
    ("x.wild.sig.test.", "A", "wild", "wild.sig.test."),
    ("x.wild.sig.test.", "TXT", "wild", "wild.sig.test."),
    ("a.b.wild.sig.test.", "A", "wild", "wild.sig.test."),
    ("x.wild.sig.test.", "MX", "wild-nodata", "wild.sig.test."),
    ("x.wcname.sig.test.", "A", "wild", "wcname.sig.test."),
    ("real.wild.sig.test.", "A", "pos", None),
    ("real.wild.sig.test.", "TXT", "nodata", None),
    ("wild.sig.test.", "A", "nodata", None),
    ("sub.sig.test.", "DS", "pos", None),
    ("nods.sig.test.", "DS", "nodata", None),
    ("sub.sig.test.", "NS", "referral", ("sub.sig.test.", True)),
    ("y.sub.sig.test.", "A", "referral", ("sub.sig.test.", True)),
    ("ns.sub.sig.test.", "A", "referral", ("sub.sig.test.", True)),
    ("nods.sig.test.", "A", "referral", ("nods.sig.test.", False)),
    ("x.nods.sig.test.", "TXT", "referral", ("nods.sig.test.", False)),
    ("c.sig.test.", "A", "nodata", None),
    ("b.c.sig.test.", "TXT", "nodata", None),
    ("a.b.c.sig.test.", "TXT", "pos", None),
    ("_sip._tcp.sig.test.", "SRV", "pos", None),
    ("_tcp.sig.test.", "SRV", "nodata", None),
    ("caa.sig.test.", "CAA", "pos", None),
    ("nx.sig.test.", "A", "nxdomain", None),
    ("nx.sig.test.", "AAAA", "nxdomain", None),
    ("deep.nx.sig.test.", "TXT", "nxdomain", None),
    ("NoSuch-Name.SIG.test.", "MX", "nxdomain", None),
    ("zzzz.sig.test.", "A", "nxdomain", None),
]

# (label, tcp, do)
VARIANTS = [("udp do", False, True), ("tcp do", True, True),
            ("udp", False, False), ("tcp", True, False)]

# Accepted differences.  Each: the server it is accepted of (or "both"), the check
# or compared item it lifts, a regex on "qname qtype", and why.
ACCEPTED = [
    # knotd's documentation (mod-onlinesign, "Differences from statically signed
    # zones"): "Domain names matching a wildcard are expanded. The module pretends
    # and proves that the domain name exists rather than proving a presence of the
    # wildcard."  Its RRSIG labels field is the query name's, and no NSEC comes with
    # the answer (a wildcard NODATA gets an NSEC at the query name).
    dict(server="knotd", check="wildcard-proof", match=r".",
         reason="knotd signs wildcard answers as if the name existed (documented)"),
    # knotd's documentation (mod-onlinesign, "Known issues", 3.2): "The delegations
    # are not signed correctly."  A referral to a child WITH DS carries an NSEC at
    # the cut (bitmap NS DS RRSIG NSEC) instead of the DS RRset and its RRSIG
    # (RFC 4035 3.1.4); a validator has to ask for the DS itself.
    dict(server="knotd", check="referral-ds", match=r"sub\.sig\.test\. ",
         reason="knotd: referral to a signed child without DS (known issue)"),
    dict(server="diff", check="authority DS", match=r"sub\.sig\.test\. (A|NS)$",
         reason="knotd: referral to a signed child without DS (known issue)"),
    # knotd 3.2 predates RFC 9824: a name that does not exist gets an NSEC owned by
    # the name whose bitmap claims A and AAAA (minus the query type, "so that
    # synthrecord can fill them in"), RRSIG, NSEC: no NXNAME.  Valid for a
    # validator, but not compact denial as apexd's spec has it.
    dict(server="knotd", check="compact-denial", match=r".",
         reason="knotd 3.2 has no RFC 9824 NXNAME; its bitmap lists A/AAAA"),
    # TTLs of the key RRsets are each server's choice (knotd: DNSKEY = SOA TTL via
    # its policy's dnskey-ttl, CDS/CDNSKEY 0); the spec does not fix apexd's.
    dict(server="diff", check="ttl", match=r"^sig\.test\. (DNSKEY|CDS|CDNSKEY)$",
         reason="TTL of DNSKEY/CDS/CDNSKEY is each server's choice"),
]

USED = {}        # index in ACCEPTED -> times used


def accepted(server, check, label):
    if server == "knotd2":      # --self-test: the second knotd
        server = "knotd"
    for i, a in enumerate(ACCEPTED):
        if a["server"] in (server, "both") and a["check"] == check and \
                re.search(a["match"], label, re.I):
            USED[i] = USED.get(i, 0) + 1
            return True
    return False


# --------------------------------------------------------------------------
# per-server checks (DO=1); each returns a list of problems
# --------------------------------------------------------------------------

def server_checks(server, msg, q, dnskeys):
    """[(check name, problems)] for one DO=1 reply."""
    qname, qtype, kind, extra = q
    out = []
    if msg is None:
        return [("reply", ["no reply"])]
    out.append(("signed", dc.check_signatures(msg, ZONE, dnskeys)))
    if server == "apexd":
        out.append(("timing", dc.check_sig_timing(msg)))
    negative = (kind in ("nodata", "nxdomain", "wild-nodata", "cname-nx") or
                (qname.lower() == "alias.sig.test." and qtype == "TXT"))
    if negative:
        out.append(("rcode", [] if msg.rcode() == dns.rcode.NOERROR else
                    ["rcode %s, want NOERROR" % dns.rcode.to_text(msg.rcode())]))
        out.append(("denial", dc.p_denial(msg, ZONE, qname, qtype, kind, extra)))
        if kind != "wild-nodata":
            out.append(("compact-denial", dc.p_compact(msg, ZONE, qname, kind)))
    if kind in ("wild",):
        out.append(("wildcard-proof", dc.p_wildcard(msg, qname, extra)))
    if kind == "referral":
        cut, has_ds = extra
        out.append(("referral", dc.p_referral(msg, cut, has_ds, check_ds=False)))
        if has_ds:
            out.append(("referral-ds", dc.p_referral(msg, cut, has_ds, check_ds=True)))
    if qtype in ("CDS", "CDNSKEY"):
        out.append(("cds", dc.p_cds(msg, ZONE, qtype, dnskeys)))
    return out


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------

def rrset_keys(section, drop, no_ttl=False, drop_types=()):
    out = set()
    for s in section:
        if s.rdtype in drop or s.rdtype in drop_types:
            continue
        out.add((s.name.to_text().lower(), s.rdtype, None if no_ttl else s.ttl,
                 frozenset(rd.to_wire() for rd in s)))
    return out


def key_text(k):
    name, rdtype, ttl, _ = k
    return "%s %s %s" % (name, "-" if ttl is None else ttl, T.to_text(rdtype))


def compare(k, a, label, do, bname="apexd"):
    diffs = []
    if k is None or a is None:
        return ["reply presence: knotd %s, %s %s"
                % ("none" if k is None else "yes", bname, "none" if a is None else "yes")]
    if k.rcode() != a.rcode():
        diffs.append("rcode knotd %s, %s %s" % (dns.rcode.to_text(k.rcode()), bname,
                                                dns.rcode.to_text(a.rcode())))
    for fl in (dns.flags.AA, dns.flags.TC):
        if (k.flags & fl) != (a.flags & fl):
            diffs.append("flag %s: knotd %s, %s %s"
                         % (dns.flags.to_text(fl), bool(k.flags & fl), bname,
                            bool(a.flags & fl)))
    drop = (T.RRSIG, T.NSEC) if do else ()
    no_ttl = accepted("diff", "ttl", label)
    for secname in ("answer", "authority", "additional"):
        drop_types = []
        if accepted("diff", "%s DS" % secname, label):
            drop_types.append(T.DS)
        ks = rrset_keys(getattr(k, secname), drop, no_ttl, drop_types)
        as_ = rrset_keys(getattr(a, secname), drop, no_ttl, drop_types)
        if ks != as_:
            diffs.append("%s: only knotd [%s], only %s [%s]"
                         % (secname, ", ".join(sorted(key_text(x) for x in ks - as_)),
                            bname, ", ".join(sorted(key_text(x) for x in as_ - ks))))
    if not do:
        for who, m in (("knotd", k), (bname, a)):
            extra = [key_text((s.name.to_text(), s.rdtype, s.ttl, None))
                     for sec in (m.answer, m.authority, m.additional) for s in sec
                     if s.rdtype in (T.RRSIG, T.NSEC)]
            if extra:
                diffs.append("%s: DNSSEC records without DO: %s" % (who, extra))
    return diffs


def nsec_layout(m):
    if m is None:
        return "(no reply)"
    out = []
    for s in m.authority:
        if s.rdtype == T.NSEC:
            for rd in s:
                out.append("%s %d NSEC %s %s" % (dc.short(s.name), s.ttl, dc.short(rd.next),
                                                 dc.types_text(dc.nsec_types(rd))))
    return "; ".join(out) or "(none)"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parser():
    ap = harness.base_parser("apexd online signing vs knotd mod-onlinesign")
    ap.add_argument("--only-knot", action="store_true",
                    help="run the knotd side only (no apexd needed)")
    ap.add_argument("--self-test", action="store_true",
                    help="compare knotd with a second knotd (same key): checks the "
                    "comparison itself, no apexd needed")
    ap.add_argument("--show", action="store_true",
                    help="print both servers' DO=1 UDP answers for every query")
    return ap


def ask(port, q, variant):
    qname, qtype = q[0], q[1]
    _l, tcp, do = variant
    for _ in range(2):
        r = harness.query(port, qname, qtype, tcp=tcp, do=do, timeout=2.0)
        if r is not None:
            return r
    return None


def apexd_config(path, port, keydir_rel):
    text = "\n".join([
        "[server]",
        'listen = ["%s:%d"]' % (harness.HOST, port),
        "threads = 1",
        'state_dir = "state"',
        "",
        "[log]",
        'level = "info"',
        "",
        "[[zone]]",
        'origin = "%s"' % ZONE,
        'file = "%s"' % ZFILE,
        "dnssec = true",
        'key_dir = "%s"' % keydir_rel,
        "",
    ])
    with open(path, "w") as f:
        f.write(text)
    return path


def check_ds_agree(res, label, ds_list, want):
    got = {dc.ds_text(o, rd) for o, rd in ds_list}
    return res.check(got == want, "DS agrees: %s" % label,
                     "  got %s\n  want %s" % (sorted(got), sorted(want)))


def run_validators(res, servers, ds_list, workdir):
    """AD=1 through a validating unbound per server, delv on a few names."""
    anchors = dc.write_delv_anchors(os.path.join(workdir, "anchors.conf"), ds_list)
    ad_table = []
    for name, port in servers:
        v = dc.start_validator(os.path.join(workdir, "unbound-" + name),
                               {ZONE: port}, ds_list, ZONE)
        try:
            bad = []
            n = 0
            for q in QUERIES:
                qname, qtype, kind, extra = q
                if kind in ("referral", "ext"):
                    continue   # would leave the zone (glue, www.example.net.)
                if qname.lower() == ZONE and qtype == "DS":
                    continue   # the trust anchor's own DS is the parent's (none here)
                r = dc.vquery(v.port, qname, qtype)
                n += 1
                ok = r is not None and r.rcode() == dns.rcode.NOERROR and dc.is_ad(r)
                ad_table.append((name, qname, qtype, "AD" if dc.is_ad(r) else "--",
                                 dns.rcode.to_text(r.rcode()) if r else "none"))
                if not ok:
                    bad.append("%s %s: %s" % (qname, qtype, dc.brief(r)))
            res.check(not bad, "unbound validates %s's answers: NOERROR AD=1 for %d "
                      "queries" % (name, n),
                      "  " + "\n  ".join(bad[:8]) + "\n  unbound log:\n"
                      + harness.tail(v.stderr(), 30))
            r = dc.vquery(v.port, "host.sig.test.", "A")
            print("NOTE unbound(%s) host.sig.test. A: %s"
                  % (name, dc.brief(r).replace("\n", " | ")))
        finally:
            harness.stop(v)
        for qname, qtype, want in (("host.sig.test.", "A", "validated"),
                                   ("x.wild.sig.test.", "A", "validated"),
                                   ("nx.sig.test.", "A", "negative"),
                                   ("host.sig.test.", "TXT", "negative"),
                                   ("nods.sig.test.", "DS", "negative"),
                                   ("sub.sig.test.", "DS", "validated")):
            rc, out = dc.delv(port, qname, qtype, anchors, ZONE)
            verdict = dc.delv_verdict(out)
            res.check(verdict == want, "delv against %s: %s %s %s" % (name, qname,
                                                                      qtype, want),
                      "  exit %s, verdict %s:\n%s" % (rc, verdict, dc.indent(out)))
            if qname == "nx.sig.test.":
                print("NOTE delv @%s %s %s:\n%s" % (name, qname, qtype, dc.indent(out)))
    return ad_table


def body(args, res, workdir):
    binary = None
    if not (args.only_knot or args.self_test):
        binary = harness.require_apexd(args, res)
        if not binary:
            return
    t0 = time.monotonic()
    adir = os.path.join(workdir, "apexd")
    keydir = os.path.join(adir, "keys")
    os.makedirs(keydir, exist_ok=True)
    base, _ = dc.bind_keygen(keydir, ZONE)
    print("NOTE key: %s (dnssec-keygen -a ECDSAP256SHA256 -f KSK)" % os.path.basename(base))
    want_ds = {dc.ds_text(o, rd) for o, rd in dc.parse_ds_lines(
        dc.bind_dsfromkey(base + ".key"))}

    knot = apexd = None
    try:
        knot = dc.start_knotd_onlinesign(
            os.path.join(workdir, "knotd"),
            [dict(origin=ZONE, file=ZFILE, key="import", keybase=base)])
        check_ds_agree(res, "keymgr ds == dnssec-dsfromkey",
                       dc.knot_ds(knot.config_path, ZONE), want_ds)
        kkeys = dc.fetch_dnskeys(knot.port, ZONE)
        res.check(dc.ds_of_dnskeys(ZONE, kkeys) == want_ds,
                  "DS agrees: knotd's DNSKEY is the imported key",
                  "  DNSKEY: %s" % kkeys.to_text())
        servers = [("knotd", knot.port)]
        akeys = None
        bname = None
        if args.self_test:
            bname = "knotd2"
            apexd = dc.start_knotd_onlinesign(
                os.path.join(workdir, "knotd2"),
                [dict(origin=ZONE, file=ZFILE, key="import", keybase=base)])
            akeys = dc.fetch_dnskeys(apexd.port, ZONE)
            servers.append((bname, apexd.port))
        elif binary:
            bname = "apexd"
            aport = harness.free_port()
            while aport == knot.port:
                aport = harness.free_port()
            conf = apexd_config(os.path.join(adir, "apexd.toml"), aport, "keys")
            rc, out, err = dc.apexd_ds(binary, conf, ZONE)
            if res.check(rc == 0, "apexd ds --config prints the DS of the BIND key",
                         "  exit %s\n  stdout: %s\n  stderr: %s" % (rc, out, err)):
                check_ds_agree(res, "apexd ds == dnssec-dsfromkey",
                               dc.parse_ds_lines(out), want_ds)
            before = dc.key_files(keydir)
            apexd = harness.start_apexd_config(binary, conf, aport, ZONE, adir)
            akeys = dc.fetch_dnskeys(aport, ZONE)
            res.check(dc.ds_of_dnskeys(ZONE, akeys) == want_ds and
                      {k.to_text() for k in akeys} == {k.to_text() for k in kkeys},
                      "apexd publishes the same DNSKEY as knotd (the BIND key)",
                      "  apexd: %s\n  knotd: %s" % (akeys.to_text(), kkeys.to_text()))
            res.check(dc.key_files(keydir) == before and
                      "event=key_generated" not in apexd.stderr(),
                      "apexd generated no key of its own (one was in key_dir)",
                      "  key files before %s, after %s\n%s"
                      % (before, dc.key_files(keydir), harness.tail(apexd.stderr())))
            servers.append(("apexd", aport))

        # ---- queries
        nsec_info = []
        for q in QUERIES:
            qname, qtype = q[0], q[1]
            label = "%s %s" % (qname, qtype)
            for variant in VARIANTS:
                vlabel, tcp, do = variant
                k = ask(knot.port, q, variant)
                a = ask(servers[1][1], q, variant) if bname else None
                replies = [("knotd", k, kkeys)] + ([(bname, a, akeys)] if bname else [])
                if do:
                    for server, m, keys in replies:
                        for check, probs in server_checks(server, m, q, keys):
                            if not probs:
                                res.ok("%s %s: %s [%s]" % (server, check, label, vlabel))
                            elif accepted(server, check, label):
                                if vlabel == "udp do" and args.verbose:
                                    print("ACCEPTED %s %s %s: %s"
                                          % (server, check, label, "; ".join(probs)))
                            else:
                                res.fail("%s %s: %s [%s]" % (server, check, label,
                                                             vlabel),
                                         "  " + "\n  ".join(probs) + "\n  reply:\n"
                                         + dc.indent(dc.brief(m)))
                if args.show and vlabel == "udp do":
                    for server, m, _k in replies:
                        print("SHOW %s %s:\n%s" % (server, label, dc.indent(dc.brief(m))))
                if not bname:
                    continue
                diffs = compare(k, a, label, do, bname)
                res.check(not diffs, "same answer: %s [%s]" % (label, vlabel),
                          "  " + "\n  ".join(diffs) + "\n  knotd:\n"
                          + dc.indent(dc.brief(k)) + "\n  %s:\n" % bname
                          + dc.indent(dc.brief(a)))
                if vlabel == "udp do":
                    kl, al = nsec_layout(k), nsec_layout(a)
                    if kl != al:
                        nsec_info.append("%s\n    knotd: %s\n    %s: %s"
                                         % (label, kl, bname, al))
        if nsec_info:
            print("INFO NSEC layouts that differ (not failures):")
            for line in nsec_info:
                print("  " + line)

        # ---- validators
        run_validators(res, servers, [(o, rd) for o, rd in
                                      dc.parse_ds_lines("\n".join(sorted(want_ds)))],
                       workdir)
        if bname:
            res.check(apexd.alive(), "%s still running at the end" % bname,
                      "  exit %s; stderr:\n%s" % (apexd.popen.returncode,
                                                  harness.tail(apexd.stderr())))
    finally:
        for p in (apexd, knot):
            if p is not None:
                harness.stop(p)
    for i, a in enumerate(ACCEPTED):
        print("NOTE accepted (%s, %s) x%d: %s" % (a["server"], a["check"],
                                                   USED.get(i, 0), a["reason"]))
    print("NOTE took %.1fs" % (time.monotonic() - t0))


if __name__ == "__main__":
    harness.main(body, parser())
