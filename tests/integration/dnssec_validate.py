#!/usr/bin/python3
"""apexd's online DNSSEC signing, checked by real validators (unbound, delv).

    /usr/bin/python3 tests/integration/dnssec_validate.py --apexd build-rel/apexd
    /usr/bin/python3 tests/integration/dnssec_validate.py --knot   # plumbing, no apexd

apexd serves, signed (dnssec = true, key_dir = keys):
- sec.test. (zones/dnssec/sec.test.zone): apex CNAME flattened to my-app.platform.test.
  (TTL 2), `www` proxied ([proxy] edges), `v4` flattened by tag to a name with an A only,
  `*.wild`, `host` A/AAAA, `sub` (NS + DS) and `nods` (NS, no DS); its key is generated
  by apexd at the first start (event=key_generated);
- kg.test. (key from `apexd keygen` before the start), ed.test. (`apexd keygen
  --algorithm ed25519`), bind.test. (BIND's `dnssec-keygen -a ECDSAP256SHA256 -f KSK`),
  gen-ed.test. (generated at start-up, dnssec_algorithm = "ed25519"): small zones from
  zones/dnssec/small.zone.in.
platform.test. is served by knotd (unsigned) and reached by apexd through an unbound
([resolver] upstreams), as in flatten_peers.py.  The DS of every zone comes from
`apexd ds --config FILE ZONE` (exit 1 before sec.test.'s key exists) and must match the
DNSKEY apexd serves (and dnssec-dsfromkey for the BIND key).

Checks:
- directly (DO=1, UDP and TCP): every authoritative RRset signed and verifying with the
  zone's DNSKEY (dnspython), inception about now-1h, expiration days ahead; compact
  denial (RFC 9824: NOERROR, NSEC at the name, next \\000.name, RRSIG NSEC NXNAME for a
  name that does not exist; NODATA bitmaps = the name's types: flattened A AAAA never
  CNAME minus the queried type, proxied the edge families); wildcard RRSIG labels + an
  NSEC covering the next closer name; referrals (DS + RRSIG, or NSEC at the cut);
  CDS/CDNSKEY = the key;
- DO=0 (and no EDNS): no RRSIG/NSEC anywhere, NXDOMAIN stays NXDOMAIN, DNSKEY answered;
- a validating unbound (trust anchors = the DS lines, stubbed to apexd only): AD=1 for
  the flattened apex A/AAAA, the proxied www A/AAAA, a wildcard name, host A/AAAA, a
  random name (NOERROR + NSEC with TYPE128), NODATA (host TXT), the AAAA of the A-only
  flattened name, DNSKEY, the DS of both delegations, and the small zones;
- delv straight at apexd (-a static-ds anchors, +root=ZONE): "fully validated" /
  "negative response, fully validated";
- AXFR/IXFR of a signed zone: REFUSED (allow_transfer = 127.0.0.1/32); with
  transfer_unsigned = true the AXFR works and has no RRSIG/NSEC/DNSKEY/CDS/CDNSKEY;
- /metrics: the four signing counters;
- the platform moves my-app (knotc zone-reload): the new address is answered by
  unbound with AD=1 (never a SERVFAIL meanwhile) and by apexd with a valid RRSIG;
- a restart keeps the keys (no new key, same DS); with [dnssec]
  test_corrupt_signatures = true a fresh unbound answers SERVFAIL (the data is there
  with CD=1), delv does not validate, and dnspython rejects the signatures.
The validators' outputs are printed (VALIDATOR / DELV lines) so they can be quoted.

--knot checks the same validator plumbing against knotd's mod-onlinesign (sig.test.
with an imported BIND key, kn.test. with a key knotd made; DS from keymgr), plus a
negative control (a wrong trust anchor gives SERVFAIL and no delv validation).
Everything runs on 127.0.0.1, on free ports; every process is stopped by PID.  Ends
with `N passed, N failed`.  About 5 s (the moved target may take up to 15 s).
"""

import http.client
import ipaddress
import os
import random
import re
import shutil
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset

import dnssec_common as dc
import harness
import peers

T = dns.rdatatype
ZONE = "sec.test."
PLATFORM = "platform.test."
SMALL = ["kg.test.", "ed.test.", "bind.test.", "gen-ed.test."]
EDGE4 = ["203.0.113.10", "203.0.113.11"]
EDGE6 = ["2001:db8:e0::10"]
A1, A2 = "198.51.100.7", "198.51.100.8"
AAAA1 = "2001:db8::7"
V4ONLY = "198.51.100.20"
RESOLVER = {"timeout": '"800ms"', "deadline": '"1500ms"', "min_ttl": "1",
            "max_ttl": "86400"}
CHANGE_BOUND = 15.0      # the moved address must validate within this
TRANSFER_ZONE_REFUSED = "kg.test."     # allow_transfer, signed: AXFR REFUSED
TRANSFER_ZONE_UNSIGNED = "ed.test."    # allow_transfer + transfer_unsigned = true


def norm(a):
    return str(ipaddress.ip_address(a))


def rand_label(prefix="nx"):
    return "%s-%06d" % (prefix, random.randrange(10 ** 6))


# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------

