#!/usr/bin/python3
"""A fleet of signing apexd nodes: one primary, one secondary, the same keys.

    /usr/bin/python3 tests/integration/dnssec_fleet.py --apexd build-rel/apexd

The README's fleet recipe ("DNSSEC (online signing)", "Transfers stay unsigned"):
the primary serves fleet.test. with dnssec = true, key_dir = KEYS (made first with
`apexd keygen --dir KEYS fleet.test.`), transfer_unsigned = true, allow_transfer
127.0.0.1, notify = the secondary, allow_update = a TSIG key (tsig-keygen); the
secondary has primaries = [the primary], dnssec = true and key_dir = a copy of
KEYS.  Each node signs what it answers.  Checks:

1. the fleet: both nodes serve the same DNSKEY; `apexd ds` on both configs prints
   the same single DS, the DS of that DNSKEY; a DO=1 A query to each node verifies
   with dnspython against the DNSKEY (signer, timing, AA); one validating unbound
   per node (stubbed to that node only, trust anchor = that single DS) answers
   AD=1 (A, DNSKEY, a name that does not exist); the secondary's copy on disk holds
   no DNSSEC records (the transfer was unsigned);
2. a secondary with dnssec = true and an empty key_dir refuses to start: non-zero
   exit, the error names the key_dir, no key file written (a secondary never makes
   keys);
3. a primary without transfer_unsigned: the secondary gets nothing (SERVFAIL for the
   zone after its start) and the primary logs event=transfer_refused;
4. nsupdate (TSIG) adds new.fleet.test. A 192.0.2.77 on the primary: within 5 s both
   nodes answer it with a valid RRSIG and both unbounds say AD=1; a delete makes
   both nodes give a compact denial (NOERROR, NSEC at the name, next \\000.name,
   bitmap RRSIG NSEC TYPE128) that verifies, and both unbounds AD=1; no restart, no
   signing step (same PIDs);
5. the primary's zone file edited (a new name, a higher serial), SIGHUP: the new
   name is answered signed and validated on both nodes, at one serial;
6. rollover: `apexd keygen --zsk` adds a ZSK to the primary's key_dir (and the
   secondary's copy), SIGHUP both: the DNSKEY RRset holds the two keys on both
   nodes, `apexd ds` still prints the one old DS, the A RRSIG's key tag is the
   ZSK's, the DNSKEY RRSIG's the KSK's, and answers validate (AD=1) under the old
   DS trust anchor.  The validators' caches are flushed first (unbound-control
   flush_zone): the new ZSK signs at once, so a resolver still holding the one-key
   DNSKEY RRset fails validation until that RRset's TTL runs out.

Only 127.0.0.1, free high ports; every process is stopped by PID; every wait is
bounded (and the whole run by a 90 s alarm).  Ends with `N passed, N failed`.
"""

import os
import re
import shutil
import signal
import subprocess
import time

import dns.dnssec
import dns.name
import dns.rcode
import dns.rdatatype

import dnssec_common as dc
import dnssec_validate as dv
import harness
import peers
import tsig_keys

HOST = harness.HOST
T = dns.rdatatype
ZONE = "fleet.test."
SERIAL0 = 2026050101
UPD_KEY = "fleet-upd"
NEW_NAME, NEW_ADDR = "new.fleet.test.", "192.0.2.77"
RELOAD_NAME, RELOAD_ADDR = "reload.fleet.test.", "192.0.2.88"
WWW_ADDR = "192.0.2.10"
NSUPDATE = "/usr/bin/nsupdate"

START_BOUND = 10.0      # an apexd start / a first transfer
REFUSE_BOUND = 5.0      # apexd exiting on a bad config
CONVERGE = 5.0          # a change reaching both nodes
ACTIVATE_AFTER = 4      # seconds between publishing the new ZSK and its activation
LOG_WAIT = 4.0
TOOL_TIMEOUT = 15.0
TOTAL_BOUND = 90
POLL = 0.05


def _out_of_time(signum, frame):
    raise TimeoutError("the test ran past its %d s bound" % TOTAL_BOUND)


