#!/usr/bin/python3
"""CNAME flattening and proxied answers, end to end, with real peers.

    /usr/bin/python3 tests/integration/flatten_peers.py --apexd build/apexd

knotd serves the platform's zone (platform.test., zones/flatten/platform.test.zone);
unbound, stubbed to knotd (and to nothing else, not even the root), is apexd's upstream
resolver; apexd serves the customer zones of zones/flatten/.  Everything runs on
127.0.0.1, on free ports; every process is stopped by PID (harness.py also kills them
if this script dies).  The checks follow the flattening contract in
../shared/DESIGN.md ("Flattening, in one place"):

- A/AAAA at a flattened name: the target's addresses, owner = the query name in the
  client's case, AA, TTL = min over the CNAME and every record of the chain, counting
  down as the cache ages; CNAME -> NODATA; ANY -> the A RRset only; other types from the
  name's own records; the target never appears in any answer.
- The chain is followed through our own zones first, then the resolver.
- Missing target / no address of the type -> NODATA with the queried zone's SOA.
- Proxied names -> the [proxy] edges with the proxy TTL, never the origin's data; a
  family without edges -> NODATA, and `apexd check` warns about it.
- Upstream failure -> stale answer (TTL 30, EDE 3) within serve_stale, else SERVFAIL
  with an EDE, within about 2 s; never silence.
- flatten = "none" refuses an apex CNAME (file:line); flatten = "all" flattens every CNAME.
- A Cloudflare export (cf.test.zone) loads and behaves; 50 concurrent queries for a
  not yet cached name all get the same answer.

Ends with `N passed, N failed`; exits 1 on any failure.  About 20-30 s.
"""

import ipaddress
import os
import re
import shutil
import time

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype

import harness
import peers

FLAT_DIR = os.path.join(harness.ZONES_DIR, "flatten")

EDGE4 = {"203.0.113.10", "203.0.113.11"}
EDGE6 = {"2001:db8:e0::10"}
PROXY_TTL = 300
MYAPP4 = {"192.0.2.10", "192.0.2.11"}
MYAPP6 = {"2001:db8::10"}
MYAPP = "my-app.platform.test."
STALE_TTL = 30
SERVE_STALE = 4.0
TIMELY = 2.5  # "within about 2 seconds"
EDE_SEEN = set()  # the EDE (info code, text) of SERVFAIL answers, for the final note

LEAK_TYPES = ["A", "AAAA", "ANY", "CNAME", "MX", "TXT", "SOA", "NS", "HINFO",
              "SRV", "CAA", "HTTPS", "SVCB", "DNAME", "PTR", "DS", "RRSIG",
              "NSEC"]


def zf(name):
    return os.path.join(FLAT_DIR, name)


def norm_addr(a):
    return str(ipaddress.ip_address(a))


# --------------------------------------------------------------------------
# answer inspection: each returns a list of problems (empty = as expected)
# --------------------------------------------------------------------------

def show(msg):
    if msg is None:
        return "(no reply)"
    if not hasattr(msg, "to_text"):
        return "(unparsable reply %r)" % (msg[:64],)
    return msg.to_text()


def p_header(msg, rcode=dns.rcode.NOERROR, aa=True):
    if msg is None:
        return ["no reply"]
    if not hasattr(msg, "rcode"):
        return ["unparsable reply"]
    p = []
    if msg.rcode() != rcode:
        p.append("rcode %s, want %s" % (dns.rcode.to_text(msg.rcode()),
                                        dns.rcode.to_text(rcode)))
    if aa and not (msg.flags & dns.flags.AA):
        p.append("AA not set")
    if msg.flags & dns.flags.TC:
        p.append("TC set")
    return p


def p_addresses(msg, qname, qtype, want, ttl_lo=None, ttl_hi=None, ttl=None):
    """The answer is exactly one RRset of qtype, owner = qname (exact case),
    addresses == want, TTL in range."""
    p = p_header(msg)
    if msg is None or not hasattr(msg, "answer"):
        return p
    rdtype = dns.rdatatype.from_text(qtype)
    want = {norm_addr(a) for a in want}
    got = set()
    if len(msg.answer) != 1:
        p.append("answer has %d RRsets, want 1" % len(msg.answer))
    for rrset in msg.answer:
        if rrset.rdtype != rdtype:
            p.append("answer has a %s RRset (owner %s)"
                     % (dns.rdatatype.to_text(rrset.rdtype), rrset.name))
            continue
        if rrset.name.to_text() != qname:
            p.append("owner %r, want %r (query name, client's case)"
                     % (rrset.name.to_text(), qname))
        for rd in rrset:
            got.add(norm_addr(rd.address))
        if ttl is not None and rrset.ttl != ttl:
            p.append("TTL %d, want %d" % (rrset.ttl, ttl))
        if ttl_lo is not None and rrset.ttl < ttl_lo:
            p.append("TTL %d, want >= %d" % (rrset.ttl, ttl_lo))
        if ttl_hi is not None and rrset.ttl > ttl_hi:
            p.append("TTL %d, want <= %d" % (rrset.ttl, ttl_hi))
    if got != want:
        p.append("addresses %s, want %s" % (sorted(got), sorted(want)))
    return p


