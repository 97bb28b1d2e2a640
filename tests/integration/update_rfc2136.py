#!/usr/bin/python3
"""RFC 2136 dynamic updates sent to apexd by nsupdate, knsupdate and dnspython.

    /usr/bin/python3 tests/integration/update_rfc2136.py --apexd build-rel/apexd

apexd serves up.test. (allow_update = upd-key for anything, acme for TXT at
_acme-challenge.* only; allow_transfer 127.0.0.0/8; notify = a knotd
secondary) and noupd.test. (no allow_update), both written into the work
folder, with state_dir, [proxy] and [control] (metrics). The keys come from
`tsig-keygen` at start (acme's is hmac-md5, certbot's and cert-manager's
rfc2136 default). Checks:

1. tools: nsupdate (-y, -k with tsig-keygen's output, -v for TCP) and
   knsupdate (-y): add A RRs, add TXT, delete one RR, delete an RRset,
   delete a name; each visible with dig as soon as the tool returns, the SOA
   serial +1 per update;
2. prerequisites (dnspython dns.update.UpdateMessage, signed): name in use
   (NOERROR / NXDOMAIN), name not in use (NOERROR / YXDOMAIN), RRset exists
   (NOERROR / NXRRSET), RRset does not exist (NOERROR / YXRRSET), RRset
   exists with exactly these RRs (NOERROR; a different value, a subset or a
   superset NXRRSET); the update's own record is there only after NOERROR,
   and a failed update leaves the serial;
3. refusals, each over UDP and over TCP: unsigned REFUSED; a wrong secret
   NOTAUTH with TSIG error BADSIG (dnspython: PeerBadSignature; apexd logs
   "TSIG error 16"), an unknown key NOTAUTH/BADKEY ("TSIG error 17"); the
   acme key: TXT at _acme-challenge and at _acme-challenge.www NOERROR (and
   served), A at _acme-challenge and TXT at www REFUSED; upd-key on
   noupd.test. (no grant) REFUSED; a zone apexd does not serve NOTAUTH; a
   name outside the zone NOTZONE; nothing applied by a refusal; apexd logs
   event=update_refused with the rcode;
4. apex rules: "delete name up.test." removes the apex TXT but keeps SOA
   and NS; deleting the apex NS or SOA RRset changes nothing (no new
   serial); deleting the last apex NS RR keeps it; adding an RR already there
   or deleting one that is not changes nothing (no new serial); a CNAME added
   at a name with an A and an A added at a CNAME are ignored (NOERROR, no new
   serial); an SOA with a newer serial in an update is taken as it is;
5. proxied stays proxied: `www A 192.0.2.10 ; cf_tags=cf-proxied:true` still
   answers the [proxy] address 203.0.113.7 after updates (also of www's own
   TXT), and after the restarts below;
6. secondaries: after an update, the knotd secondary (notified) serves the new
   record within 5 s (time printed); apexd logs event=notify_sent and
   event=transfer type=IXFR ... answer=incremental for the update's serial;
7. metrics: apexd_updates_applied_total, _refused_total, _unchanged_total
   equal what this test sent;
8. durability: after an acknowledged update, SIGKILL and a restart on the
   same config: the change is served, apexd logs event=changes_replayed up to
   the last serial, the zone file is byte-identical to the one written; two
   more updates, SIGTERM, the change log (state_dir/changes/up.test.changes)
   cut by a few bytes, restart: the earlier updates are served, the last is
   not, apexd logs change_log_damaged, and a new update applies; the zone
   file edited (new serial, a new name) and SIGHUP: the file wins
   (changes_dropped), the updated names are gone, knotd follows within 5 s,
   and a new update applies on top of the new file (and is replayed by the
   next restart). up.test. has a proxied name, so every restart serves a new
   serial, one above the last served (apexd logs journal_restarted): the
   version without the lost update never reuses that update's serial;
9. reloads that find the zone file as it was keep the updates: SIGHUP alone,
   SIGHUP after a change of the zone's config only (one more allow_transfer
   entry), SIGHUP after the file was written again with the same bytes.

Ends with `N passed, N failed`; exits 1 on any failure. About 3 s; every
wait is bounded (tools 15 s, apexd start 10 s, knotd 10 s, convergence 5 s,
reload 10 s) and the whole run by a 120 s alarm (a failure, with every
process stopped).
"""

import os
import re
import signal
import subprocess
import time

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataset
import dns.rdatatype
import dns.update

import harness
import ops_common
import xfr_secondaries

HOST = harness.HOST
ZONE = "up.test."
NOUPD = "noupd.test."
SERIAL0 = 2026030101
SERIAL_EDIT = 2026030201          # the edited file's serial (step 8)
EDGE4 = "203.0.113.7"
WWW_ORIGIN = "192.0.2.10"         # www's address in the file: never served
UPD_KEY = "upd-key"
ACME_KEY = "acme"

NSUPDATE = "/usr/bin/nsupdate"
KNSUPDATE = "/usr/bin/knsupdate"
DIG = "/usr/bin/dig"
KNOTD = "/usr/sbin/knotd"

TOOL_TIMEOUT = 15.0      # one nsupdate/knsupdate/dig run
CONVERGE_MAX = 5.0       # the secondary after an update
KNOT_LOAD = 10.0         # the secondary's first transfer
LOG_WAIT = 3.0           # a log line that follows an answer
TOTAL_BOUND = 120        # the whole run (SIGALRM)
POLL = 0.05


def up_zone(serial=SERIAL0, edited=False):
    lines = [
        "$ORIGIN up.test.",
        "$TTL 300",
        # refresh 3600: the secondary only moves on NOTIFY during the test
        "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % serial,
        "@ NS ns1",
        "@ NS ns2",
        "ns1 A 192.0.2.1",
        "ns2 A 192.0.2.2",
        "www A %s ; cf_tags=cf-proxied:true" % WWW_ORIGIN,
        "mail A 192.0.2.20",
        "host A 192.0.2.30",
        "alias CNAME mail",
    ]
    if edited:
        lines.append("fresh A 192.0.2.99")
    return "\n".join(lines) + "\n"