def small_zone(path, origin):
    with open(dc.zpath("small.zone.in")) as f:
        text = f.read().replace("@ORIGIN@", origin)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_config(path, port, uport, cport, zdir, corrupt=False):
    L = ["[server]",
         'listen = ["%s:%d"]' % (harness.HOST, port),
         "threads = 2",
         'state_dir = "state"',
         "",
         "[log]",
         'level = "info"',
         "",
         "[control]",
         'listen = "%s:%d"' % (harness.HOST, cport),
         "",
         "[proxy]",
         "ipv4 = %s" % peers.toml_list(EDGE4),
         "ipv6 = %s" % peers.toml_list(EDGE6),
         "ttl = 300",
         "",
         "[resolver]",
         'upstreams = ["%s:%d"]' % (harness.HOST, uport)]
    L += ["%s = %s" % kv for kv in RESOLVER.items()]
    L += ["",
          "[dnssec]",
          "signature_cache = 10000",
          "signing_budget = 0",
          "test_corrupt_signatures = %s" % ("true" if corrupt else "false"),
          "",
          "[[zone]]",
          'origin = "%s"' % ZONE,
          'file = "%s"' % dc.zpath("sec.test.zone"),
          'flatten = "apex"',
          'proxied = ["www"]',
          "dnssec = true",
          'key_dir = "keys"',
          ""]
    for z in SMALL:
        L += ["[[zone]]",
              'origin = "%s"' % z,
              'file = "%s"' % os.path.join(zdir, z + "zone"),
              "dnssec = true",
              'key_dir = "keys"']
        if z == "gen-ed.test.":
            L.append('dnssec_algorithm = "ed25519"')
        if z in (TRANSFER_ZONE_REFUSED, TRANSFER_ZONE_UNSIGNED):
            L.append('allow_transfer = ["127.0.0.1/32"]')
        if z == TRANSFER_ZONE_UNSIGNED:
            L.append("transfer_unsigned = true")
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))
    return path


def dnskey_of_keyfile(path):
    """The DNSKEY rdata of a BIND K*.key file."""
    with open(path) as f:
        for line in f:
            line = line.split(";", 1)[0].strip()
            toks = line.split()
            up = [t.upper() for t in toks]
            if "DNSKEY" in up:
                i = up.index("DNSKEY")
                return dns.name.from_text(toks[0]), dns.rdata.from_text(
                    "IN", "DNSKEY", " ".join(toks[i + 1:]))
    raise RuntimeError("no DNSKEY in %s" % path)


# --------------------------------------------------------------------------
# direct checks against the signing server
# --------------------------------------------------------------------------

class Direct:
    """DO=1 queries straight to the server, checked with dnspython."""

    def __init__(self, res, port, keys, spec=True):
        self.res = res
        self.port = port
        self.keys = keys        # {zone: DNSKEY rrset}
        self.spec = spec        # apexd's spec shapes (compact denial, timing)

    def q(self, qname, qtype, tcp=False, do=True, edns=True):
        for _ in range(2):
            r = harness.query(self.port, qname, qtype, tcp=tcp, do=do, edns=edns,
                              timeout=3.0)
            if r is not None:
                return r
        return None

    def check(self, zone, qname, qtype, kind="pos", want=None, extra=None,
              bitmap=None, tcp=False):
        """kind: pos (want = rdata texts of the qtype RRset at qname), nodata,
        nxdomain, wild (extra = wildcard parent), referral (extra = (cut, has_ds)).
        bitmap: for nodata, the exact NSEC type set wanted (spec)."""
        r = self.q(qname, qtype, tcp=tcp)
        p = []
        label = "%s %s%s" % (qname, qtype, " tcp" if tcp else "")
        if r is None:
            self.res.fail("direct %s: no reply" % label)
            return None
        keys = self.keys[zone]
        p += dc.check_signatures(r, zone, keys)
        if self.spec:
            p += dc.check_sig_timing(r)
        if kind != "referral":
            if r.rcode() != dns.rcode.NOERROR:
                p.append("rcode %s, want NOERROR" % dns.rcode.to_text(r.rcode()))
            if not r.flags & dns.flags.AA:
                p.append("AA not set")
        if kind in ("pos", "wild"):
            sets = [s for s in r.answer if s.rdtype == T.from_text(qtype) and
                    s.name == dns.name.from_text(qname)]
            if not sets:
                p.append("no %s RRset at %s in the answer" % (qtype, qname))
            elif want is not None:
                got = {norm(rd.to_text()) if qtype in ("A", "AAAA") else rd.to_text()
                       for rd in sets[0]}
                w = {norm(x) if qtype in ("A", "AAAA") else x for x in want}
                if got != w:
                    p.append("%s %s, want %s" % (qtype, sorted(got), sorted(w)))
        if kind == "wild":
            p += dc.p_wildcard(r, qname, extra)
        if kind in ("nodata", "nxdomain"):
            if any(s.rdtype == T.from_text(qtype) for s in r.answer):
                p.append("answer has %s" % qtype)
            p += dc.p_denial(r, zone, qname, qtype, kind)
            if self.spec:
                p += dc.p_compact(r, zone, qname, kind)
                if bitmap is not None:
                    mine = [t for o, n, t in dc.nsecs(r)
                            if o == dns.name.from_text(qname)]
                    want_b = {T.from_text(x) if not x.isdigit() else int(x)
                              for x in bitmap.split()}
                    if mine and mine[0] != want_b:
                        p.append("NSEC bitmap %s, want %s" % (dc.types_text(mine[0]),
                                                              dc.types_text(want_b)))
        if kind == "referral":
            cut, has_ds = extra
            p += dc.p_referral(r, cut, has_ds)
        if qtype in ("CDS", "CDNSKEY"):
            p += dc.p_cds(r, zone, qtype, keys)
        self.res.check(not p, "direct DO=1 %s: %s" % (kind, label),
                       "  " + "\n  ".join(p) + "\n  reply:\n" + dc.indent(dc.brief(r, True)))
        return r

    def do0(self, qname, qtype, rcode=dns.rcode.NOERROR, answer_type=None,
            edns=True, tcp=False):
        """DO=0 (or no EDNS): no DNSSEC records, the rcode of the unsigned zone."""
        r = self.q(qname, qtype, do=False, edns=edns, tcp=tcp)
        p = []
        if r is None:
            p.append("no reply")
        else:
            if r.rcode() != rcode:
                p.append("rcode %s, want %s" % (dns.rcode.to_text(r.rcode()),
                                                dns.rcode.to_text(rcode)))
            for sec in (r.answer, r.authority, r.additional):
                for s in sec:
                    if s.rdtype in (T.RRSIG, T.NSEC, T.NSEC3):
                        p.append("%s %s without DO" % (s.name, T.to_text(s.rdtype)))
            if answer_type and not any(s.rdtype == T.from_text(answer_type)
                                       for s in r.answer):
                p.append("no %s in the answer" % answer_type)
        self.res.check(not p, "%s: %s %s%s -> %s, no RRSIG/NSEC"
                       % ("no EDNS" if not edns else "DO=0", qname, qtype,
                          " tcp" if tcp else "", dns.rcode.to_text(rcode)),
                       "  " + "\n  ".join(p) + "\n  reply:\n" + dc.indent(dc.brief(r)))
        return r