def p_nodata(msg, zone):
    """NOERROR, AA, empty answer, the SOA of `zone` in the authority section."""
    p = p_header(msg)
    if msg is None or not hasattr(msg, "answer"):
        return p
    if msg.answer:
        p.append("answer not empty: %s"
                 % "; ".join(r.to_text() for r in msg.answer))
    soas = [r for r in msg.authority if r.rdtype == dns.rdatatype.SOA]
    if not soas:
        p.append("no SOA in the authority section")
    elif soas[0].name != dns.name.from_text(zone):
        p.append("SOA of %s, want the SOA of %s" % (soas[0].name, zone))
    return p


def p_rrset(msg, qname, qtype, want_texts):
    """One RRset of qtype at qname whose rdata texts equal want_texts."""
    p = p_header(msg)
    if msg is None or not hasattr(msg, "answer"):
        return p
    rdtype = dns.rdatatype.from_text(qtype)
    sets = [r for r in msg.answer if r.rdtype == rdtype]
    if len(msg.answer) != 1 or not sets:
        p.append("answer %s, want one %s RRset"
                 % ([r.to_text() for r in msg.answer], qtype))
        return p
    got = sorted(rd.to_text().lower() for rd in sets[0])
    want = sorted(w.lower() for w in want_texts)
    if got != want:
        p.append("%s rdata %s, want %s" % (qtype, got, want))
    if sets[0].name != dns.name.from_text(qname):
        p.append("owner %s, want %s" % (sets[0].name, qname))
    return p


def p_leak(msg, names=(), addrs=()):
    """None of `names` (as a name anywhere in any section) and none of `addrs`
    (as bytes anywhere in the message) appear."""
    if msg is None:
        return ["no reply"]
    if not hasattr(msg, "to_text"):
        return ["unparsable reply"]
    p = []
    tokens = set()
    for line in msg.to_text().lower().splitlines():
        if line.startswith(";"):
            continue
        tokens.update(t.strip('"') for t in line.split())
    wire = msg.wire.lower()
    for n in names:
        n = n.lower()
        first = n.split(".")[0]
        if n in tokens or (len(first) >= 3 and
                           (bytes([len(first)]) + first.encode()) in wire):
            p.append("reveals the name %s" % n)
    for a in addrs:
        if ipaddress.ip_address(a).packed in msg.wire:
            p.append("reveals the address %s" % a)
    return p


def p_servfail_ede(msg):
    p = p_header(msg, rcode=dns.rcode.SERVFAIL, aa=False)
    if msg is not None and hasattr(msg, "rcode"):
        ede = peers.ede_options(msg)
        if not ede:
            p.append("no EDNS Extended DNS Error option (code 15)")
        else:
            EDE_SEEN.add(repr(ede))
        if msg.answer:
            p.append("answer not empty")
    return p


def p_stale(msg, qname, want):
    p = p_addresses(msg, qname, "A", want, ttl=STALE_TTL)
    if msg is not None and hasattr(msg, "rcode"):
        codes = [c for c, _ in peers.ede_options(msg)]
        if 3 not in codes:
            p.append("EDE info codes %s, want 3 (Stale Answer)" % codes)
    return p


class Checker:
    def __init__(self, res, port):
        self.res = res
        self.port = port

    def q(self, qname, qtype, tcp=False, timeout=4.0, edns=True):
        r, took = peers.timed_query(self.port, qname, qtype, tcp=tcp,
                                    timeout=timeout, edns=edns)
        return r, took

    def expect(self, label, qname, qtype, fn, *a, tcp=False, max_time=TIMELY,
               edns=True, **kw):
        r, took = self.q(qname, qtype, tcp=tcp, edns=edns)
        p = fn(r, *a, **kw)
        if r is not None and took > max_time:
            p.append("answered after %.2fs, want within %.1fs" % (took, max_time))
        self.report(label, qname, qtype, tcp, p, r)
        return r

    def report(self, label, qname, qtype, tcp, p, r):
        name = "%s [%s %s%s]" % (label, qname, qtype, " tcp" if tcp else "")
        self.res.check(not p, name,
                       "  problems: %s\n  reply:\n%s" % ("; ".join(p), indent(show(r))))

    def no_leak(self, label, qname, names=(), addrs=(), types=LEAK_TYPES):
        for tcp in (False, True):
            probs = []
            for t in types:
                r, _ = self.q(qname, t, tcp=tcp)
                for x in p_leak(r, names, addrs):
                    probs.append("%s: %s" % (t, x))
                    if len(probs) < 4:
                        probs.append("reply to %s:\n%s" % (t, indent(show(r))))
            self.res.check(not probs, "%s: no query type reveals %s [%s, %s]"
                           % (label, ", ".join(list(names) + list(addrs)),
                              qname, "tcp" if tcp else "udp"),
                           "  " + "\n  ".join(probs))


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


# --------------------------------------------------------------------------
# configuration checks (apexd check)
# --------------------------------------------------------------------------