NOUPD_ZONE = """$ORIGIN noupd.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
"""


def tail(text, n=25):
    return "\n".join("    " + l for l in text.splitlines()[-n:])


def absname(name):
    return name if name.endswith(".") else "%s.%s" % (name, ZONE)


# --------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------

def rrs(port, name, rdtype, tcp=False):
    """(rcode, sorted rdata texts of `name rdtype` in the answer) or (None, [])."""
    try:
        r = harness.query(port, absname(name), rdtype, tcp=tcp, timeout=1.0)
    except Exception:  # noqa: BLE001
        r = None
    if r is None:
        return None, []
    want = dns.rdatatype.from_text(rdtype)
    out = []
    for rs in r.answer:
        if rs.rdtype == want and rs.name == dns.name.from_text(absname(name)):
            out += [rd.to_text() for rd in rs]
    return r.rcode(), sorted(out)


def serial(port, zone=ZONE, timeout=1.0):
    try:
        r = harness.query(port, zone, "SOA", timeout=timeout)
    except Exception:  # noqa: BLE001
        return None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None
    for rs in r.answer:
        if rs.rdtype == dns.rdatatype.SOA:
            return rs[0].serial
    return None


def dig(port, name, rdtype):
    """dig's view: (status, sorted rdata texts of the answer's `rdtype` RRs)."""
    argv = [DIG, "@%s" % HOST, "-p", str(port), absname(name), rdtype, "+norec",
            "+time=1", "+tries=1", "+noall", "+comments", "+answer"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    m = re.search(r"status: (\w+)", p.stdout)
    out = []
    for line in p.stdout.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        f = line.split(None, 4)
        if len(f) == 5 and f[3] == rdtype:
            out.append(f[4])
    return (m.group(1) if m else "no answer (%s)" % p.stderr.strip()), sorted(out)


# --------------------------------------------------------------------------
# updates
# --------------------------------------------------------------------------

class Sent:
    """What the test sent, for the metrics check: every update's outcome."""

    def __init__(self):
        self.applied = 0
        self.unchanged = 0
        self.refused = 0

    def count(self, rcode, changed):
        if rcode == dns.rcode.NOERROR:
            if changed:
                self.applied += 1
            else:
                self.unchanged += 1
        elif rcode is not None:
            self.refused += 1


def new_update(key=None, zone=ZONE):
    if key is None:
        return dns.update.UpdateMessage(zone)
    return dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.name,
                                    keyalgorithm=key.dns_algorithm)


def send(port, msg, tcp=False, timeout=3.0):
    """(rcode, error text): dnspython's exchange, which checks the answer's TSIG."""
    try:
        if tcp:
            r = dns.query.tcp(msg, HOST, port=port, timeout=timeout)
        else:
            r = dns.query.udp(msg, HOST, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError) as e:
        return None, "%s: %s" % (type(e).__name__, e)
    signed = "signed" if r.had_tsig else "unsigned"
    return r.rcode(), signed


def send_raw(port, msg, tcp=False):
    """(rcode from the header or None, the reply's TSIG as dnspython sees it)."""
    wire = msg.to_wire()
    rep = harness.send_tcp_raw(port, wire, 3.0) if tcp else harness.send_udp_raw(port, wire, 3.0)
    if rep is None or len(rep) < 12:
        return None, "no reply"
    rc = rep[3] & 0xF
    try:
        dns.message.from_wire(rep, keyring=msg.keyring, request_mac=msg.mac)
        how = "verified"
    except dns.exception.DNSException as e:
        how = type(e).__name__
    return rc, how


def rc_text(rc):
    return dns.rcode.to_text(rc) if rc is not None else "no answer"


def run_tool(argv, script):
    try:
        p = subprocess.run(argv, input=script, capture_output=True, text=True,
                           timeout=TOOL_TIMEOUT)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        return None, "timed out after %.0f s" % TOOL_TIMEOUT


def log_has(proc, pattern, wait=LOG_WAIT):
    pat = re.compile(pattern)
    deadline = time.monotonic() + wait
    while True:
        m = pat.search(proc.stderr())
        if m or time.monotonic() >= deadline:
            return m
        time.sleep(POLL)


# --------------------------------------------------------------------------
# 1. nsupdate and knsupdate
# --------------------------------------------------------------------------