# --------------------------------------------------------------------------
# files and configs
# --------------------------------------------------------------------------

def zone_text(serial, reload_name=False):
    lines = ["$ORIGIN %s" % ZONE,
             "$TTL 300",
             # refresh 3600: the secondary moves on NOTIFY only during the test
             "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % serial,
             "@ NS ns1",
             '@ TXT "fleet"',
             "ns1 A 192.0.2.1",
             "www A %s" % WWW_ADDR,
             "www AAAA 2001:db8::10"]
    if reload_name:
        lines.append("reload A %s" % RELOAD_ADDR)
    return "\n".join(lines) + "\n"


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def primary_conf(d, port, keydir, sport, key, transfer_unsigned):
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, port), 'state_dir = "state"',
             "threads = 2", "",
             "[log]", 'level = "info"', "",
             "[[key]]", 'name = "%s"' % key.name, 'algorithm = "%s"' % key.algorithm,
             'secret = "%s"' % key.secret, "",
             "[[zone]]", 'origin = "%s"' % ZONE, 'file = "%s.zone"' % ZONE.rstrip("."),
             "dnssec = true", 'key_dir = "%s"' % keydir,
             'allow_transfer = ["127.0.0.1/32"]',
             'notify = ["%s:%d"]' % (HOST, sport),
             'allow_update = [{ key = "%s" }]' % key.name]
    if transfer_unsigned:
        lines.append("transfer_unsigned = true")
    return write(os.path.join(d, "apexd.toml"), "\n".join(lines) + "\n")


def secondary_conf(d, port, pport, keydir="keys"):
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, port), 'state_dir = "state"',
             "threads = 2", "",
             "[log]", 'level = "info"', "",
             "[[zone]]", 'origin = "%s"' % ZONE, 'file = "%s.zone"' % ZONE.rstrip("."),
             'primaries = ["%s:%d"]' % (HOST, pport),
             "dnssec = true", 'key_dir = "%s"' % keydir]
    return write(os.path.join(d, "apexd.toml"), "\n".join(lines) + "\n")


def copy_keys(src, dst):
    os.makedirs(dst, exist_ok=True)
    for f in dc.key_files(src):
        shutil.copy2(os.path.join(src, f), os.path.join(dst, f))


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def wait_for(fn, timeout, interval=POLL):
    """Call fn() until it returns something true or timeout: (value, seconds)."""
    t0 = time.monotonic()
    v = None
    while True:
        try:
            v = fn()
        except Exception:  # noqa: BLE001 - keep polling
            v = None
        if v or time.monotonic() - t0 >= timeout:
            return v, time.monotonic() - t0
        time.sleep(interval)


def log_has(proc, pattern, wait=LOG_WAIT, since=0):
    pat = re.compile(pattern)
    m, _ = wait_for(lambda: pat.search(proc.stderr()[since:]), wait)
    return m


def lines_with(text, word):
    return "\n".join(l for l in text.splitlines() if word in l) or "(none)"


def addrs(msg, qname, qtype="A"):
    if msg is None:
        return set()
    n = dns.name.from_text(qname)
    return {rd.to_text() for s in msg.answer
            if s.rdtype == T.from_text(qtype) and s.name == n for rd in s}


def q(port, qname, qtype, do=True, tcp=False, timeout=1.0):
    try:
        return harness.query(port, qname, qtype, do=do, tcp=tcp, timeout=timeout)
    except Exception:  # noqa: BLE001
        return None


def soa_serial(port):
    r = q(port, ZONE, "SOA", do=False)
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None
    for s in r.answer:
        if s.rdtype == T.SOA:
            return s[0].serial
    return None


def key_set(rrset):
    return {k.to_text() for k in rrset} if rrset is not None else set()


def fetch_keys(port):
    try:
        return dc.fetch_dnskeys(port, ZONE)
    except Exception:  # noqa: BLE001
        return None


def sig_tags(msg, qname, covered, section="answer"):
    n = dns.name.from_text(qname)
    return {sig.key_tag for s in getattr(msg, section)
            if s.rdtype == T.RRSIG and s.name == n and s.covers == covered
            for sig in s} if msg is not None else set()