def check_configs(res, binary, workdir, main_conf_fn):
    """Returns the cf.test zone file to serve."""
    cdir = os.path.join(workdir, "check")
    os.makedirs(cdir, exist_ok=True)
    port = harness.free_port()
    ups = ["127.0.0.1:9"]  # never contacted by `apexd check`

    # A Cloudflare export, exactly as exported.
    cf = zf("cf.test.zone")
    conf = peers.write_flatten_config(
        os.path.join(cdir, "cf.toml"), port,
        [dict(origin="cf.test.", file=cf, flatten="apex")], ups, EDGE4, EDGE6)
    rc, out, err = peers.apexd_check(binary, conf)
    cf_ok = res.check(rc == 0, "apexd check loads a Cloudflare export (cf.test.zone)",
                      "  exit %s\n  stdout: %s\n  stderr: %s" % (rc, out.strip(), err.strip()))
    cf_serve = cf
    if not cf_ok:
        # Keep testing the behaviour with the one line Cloudflare writes without
        # a trailing dot (the SOA owner) made absolute.
        cf_serve = os.path.join(cdir, "cf.test.zone")
        with open(cf) as f:
            text = f.read()
        with open(cf_serve, "w") as f:
            f.write(re.sub(r"(?m)^cf\.test\t", "cf.test.\t", text))
        conf2 = peers.write_flatten_config(
            os.path.join(cdir, "cf2.toml"), port,
            [dict(origin="cf.test.", file=cf_serve, flatten="apex")], ups, EDGE4, EDGE6)
        rc2, out2, err2 = peers.apexd_check(binary, conf2)
        print("NOTE cf.test.zone with the SOA owner made absolute: apexd check exit %s %s"
              % (rc2, (out2 + err2).strip()))
        if rc2 != 0:
            cf_serve = None

    # flatten = "none": an apex CNAME is a load error, with file:line.
    conf = peers.write_flatten_config(
        os.path.join(cdir, "none.toml"), port,
        [dict(origin="nonebad.test.", file=zf("nonebad.test.zone"),
              flatten="none")], ups, EDGE4, EDGE6)
    rc, out, err = peers.apexd_check(binary, conf)
    both = out + err
    res.check(rc not in (0, -1) and "nonebad.test.zone:6" in both,
              'apexd check refuses an apex CNAME with flatten = "none" (file:line)',
              "  exit %s (want non-zero), want 'nonebad.test.zone:6' in the message\n"
              "  stdout: %s\n  stderr: %s" % (rc, out.strip(), err.strip()))

    # Proxied names and a family with no edge addresses: a warning, exit 0.
    for fam, v4, v6 in (("ipv6", EDGE4, ()), ("ipv4", (), EDGE6)):
        conf = peers.write_flatten_config(
            os.path.join(cdir, "no%s.toml" % fam), port,
            [dict(origin="edge4.test.", file=zf("edge4.test.zone"),
                  flatten="apex", proxied=["@"])], ups, v4, v6)
        rc, out, err = peers.apexd_check(binary, conf)
        res.check(rc == 0 and "warn" in err.lower() and fam in err.lower(),
                  "apexd check warns on stderr (exit 0) when proxy.%s is empty" % fam,
                  "  exit %s\n  stdout: %s\n  stderr: %s" % (rc, out.strip(), err.strip()))

    # The main configuration: loads, and no warning (both families have edges).
    conf = main_conf_fn(cf_serve)
    rc, out, err = peers.apexd_check(binary, conf)
    res.check(rc == 0 and "warn" not in err.lower(),
              "apexd check accepts the main configuration without warnings",
              "  exit %s\n  stdout: %s\n  stderr: %s" % (rc, out.strip(), err.strip()))
    return cf_serve, conf


# --------------------------------------------------------------------------
# the main instance
# --------------------------------------------------------------------------

def main_zones(cf_file):
    z = [
        dict(origin="cust.test.", file=zf("cust.test.zone"), flatten="apex",
             proxied=["www"]),
        dict(origin="chain.test.", file=zf("chain.test.zone"), flatten="apex"),
        dict(origin="missing.test.", file=zf("missing.test.zone"), flatten="apex"),
        dict(origin="v4only.test.", file=zf("v4only.test.zone"), flatten="apex"),
        dict(origin="local.test.", file=zf("local.test.zone"), flatten="apex"),
        dict(origin="mixed.test.", file=zf("mixed.test.zone"), flatten="apex"),
        dict(origin="prefer.test.", file=zf("prefer.test.zone"), flatten="apex"),
        dict(origin="hosted.test.", file=zf("hosted.test.zone"), flatten="apex"),
        dict(origin="int.platform.test.", file=zf("int.platform.test.zone"),
             flatten="apex"),
        dict(origin="edge.test.", file=zf("edge.test.zone"), flatten="apex",
             proxied=["@"]),
        dict(origin="changing.test.", file=zf("changing.test.zone"), flatten="apex"),
        dict(origin="stale.test.", file=zf("stale.test.zone"), flatten="apex"),
        dict(origin="burst.test.", file=zf("burst.test.zone"), flatten="apex"),
        dict(origin="nocache.test.", file=zf("nocache.test.zone"), flatten="apex"),
        dict(origin="all.test.", file=zf("all.test.zone"), flatten="all"),
        dict(origin="plain.test.", file=zf("plain.test.zone"), flatten="none"),
    ]
    if cf_file:
        z.append(dict(origin="cf.test.", file=cf_file, flatten="apex"))
    return z


RESOLVER = {"timeout": '"800ms"', "deadline": '"1500ms"', "min_ttl": "1",
            "max_ttl": "86400", "serve_stale": '"4s"', "cache_size": "100000"}