# --------------------------------------------------------------------------
# validators
# --------------------------------------------------------------------------

def one_line(r):
    if r is None:
        return "(no reply)"
    parts = ["%s %s" % (dns.rcode.to_text(r.rcode()), dc.flags_text(r))]
    for s in r.answer:
        if s.rdtype != T.RRSIG:
            parts += [l for l in s.to_text().splitlines()]
        else:
            parts.append("RRSIG(%s) x%d" % (T.to_text(s.covers), len(s)))
    for o, n, t in dc.nsecs(r):
        parts.append("auth: %s NSEC %s %s" % (dc.short(o), dc.short(n), dc.types_text(t)))
    return " | ".join(parts)


def vcheck(res, vport, qname, qtype, want=None, empty=False, nxname=False,
           label="", rcode=dns.rcode.NOERROR, ad=True, cd=False):
    """Ask the validating unbound; print its answer line; check rcode, AD and the
    data (want = rdata texts of qtype at qname; empty = NODATA)."""
    r = dc.vquery(vport, qname, qtype, cd=cd)
    print("VALIDATOR %s %s%s: %s" % (qname, qtype, " (CD)" if cd else "", one_line(r)))
    p = []
    if r is None:
        p.append("no reply")
    else:
        if r.rcode() != rcode:
            p.append("rcode %s, want %s" % (dns.rcode.to_text(r.rcode()),
                                            dns.rcode.to_text(rcode)))
        if ad and not dc.is_ad(r):
            p.append("AD not set")
        if not ad and dc.is_ad(r):
            p.append("AD set")
        if want is not None:
            got = set()
            end = dc.final_name(r, qname, ".")     # the end of a CNAME chain
            for s in r.answer:
                if s.rdtype == T.from_text(qtype) and s.name == end:
                    got = {norm(rd.to_text()) if qtype in ("A", "AAAA") else
                           rd.to_text() for rd in s}
            w = {norm(x) if qtype in ("A", "AAAA") else x for x in want}
            if got != w:
                p.append("%s %s, want %s" % (qtype, sorted(got), sorted(w)))
        if empty and any(s.rdtype == T.from_text(qtype) for s in r.answer):
            p.append("answer not empty")
        if nxname:
            mine = [t for o, n, t in dc.nsecs(r) if o == dns.name.from_text(qname)]
            if not mine or dc.NXNAME not in mine[0]:
                p.append("no NSEC at %s with TYPE128 (NXNAME) in the authority section"
                         % qname)
    what = "AD=1" if ad else "no AD"
    if rcode != dns.rcode.NOERROR:
        what = dns.rcode.to_text(rcode)
    res.check(not p, "unbound %s: %s %s%s" % (what, qname, qtype,
                                             (" (" + label + ")") if label else ""),
              "  " + "\n  ".join(p))
    return r


def dcheck(res, port, anchors, zone, qname, qtype, want, label="", show=True):
    """delv straight at the server; want = validated / negative / failed."""
    rc, out = dc.delv(port, qname, qtype, anchors, zone)
    verdict = dc.delv_verdict(out)
    if show:
        print("DELV delv @127.0.0.1 -p %d -a anchors.conf +root=%s %s %s  (exit %s)\n%s"
              % (port, zone.rstrip("."), qname, qtype, rc, dc.indent(out)))
    res.check(verdict == want, "delv %s: %s %s%s" % (want, qname, qtype,
                                                     (" (" + label + ")") if label else ""),
              "  exit %s, verdict %s:\n%s" % (rc, verdict, dc.indent(out)))
    return out


def negative_control(res, workdir, stubs, zone, good_ds, port, qname):
    """A wrong trust anchor (digest changed) must make validation fail."""
    owner, rd = good_ds
    bad_digest = bytes([rd.digest[0] ^ 0xFF]) + rd.digest[1:]
    bad = dns.rdata.from_text("IN", "DS", "%d %d %d %s" % (
        rd.key_tag, rd.algorithm, rd.digest_type, bad_digest.hex()))
    v = dc.start_validator(os.path.join(workdir, "unbound-wrong"), stubs,
                           [(owner, bad)], zone, control_port=harness.free_port())
    try:
        vcheck(res, v.port, qname, "A", rcode=dns.rcode.SERVFAIL, ad=False,
               label="negative control: wrong trust anchor")
    finally:
        harness.stop(v)
    anchors = dc.write_delv_anchors(os.path.join(workdir, "wrong-anchor.conf"),
                                    [(owner, bad)])
    dcheck(res, port, anchors, zone, qname, "A", "failed",
           label="negative control: wrong trust anchor")


# --------------------------------------------------------------------------
# apexd
# --------------------------------------------------------------------------