def check_tools(res, port, upd, keyfile, sent):
    secret = "hmac-sha256:%s:%s" % (UPD_KEY, upd.secret)
    tools = []
    if os.path.exists(NSUPDATE):
        tools.append(("nsupdate", "nsu", [NSUPDATE, "-y", secret, "-t", "5"],
                      [NSUPDATE, "-k", keyfile, "-t", "5"],
                      [NSUPDATE, "-y", secret, "-v", "-t", "5"]))
    else:
        print("SKIP nsupdate: %s is not installed" % NSUPDATE)
    if os.path.exists(KNSUPDATE):
        tools.append(("knsupdate", "knu", [KNSUPDATE, "-y", secret, "-t", "5"],
                      [KNSUPDATE, "-y", secret, "-t", "5"],
                      [KNSUPDATE, "-y", secret, "-t", "5"]))
    else:
        print("SKIP knsupdate: %s is not installed" % KNSUPDATE)
    if not tools:
        res.fail("neither nsupdate nor knsupdate is installed")
    for tool, p, argv_y, argv_k, argv_tcp in tools:
        # (what, argv, update lines, [(name, type, expected dig status, expected RRs)])
        steps = [
            ("add two A RRs (%s)" % " ".join(argv_y[1:2] + ["..."]), argv_y,
             ["update add %s-a.up.test. 300 A 192.0.2.101" % p,
              "update add %s-a.up.test. 300 A 192.0.2.102" % p],
             [("%s-a" % p, "A", "NOERROR", ["192.0.2.101", "192.0.2.102"])]),
            ("add TXT%s" % (" (-k keyfile)" if argv_k[1] == "-k" else ""), argv_k,
             ['update add %s-a.up.test. 300 TXT "%s text"' % (p, tool),
              'update add %s-t.up.test. 300 TXT "t"' % p],
             [("%s-a" % p, "TXT", "NOERROR", ['"%s text"' % tool]),
              ("%s-t" % p, "TXT", "NOERROR", ['"t"'])]),
            ("delete one RR", argv_y,
             ["update delete %s-a.up.test. A 192.0.2.101" % p],
             [("%s-a" % p, "A", "NOERROR", ["192.0.2.102"])]),
            ("delete an RRset%s" % (" (-v: TCP)" if "-v" in argv_tcp else ""), argv_tcp,
             ["update delete %s-t.up.test. TXT" % p],
             [("%s-t" % p, "TXT", "NXDOMAIN", [])]),
            ("delete a name", argv_y,
             ["update delete %s-a.up.test." % p],
             [("%s-a" % p, "A", "NXDOMAIN", []), ("%s-a" % p, "TXT", "NXDOMAIN", [])]),
        ]
        for what, argv, lines, expect in steps:
            before = serial(port)
            script = "server %s %d\nzone %s\n%s\nsend\n" % (HOST, port, ZONE, "\n".join(lines))
            rc, out = run_tool(argv, script)
            name = "%s: %s" % (tool, what)
            if not res.check(rc == 0, "%s: exits 0" % name,
                             "  exit %s, output:\n%s\n  script:\n%s" % (rc, tail(out), script)):
                continue
            sent.count(dns.rcode.NOERROR, True)
            seen = [(n, t) + dig(port, n, t) for n, t, _, _ in expect]
            want = [(n, t, st, sorted(v)) for n, t, st, v in expect]
            res.check(seen == want, "%s: dig sees it right after" % name,
                      "  want %s\n  got  %s" % (want, seen))
            after = serial(port)
            res.check(before is not None and after == before + 1,
                      "%s: the SOA serial moves by one" % name,
                      "  before %s, after %s" % (before, after))


# --------------------------------------------------------------------------
# 2. prerequisites
# --------------------------------------------------------------------------

def check_prerequisites(res, port, upd, sent):
    a30 = dns.rdataset.from_text("IN", "A", 0, "192.0.2.30")
    a31 = dns.rdataset.from_text("IN", "A", 0, "192.0.2.31")
    a30_31 = dns.rdataset.from_text("IN", "A", 0, "192.0.2.30", "192.0.2.31")
    ns1 = dns.rdataset.from_text("IN", "NS", 0, "ns1.up.test.")
    cases = [
        # (what, prerequisite on the message, expected rcode)
        ("name in use (host)", lambda m: m.present("host"), dns.rcode.NOERROR),
        ("name in use (nohost)", lambda m: m.present("nohost"), dns.rcode.NXDOMAIN),
        ("name not in use (nohost)", lambda m: m.absent("nohost"), dns.rcode.NOERROR),
        ("name not in use (host)", lambda m: m.absent("host"), dns.rcode.YXDOMAIN),
        ("RRset exists (host A)", lambda m: m.present("host", "A"), dns.rcode.NOERROR),
        ("RRset exists (host TXT)", lambda m: m.present("host", "TXT"), dns.rcode.NXRRSET),
        ("RRset does not exist (host TXT)", lambda m: m.absent("host", "TXT"), dns.rcode.NOERROR),
        ("RRset does not exist (host A)", lambda m: m.absent("host", "A"), dns.rcode.YXRRSET),
        ("RRset exists with these RRs (host A 192.0.2.30)", lambda m: m.present("host", a30),
         dns.rcode.NOERROR),
        ("RRset exists with these RRs (host A 192.0.2.31)", lambda m: m.present("host", a31),
         dns.rcode.NXRRSET),
        ("RRset exists with these RRs (host A .30 and .31)", lambda m: m.present("host", a30_31),
         dns.rcode.NXRRSET),
        ("RRset exists with these RRs (apex NS ns1 only, a subset)",
         lambda m: m.present("@", ns1), dns.rcode.NXRRSET),
        ("RRset exists with these RRs (host A as text, 192.0.2.30)",
         lambda m: m.present("host", "A", "192.0.2.30"), dns.rcode.NOERROR),
        ("two prerequisites, the second failing (host A, then nohost in use)",
         lambda m: (m.present("host", "A"), m.present("nohost")), dns.rcode.NXDOMAIN),
    ]
    for i, (what, prereq, want) in enumerate(cases):
        for tcp in (False, True):
            tag = "pre%d-%s" % (i, "tcp" if tcp else "udp")
            m = new_update(upd)
            prereq(m)
            m.add(tag, 300, "TXT", '"%s"' % tag)
            before = serial(port)
            rc, how = send(port, m, tcp=tcp)
            sent.count(rc, True)
            name = "prerequisite %s over %s: %s" % (what, "TCP" if tcp else "UDP", rc_text(want))
            res.check(rc == want, name, "  got %s (%s)" % (rc_text(rc), how))
            _, got = rrs(port, tag, "TXT")
            after = serial(port)
            if want == dns.rcode.NOERROR:
                res.check(got == ['"%s"' % tag] and after == before + 1,
                          "%s: the update applied, serial +1" % name,
                          "  %s TXT %s, serial %s -> %s" % (tag, got, before, after))
            else:
                res.check(got == [] and after == before,
                          "%s: nothing applied, serial unchanged" % name,
                          "  %s TXT %s, serial %s -> %s" % (tag, got, before, after))


# --------------------------------------------------------------------------
# 3. refusals
# --------------------------------------------------------------------------