def test_apex(c):
    """cust.test.: apex flattened, its own MX/TXT/SOA/NS, the target never shown."""
    c.expect("apex A: target's addresses, client's case, TTL min(600, 300)",
             "CuSt.TeSt.", "A", p_addresses, "CuSt.TeSt.", "A", MYAPP4,
             ttl_lo=297, ttl_hi=300)
    c.expect("apex AAAA: target's addresses", "cust.test.", "AAAA", p_addresses,
             "cust.test.", "AAAA", MYAPP6, ttl_lo=270, ttl_hi=300)
    c.expect("apex A over TCP", "cust.test.", "A", p_addresses, "cust.test.",
             "A", MYAPP4, ttl_lo=270, ttl_hi=300, tcp=True)
    c.expect("apex CNAME: NODATA", "cust.test.", "CNAME", p_nodata, "cust.test.")
    c.expect("apex ANY: the flattened A RRset only", "cust.test.", "ANY",
             p_addresses, "cust.test.", "A", MYAPP4, ttl_lo=270, ttl_hi=300)
    c.expect("apex MX from the zone", "cust.test.", "MX", p_rrset, "cust.test.",
             "MX", ["10 mail.cust.test.", "20 origin.cust.test."])
    c.expect("apex TXT from the zone", "cust.test.", "TXT", p_rrset, "cust.test.",
             "TXT", ['"v=spf1 mx -all"'])
    c.expect("apex SOA from the zone", "cust.test.", "SOA", p_rrset, "cust.test.",
             "SOA", ["ns1.cust.test. hostmaster.cust.test. 2026112901 7200 3600 1209600 300"])
    c.expect("apex NS from the zone", "cust.test.", "NS", p_rrset, "cust.test.",
             "NS", ["ns1.cust.test."])
    c.no_leak("flattened apex", "cust.test.", [MYAPP, "platform.test."],
              ["198.51.100.7", "2001:db8:bad::7"])

    # Not flattened in apex mode: an ordinary CNAME.
    r = c.expect("apex mode: a non-apex CNAME is answered as a CNAME", "blog.cust.test.",
                 "CNAME", p_rrset, "blog.cust.test.", "CNAME", [MYAPP])
    # Tagged cf-flatten-cname: flattened (chain1 -> chain2 (120) -> my-app).
    c.expect("cf-flatten-cname tag: flattened (chain TTL 120)", "flat.cust.test.", "A",
             p_addresses, "flat.cust.test.", "A", MYAPP4, ttl_lo=100, ttl_hi=120)
    c.expect("cf-flatten-cname tag: CNAME is NODATA", "flat.cust.test.", "CNAME",
             p_nodata, "cust.test.")
    c.no_leak("tagged flattened name", "flat.cust.test.",
              ["chain1.platform.test.", "chain2.platform.test.", MYAPP])
    return r


def test_proxied(c):
    for qn, label in (("www.cust.test.", "proxied CNAME (config)"),
                      ("WWW.cust.TEST.", "proxied CNAME (config), mixed case"),
                      ("origin.cust.test.", "proxied A/AAAA (cf_tags)")):
        c.expect(label + ": A -> edges, proxy TTL", qn, "A", p_addresses, qn, "A",
                 EDGE4, ttl=PROXY_TTL)
        c.expect(label + ": AAAA -> edges, proxy TTL", qn, "AAAA", p_addresses, qn,
                 "AAAA", EDGE6, ttl=PROXY_TTL)
    c.expect("proxied CNAME: ANY -> the edge A RRset", "www.cust.test.", "ANY",
             p_addresses, "www.cust.test.", "A", EDGE4, ttl=PROXY_TTL)
    c.expect("proxied CNAME: CNAME -> NODATA", "www.cust.test.", "CNAME", p_nodata,
             "cust.test.")
    c.expect("proxied A: ANY -> the edge A RRset", "origin.cust.test.", "ANY",
             p_addresses, "origin.cust.test.", "A", EDGE4, ttl=PROXY_TTL)
    c.no_leak("proxied CNAME", "www.cust.test.", [MYAPP],
              sorted(MYAPP4) + sorted(MYAPP6))
    c.no_leak("proxied A/AAAA", "origin.cust.test.", [],
              ["198.51.100.7", "2001:db8:bad::7"])

    # A proxied apex (proxied = ["@"]).
    c.expect("proxied apex: A -> edges", "edge.test.", "A", p_addresses,
             "edge.test.", "A", EDGE4, ttl=PROXY_TTL)
    c.expect("proxied apex: AAAA -> edges", "Edge.Test.", "AAAA", p_addresses,
             "Edge.Test.", "AAAA", EDGE6, ttl=PROXY_TTL)
    c.expect("proxied apex: ANY -> edge A", "edge.test.", "ANY", p_addresses,
             "edge.test.", "A", EDGE4, ttl=PROXY_TTL)
    c.expect("proxied apex: CNAME -> NODATA", "edge.test.", "CNAME", p_nodata,
             "edge.test.")
    c.expect("proxied apex: MX from the zone", "edge.test.", "MX", p_rrset,
             "edge.test.", "MX", ["10 ns1.edge.test."])
    c.expect("proxied apex: TXT from the zone", "edge.test.", "TXT", p_rrset,
             "edge.test.", "TXT", ['"edge apex"'])
    c.no_leak("proxied apex", "edge.test.", [MYAPP],
              sorted(MYAPP4) + sorted(MYAPP6))