def keygen_checks(res, binary, keydir):
    """apexd keygen (ECDSA default and Ed25519) and dnssec-keygen; returns
    {zone: base path}."""
    bases = {}
    for zone, alg, algnum in (("kg.test.", None, 13), ("ed.test.", "ed25519", 15)):
        rc, out, err = dc.apexd_keygen(binary, keydir, zone, algorithm=alg)
        base = out.strip().splitlines()[-1].strip() if out.strip() else ""
        m = re.match(r"^K%s\+0*%d\+\d{5}$" % (re.escape(zone), algnum), base)
        files_ok = m and all(os.path.isfile(os.path.join(keydir, base + ext))
                             for ext in (".key", ".private"))
        res.check(rc == 0 and bool(files_ok),
                  "apexd keygen%s %s prints Kzone.+%03d+tag and writes .key/.private"
                  % (" --algorithm " + alg if alg else "", zone, algnum),
                  "  exit %s\n  stdout: %s\n  stderr: %s\n  files: %s"
                  % (rc, out.strip(), err.strip(), dc.key_files(keydir)))
        if files_ok:
            owner, key = dnskey_of_keyfile(os.path.join(keydir, base + ".key"))
            res.check(owner == dns.name.from_text(zone) and key.flags == 257 and
                      key.algorithm == algnum,
                      "apexd keygen %s: DNSKEY 257 3 %d in the .key file" % (zone, algnum),
                      "  %s %s" % (owner, key.to_text()))
            bases[zone] = os.path.join(keydir, base)
    base, _ = dc.bind_keygen(keydir, "bind.test.")
    bases["bind.test."] = base
    print("NOTE keys before the first start: %s" % ", ".join(dc.key_files(keydir)))
    return bases


def ds_checks(res, binary, conf, zone, keys_rrset=None, keyfile=None, dsfromkey=None):
    """apexd ds for zone: one DS (SHA-256) per KSK/CSK, matching the served DNSKEY,
    the .key file and dnssec-dsfromkey as given.  Returns the [(owner, DS)]."""
    rc, out, err = dc.apexd_ds(binary, conf, zone)
    ds = [(o, rd) for o, rd in dc.parse_ds_lines(out)]
    fmt = all(re.match(r"^%s\s+\d+\s+IN\s+DS\s+\d+\s+\d+\s+2\s+[0-9A-Fa-f]{64}$"
                       % re.escape(zone), l.strip())
              for l in out.strip().splitlines())
    if not res.check(rc == 0 and ds and fmt and all(o == dns.name.from_text(zone)
                                                    for o, _ in ds),
                     "apexd ds --config FILE %s: `%s TTL IN DS tag alg 2 HEX` lines"
                     % (zone, zone),
                     "  exit %s\n  stdout: %s\n  stderr: %s" % (rc, out.strip(), err.strip())):
        return ds
    got = {dc.ds_text(o, rd) for o, rd in ds}
    if keys_rrset is not None:
        want = dc.ds_of_dnskeys(zone, keys_rrset)
        res.check(got == want, "apexd ds %s matches the DNSKEY apexd serves" % zone,
                  "  apexd ds: %s\n  from DNSKEY: %s" % (sorted(got), sorted(want)))
    if keyfile is not None:
        owner, key = dnskey_of_keyfile(keyfile)
        want = {dc.ds_text(owner, dns.dnssec.make_ds(owner, key, "SHA256"))}
        res.check(got == want, "apexd ds %s matches the key file %s"
                  % (zone, os.path.basename(keyfile)),
                  "  apexd ds: %s\n  from the file: %s" % (sorted(got), sorted(want)))
    if dsfromkey is not None:
        want = {dc.ds_text(o, rd) for o, rd in dc.parse_ds_lines(dsfromkey)}
        res.check(got == want, "apexd ds %s == dnssec-dsfromkey -2" % zone,
                  "  apexd ds: %s\n  dnssec-dsfromkey: %s" % (sorted(got), sorted(want)))
    return ds


def key_generated_lines(text):
    return [l for l in text.splitlines() if "event=key_generated" in l]


def names_zone(line, zone):
    """The log line names zone (with or without the final dot, as a word)."""
    return re.search(r"(^|[\s=\"'])%s\.?($|[\s\"',])" % re.escape(zone.rstrip(".")),
                     line) is not None


def metrics_checks(res, cport, direct):
    def fetch():
        c = http.client.HTTPConnection(harness.HOST, cport, timeout=3)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            c.close()

    def val(text, name):
        tot = None
        for line in text.splitlines():
            if line.startswith(name) and (len(line) == len(name) or
                                          line[len(name)] in " {"):
                try:
                    tot = (tot or 0.0) + float(line.split()[-1])
                except ValueError:
                    pass
        return tot
    try:
        st, before = fetch()
    except OSError as e:
        res.fail("/metrics reachable", "  %r" % e)
        return
    for _ in range(3):   # over TCP: UDP repeats may come from the answer cache
        direct.q("host.sec.test.", "A", tcp=True)
    st, after = fetch()
    names = ["apexd_signatures_made_total", "apexd_signature_cache_hits_total",
             "apexd_signature_cache_misses_total", "apexd_signing_throttled_total"]
    vals = {n: val(after, n) for n in names}
    res.check(st == 200 and all(v is not None for v in vals.values()),
              "/metrics has the four signing counters",
              "  status %s; values %s" % (st, vals))
    made = vals["apexd_signatures_made_total"] or 0
    hits_b = val(before, "apexd_signature_cache_hits_total") or 0
    hits_a = vals["apexd_signature_cache_hits_total"] or 0
    res.check(made > 0 and hits_a > hits_b,
              "signatures made > 0, and repeated answers hit the signature cache",
              "  made %s, cache hits %s -> %s" % (made, hits_b, hits_a))
    print("NOTE metrics: %s" % ", ".join("%s=%s" % kv for kv in vals.items()))