def nsupdate(key, port, lines):
    argv = [NSUPDATE, "-y", "%s:%s:%s" % (key.algorithm, key.name, key.secret), "-t", "5"]
    script = "server %s %d\nzone %s\n%s\nsend\n" % (HOST, port, ZONE, "\n".join(lines))
    try:
        p = subprocess.run(argv, input=script, capture_output=True, text=True,
                           timeout=TOOL_TIMEOUT, preexec_fn=harness._die_with_parent)
        return p.returncode, (p.stdout + p.stderr).strip(), script
    except subprocess.TimeoutExpired:
        return None, "timed out after %.0f s" % TOOL_TIMEOUT, script


def ds_set(ds):
    return {dc.ds_text(*x) for x in ds}


def nodes_text(nodes):
    return ", ".join("%s port %d" % (n, p.port) for n, p in nodes)


# --------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------

def check_empty_keydir(res, binary, workdir, port, pport):
    """2. A secondary with dnssec = true and an empty key_dir does not start."""
    d = os.path.join(workdir, "sec-nokeys")
    empty = os.path.join(d, "keys-empty")
    os.makedirs(empty)
    conf = secondary_conf(d, port, pport, keydir="keys-empty")
    proc = harness._spawn("apexd-nokeys", [binary, "--config", conf], d, port, conf)
    try:
        proc.popen.wait(timeout=REFUSE_BOUND)
    except subprocess.TimeoutExpired:
        pass
    rc = proc.popen.poll()
    alive = rc is None
    err = proc.stderr()
    harness.stop(proc)
    res.check(not alive and rc != 0,
              "secondary, dnssec = true, empty key_dir: apexd exits non-zero",
              "  %s; stderr:\n%s" % ("still running after %.0f s" % REFUSE_BOUND if alive
                                     else "exit %s" % rc, harness.tail(err)))
    res.check(empty in err or "keys-empty" in err,
              "secondary with an empty key_dir: the error names the key_dir",
              "  stderr:\n%s" % harness.tail(err))
    res.check(dc.key_files(empty) == [],
              "secondary with an empty key_dir: no key generated",
              "  files: %s" % dc.key_files(empty))
    print("NOTE empty key_dir: exit %s, stderr: %s" % (rc, err.strip()[-400:]))


def check_refused_transfer(res, binary, workdir, keys, key, pport, sport):
    """3. Without transfer_unsigned the secondary gets nothing."""
    pd = os.path.join(workdir, "refuse-primary")
    sd = os.path.join(workdir, "refuse-secondary")
    os.makedirs(pd)
    os.makedirs(sd)
    write(os.path.join(pd, "fleet.test.zone"), zone_text(SERIAL0))
    pconf = primary_conf(pd, pport, keys, sport, key, transfer_unsigned=False)
    copy_keys(keys, os.path.join(sd, "keys"))
    sconf = secondary_conf(sd, sport, pport)
    prim = sec = None
    try:
        prim = harness.start_apexd_config(binary, pconf, pport, ZONE, pd, START_BOUND)
        sec = harness._spawn("apexd-sec-refused", [binary, "--config", sconf], sd, sport,
                             sconf)
        m = log_has(prim, r"event=transfer_refused[^\n]*", wait=LOG_WAIT)
        res.check(m is not None and "fleet.test" in m.group(0),
                  "no transfer_unsigned: the primary logs event=transfer_refused for "
                  "fleet.test.", "  primary stderr:\n%s" % harness.tail(prim.stderr()))
        if m:
            print("NOTE primary: %s" % m.group(0).strip())
        r, _ = wait_for(lambda: q(sport, ZONE, "SOA", do=False, timeout=0.3), 3.0)
        ra = q(sport, "www.fleet.test.", "A", do=True)
        res.check(sec.alive() and r is not None and r.rcode() == dns.rcode.SERVFAIL and
                  ra is not None and ra.rcode() == dns.rcode.SERVFAIL,
                  "no transfer_unsigned: the secondary has no data (SOA and DO=1 A: "
                  "SERVFAIL)",
                  "  alive %s; SOA: %s\n  A: %s\n  secondary stderr:\n%s"
                  % (sec.alive(), dc.brief(r), dc.brief(ra), harness.tail(sec.stderr())))
        res.check(not os.path.exists(os.path.join(sd, "fleet.test.zone")),
                  "no transfer_unsigned: the secondary wrote no copy")
        print("NOTE secondary: %s" % lines_with(sec.stderr(), "fleet.test").replace(
            "\n", "\n     ")[:1200])
    finally:
        for p in (sec, prim):
            if p is not None:
                harness.stop(p)