def test_chains_and_missing(c):
    r = c.expect("external chain: TTL = min over the chain (120)", "chain.test.", "A",
                 p_addresses, "chain.test.", "A", MYAPP4, ttl_lo=117, ttl_hi=120)
    first = (time.monotonic(), r.answer[0].ttl if r is not None and
             hasattr(r, "answer") and r.answer else None)
    c.expect("external chain: AAAA", "chain.test.", "AAAA", p_addresses,
             "chain.test.", "AAAA", MYAPP6, ttl_lo=100, ttl_hi=120)
    c.no_leak("external chain", "chain.test.",
              ["chain1.platform.test.", "chain2.platform.test.", MYAPP],
              types=["A", "AAAA", "ANY", "CNAME"])

    c.expect("target NXDOMAIN upstream: A is NODATA with our SOA", "missing.test.", "A",
             p_nodata, "missing.test.")
    c.expect("target NXDOMAIN upstream: AAAA is NODATA with our SOA", "missing.test.",
             "AAAA", p_nodata, "missing.test.")
    c.no_leak("missing target", "missing.test.", ["nothere.platform.test."],
              types=["A", "AAAA", "ANY", "CNAME"])
    c.expect("target with A only: A", "v4only.test.", "A", p_addresses,
             "v4only.test.", "A", {"192.0.2.20"}, ttl_lo=280, ttl_hi=300)
    c.expect("target with A only: AAAA is NODATA with our SOA", "v4only.test.", "AAAA",
             p_nodata, "v4only.test.")

    c.expect("target in our own zone (app2 -> app): A, TTL min(3600,1800,900)",
             "local.test.", "A", p_addresses, "local.test.", "A", {"192.0.2.50"}, ttl=900)
    c.expect("target in our own zone: AAAA", "local.test.", "AAAA", p_addresses,
             "local.test.", "AAAA", {"2001:db8::50"}, ttl=900)
    c.no_leak("target in our own zone", "local.test.",
              ["app2.hosted.test.", "app.hosted.test."], types=["A", "AAAA", "ANY", "CNAME"])
    c.expect("our zone first: apexd's int.platform.test. wins over the resolver",
             "prefer.test.", "A", p_addresses, "prefer.test.", "A", {"192.0.2.77"}, ttl=500)
    c.expect("our zone (hop, TTL 60) then the resolver (chain1 -> chain2 -> my-app)",
             "mixed.test.", "A", p_addresses, "mixed.test.", "A", MYAPP4,
             ttl_lo=50, ttl_hi=60)
    c.no_leak("our zone then the resolver", "mixed.test.",
              ["hop.hosted.test.", "chain1.platform.test.", MYAPP],
              types=["A", "AAAA", "ANY", "CNAME"])
    return first


def test_all_and_none(c):
    c.expect('flatten = "all": A', "a.all.test.", "A", p_addresses, "a.all.test.",
             "A", MYAPP4, ttl_lo=250, ttl_hi=300)
    c.expect('flatten = "all": AAAA', "A.ALL.test.", "AAAA", p_addresses,
             "A.ALL.test.", "AAAA", MYAPP6, ttl_lo=250, ttl_hi=300)
    c.expect('flatten = "all": CNAME is NODATA', "a.all.test.", "CNAME", p_nodata,
             "all.test.")
    c.expect('flatten = "all": ANY is the A RRset', "a.all.test.", "ANY", p_addresses,
             "a.all.test.", "A", MYAPP4, ttl_lo=250, ttl_hi=300)
    c.expect('flatten = "all": target with A only', "b.all.test.", "A", p_addresses,
             "b.all.test.", "A", {"192.0.2.20"}, ttl_lo=250, ttl_hi=300)
    c.expect('flatten = "all": target with A only, AAAA is NODATA', "b.all.test.",
             "AAAA", p_nodata, "all.test.")
    c.expect('flatten = "all": CNAME to a flattened name in the zone', "c.all.test.",
             "A", p_addresses, "c.all.test.", "A", MYAPP4, ttl_lo=250, ttl_hi=300)
    c.no_leak('flatten = "all", CNAME to a CNAME in the zone', "c.all.test.",
              ["a.all.test.", MYAPP], types=["A", "AAAA", "ANY", "CNAME", "TXT"])
    c.expect('flatten = "all": missing target is NODATA', "gone.all.test.", "A",
             p_nodata, "all.test.")
    c.expect('flatten = "all": TTL is the CNAME\'s when it is the lowest (30)',
             "short.all.test.", "A", p_addresses, "short.all.test.", "A", MYAPP4, ttl=30)
    c.expect('flatten = "all": missing target in our own zone is NODATA',
             "gone2.all.test.", "A", p_nodata, "all.test.")
    c.expect('flatten = "all": target in our own zone, A', "b2.all.test.", "A",
             p_addresses, "b2.all.test.", "A", {"192.0.2.53"}, ttl=300)
    c.expect('flatten = "all": target in our own zone without AAAA is NODATA',
             "b2.all.test.", "AAAA", p_nodata, "all.test.")
    c.expect('flatten = "all": wildcard CNAME', "x.W.all.test.", "A", p_addresses,
             "x.W.all.test.", "A", MYAPP4, ttl_lo=250, ttl_hi=300)
    c.no_leak('flatten = "all"', "a.all.test.", [MYAPP])
    c.expect('flatten = "all": first resolution over TCP', "t.all.test.", "A",
             p_addresses, "t.all.test.", "A", {"192.0.2.70"}, ttl_lo=295, ttl_hi=300,
             tcp=True)
    c.expect('flatten = "none": a CNAME is answered as a CNAME', "x.plain.test.",
             "CNAME", p_rrset, "x.plain.test.", "CNAME", [MYAPP])

    def a_is_plain_cname(msg):
        p = p_header(msg)
        if msg is None or not hasattr(msg, "answer"):
            return p
        types = [dns.rdatatype.to_text(r.rdtype) for r in msg.answer]
        if types[:1] != ["CNAME"] or any(r.rdtype == dns.rdatatype.A and
                                          r.name == dns.name.from_text("x.plain.test.")
                                          for r in msg.answer):
            p.append("answer %s, want the CNAME (not flattened)" % types)
        return p
    c.expect('flatten = "none": A at a CNAME gets the CNAME', "x.plain.test.", "A",
             a_is_plain_cname)