def xfr_checks(res, port):
    # a signed zone without transfer_unsigned: REFUSED, AXFR and IXFR
    z = TRANSFER_ZONE_REFUSED
    q = dns.message.make_query(z, "AXFR")
    rep = harness.send_tcp_raw(port, q.to_wire(), timeout=5.0)
    m = harness.parse(rep) if rep else None
    res.check(m is not None and m.rcode() == dns.rcode.REFUSED,
              "AXFR of the signed %s (allowed address, transfer_unsigned = false): "
              "REFUSED" % z, "  reply:\n" + dc.indent(dc.brief(m)))
    q = dns.message.make_query(z, "IXFR")
    q.authority.append(dns.rrset.from_text(z, 0, "IN", "SOA",
                                           "ns1.%s hostmaster.%s 1 3600 600 86400 60"
                                           % (z, z)))
    rep = harness.send_tcp_raw(port, q.to_wire(), timeout=5.0)
    m = harness.parse(rep) if rep else None
    res.check(m is not None and m.rcode() == dns.rcode.REFUSED,
              "IXFR of the signed %s: REFUSED" % z, "  reply:\n" + dc.indent(dc.brief(m)))
    # transfer_unsigned = true: the unsigned zone
    z = TRANSFER_ZONE_UNSIGNED
    rrsets = []
    err = None
    try:
        for msg in dns.query.xfr(harness.HOST, z, port=port, lifetime=10.0,
                                 relativize=False):
            rrsets += list(msg.answer)
    except Exception as e:  # noqa: BLE001 - reported
        err = e
    types = [s.rdtype for s in rrsets]
    bad = sorted({T.to_text(t) for t in types
                  if t in (T.RRSIG, T.NSEC, T.NSEC3, T.DNSKEY, T.CDS, T.CDNSKEY)})
    has_host = any(s.name == dns.name.from_text("host." + z) and s.rdtype == T.A
                   for s in rrsets)
    res.check(err is None and types[:1] == [T.SOA] and types[-1:] == [T.SOA] and
              has_host and not bad,
              "AXFR of %s with transfer_unsigned = true: the zone, no RRSIG/NSEC/"
              "DNSKEY/CDS/CDNSKEY" % z,
              "  error %r; %d RRsets; DNSSEC types %s; host A %s"
              % (err, len(rrsets), bad, has_host))


def change_checks(res, knot, kzone, vport, uctl, direct, keys):
    with open(kzone) as f:
        text = f.read()
    text = text.replace("IN SOA  ns hostmaster 1 ", "IN SOA  ns hostmaster 2 ")
    text = text.replace(A1, A2)
    with open(kzone, "w") as f:
        f.write(text)
    t0 = time.monotonic()
    rc, out = peers.knotc_reload(knot, PLATFORM)
    kr = peers.wait_answer(knot.port, "my-app.platform.test.", "A",
                           lambda m: any(rd.to_text() == A2 for s in m.answer for rd in s),
                           timeout=5.0)
    if not (kr is not None and any(rd.to_text() == A2 for s in kr.answer for rd in s)):
        res.fail("harness: knotd did not take the changed platform zone",
                 "  knotc exit %s: %s\n  knotd: %s" % (rc, out, dc.brief(kr)))
        return
    timeline = []
    bad = []
    seen = None
    last = None
    while time.monotonic() - t0 < CHANGE_BOUND:
        dc.unbound_control(uctl, "flush_zone", ZONE)
        r = dc.vquery(vport, ZONE, "A")
        last = r
        now = time.monotonic() - t0
        addrs = set()
        if r is not None:
            addrs = {rd.to_text() for s in r.answer if s.rdtype == T.A for rd in s}
        timeline.append("+%.1fs %s %s%s" % (now, dns.rcode.to_text(r.rcode()) if r else
                                            "none", ",".join(sorted(addrs)) or "-",
                                            " AD" if dc.is_ad(r) else ""))
        if r is None or r.rcode() != dns.rcode.NOERROR or not dc.is_ad(r) or \
                addrs not in ({A1}, {A2}):
            bad.append(timeline[-1])
        if addrs == {A2} and dc.is_ad(r):
            seen = now
            break
        time.sleep(0.3)
    print("NOTE moved target through the validator: %s" % " ".join(timeline))
    print("VALIDATOR %s A (after the move): %s" % (ZONE, one_line(last)))
    res.check(seen is not None,
              "moved flattened target (%s -> %s): unbound answers the new address with "
              "AD=1 within %.0fs" % (A1, A2, CHANGE_BOUND),
              "  timeline: %s" % " ".join(timeline))
    res.check(not bad, "while the target moved, every validated answer was NOERROR "
              "AD=1 with the old or the new address", "  bad: %s" % " ".join(bad[:6]))
    direct.check(ZONE, ZONE, "A", want=[A2])
    direct.check(ZONE, ZONE, "A", want=[A2], tcp=True)