def check_refusals(res, apexd, port, upd, acme, unknown, sent):
    wrong = upd.with_secret(unknown.secret)
    for tcp in (False, True):
        via = "TCP" if tcp else "UDP"
        t = "tcp" if tcp else "udp"

        def attempt(what, msg, want, check_name, check_type, applied, raw=False, changed=True):
            before = serial(port)
            if raw:
                rc, how = send_raw(port, msg, tcp=tcp)
            else:
                rc, how = send(port, msg, tcp=tcp)
            sent.count(rc, changed)
            res.check(rc == want, "%s over %s: %s" % (what, via, rc_text(want)),
                      "  got %s (%s)" % (rc_text(rc), how))
            _, got = rrs(port, check_name, check_type)
            after = serial(port)
            if applied:
                ok = bool(got) and after == before + 1
            else:
                ok = not got and after == before
            res.check(ok, "%s over %s: %s" % (what, via, "applied, serial +1" if applied
                                                 else "nothing applied, serial unchanged"),
                      "  %s %s %s, serial %s -> %s" % (check_name, check_type, got, before, after))
            return rc, how

        m = new_update(None)
        m.add("unsigned-%s" % t, 300, "A", "192.0.2.200")
        attempt("unsigned update", m, dns.rcode.REFUSED, "unsigned-%s" % t, "A", False)

        m = new_update(wrong)
        m.add("badsig-%s" % t, 300, "A", "192.0.2.201")
        _, how = attempt("update signed with a wrong secret", m, dns.rcode.NOTAUTH,
                         "badsig-%s" % t, "A", False, raw=True)
        res.check(how == "PeerBadSignature",
                  "update signed with a wrong secret over %s: the answer's TSIG says BADSIG "
                  "(dnspython PeerBadSignature)" % via, "  dnspython: %s" % how)

        m = new_update(unknown)
        m.add("badkey-%s" % t, 300, "A", "192.0.2.202")
        _, how = attempt("update signed with an unknown key", m, dns.rcode.NOTAUTH,
                         "badkey-%s" % t, "A", False, raw=True)
        res.check(how == "PeerBadKey",
                  "update signed with an unknown key over %s: the answer's TSIG says BADKEY "
                  "(dnspython PeerBadKey)" % via, "  dnspython: %s" % how)

        m = new_update(acme)
        m.add("_acme-challenge", 60, "TXT", '"tok-%s"' % t)
        attempt("acme key: TXT at _acme-challenge", m, dns.rcode.NOERROR,
                "_acme-challenge", "TXT", True)
        _, got = rrs(port, "_acme-challenge", "TXT")
        res.check('"tok-%s"' % t in got, "acme key over %s: _acme-challenge TXT served" % via,
                  "  %s" % got)

        m = new_update(acme)
        m.add("_acme-challenge.www", 60, "TXT", '"tok-www-%s"' % t)
        attempt("acme key: TXT at _acme-challenge.www", m, dns.rcode.NOERROR,
                "_acme-challenge.www", "TXT", True)

        m = new_update(acme)
        m.add("_acme-challenge", 60, "A", "192.0.2.203")
        attempt("acme key: A at _acme-challenge (type outside its grant)", m,
                dns.rcode.REFUSED, "_acme-challenge", "A", False)

        m = new_update(acme)
        m.add("www", 60, "TXT", '"acme-www-%s"' % t)
        attempt("acme key: TXT at www (name outside its grant)", m, dns.rcode.REFUSED,
                "www", "TXT", False)

        m = new_update(acme)
        m.add("_acme-challenge", 60, "TXT", '"tok2-%s"' % t)
        m.add("www", 60, "TXT", '"acme-www2-%s"' % t)
        before_acme = rrs(port, "_acme-challenge", "TXT")[1]
        attempt("acme key: one allowed and one refused record in one update", m,
                dns.rcode.REFUSED, "www", "TXT", False)
        res.check(rrs(port, "_acme-challenge", "TXT")[1] == before_acme,
                  "acme key over %s: the allowed half of a refused update is not applied" % via,
                  "  _acme-challenge TXT %s" % rrs(port, "_acme-challenge", "TXT")[1])

        m = new_update(upd, zone=NOUPD)
        m.add("x", 300, "A", "192.0.2.204")
        before = serial(port, NOUPD)
        rc, how = send(port, m, tcp=tcp)
        sent.count(rc, True)
        res.check(rc == dns.rcode.REFUSED,
                  "upd-key on %s (no allow_update grant) over %s: REFUSED" % (NOUPD, via),
                  "  got %s (%s)" % (rc_text(rc), how))
        res.check(rrs(port, "x." + NOUPD, "A")[1] == [] and serial(port, NOUPD) == before,
                  "upd-key on %s over %s: nothing applied" % (NOUPD, via))

        m = new_update(upd, zone="nothere.test.")
        m.add("x", 300, "A", "192.0.2.205")
        rc, how = send(port, m, tcp=tcp)
        sent.count(rc, True)
        res.check(rc == dns.rcode.NOTAUTH,
                  "update of nothere.test. (not served) over %s: NOTAUTH" % via,
                  "  got %s (%s)" % (rc_text(rc), how))

        m = new_update(upd)
        m.add("outside-%s.other.test." % t, 300, "A", "192.0.2.206")
        m.add("inside-%s" % t, 300, "A", "192.0.2.206")
        attempt("a name outside the zone (beside one inside)", m, dns.rcode.NOTZONE,
                "inside-%s" % t, "A", False)

    err = apexd.stderr()
    for code, text in ((16, "BADSIG"), (17, "BADKEY")):
        res.check(bool(re.search(r'event=update_refused zone=up\.test\. client=\S+ rcode=NOTAUTH '
                                 r'reason="TSIG error %d' % code, err)),
                  "apexd logs update_refused rcode=NOTAUTH \"TSIG error %d\" (%s)" % (code, text),
                  tail(err))
    for rcode, why in (("REFUSED", "unsigned"), ("REFUSED", "key not allowed"),
                       ("REFUSED", "no allow_update grant"), ("NOTAUTH", "not a zone of ours"),
                       ("NOTZONE", "outside the zone")):
        res.check(bool(re.search(r'event=update_refused zone=\S+ client=\S+ rcode=%s reason="[^"]*%s'
                                 % (rcode, re.escape(why)), err)),
                  "apexd logs update_refused rcode=%s reason=\"...%s...\"" % (rcode, why),
                  tail("\n".join(l for l in err.splitlines() if "update_refused" in l)))