def test_cloudflare(c):
    def ttl_upto_300(msg, qn, qtype, want):
        return p_addresses(msg, qn, qtype, want, ttl_lo=1, ttl_hi=300)
    r = c.expect("Cloudflare export: apex CNAME flattened", "cf.test.", "A",
                 ttl_upto_300, "cf.test.", "A", MYAPP4)
    if r is not None and hasattr(r, "answer") and r.answer:
        print("NOTE cf.test. A TTL (CNAME TTL 1 = 'automatic' in the export): %d"
              % r.answer[0].ttl)
    c.expect("Cloudflare export: apex AAAA", "cf.test.", "AAAA", ttl_upto_300,
             "cf.test.", "AAAA", MYAPP6)
    c.expect("Cloudflare export: apex CNAME is NODATA", "cf.test.", "CNAME", p_nodata,
             "cf.test.")
    c.expect("Cloudflare export: apex MX", "cf.test.", "MX", p_rrset, "cf.test.", "MX",
             ["10 mail.cf.test."])
    c.expect("Cloudflare export: apex TXT", "cf.test.", "TXT", p_rrset, "cf.test.",
             "TXT", ['"v=spf1 mx -all"'])
    c.expect("Cloudflare export: NS", "cf.test.", "NS", p_rrset, "cf.test.", "NS",
             ["ada.ns.cloudflare.com.", "bob.ns.cloudflare.com."])
    c.expect("Cloudflare export: SOA", "cf.test.", "SOA", p_rrset, "cf.test.", "SOA",
             ["ada.ns.cloudflare.com. dns.cloudflare.com. 2051390733 10000 2400 604800 3600"])
    c.no_leak("Cloudflare export, flattened apex", "cf.test.", [MYAPP])
    for qn in ("www.cf.test.", "api.cf.test.", "admin.cf.test."):
        c.expect("Cloudflare export: cf-proxied:true A -> edges", qn, "A", p_addresses,
                 qn, "A", EDGE4, ttl=PROXY_TTL)
        c.expect("Cloudflare export: cf-proxied:true AAAA -> edges", qn, "AAAA",
                 p_addresses, qn, "AAAA", EDGE6, ttl=PROXY_TTL)
    c.expect("Cloudflare export: proxied CNAME is NODATA", "www.cf.test.", "CNAME",
             p_nodata, "cf.test.")
    c.no_leak("Cloudflare export, proxied CNAME", "www.cf.test.", [MYAPP],
              sorted(MYAPP4) + sorted(MYAPP6))
    c.no_leak("Cloudflare export, proxied A/AAAA", "api.cf.test.", [],
              ["198.51.100.20", "2001:db8:cf::20"])
    c.no_leak("Cloudflare export, proxied A with a comment", "admin.cf.test.", [],
              ["198.51.100.22"], types=["A", "AAAA", "ANY", "CNAME", "TXT"])
    c.expect("Cloudflare export: cf-proxied:false A is the record", "direct.cf.test.",
             "A", p_addresses, "direct.cf.test.", "A", {"198.51.100.21"}, ttl=1)
    c.expect("Cloudflare export: cf-proxied:false CNAME is a CNAME", "docs.cf.test.",
             "CNAME", p_rrset, "docs.cf.test.", "CNAME", [MYAPP])
    c.expect("Cloudflare export: cf-flatten-cname with cf-proxied:false", "flat.cf.test.",
             "A", ttl_upto_300, "flat.cf.test.", "A", MYAPP4)