class Fleet:
    def __init__(self, binary, prim, sec, pconf, sconf, keys, skeys):
        self.binary = binary
        self.prim = prim
        self.sec = sec
        self.pconf = pconf
        self.sconf = sconf
        self.keys = keys            # the primary's key_dir (KEYS)
        self.skeys = skeys          # the secondary's copy
        self.vals = {}              # node name -> unbound Proc
        self.dnskey = None          # the DNSKEY rrset both serve

    def nodes(self):
        return [("primary", self.prim), ("secondary", self.sec)]


def direct_ok(res, f, node, port, qname, qtype, kind="pos", want=None, tcp=False):
    """dnssec_validate's direct check (signatures verified against the DNSKEY both
    nodes serve, timing, AA, the answer / the compact denial)."""
    d = dv.Direct(res, port, {ZONE: f.dnskey}, spec=True)
    if res.verbose:
        print("NOTE asking the %s (port %d)" % (node, port))
    return d.check(ZONE, qname, qtype, kind, want=want, tcp=tcp)


def vflush(f):
    for name, v in f.vals.items():
        rc, out = dc.unbound_control(v, "flush_zone", ZONE)
        if rc != 0:
            print("NOTE unbound-control flush_zone on %s's validator: exit %s %s"
                  % (name, rc, out))


def check_fleet(res, f, workdir, vports):
    """1. Same DNSKEY, same DS, DO=1 answers verify, validators say AD=1."""
    kp, ks = fetch_keys(f.prim.port), fetch_keys(f.sec.port)
    res.check(kp is not None and ks is not None and key_set(kp) == key_set(ks) and
              len(kp) == 1,
              "fleet: primary and secondary serve the same DNSKEY RRset (one key)",
              "  primary:   %s\n  secondary: %s" % (sorted(key_set(kp)), sorted(key_set(ks))))
    f.dnskey = kp or ks
    dp = dv.ds_checks(res, f.binary, f.pconf, ZONE, keys_rrset=kp)
    ds_ = dv.ds_checks(res, f.binary, f.sconf, ZONE, keys_rrset=ks)
    res.check(len(dp) == 1 and ds_set(dp) == ds_set(ds_),
              "fleet: apexd ds prints the same single DS on both configs",
              "  primary %s\n  secondary %s" % (sorted(ds_set(dp)), sorted(ds_set(ds_))))
    for o, rd in dp:
        print("NOTE DS %s" % dc.ds_text(o, rd))
    if f.dnskey is None or not dp:
        return None
    for name, p in f.nodes():
        direct_ok(res, f, name, p.port, "www.fleet.test.", "A", want=[WWW_ADDR])
        direct_ok(res, f, name, p.port, "www.fleet.test.", "A", want=[WWW_ADDR], tcp=True)
    # the copy on disk: unsigned
    copy = ""
    try:
        with open(os.path.join(f.sec.workdir, "fleet.test.zone")) as fh:
            copy = fh.read()
    except OSError as e:
        copy = "(cannot read: %s)" % e
    bad = sorted({t for t in ("RRSIG", "NSEC", "DNSKEY", "CDS", "CDNSKEY")
                  if re.search(r"\s%s\s" % t, copy)})
    res.check("www" in copy and not bad,
              "fleet: the secondary's copy on disk is the unsigned zone",
              "  DNSSEC types in it: %s\n%s" % (bad, dc.indent(copy[:1500])))
    # validators, one per node, the one DS as trust anchor
    for (name, p), (vport, cport) in zip(f.nodes(), vports):
        try:
            f.vals[name] = dc.start_validator(os.path.join(workdir, "unbound-" + name),
                                              {ZONE: p.port}, dp, ZONE, port=vport,
                                              control_port=cport,
                                              name="unbound-" + name)
        except RuntimeError as e:
            res.fail("validating unbound for the %s starts" % name, "  %s" % e)
    for name, v in f.vals.items():
        dv.vcheck(res, v.port, "www.fleet.test.", "A", want=[WWW_ADDR],
                  label="via the %s" % name)
        dv.vcheck(res, v.port, ZONE, "DNSKEY", label="via the %s" % name)
        dv.vcheck(res, v.port, dv.rand_label() + "." + ZONE, "A", empty=True,
                  nxname=True, label="name that does not exist, via the %s" % name)
    return dp