def apexd_body(args, res, workdir, binary):
    t_start = time.monotonic()
    adir = os.path.join(workdir, "apexd")
    keydir = os.path.join(adir, "keys")
    zdir = os.path.join(adir, "zones")
    for d in (keydir, zdir):
        os.makedirs(d, exist_ok=True)
    for z in SMALL:
        small_zone(os.path.join(zdir, z + "zone"), z)
    kdir = os.path.join(workdir, "knotd")
    os.makedirs(kdir, exist_ok=True)
    kzone = os.path.join(kdir, "platform.test.zone")
    shutil.copy(dc.zpath("platform.test.zone"), kzone)

    bases = keygen_checks(res, binary, keydir)
    aport, uport, cport, vport, vcport = harness.distinct_ports(5)
    conf = write_config(os.path.join(adir, "apexd.toml"), aport, uport, cport, zdir)

    rc, out, err = dc.apexd_ds(binary, conf, ZONE)
    res.check(rc == 1 and not dc.parse_ds_lines(out) and (out + err).strip(),
              "apexd ds before sec.test.'s key exists: exit 1 with an error",
              "  exit %s\n  stdout: %s\n  stderr: %s" % (rc, out.strip(), err.strip()))
    pre_ds = {}
    for z in ("kg.test.", "ed.test."):
        if z in bases:
            pre_ds[z] = ds_checks(res, binary, conf, z, keyfile=bases[z] + ".key")
    pre_ds["bind.test."] = ds_checks(res, binary, conf, "bind.test.",
                                     keyfile=bases["bind.test."] + ".key",
                                     dsfromkey=dc.bind_dsfromkey(bases["bind.test."]
                                                                 + ".key"))

    knot = up = apexd = v = None
    try:
        knot = harness.start_knotd([(PLATFORM, kzone)], workdir=kdir)
        up = peers.start_unbound(os.path.join(workdir, "unbound-up"),
                                 {PLATFORM: knot.port}, port=uport)
        before = dc.key_files(keydir)
        apexd = harness.start_apexd_config(binary, conf, aport, ZONE, adir)
        log = apexd.stderr()
        gen = key_generated_lines(log)
        res.check(len(gen) == 2 and any(names_zone(l, ZONE) for l in gen) and
                  any(names_zone(l, "gen-ed.test.") for l in gen),
                  "first start: event=key_generated for sec.test. and gen-ed.test. only",
                  "  lines:\n" + dc.indent("\n".join(gen) or "(none)"))
        new = sorted(set(dc.key_files(keydir)) - set(before))
        res.check(len(new) == 4 and sum(f.startswith("Ksec.test.+013+") for f in new) == 2
                  and sum(f.startswith("Kgen-ed.test.+015+") for f in new) == 2,
                  "the generated keys are BIND files in key_dir: Ksec.test.+013+tag, "
                  "Kgen-ed.test.+015+tag (.key/.private)", "  new files: %s" % new)
        print("NOTE generated: %s" % ", ".join(new))

        keys = {}
        for z in [ZONE] + SMALL:
            keys[z] = dc.fetch_dnskeys(aport, z)
        want_alg = {ZONE: 13, "kg.test.": 13, "ed.test.": 15, "bind.test.": 13,
                    "gen-ed.test.": 15}
        for z, alg in want_alg.items():
            res.check({k.algorithm for k in keys[z]} == {alg} and
                      any(k.flags == 257 for k in keys[z]),
                      "%s DNSKEY: a flags-257 key of algorithm %d" % (z, alg),
                      "  %s" % keys[z].to_text())
        ds = {}
        for z in [ZONE, "gen-ed.test."]:
            ds[z] = ds_checks(res, binary, conf, z, keys_rrset=keys[z])
        for z in ("kg.test.", "ed.test.", "bind.test."):
            ds[z] = ds_checks(res, binary, conf, z, keys_rrset=keys[z])
            res.check({dc.ds_text(*x) for x in ds[z]} ==
                      {dc.ds_text(*x) for x in pre_ds.get(z, [])},
                      "apexd ds %s: the same before and after the start" % z)
        all_ds = [x for z in ds for x in ds[z]]
        for o, rd in all_ds:
            print("NOTE DS %s" % dc.ds_text(o, rd))

        # ---- direct
        d = Direct(res, aport, keys, spec=True)
        for tcp in (False, True):
            d.check(ZONE, ZONE, "A", want=[A1], tcp=tcp)
            d.check(ZONE, ZONE, "AAAA", want=[AAAA1], tcp=tcp)
            d.check(ZONE, "www.sec.test.", "A", want=EDGE4, tcp=tcp)
            d.check(ZONE, "www.sec.test.", "AAAA", want=EDGE6, tcp=tcp)
            d.check(ZONE, "v4.sec.test.", "A", want=[V4ONLY], tcp=tcp)
            d.check(ZONE, "v4.sec.test.", "AAAA", "nodata", bitmap="A RRSIG NSEC",
                    tcp=tcp)
            d.check(ZONE, "x.wild.sec.test.", "A", "wild", want=["192.0.2.60"],
                    extra="wild.sec.test.", tcp=tcp)
            d.check(ZONE, "a.b.wild.sec.test.", "A", "wild", want=["192.0.2.60"],
                    extra="wild.sec.test.", tcp=tcp)
            d.check(ZONE, "host.sec.test.", "A", want=["192.0.2.10"], tcp=tcp)
            d.check(ZONE, "host.sec.test.", "TXT", "nodata",
                    bitmap="A AAAA RRSIG NSEC", tcp=tcp)
            d.check(ZONE, "www.sec.test.", "TXT", "nodata",
                    bitmap="A AAAA RRSIG NSEC", tcp=tcp)
            d.check(ZONE, rand_label() + ".sec.test.", "A", "nxdomain", tcp=tcp)
            d.check(ZONE, "sub.sec.test.", "DS", tcp=tcp)
            d.check(ZONE, "nods.sec.test.", "DS", "nodata", tcp=tcp)
            d.check(ZONE, "y.sub.sec.test.", "A", "referral",
                    extra=("sub.sec.test.", True), tcp=tcp)
            d.check(ZONE, "nods.sec.test.", "A", "referral",
                    extra=("nods.sec.test.", False), tcp=tcp)
        d.check(ZONE, ZONE, "CNAME", "nodata")
        r = d.q(ZONE, "CNAME")
        mine = [t for o, n, t in dc.nsecs(r) if o == dns.name.from_text(ZONE)]
        want_apex = {T.SOA, T.NS, T.MX, T.TXT, T.A, T.AAAA, T.DNSKEY, T.RRSIG, T.NSEC}
        res.check(bool(mine) and want_apex <= mine[0] and T.CNAME not in mine[0],
                  "apex NODATA (CNAME): bitmap lists the apex's types, A AAAA, never CNAME",
                  "  %s" % dc.nsec_text(r))
        for t in ("SOA", "NS", "MX", "TXT", "DNSKEY", "CDS", "CDNSKEY"):
            d.check(ZONE, ZONE, t)
        for z in SMALL:
            d.check(z, "host." + z, "A", want=["192.0.2.11"])
            d.check(z, "x.any." + z, "TXT", "wild", extra="any." + z)
            d.check(z, rand_label() + "." + z, "AAAA", "nxdomain")
            d.check(z, z, "DNSKEY")

        # ---- DO=0
        d.do0(ZONE, "A", answer_type="A")
        d.do0("www.sec.test.", "AAAA", answer_type="AAAA")
        d.do0("x.wild.sec.test.", "A", answer_type="A")
        d.do0("host.sec.test.", "A", answer_type="A")
        d.do0("host.sec.test.", "TXT")
        d.do0("v4.sec.test.", "AAAA")
        nx = rand_label() + ".sec.test."
        d.do0(nx, "A", rcode=dns.rcode.NXDOMAIN)
        d.do0(nx, "A", rcode=dns.rcode.NXDOMAIN, tcp=True)
        d.do0(nx, "A", rcode=dns.rcode.NXDOMAIN, edns=False)
        d.do0(ZONE, "DNSKEY", answer_type="DNSKEY")
        d.do0("y.sub.sec.test.", "A")

        metrics_checks(res, cport, d)
        xfr_checks(res, aport)

        # ---- validators
        stubs = {z: aport for z in [ZONE] + SMALL}
        v = dc.start_validator(os.path.join(workdir, "unbound-val"), stubs, all_ds,
                               ZONE, port=vport, control_port=vcport)
        vcheck(res, vport, ZONE, "A", want=[A1], label="flattened apex")
        vcheck(res, vport, ZONE, "AAAA", want=[AAAA1], label="flattened apex")
        vcheck(res, vport, "www.sec.test.", "A", want=EDGE4, label="proxied")
        vcheck(res, vport, "www.sec.test.", "AAAA", want=EDGE6, label="proxied")
        vcheck(res, vport, "x.wild.sec.test.", "A", want=["192.0.2.60"],
               label="wildcard")
        vcheck(res, vport, "host.sec.test.", "A", want=["192.0.2.10"], label="ordinary")
        vcheck(res, vport, "host.sec.test.", "AAAA", want=["2001:db8::10"],
               label="ordinary")
        vcheck(res, vport, rand_label() + ".sec.test.", "A", empty=True, nxname=True,
               label="name that does not exist (RFC 9824)")
        vcheck(res, vport, "host.sec.test.", "TXT", empty=True, label="NODATA")
        vcheck(res, vport, "v4.sec.test.", "A", want=[V4ONLY], label="A-only flattened")
        vcheck(res, vport, "v4.sec.test.", "AAAA", empty=True,
               label="A-only flattened: AAAA NODATA")
        vcheck(res, vport, ZONE, "DNSKEY", label="DNSKEY")
        vcheck(res, vport, ZONE, "MX", want=["10 mail.sec.test."])
        vcheck(res, vport, "sub.sec.test.", "DS", label="DS of the signed child")
        vcheck(res, vport, "nods.sec.test.", "DS", empty=True,
               label="no DS: NSEC at the cut")
        for z in SMALL:
            vcheck(res, vport, "host." + z, "A", want=["192.0.2.11"])
            vcheck(res, vport, rand_label() + "." + z, "A", empty=True, nxname=True)
            vcheck(res, vport, z, "DNSKEY")

        anchors = dc.write_delv_anchors(os.path.join(workdir, "anchors.conf"), all_ds)
        dcheck(res, aport, anchors, ZONE, ZONE, "A", "validated", "flattened apex")
        dcheck(res, aport, anchors, ZONE, rand_label() + ".sec.test.", "A", "negative",
               "name that does not exist")
        dcheck(res, aport, anchors, ZONE, "host.sec.test.", "TXT", "negative", "NODATA")
        dcheck(res, aport, anchors, ZONE, "v4.sec.test.", "AAAA", "negative",
               "A-only flattened: AAAA NODATA")
        dcheck(res, aport, anchors, ZONE, "www.sec.test.", "AAAA", "validated",
               "proxied", show=False)
        dcheck(res, aport, anchors, ZONE, "x.wild.sec.test.", "A", "validated",
               "wildcard", show=False)
        for z in SMALL:
            dcheck(res, aport, anchors, z, "host." + z, "A", "validated",
                   show=(z == "ed.test."))

        # ---- the platform moves my-app
        change_checks(res, knot, kzone, vport, v, d, keys)
        harness.stop(v)
        v = None

        # ---- restart with corrupted signatures
        ds_before = {dc.ds_text(*x) for x in ds[ZONE]}
        harness.stop(apexd)
        write_config(conf, aport, uport, cport, zdir, corrupt=True)
        apexd = harness.start_apexd_config(binary, conf, aport, ZONE, adir)
        res.check(not key_generated_lines(apexd.stderr()),
                  "restart: no new key (the generated ones are loaded from key_dir)",
                  "  " + "\n  ".join(key_generated_lines(apexd.stderr())))
        res.check({dc.ds_text(*x) for x in ds_checks(res, binary, conf, ZONE)}
                  == ds_before, "restart: apexd ds sec.test. unchanged")
        r = d.q(ZONE, "A")
        probs = dc.check_signatures(r, ZONE, keys[ZONE])
        res.check(any("does not verify" in x for x in probs),
                  "test_corrupt_signatures: dnspython rejects the apex A's RRSIG",
                  "  problems: %s\n%s" % (probs, dc.indent(dc.brief(r, True))))
        d.do0(ZONE, "A", answer_type="A")
        v = dc.start_validator(os.path.join(workdir, "unbound-corrupt"), stubs,
                               all_ds, ZONE, port=vport, control_port=vcport)
        vcheck(res, vport, ZONE, "A", rcode=dns.rcode.SERVFAIL, ad=False,
               label="corrupt signatures")
        vcheck(res, vport, "host.sec.test.", "A", rcode=dns.rcode.SERVFAIL, ad=False,
               label="corrupt signatures")
        vcheck(res, vport, ZONE, "A", want=[A2], ad=False, cd=True,
               label="corrupt signatures, CD=1: the data is there")
        dcheck(res, aport, anchors, ZONE, ZONE, "A", "failed", "corrupt signatures")
        res.check(apexd.alive(), "apexd still running at the end",
                  "  exit %s; stderr:\n%s" % (apexd.popen.returncode,
                                              harness.tail(apexd.stderr())))
    finally:
        for p in (v, apexd, up, knot):
            if p is not None:
                harness.stop(p)
    print("NOTE took %.1fs" % (time.monotonic() - t_start))