def test_dead_upstream(res, binary, workdir):
    """A second apexd whose resolver never answers, IPv4 edges only."""
    bdir = os.path.join(workdir, "apexd-b")
    os.makedirs(bdir, exist_ok=True)
    sock, sport = peers.silent_udp_socket()
    proc = None
    try:
        port = harness.free_port()
        conf = peers.write_flatten_config(
            os.path.join(bdir, "apexd.toml"), port,
            [dict(origin="edge4.test.", file=zf("edge4.test.zone"), flatten="apex",
                  proxied=["@"]),
             dict(origin="dead.test.", file=zf("dead.test.zone"), flatten="apex"),
             dict(origin="local.test.", file=zf("local.test.zone"), flatten="apex"),
             dict(origin="hosted.test.", file=zf("hosted.test.zone"), flatten="apex")],
            ["127.0.0.1:%d" % sport], EDGE4, (), threads=1, resolver=RESOLVER)
        proc = harness.start_apexd_config(binary, conf, port, "edge4.test.", bdir)
        c = Checker(res, port)
        c.expect("IPv4 edges only: A -> edges", "edge4.test.", "A", p_addresses,
                 "edge4.test.", "A", EDGE4, ttl=PROXY_TTL)
        c.expect("IPv4 edges only: AAAA is NODATA", "edge4.test.", "AAAA", p_nodata,
                 "edge4.test.")
        c.expect("resolver silent: a target in our own zone is still answered",
                 "local.test.", "A", p_addresses, "local.test.", "A", {"192.0.2.50"},
                 ttl=900)
        sock.setblocking(False)
        leaked = []
        try:
            while len(leaked) < 10:
                leaked.append(sock.recv(65535))
        except BlockingIOError:
            pass
        res.check(not leaked, "a target in our own zone needs no upstream query",
                  "  the upstream got %d queries" % len(leaked))
        c.expect("resolver silent, nothing cached: SERVFAIL with EDE, in time",
                 "dead.test.", "A", p_servfail_ede)
        c.expect("resolver silent, nothing cached: SERVFAIL with EDE, in time",
                 "dead.test.", "AAAA", p_servfail_ede, tcp=True)
        c.expect("resolver silent, asked again: SERVFAIL with EDE, in time",
                 "dead.test.", "A", p_servfail_ede)
        c.expect("resolver silent, query without EDNS: SERVFAIL (no OPT to carry an EDE)",
                 "dead.test.", "A", p_header, rcode=dns.rcode.SERVFAIL, aa=False,
                 edns=False)
        asked = 0
        try:
            while asked < 100:
                sock.recv(65535)
                asked += 1
        except BlockingIOError:
            pass
        res.check(asked > 0, "the silent upstream was asked for dead.test.'s target",
                  "  it got no query at all")
        r = c.expect("after the upstream failures, the proxied apex still answers",
                     "edge4.test.", "A", p_addresses, "edge4.test.", "A", EDGE4,
                     ttl=PROXY_TTL)
        return r
    finally:
        if proc is not None:
            harness.stop(proc)
        sock.close()


def test_countdown(c, first):
    t1, ttl1 = first
    if ttl1 is None:
        c.res.fail("TTL counts down: no first answer for chain.test.")
        return
    wait = t1 + 2.2 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    r, _ = c.q("chain.test.", "A")
    elapsed = time.monotonic() - t1
    p = p_addresses(r, "chain.test.", "A", MYAPP4)
    if not p:
        ttl2 = r.answer[0].ttl
        if not (ttl1 - elapsed - 1.5 <= ttl2 <= ttl1 - elapsed + 1.5 and ttl2 < ttl1):
            p.append("TTL %d, %.1fs after a TTL of %d: want about %d"
                     % (ttl2, elapsed, ttl1, ttl1 - elapsed))
    c.report("the flattened TTL counts down as the cache ages", "chain.test.", "A",
             False, p, r)


def test_change(c, res, knot, kzone):
    r, _ = c.q("changing.test.", "A")
    t0 = time.monotonic()
    p = p_addresses(r, "changing.test.", "A", {"192.0.2.30"}, ttl_lo=1, ttl_hi=2)
    c.report("short-TTL target, before the change", "changing.test.", "A", False, p, r)
    with open(kzone) as f:
        text = f.read()
    text = text.replace("IN SOA ns hostmaster 1 ", "IN SOA ns hostmaster 2 ")
    text = text.replace("192.0.2.30", "192.0.2.31")
    with open(kzone, "w") as f:
        f.write(text)
    rc, out = peers.knotc_reload(knot, "platform.test.")
    kr = peers.wait_answer(knot.port, "changing.platform.test.", "A",
                           lambda m: any(rd.to_text() == "192.0.2.31"
                                         for s in m.answer for rd in s), timeout=3.0)
    if not (kr is not None and any(rd.to_text() == "192.0.2.31"
                                   for s in kr.answer for rd in s)):
        res.fail("harness: knotd did not take the changed zone",
                 "  knotc exit %s: %s\n  knotd: %s" % (rc, out, show(kr)))
        return
    seen_new = None
    bad = []
    timeline = []
    deadline = t0 + 2 + 4.0
    last = None
    while time.monotonic() < deadline:
        m, _ = c.q("changing.test.", "A", timeout=3.0)
        last = m
        now = time.monotonic() - t0
        got = None
        if m is not None and hasattr(m, "answer") and m.rcode() == dns.rcode.NOERROR \
                and len(m.answer) == 1:
            got = {rd.to_text() for rd in m.answer[0]}
            timeline.append("+%.1fs %s/%d" % (now, ",".join(sorted(got)), m.answer[0].ttl))
        if got == {"192.0.2.31"}:
            if seen_new is None:
                seen_new = now
        elif got == {"192.0.2.30"}:
            if seen_new is not None:
                bad.append("old address again at +%.1fs after the new one" % now)
        else:
            bad.append("at +%.1fs: %s" % (now, show(m).replace("\n", " | ")))
        if seen_new is not None and now > seen_new + 1.0:
            break
        time.sleep(0.2)
    p = list(bad[:3])
    if seen_new is None:
        p.append("192.0.2.31 not answered within %.0fs of caching a TTL of 2"
                 % (deadline - t0))
    elif seen_new > 2 + 3.0:
        p.append("192.0.2.31 first answered %.1fs after caching a TTL of 2" % seen_new)
    c.report("a changed target address is answered after the TTL", "changing.test.",
             "A", False, p, last)
    if seen_new is not None:
        print("NOTE changed address first seen %.1fs after the first answer (TTL 2): %s"
              % (seen_new, " ".join(timeline)))