def wait_nodes(f, pred, timeout=CONVERGE):
    """Poll every node until pred(port) holds: {node: seconds or None}."""
    t0 = time.monotonic()
    out = {}
    for name, p in f.nodes():
        left = max(0.0, timeout - (time.monotonic() - t0))
        ok, _ = wait_for(lambda: pred(p.port), left)
        out[name] = (time.monotonic() - t0) if ok else None
    return out


def check_update(res, f, key):
    """4. nsupdate add and delete, signed and validated on both nodes."""
    pids = (f.prim.pid, f.sec.pid)
    rc, out, script = nsupdate(key, f.prim.port,
                               ["update add %s 300 A %s" % (NEW_NAME, NEW_ADDR)])
    res.check(rc == 0, "nsupdate (TSIG %s) add %s A %s: exit 0" % (key.name, NEW_NAME,
                                                                   NEW_ADDR),
              "  exit %s: %s\n  script:\n%s" % (rc, out, dc.indent(script)))
    seen = wait_nodes(f, lambda port: NEW_ADDR in addrs(q(port, NEW_NAME, "A",
                                                          timeout=0.3), NEW_NAME))
    print("NOTE update add seen: %s" % ", ".join("%s %s" % (n, "%.2fs" % t if t is not None
                                                           else "never")
                                                 for n, t in seen.items()))
    res.check(all(t is not None for t in seen.values()),
              "update add: both nodes answer %s A %s within %.0f s" % (NEW_NAME, NEW_ADDR,
                                                                       CONVERGE),
              "  %s\n  secondary stderr:\n%s" % (seen, harness.tail(f.sec.stderr())))
    for name, p in f.nodes():
        direct_ok(res, f, name, p.port, NEW_NAME, "A", want=[NEW_ADDR])
    for name, v in f.vals.items():
        dv.vcheck(res, v.port, NEW_NAME, "A", want=[NEW_ADDR],
                  label="added by nsupdate, via the %s" % name)

    rc, out, script = nsupdate(key, f.prim.port, ["update delete %s A" % NEW_NAME])
    res.check(rc == 0, "nsupdate delete %s A: exit 0" % NEW_NAME,
              "  exit %s: %s\n  script:\n%s" % (rc, out, dc.indent(script)))

    def gone(port):
        r = q(port, NEW_NAME, "A", timeout=0.3)
        return r is not None and r.rcode() == dns.rcode.NOERROR and \
            not addrs(r, NEW_NAME) and dc.nsecs(r)
    seen = wait_nodes(f, gone)
    print("NOTE update delete seen: %s" % ", ".join(
        "%s %s" % (n, "%.2fs" % t if t is not None else "never") for n, t in seen.items()))
    res.check(all(t is not None for t in seen.values()),
              "update delete: both nodes deny %s within %.0f s" % (NEW_NAME, CONVERGE),
              "  %s" % seen)
    for name, p in f.nodes():
        direct_ok(res, f, name, p.port, NEW_NAME, "A", kind="nxdomain")
    vflush(f)
    for name, v in f.vals.items():
        dv.vcheck(res, v.port, NEW_NAME, "A", empty=True, nxname=True,
                  label="deleted by nsupdate, compact denial, via the %s" % name)
    sp, ss = soa_serial(f.prim.port), soa_serial(f.sec.port)
    res.check(sp == ss == SERIAL0 + 2,
              "after the two updates both nodes serve serial %d" % (SERIAL0 + 2),
              "  primary %s, secondary %s" % (sp, ss))
    res.check(f.prim.alive() and f.sec.alive() and (f.prim.pid, f.sec.pid) == pids,
              "updates: no restart (both nodes still the same processes)")