# --------------------------------------------------------------------------
# 4. apex rules
# --------------------------------------------------------------------------

def check_apex(res, port, upd, sent):
    def step(what, build, expect, serial_delta):
        m = new_update(upd)
        build(m)
        before = serial(port)
        rc, how = send(port, m)
        sent.count(rc, serial_delta > 0)
        res.check(rc == dns.rcode.NOERROR, "%s: NOERROR" % what, "  got %s (%s)" % (rc_text(rc), how))
        seen = [(n, t, rrs(port, n, t)[1]) for n, t, _ in expect]
        want = [(n, t, sorted(v)) for n, t, v in expect]
        after = serial(port)
        res.check(seen == want, "%s: the zone as expected" % what,
                  "  want %s\n  got  %s" % (want, seen))
        res.check(before is not None and after == before + serial_delta,
                  "%s: serial %s" % (what, "+%d" % serial_delta if serial_delta else "unchanged"),
                  "  %s -> %s" % (before, after))

    ns = ["ns1.up.test.", "ns2.up.test."]
    step("add an apex TXT", lambda m: m.add("@", 300, "TXT", '"apex"'),
         [(ZONE, "TXT", ['"apex"'])], 1)
    step("delete name up.test. (keeps SOA and NS)", lambda m: m.delete("@"),
         [(ZONE, "TXT", []), (ZONE, "NS", ns)], 1)
    res.check(serial(port) is not None, "delete name up.test.: the SOA is still served")
    step("delete the apex NS RRset (ignored)", lambda m: m.delete("@", "NS"),
         [(ZONE, "NS", ns)], 0)
    step("delete the apex SOA RRset (ignored)", lambda m: m.delete("@", "SOA"),
         [(ZONE, "NS", ns)], 0)
    step("delete apex NS ns2 (one of two)", lambda m: m.delete("@", "NS", "ns2.up.test."),
         [(ZONE, "NS", ["ns1.up.test."])], 1)
    step("delete the last apex NS ns1 (kept)", lambda m: m.delete("@", "NS", "ns1.up.test."),
         [(ZONE, "NS", ["ns1.up.test."])], 0)
    step("add apex NS ns2 back", lambda m: m.add("@", 300, "NS", "ns2.up.test."),
         [(ZONE, "NS", ns)], 1)
    step("add an RR that is already there (nothing changes)",
         lambda m: m.add("host", 300, "A", "192.0.2.30"), [("host", "A", ["192.0.2.30"])], 0)
    step("delete an RR that is not there (nothing changes)",
         lambda m: m.delete("host", "A", "192.0.2.31"), [("host", "A", ["192.0.2.30"])], 0)
    step("add a CNAME at host, which has an A (ignored)",
         lambda m: m.add("host", 300, "CNAME", "mail.up.test."),
         [("host", "CNAME", []), ("host", "A", ["192.0.2.30"])], 0)
    step("add an A at alias, which is a CNAME (ignored)",
         lambda m: m.add("alias", 300, "A", "192.0.2.77"),
         [("alias", "CNAME", ["mail.up.test."])], 0)
    cur = serial(port)
    if cur is not None:
        new = cur + 10
        step("an SOA with serial +10 replaces the SOA",
             lambda m: m.replace("@", 300, "SOA",
                                 "ns1.up.test. hostmaster.up.test. %d 3600 600 1209600 300" % new),
             [(ZONE, "SOA", ["ns1.up.test. hostmaster.up.test. %d 3600 600 1209600 300" % new])], 10)


# --------------------------------------------------------------------------
# 5./6. proxy and the secondary
# --------------------------------------------------------------------------

def check_proxied(res, port, label):
    got = [(rrs(port, "www", "A", tcp=tcp)) for tcp in (False, True)]
    res.check(all(g == (dns.rcode.NOERROR, [EDGE4]) for g in got),
              "www A answers the proxy address %s %s (UDP and TCP)" % (EDGE4, label),
              "  got %s" % got)


def check_secondary(res, apexd, port, knot, upd, sent):
    m = new_update(upd)
    m.add("sec-new", 300, "A", "192.0.2.77")
    t0 = time.monotonic()
    rc, how = send(port, m)
    sent.count(rc, True)
    if not res.check(rc == dns.rcode.NOERROR, "update for the secondary: NOERROR",
                     "  got %s (%s)" % (rc_text(rc), how)):
        return
    new_serial = serial(port)
    took = None
    while time.monotonic() - t0 < CONVERGE_MAX + 2:
        if rrs(knot.port, "sec-new", "A")[1] == ["192.0.2.77"]:
            took = time.monotonic() - t0
            break
        time.sleep(POLL)
    if took is not None:
        print("NOTE knotd served sec-new A %.2f s after the update was acknowledged" % took)
    res.check(took is not None and took < CONVERGE_MAX,
              "knotd (secondary, notified) serves the updated record within %.0f s" % CONVERGE_MAX,
              "  took %s; knotd serial %s; knotd stderr:\n%s\n  apexd stderr:\n%s"
              % ("%.2f s" % took if took else "more than %.0f s" % (CONVERGE_MAX + 2),
                 serial(knot.port), tail(knot.stderr()), tail(apexd.stderr())))
    res.check(bool(log_has(apexd, r"event=notify_sent zone=up\.test\. serial=%d target=%s:%d\b"
                           % (new_serial, re.escape(HOST), knot.port))),
              "apexd logs notify_sent for the update's serial %s" % new_serial)
    mm = log_has(apexd, r"event=transfer type=IXFR zone=up\.test\. client=\S+ serial=%d [^\n]*"
                 % new_serial)
    if mm:
        print("NOTE %s" % mm.group(0))
    res.check(bool(mm) and "answer=incremental" in mm.group(0),
              "apexd answers knotd's IXFR for serial %s incrementally (answer=incremental)" % new_serial,
              "  %s" % (mm.group(0) if mm else "no transfer line; apexd stderr:\n" + tail(apexd.stderr())))
    # knotd's view equals apexd's, after every update so far
    for name, t in (("sec-new", "A"), ("_acme-challenge", "TXT"), (ZONE, "NS")):
        res.check(rrs(knot.port, name, t) == rrs(port, name, t),
                  "knotd's %s %s equals apexd's" % (name, t),
                  "  knotd %s, apexd %s" % (rrs(knot.port, name, t), rrs(port, name, t)))