def test_burst(c, res, unbound):
    before = peers.unbound_stats(unbound)
    replies, took = peers.concurrent_udp(c.port, "burst.test.", "A", 50, timeout=4.0)
    after = peers.unbound_stats(unbound)
    probs = []
    ttls = set()
    for i, m in enumerate(replies):
        p = p_addresses(m, "burst.test.", "A", {"192.0.2.60", "192.0.2.61"},
                        ttl_lo=295, ttl_hi=300)
        if p:
            probs.append("query %d: %s" % (i, "; ".join(p)))
        elif m is not None:
            ttls.add(m.answer[0].ttl)
    if len(ttls) > 2:
        probs.append("TTLs differ: %s" % sorted(ttls))
    if took > TIMELY:
        probs.append("last answer after %.2fs" % took)
    res.check(not probs, "50 concurrent queries for a not yet cached name: same correct answer",
              "  " + "\n  ".join(probs[:10]) + ("\n  (%d problems)" % len(probs)))
    if before and after:
        n = int(after.get("total.num.queries", 0) - before.get("total.num.queries", 0))
        print("NOTE unbound received %d queries while 50 clients asked burst.test. A"
              % n)
        res.check(n <= 2, "50 concurrent identical misses are coalesced upstream "
                  "(DESIGN: request coalescing)",
                  "  unbound received %d queries" % n)
    else:
        print("NOTE unbound-control stats unavailable; upstream query count not checked")


def test_stale(c, res, unbound):
    r, _ = c.q("stale.test.", "A")
    t0 = time.monotonic()
    p = p_addresses(r, "stale.test.", "A", {"192.0.2.40"}, ttl_lo=1, ttl_hi=2)
    c.report("serve-stale: answer cached before the upstream goes away", "stale.test.",
             "A", False, p, r)
    harness.stop(unbound)
    res.check(not unbound.alive(), "harness: unbound stopped")

    def at(t):
        w = t0 + t - time.monotonic()
        if w > 0:
            time.sleep(w)
    at(2.6)
    c.expect("upstream down, expired entry within serve_stale: stale answer, TTL 30, EDE 3",
             "stale.test.", "A", p_stale, "stale.test.", {"192.0.2.40"})
    c.expect("upstream down, nothing cached: SERVFAIL with EDE", "nocache.test.", "A",
             p_servfail_ede)
    c.expect("upstream down, nothing cached: SERVFAIL with EDE", "nocache.test.", "A",
             p_servfail_ede, tcp=True)
    at(4.5)
    c.expect("upstream down, still within serve_stale: stale answer", "stale.test.", "A",
             p_stale, "stale.test.", {"192.0.2.40"})
    at(2 + SERVE_STALE + 1.2)
    c.expect("upstream down, past serve_stale: SERVFAIL with EDE", "stale.test.", "A",
             p_servfail_ede)


def parser():
    return harness.base_parser("apexd CNAME flattening with knotd and unbound")


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    t_start = time.monotonic()
    kdir = os.path.join(workdir, "knotd")
    os.makedirs(kdir, exist_ok=True)
    kzone = os.path.join(kdir, "platform.test.zone")
    shutil.copy(zf("platform.test.zone"), kzone)

    knot = unbound = apexd = None
    try:
        knot = harness.start_knotd([("platform.test.", kzone)], workdir=kdir)
        uport = harness.free_port()
        cport = harness.free_port()
        while cport == uport:
            cport = harness.free_port()
        unbound = peers.start_unbound(os.path.join(workdir, "unbound"),
                                      {"platform.test.": knot.port}, port=uport,
                                      control_port=cport)
        aport = harness.free_port()
        while aport in (uport, cport):
            aport = harness.free_port()
        adir = os.path.join(workdir, "apexd")
        os.makedirs(adir, exist_ok=True)

        def main_conf(cf_file):
            return peers.write_flatten_config(
                os.path.join(adir, "apexd.toml"), aport, main_zones(cf_file),
                ["127.0.0.1:%d" % uport], EDGE4, EDGE6, threads=2, resolver=RESOLVER)

        cf_file, conf = check_configs(res, binary, workdir, main_conf)
        apexd = harness.start_apexd_config(binary, conf, aport, "cust.test.", adir)
        c = Checker(res, aport)

        first = test_chains_and_missing(c)
        test_apex(c)
        test_proxied(c)
        test_all_and_none(c)
        if cf_file:
            test_cloudflare(c)
        else:
            res.fail("Cloudflare export: not served (apexd check refused it)")
        test_dead_upstream(res, binary, workdir)
        test_countdown(c, first)
        test_change(c, res, knot, kzone)
        test_burst(c, res, unbound)
        test_stale(c, res, unbound)
        res.check(apexd.alive(), "apexd still running at the end",
                  "  exit %s; stderr:\n%s" % (apexd.popen.returncode, apexd.stderr()))
    finally:
        for p in (apexd, unbound, knot):
            if p is not None:
                harness.stop(p)
    print("NOTE EDE options seen on SERVFAIL: %s" % ", ".join(sorted(EDE_SEEN)))
    print("NOTE took %.1fs" % (time.monotonic() - t_start))


if __name__ == "__main__":
    harness.main(body, parser())