def check_reload(res, f):
    """5. Zone file edited, SIGHUP: the new name validates on both nodes."""
    zpath = os.path.join(f.prim.workdir, "fleet.test.zone")
    serial = SERIAL0 + 10
    write(zpath, zone_text(serial, reload_name=True))
    mark = len(f.prim.stderr())
    os.kill(f.prim.pid, signal.SIGHUP)
    seen = wait_nodes(f, lambda port: RELOAD_ADDR in addrs(q(port, RELOAD_NAME, "A",
                                                              timeout=0.3), RELOAD_NAME))
    print("NOTE reload seen: %s" % ", ".join(
        "%s %s" % (n, "%.2fs" % t if t is not None else "never") for n, t in seen.items()))
    res.check(all(t is not None for t in seen.values()),
              "reload: both nodes answer %s A %s within %.0f s of the SIGHUP"
              % (RELOAD_NAME, RELOAD_ADDR, CONVERGE),
              "  %s\n  primary stderr since:\n%s\n  secondary stderr:\n%s"
              % (seen, harness.tail(f.prim.stderr()[mark:]), harness.tail(f.sec.stderr())))
    for name, p in f.nodes():
        direct_ok(res, f, name, p.port, RELOAD_NAME, "A", want=[RELOAD_ADDR])
    for name, v in f.vals.items():
        dv.vcheck(res, v.port, RELOAD_NAME, "A", want=[RELOAD_ADDR],
                  label="after the reload, via the %s" % name)
    sp, ss = soa_serial(f.prim.port), soa_serial(f.sec.port)
    res.check(sp == ss and sp is not None and sp >= serial,
              "reload: both nodes serve one serial, at least the file's %d" % serial,
              "  primary %s, secondary %s" % (sp, ss))