def check_metrics(res, cport, sent):
    try:
        p = ops_common.get_metrics(cport)
    except Exception as e:  # noqa: BLE001
        res.fail("GET /metrics", "  %s" % e)
        return
    for metric, want in (("apexd_updates_applied_total", sent.applied),
                         ("apexd_updates_refused_total", sent.refused),
                         ("apexd_updates_unchanged_total", sent.unchanged)):
        got = p.sum(metric)
        res.check(got == want, "%s = %d (what the test sent)" % (metric, want), "  got %s" % got)


# --------------------------------------------------------------------------
# 8. durability
# --------------------------------------------------------------------------

class Apexd:
    """apexd restarted on the same config; each run logs to its own stderr file."""

    def __init__(self, binary, conf, port, adir):
        self.binary, self.conf, self.port, self.adir = binary, conf, port, adir
        self.runs = 0
        self.proc = None

    def start(self):
        self.runs += 1
        self.proc = harness._spawn("apexd%d" % self.runs, [self.binary, "--config", self.conf],
                                   self.adir, self.port, self.conf)
        harness.wait_ready(self.proc, [ZONE], 10.0)
        return self.proc


def add_one(port, upd, name, addr, sent):
    m = new_update(upd)
    m.add(name, 300, "A", addr)
    rc, how = send(port, m)
    sent.count(rc, True)
    return rc, how


def check_restart(res, p, replayed, last_served, label):
    """After a restart: the change log replayed up to serial `replayed`; up.test. has a proxied
    name, so apexd serves a new serial, one above the last it served (journal_restarted: the
    edges may have moved while it was stopped). Returns the serial served."""
    m = log_has(p, r"event=changes_replayed zone=up\.test\. entries=\d+ file_serial=\d+ serial=(\d+)")
    if m:
        print("NOTE %s: %s" % (label, m.group(0)))
    res.check(m is not None and int(m.group(1)) == replayed,
              "%s: apexd logs changes_replayed up to serial %d" % (label, replayed), tail(p.stderr()))
    j = log_has(p, r"event=journal_restarted zone=up\.test\. journal_serial=(\d+) file_serial=\d+ "
                r"serial=(\d+)", wait=0)
    got = serial(p.port)
    res.check(j is not None and int(j.group(1)) == last_served and int(j.group(2)) == last_served + 1
              and got == last_served + 1,
              "%s: served under serial %d, one above the last served %d (journal_restarted: a "
              "proxied name)" % (label, last_served + 1, last_served),
              "  served %s; %s" % (got, j.group(0) if j else "no journal_restarted line"))
    return got