# --------------------------------------------------------------------------
# --knot: the same plumbing against knotd's mod-onlinesign
# --------------------------------------------------------------------------

def knot_body(args, res, workdir):
    t_start = time.monotonic()
    keydir = os.path.join(workdir, "keys")
    os.makedirs(keydir, exist_ok=True)
    base, _ = dc.bind_keygen(keydir, "sig.test.")
    kn = small_zone(os.path.join(workdir, "kn.test.zone"), "kn.test.")
    knot = v = None
    try:
        knot = dc.start_knotd_onlinesign(
            os.path.join(workdir, "knotd"),
            [dict(origin="sig.test.", file=dc.zpath("sig.test.zone"), key="import",
                  keybase=base),
             dict(origin="kn.test.", file=kn, key="auto")])
        ds = {"sig.test.": dc.parse_ds_lines(dc.bind_dsfromkey(base + ".key")),
              "kn.test.": dc.knot_ds(knot.config_path, "kn.test.")}
        keys = {}
        for z in ds:
            keys[z] = dc.fetch_dnskeys(knot.port, z)
            res.check({dc.ds_text(*x) for x in ds[z]} == dc.ds_of_dnskeys(z, keys[z]),
                      "%s: the trust anchor DS matches the DNSKEY knotd serves" % z,
                      "  DS %s\n  DNSKEY %s" % (ds[z], keys[z].to_text()))
        all_ds = [x for z in ds for x in ds[z]]
        for o, rd in all_ds:
            print("NOTE DS %s" % dc.ds_text(o, rd))
        d = Direct(res, knot.port, keys, spec=False)
        d.check("sig.test.", "host.sig.test.", "A", want=["192.0.2.10"])
        d.check("sig.test.", "host.sig.test.", "TXT", "nodata")
        d.check("sig.test.", "nx.sig.test.", "A", "nxdomain")
        d.check("sig.test.", "nods.sig.test.", "A", "referral",
                extra=("nods.sig.test.", False))
        d.check("kn.test.", "host.kn.test.", "AAAA", want=["2001:db8::11"])
        d.do0("host.sig.test.", "A", answer_type="A")
        d.do0("nx.sig.test.", "A", rcode=dns.rcode.NXDOMAIN)
        d.do0("nx.sig.test.", "A", rcode=dns.rcode.NXDOMAIN, edns=False)

        vport, vcport = harness.distinct_ports(2, avoid=(knot.port,))
        stubs = {"sig.test.": knot.port, "kn.test.": knot.port}
        v = dc.start_validator(os.path.join(workdir, "unbound-val"), stubs, all_ds,
                               "sig.test.", port=vport, control_port=vcport)
        vcheck(res, vport, "host.sig.test.", "A", want=["192.0.2.10"], label="ordinary")
        vcheck(res, vport, "host.sig.test.", "AAAA", want=["2001:db8::10"])
        vcheck(res, vport, "x.wild.sig.test.", "A", want=["192.0.2.60"], label="wildcard")
        vcheck(res, vport, "x.wcname.sig.test.", "A", want=["192.0.2.10"],
               label="wildcard CNAME")
        vcheck(res, vport, "chain1.sig.test.", "A", want=["192.0.2.10"],
               label="CNAME chain")
        vcheck(res, vport, rand_label() + ".sig.test.", "A", empty=True,
               label="name that does not exist (knotd: NODATA, no NXNAME)")
        vcheck(res, vport, "host.sig.test.", "TXT", empty=True, label="NODATA")
        vcheck(res, vport, "sig.test.", "DNSKEY", label="DNSKEY")
        vcheck(res, vport, "sub.sig.test.", "DS", label="DS of the signed child")
        vcheck(res, vport, "nods.sig.test.", "DS", empty=True, label="no DS")
        vcheck(res, vport, "host.kn.test.", "A", want=["192.0.2.11"],
               label="knotd's own key")
        vcheck(res, vport, "kn.test.", "DNSKEY", label="knotd's own key")
        dc.unbound_control(v, "flush_zone", "sig.test.")
        vcheck(res, vport, "host.sig.test.", "A", want=["192.0.2.10"],
               label="after unbound-control flush_zone")

        anchors = dc.write_delv_anchors(os.path.join(workdir, "anchors.conf"), all_ds)
        dcheck(res, knot.port, anchors, "sig.test.", "host.sig.test.", "A", "validated")
        dcheck(res, knot.port, anchors, "sig.test.", rand_label() + ".sig.test.", "A",
               "negative", "name that does not exist")
        dcheck(res, knot.port, anchors, "sig.test.", "host.sig.test.", "TXT",
               "negative", "NODATA", show=False)
        dcheck(res, knot.port, anchors, "kn.test.", "host.kn.test.", "A", "validated")
        negative_control(res, workdir, stubs, "sig.test.", ds["sig.test."][0],
                         knot.port, "host.sig.test.")
    finally:
        for p in (v, knot):
            if p is not None:
                harness.stop(p)
    print("NOTE took %.1fs" % (time.monotonic() - t_start))


def parser():
    ap = harness.base_parser("apexd DNSSEC online signing checked by unbound and delv")
    ap.add_argument("--knot", action="store_true",
                    help="check the validator plumbing against knotd's mod-onlinesign "
                    "instead (no apexd needed)")
    return ap


def body(args, res, workdir):
    if args.knot:
        knot_body(args, res, workdir)
        return
    binary = harness.require_apexd(args, res)
    if binary:
        apexd_body(args, res, workdir, binary)


if __name__ == "__main__":
    harness.main(body, parser())