def check_rollover(res, f, ds_before, ksk_tag):
    """6. A ZSK published now and activated a few seconds later (`--activate`), SIGHUP: two
    keys at once, signatures by the old key until the activation (so validators holding the
    old one-key DNSKEY set keep validating: no gap), then by the ZSK; the old DS still
    validates."""
    rc, out, err = dc.apexd_keygen(f.binary, f.keys, ZONE, role="zsk", extra=("--activate", "+%ds" % ACTIVATE_AFTER))
    activate_at = time.monotonic() + ACTIVATE_AFTER
    base = out.strip().splitlines()[-1].strip() if out.strip() else ""
    m = re.match(r"^K%s\+013\+(\d{5})$" % re.escape(ZONE), base)
    if not res.check(rc == 0 and m is not None,
                     "apexd keygen --zsk %s prints Kfleet.test.+013+tag" % ZONE,
                     "  exit %s, stdout %r, stderr %r" % (rc, out, err)):
        return
    zsk_tag = int(m.group(1))
    owner, zkey = dv.dnskey_of_keyfile(os.path.join(f.keys, base + ".key"))
    res.check(zkey.flags == 256 and dns.dnssec.key_id(zkey) == zsk_tag,
              "the --zsk key file: DNSKEY 256 3 13, tag %d" % zsk_tag, "  %s" % zkey.to_text())
    copy_keys(f.keys, f.skeys)
    for _, p in f.nodes():
        os.kill(p.pid, signal.SIGHUP)
    two = {}
    for name, p in f.nodes():
        k, t = wait_for(lambda: (lambda ks: ks if ks is not None and len(ks) == 2 else None)(
            fetch_keys(p.port)), CONVERGE)
        two[name] = k
        print("NOTE rollover: %s serves %s DNSKEYs after %.2fs" % (name, len(k) if k else "not 2",
                                                                   t))
        flags = sorted(x.flags for x in k) if k else []
        tags = sorted(dns.dnssec.key_id(x) for x in k) if k else []
        res.check(flags == [256, 257] and tags == sorted([ksk_tag, zsk_tag]),
                  "rollover: the %s's DNSKEY RRset holds the KSK %d and the ZSK %d"
                  % (name, ksk_tag, zsk_tag),
                  "  %s\n  stderr:\n%s" % (fetch_keys(p.port), harness.tail(p.stderr())))
    if not (two["primary"] and two["secondary"]):
        return
    if time.monotonic() < activate_at - 1:
        # Published, not active yet: still signed by the old key; validators that cached the
        # one-key DNSKEY set before the rollover (not flushed) validate new answers.
        for name, p in f.nodes():
            r = direct_ok(res, f, name, p.port, "www.fleet.test.", "A", want=[WWW_ADDR])
            res.check(sig_tags(r, "www.fleet.test.", T.A) == {ksk_tag},
                      "rollover: before its activation the ZSK does not sign yet (%s)" % name)
        for name, v in f.vals.items():
            dv.vcheck(res, v.port, dv.rand_label() + "." + ZONE, "A", empty=True, nxname=True,
                      label="ZSK published, not active: no validation gap via the %s" % name)
    else:
        print("NOTE rollover: the machine was too slow to see the ZSK before its activation")
    for name, p in f.nodes():
        ok, t = wait_for(lambda: sig_tags(q(p.port, "www.fleet.test.", "A"), "www.fleet.test.", T.A) == {zsk_tag},
                         ACTIVATE_AFTER + CONVERGE)
        print("NOTE rollover: the %s signs with the ZSK %.2fs after the key was made" % (name, ACTIVATE_AFTER - (activate_at - time.monotonic())))
        res.check(ok, "rollover: the %s signs with the ZSK once its Activate time has passed (no reload)" % name)
    res.check(key_set(two["primary"]) == key_set(two["secondary"]),
              "rollover: both nodes serve the same two keys")
    f.dnskey = two["primary"]
    for conf, name in ((f.pconf, "primary"), (f.sconf, "secondary")):
        dsn = dv.ds_checks(res, f.binary, conf, ZONE, keys_rrset=f.dnskey)
        res.check(ds_set(dsn) == ds_set(ds_before),
                  "rollover: apexd ds on the %s's config still prints the one old DS" % name,
                  "  now %s\n  before %s" % (sorted(ds_set(dsn)), sorted(ds_set(ds_before))))
    for name, p in f.nodes():
        r = direct_ok(res, f, name, p.port, "www.fleet.test.", "A", want=[WWW_ADDR])
        tags = sig_tags(r, "www.fleet.test.", T.A)
        res.check(tags == {zsk_tag},
                  "rollover: the %s signs www A with the ZSK only (key tag %d)"
                  % (name, zsk_tag), "  RRSIG key tags %s (KSK %d)" % (sorted(tags), ksk_tag))
        r = direct_ok(res, f, name, p.port, ZONE, "DNSKEY")
        tags = sig_tags(r, ZONE, T.DNSKEY)
        res.check(tags == {ksk_tag},
                  "rollover: the %s signs the DNSKEY RRset with the KSK only (key tag %d)"
                  % (name, ksk_tag), "  RRSIG key tags %s (ZSK %d)" % (sorted(tags), zsk_tag))
        nx = dv.rand_label() + "." + ZONE
        r = direct_ok(res, f, name, p.port, nx, "A", kind="nxdomain")
        tags = sig_tags(r, nx, T.NSEC, section="authority")
        res.check(tags == {zsk_tag},
                  "rollover: the %s signs a compact-denial NSEC with the ZSK (key tag %d)"
                  % (name, zsk_tag), "  RRSIG key tags %s" % sorted(tags))
    vflush(f)
    for name, v in f.vals.items():
        dv.vcheck(res, v.port, "www.fleet.test.", "A", want=[WWW_ADDR],
                  label="after the rollover, old DS, via the %s" % name)
        dv.vcheck(res, v.port, ZONE, "DNSKEY",
                  label="two keys, old DS, via the %s" % name)
        dv.vcheck(res, v.port, dv.rand_label() + "." + ZONE, "A", empty=True,
                  nxname=True, label="after the rollover, via the %s" % name)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    for tool in (NSUPDATE, tsig_keys.TSIG_KEYGEN, peers.UNBOUND):
        if not os.path.exists(tool):
            res.fail("harness: %s is not installed" % tool)
            return
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TOTAL_BOUND)
    t_start = time.monotonic()
    try:
        run(res, binary, workdir)
    finally:
        signal.alarm(0)
        print("NOTE took %.1f s" % (time.monotonic() - t_start))