def sighup(p):
    """SIGHUP, then wait (bounded) for the reload's log line."""
    n = p.stderr().count("event=reload trigger=sighup")
    os.kill(p.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and p.stderr().count("event=reload trigger=sighup") == n:
        time.sleep(POLL)
    return p.stderr().count("event=reload trigger=sighup") > n


def wait_knot(knot, name, want, bound=CONVERGE_MAX):
    """Seconds until knotd serves `name A` as `want`, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < bound:
        if rrs(knot.port, name, "A")[1] == want:
            return time.monotonic() - t0
        time.sleep(POLL)
    return None


def check_reload_keeps(res, p, upd, zpath, conf, sent):
    """A reload that finds the file as it was keeps the updates: SIGHUP alone, SIGHUP after a
    change of the zone's config only (one more allow_transfer entry), and SIGHUP after the file
    was written again with the same bytes (its mtime moved, as a deploy tool does)."""
    port = p.port
    rc, how = add_one(port, upd, "keep1", "192.0.2.161", sent)
    s0 = serial(port)
    res.check(rc == dns.rcode.NOERROR, "update keep1: NOERROR", "  %s (%s)" % (rc_text(rc), how))
    res.check(sighup(p) and rrs(port, "keep1", "A")[1] == ["192.0.2.161"] and serial(port) == s0,
              "SIGHUP with the zone file untouched: the updates stay, serial %s" % s0,
              "  keep1 %s, serial %s" % (rrs(port, "keep1", "A"), serial(port)))
    with open(conf) as f:
        ctext = f.read()
    mark = len(p.stderr())
    with open(conf, "w") as f:
        f.write(ctext.replace('allow_transfer = ["127.0.0.0/8"]',
                              'allow_transfer = ["127.0.0.0/8", "10.0.0.0/8"]'))
    sighup(p)
    new_log = p.stderr()[mark:]
    got = rrs(port, "keep1", "A")[1]
    res.check(got == ["192.0.2.161"] and "changes_dropped" not in new_log,
              "zone config changed (allow_transfer + 10.0.0.0/8), file untouched, SIGHUP: the "
              "updates stay (keep1 served, no changes_dropped)",
              "  keep1 %s, serial %s -> %s; apexd log of the reload:\n%s"
              % (got, s0, serial(port), tail(new_log, 8)))

    rc, how = add_one(port, upd, "keep2", "192.0.2.162", sent)
    s0 = serial(port)
    res.check(rc == dns.rcode.NOERROR, "update keep2: NOERROR", "  %s (%s)" % (rc_text(rc), how))
    with open(zpath, "rb") as f:
        data = f.read()
    mark = len(p.stderr())
    with open(zpath, "wb") as f:
        f.write(data)
    st = os.stat(zpath)
    os.utime(zpath, (st.st_atime + 2, st.st_mtime + 2))
    sighup(p)
    new_log = p.stderr()[mark:]
    got = rrs(port, "keep2", "A")[1]
    res.check(got == ["192.0.2.162"] and "changes_dropped" not in new_log,
              "zone file written again with the same bytes + SIGHUP: the updates stay (keep2 "
              "served, no changes_dropped)",
              "  keep2 %s, serial %s -> %s; apexd log of the reload:\n%s"
              % (got, s0, serial(port), tail(new_log, 8)))


def check_durability(res, ap, upd, zpath, ztext, sent, knot):
    port = ap.port
    with open(zpath, "rb") as f:
        zbytes = f.read()
    res.check(zbytes == ztext.encode(), "the zone file on disk is still the one written "
              "(updates never rewrite it)")
    rc, how = add_one(port, upd, "dur1", "192.0.2.151", sent)
    res.check(rc == dns.rcode.NOERROR, "update dur1: NOERROR", "  got %s (%s)" % (rc_text(rc), how))
    s1 = serial(port)
    os.kill(ap.proc.pid, signal.SIGKILL)
    ap.proc.popen.wait(timeout=5)
    harness.stop(ap.proc)
    try:
        p = ap.start()
    except RuntimeError as e:
        res.fail("apexd restarts after SIGKILL", "  %s" % e)
        return
    res.check(rrs(port, "dur1", "A")[1] == ["192.0.2.151"],
              "after SIGKILL and a restart: dur1 served", "  dur1 %s" % (rrs(port, "dur1", "A"),))
    s1 = check_restart(res, p, s1, s1, "after SIGKILL")
    check_proxied(res, port, "after the replay")
    with open(zpath, "rb") as f:
        res.check(f.read() == zbytes, "after updates and SIGKILL the zone file is byte-identical")

    # two more updates; the change log's last entry cut short
    rc2, _ = add_one(port, upd, "dur2", "192.0.2.152", sent)
    s2 = serial(port)
    rc3, _ = add_one(port, upd, "dur3", "192.0.2.153", sent)
    s3 = serial(port)
    res.check(rc2 == rc3 == dns.rcode.NOERROR and rrs(port, "dur3", "A")[1] == ["192.0.2.153"],
              "updates dur2 and dur3 applied")
    harness.stop(p)
    log = os.path.join(ap.adir, "state", "changes", "up.test.changes")
    try:
        size = os.path.getsize(log)
        with open(log, "r+b") as f:
            f.truncate(size - 5)
        print("NOTE %s cut from %d to %d bytes" % (log, size, size - 5))
    except OSError as e:
        res.fail("the change log %s exists" % log, "  %s" % e)
        return
    try:
        p = ap.start()
    except RuntimeError as e:
        res.fail("apexd starts with a damaged change log", "  %s" % e)
        return
    got = [rrs(port, n, "A")[1] for n in ("dur1", "dur2", "dur3")]
    res.check(got == [["192.0.2.151"], ["192.0.2.152"], []],
              "change log cut short: dur1 and dur2 served, dur3 not", "  dur1..3 %s" % got)
    # dur3's serial was served (and transferred): the version without dur3 needs a newer one
    s4 = check_restart(res, p, s2, s3, "change log cut short")
    m = log_has(p, r"event=change_log_damaged zone=up\.test\. [^\n]*")
    if m:
        print("NOTE %s" % m.group(0))
    res.check(bool(m), "apexd logs change_log_damaged", tail(p.stderr()))
    rc, how = add_one(port, upd, "dur4", "192.0.2.154", sent)
    res.check(rc == dns.rcode.NOERROR and rrs(port, "dur4", "A")[1] == ["192.0.2.154"]
              and serial(port) == s4 + 1,
              "after the damaged log: a new update applies (serial %d)" % (s4 + 1),
              "  %s (%s), dur4 %s, serial %s" % (rc_text(rc), how, rrs(port, "dur4", "A"), serial(port)))

    # the operator edits the file: it wins
    with open(zpath, "w") as f:
        f.write(up_zone(SERIAL_EDIT, edited=True))
    t0 = time.monotonic()
    sighup(p)
    got = [rrs(port, n, "A")[1] for n in ("dur1", "dur2", "dur4", "fresh")]
    res.check(serial(port) == SERIAL_EDIT and got == [[], [], [], ["192.0.2.99"]],
              "zone file edited + SIGHUP: the file's data (serial %d, fresh), updated names gone"
              % SERIAL_EDIT, "  serial %s, dur1/dur2/dur4/fresh %s" % (serial(port), got))
    m = log_has(p, r"event=changes_dropped zone=up\.test\. [^\n]*")
    if m:
        print("NOTE %s" % m.group(0))
    res.check(bool(m), "apexd logs changes_dropped after the edit", tail(p.stderr()))
    check_proxied(res, port, "after the edit")
    if knot is not None:
        took = wait_knot(knot, "fresh", ["192.0.2.99"], CONVERGE_MAX - (time.monotonic() - t0))
        if took is not None:
            took = time.monotonic() - t0
            print("NOTE knotd served the edited file's fresh A %.2f s after the SIGHUP" % took)
        res.check(took is not None and rrs(knot.port, "dur1", "A")[1] == [],
                  "knotd follows the edit within %.0f s (fresh served, dur1 gone)" % CONVERGE_MAX,
                  "  fresh %s, dur1 %s, knotd serial %s" % (rrs(knot.port, "fresh", "A"),
                                                           rrs(knot.port, "dur1", "A"),
                                                           serial(knot.port)))
    rc, how = add_one(port, upd, "dur5", "192.0.2.155", sent)
    res.check(rc == dns.rcode.NOERROR and rrs(port, "dur5", "A")[1] == ["192.0.2.155"]
              and serial(port) == SERIAL_EDIT + 1,
              "after the edit: a new update applies on the new file (serial %d)" % (SERIAL_EDIT + 1),
              "  %s (%s), dur5 %s, serial %s" % (rc_text(rc), how, rrs(port, "dur5", "A"), serial(port)))
    harness.stop(p)
    try:
        p = ap.start()
    except RuntimeError as e:
        res.fail("apexd restarts after the edit", "  %s" % e)
        return
    got = [rrs(port, n, "A")[1] for n in ("dur1", "dur5", "fresh")]
    res.check(got == [[], ["192.0.2.155"], ["192.0.2.99"]],
              "restart after the edit: only the update made on the new file is replayed",
              "  dur1/dur5/fresh %s" % got)
    check_restart(res, p, SERIAL_EDIT + 1, SERIAL_EDIT + 1, "restart after the edit")
    check_reload_keeps(res, p, upd, zpath, ap.conf, sent)
    harness.stop(p)
    res.check(p.popen.returncode == 0, "apexd exits 0 on SIGTERM", "  exit %s" % p.popen.returncode)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def _out_of_time(signum, frame):
    raise TimeoutError("the test ran past its %d s bound" % TOTAL_BOUND)


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TOTAL_BOUND)
    t_start = time.monotonic()
    ports = set()
    while len(ports) < 3:
        ports.add(harness.free_port())
    aport, kport, cport = sorted(ports)
    try:
        upd = xfr_secondaries.tsig_keygen("hmac-sha256", UPD_KEY)
        # hmac-md5: what certbot's and cert-manager's rfc2136 plugins default to
        acme = xfr_secondaries.tsig_keygen("hmac-md5", ACME_KEY)
        unknown = xfr_secondaries.tsig_keygen("hmac-sha256", "nokey")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        res.fail("tsig-keygen makes the keys", "  %s" % e)
        return
    adir = os.path.join(workdir, "apexd")
    os.makedirs(adir)
    keyfile = os.path.join(adir, "upd-key.key")
    with open(keyfile, "w") as f:
        f.write(upd.text)
    zpath = os.path.join(adir, "up.test.zone")
    ztext = up_zone()
    with open(zpath, "w") as f:
        f.write(ztext)
    npath = os.path.join(adir, "noupd.test.zone")
    with open(npath, "w") as f:
        f.write(NOUPD_ZONE)
    have_knot = os.path.exists(KNOTD)
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, aport), 'state_dir = "state"', "",
             "[log]", 'level = "info"', "",
             "[control]", 'listen = "%s:%d"' % (HOST, cport), "",
             "[proxy]", 'ipv4 = ["%s"]' % EDGE4, ""]
    for k in (upd, acme):
        lines += ["[[key]]", 'name = "%s"' % k.name, 'algorithm = "%s"' % k.algorithm,
                  'secret = "%s"' % k.secret, ""]
    lines += ["[[zone]]", 'origin = "%s"' % ZONE, 'file = "up.test.zone"',
              'allow_update = [{ key = "%s" }, { key = "%s", names = ["_acme-challenge.*"], '
              'types = ["TXT"] }]' % (UPD_KEY, ACME_KEY),
              'allow_transfer = ["127.0.0.0/8"]']
    if have_knot:
        lines.append('notify = ["%s:%d"]' % (HOST, kport))
    lines += ["", "[[zone]]", 'origin = "%s"' % NOUPD, 'file = "noupd.test.zone"', ""]
    conf = os.path.join(adir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    ap = Apexd(binary, conf, aport, adir)
    try:
        apexd = ap.start()
    except RuntimeError as e:
        res.fail("apexd starts", "  %s" % e)
        return
    res.check(serial(aport) == SERIAL0, "apexd serves up.test. serial %d" % SERIAL0)

    knot = None
    if have_knot:
        kdir = os.path.join(workdir, "knotd")
        kconf, argv = xfr_secondaries.knot_conf(kdir, kport, aport, upd, zones=(ZONE,))
        knot = harness._spawn("knotd", argv, kdir, kport, kconf)
        deadline = time.monotonic() + KNOT_LOAD
        while time.monotonic() < deadline and serial(knot.port, timeout=0.3) != SERIAL0:
            time.sleep(POLL)
        if not res.check(serial(knot.port, timeout=0.3) == SERIAL0,
                         "knotd loads up.test. from apexd (serial %d)" % SERIAL0,
                         "  knotd stderr:\n%s" % tail(knot.stderr())):
            harness.stop(knot)
            knot = None
    else:
        print("SKIP the secondary: %s is not installed" % KNOTD)

    sent = Sent()
    check_proxied(res, aport, "before any update")
    check_tools(res, aport, upd, keyfile, sent)
    check_prerequisites(res, aport, upd, sent)
    check_refusals(res, apexd, aport, upd, acme, unknown, sent)
    check_apex(res, aport, upd, sent)
    # an update of www's own TXT: www stays proxied (its A still the edge)
    m = new_update(upd)
    m.add("www", 300, "TXT", '"proxied name, updated"')
    rc, how = send(aport, m)
    sent.count(rc, True)
    res.check(rc == dns.rcode.NOERROR and rrs(aport, "www", "TXT")[1] == ['"proxied name, updated"'],
              "update of www TXT applied", "  %s (%s)" % (rc_text(rc), how))
    check_proxied(res, aport, "after updates (one of them at www)")
    res.check(rrs(aport, "www", "AAAA")[0] == dns.rcode.NOERROR and not rrs(aport, "www", "AAAA")[1],
              "www AAAA: NODATA (no [proxy] ipv6), after updates")
    if knot is not None:
        check_secondary(res, apexd, aport, knot, upd, sent)
    check_metrics(res, cport, sent)
    res.check(apexd.alive(), "apexd still running after the updates",
              "  exit %s; stderr:\n%s" % (apexd.popen.returncode, tail(apexd.stderr())))

    check_durability(res, ap, upd, zpath, ztext, sent, knot)
    if knot is not None:
        harness.stop(knot)
    signal.alarm(0)
    print("NOTE took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    harness.main(body, harness.base_parser("RFC 2136 dynamic updates to apexd"))