def run(res, binary, workdir):
    keys = os.path.join(workdir, "KEYS")
    os.makedirs(keys)
    rc, out, err = dc.apexd_keygen(binary, keys, ZONE)
    base = out.strip().splitlines()[-1].strip() if out.strip() else ""
    m = re.match(r"^K%s\+013\+(\d{5})$" % re.escape(ZONE), base)
    if not res.check(rc == 0 and m is not None and len(dc.key_files(keys)) == 2,
                     "apexd keygen --dir KEYS %s: prints Kfleet.test.+013+tag, writes "
                     ".key/.private" % ZONE,
                     "  exit %s, stdout %r, stderr %r, files %s"
                     % (rc, out, err, dc.key_files(keys))):
        return
    ksk_tag = int(m.group(1))
    print("NOTE key %s" % base)
    key = tsig_keys.tsig_keygen("hmac-sha256", UPD_KEY)
    (pport, sport, xport, v1, c1, v2, c2) = harness.distinct_ports(7)

    check_empty_keydir(res, binary, workdir, xport, pport)
    check_refused_transfer(res, binary, workdir, keys, key, pport, sport)

    pd = os.path.join(workdir, "primary")
    sd = os.path.join(workdir, "secondary")
    os.makedirs(pd)
    os.makedirs(sd)
    write(os.path.join(pd, "fleet.test.zone"), zone_text(SERIAL0))
    pconf = primary_conf(pd, pport, keys, sport, key, transfer_unsigned=True)
    skeys = os.path.join(sd, "keys")
    copy_keys(keys, skeys)
    sconf = secondary_conf(sd, sport, pport)
    prim = sec = None
    f = None
    try:
        prim = harness.start_apexd_config(binary, pconf, pport, ZONE, pd, START_BOUND)
        res.check("event=key_generated" not in prim.stderr(),
                  "primary: the key from KEYS is used (no event=key_generated)",
                  "  %s" % lines_with(prim.stderr(), "key_generated"))
        sec = harness._spawn("apexd-secondary", [binary, "--config", sconf], sd, sport,
                             sconf)
        try:
            harness.wait_ready(sec, [ZONE], START_BOUND)
        except RuntimeError as e:
            res.fail("the secondary loads fleet.test. from the primary",
                     "  %s\n  primary stderr:\n%s" % (e, harness.tail(prim.stderr())))
            return
        mt = log_has(sec, r"event=transfer_in [^\n]*")
        res.check(mt is not None, "the secondary logs event=transfer_in",
                  "  %s" % harness.tail(sec.stderr()))
        if mt:
            print("NOTE secondary: %s" % mt.group(0).strip())
        f = Fleet(binary, prim, sec, pconf, sconf, keys, skeys)
        ds = check_fleet(res, f, workdir, [(v1, c1), (v2, c2)])
        if ds is None or len(f.vals) != 2:
            return
        check_update(res, f, key)
        check_reload(res, f)
        check_rollover(res, f, ds, ksk_tag)
        for name, p in f.nodes():
            res.check(p.alive(), "the %s is still running at the end" % name,
                      "  exit %s; stderr:\n%s" % (p.popen.returncode,
                                                  harness.tail(p.stderr())))
    finally:
        if f is not None:
            for v in f.vals.values():
                harness.stop(v)
        for p in (sec, prim):
            if p is not None:
                harness.stop(p)


if __name__ == "__main__":
    harness.main(body, harness.base_parser("a fleet of signing apexd nodes"))
