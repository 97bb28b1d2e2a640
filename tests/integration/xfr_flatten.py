#!/usr/bin/python3
"""Flattened names follow the platform into the secondaries, end to end.

    /usr/bin/python3 tests/integration/xfr_flatten.py --apexd build-rel/apexd

apexd serves cust.test. (apex CNAME my-app.platform.test., flattened;
allow_transfer = 127.0.0.0/8, notify = every secondary, serial = "increment",
SOA refresh 3600).  platform.test. is not apexd's: a real knotd serves it
(my-app A 198.51.100.7, AAAA 2001:db8::7, TTL 4), and apexd resolves it
through a real unbound stubbed to that knotd ([resolver] upstreams = unbound,
min_ttl = 1).  knotd, nsd and named are secondaries of cust.test. from apexd
(configured as in xfr_secondaries.py, without TSIG).  Everything runs on
127.0.0.1 on free ports; every process is stopped by PID.

Checks:
- every secondary serves cust.test. A 198.51.100.7 with the initial serial,
  and apexd made no version at start;
- the platform changes (knotd's zone file rewritten with my-app A
  198.51.100.8, knotc zone-reload): each secondary serves 198.51.100.8 within
  30 s (the time from the change is printed: about TTL + TTL/2 + transfer);
  apexd's serial moved by exactly one, it logged event=zone_version once and
  event=notify_sent for each secondary, and the secondaries have the new
  serial and exactly apexd's records;
- no change, no version: two TTLs more with the platform unchanged, apexd's
  serial does not move (a TTL counting down is not a change);
- an AAAA-only change (2001:db8::8) also reaches the secondaries, as one more
  version (serial + 2); as it comes within 30 s of the first version, that
  version is not made before 30 s after the first one (changes closer
  together are merged), while apexd's own answers follow the platform at once;
- the resolver fails (unbound stopped) past apexd's serve_stale window: a
  transfer still carries the last known A and AAAA (logged as
  action="last known addresses sent"), the serial does not move and no
  version is made (issue 11: a broken target keeps its last known addresses).

A secondary whose binary is absent is skipped (printed); one that cannot start
is a failure, with its stderr.  Ends with `N passed, N failed`; exits 1 on any
failure.  About 50 s.
"""

import os
import re
import time

import dns.query
import dns.rcode
import dns.rdatatype

import harness
from harness import distinct_ports, tail  # noqa: E402
import peers

HOST = harness.HOST
ORIGIN = "cust.test."
PLATFORM = "platform.test."
TARGET = "my-app.platform.test."
TTL = 4                      # my-app's TTL at the platform
SERIAL1 = 2026120301
A1, A2 = "198.51.100.7", "198.51.100.8"
AAAA1, AAAA2 = "2001:db8::7", "2001:db8::8"

LOAD_TIMEOUT = 20.0          # a secondary's first transfer
CONVERGE_BOUND = 30.0        # fail above this after the platform change
CONVERGE_EXPECT = 15.0       # what it should roughly take (TTL + TTL/2 + transfer)
MERGE_INTERVAL = 30.0        # apexd's notify_min_interval
MERGE_SLACK = 15.0           # after the merge interval, for the round + transfer
QUIET = 2 * TTL + 1          # step 4: unchanged platform, no new version
STALE = 2                    # apexd's [resolver] serve_stale: step 6 outlives it
LAST_KNOWN_BOUND = 30.0      # step 6: TTL + STALE + a round of new versions, with slack
POLL = 0.1

KNOTD = "/usr/sbin/knotd"
NSD = "/usr/sbin/nsd"
NAMED = "/usr/sbin/named"


# --------------------------------------------------------------------------
# zones
# --------------------------------------------------------------------------

def cust_zone():
    return "\n".join([
        "$ORIGIN cust.test.",
        "$TTL 3600",
        # refresh 3600, retry 600: no timer of any secondary fires during the test
        "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % SERIAL1,
        "@ NS ns1",
        "@ CNAME %s" % TARGET,
        '@ TXT "v=spf1 -all"',
        "ns1 A 192.0.2.1",
        "www A 192.0.2.4",
    ]) + "\n"


def platform_zone(serial, a, aaaa):
    return "\n".join([
        "$ORIGIN platform.test.",
        "$TTL 300",
        "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % serial,
        "@ NS ns1",
        "ns1 A 192.0.2.9",
        "my-app %d A %s" % (TTL, a),
        "my-app %d AAAA %s" % (TTL, aaaa),
    ]) + "\n"


# --------------------------------------------------------------------------
# secondaries (as in xfr_secondaries.py, one zone, no TSIG)
# --------------------------------------------------------------------------

def knot_conf(d, port, aport):
    for sub in ("run", "db", "storage", "journal"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    path = os.path.join(d, "knot.conf")
    text = """server:
    listen: {host}@{port}
    rundir: {d}/run
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: {d}/db
    journal-db: {d}/journal

log:
  - target: stderr
    any: info

remote:
  - id: apexd
    address: {host}@{aport}

acl:
  - id: notify_from_apexd
    address: {host}
    action: notify
  - id: transfer_to_test
    address: {host}
    action: transfer

template:
  - id: default
    storage: {d}/storage
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: off

zone:
  - domain: {zone}
    master: apexd
    acl: [notify_from_apexd, transfer_to_test]
""".format(host=HOST, port=port, aport=aport, d=d, zone=ORIGIN)
    with open(path, "w") as f:
        f.write(text)
    return path, [KNOTD, "-c", path]


def nsd_conf(d, port, aport):
    os.makedirs(os.path.join(d, "xfr"), exist_ok=True)
    os.makedirs(os.path.join(d, "zones"), exist_ok=True)
    path = os.path.join(d, "nsd.conf")
    text = """server:
    ip-address: {host}
    port: {port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{d}/zones"
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}/xfr"
    pidfile: "{d}/nsd.pid"
    database: ""
    verbosity: 2
    rrl-ratelimit: 0
    reuseport: no

remote-control:
    control-enable: yes
    control-interface: "{d}/nsd.ctl"

zone:
    name: {zone}
    zonefile: "cust.test.zone"
    request-xfr: {host}@{aport} NOKEY
    allow-notify: {host} NOKEY
    provide-xfr: {host} NOKEY
""".format(host=HOST, port=port, aport=aport, d=d, zone=ORIGIN)
    with open(path, "w") as f:
        f.write(text)
    return path, [NSD, "-d", "-c", path]


def named_conf(d, port, aport):
    path = os.path.join(d, "named.conf")
    text = """
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    automatic-interface-scan no;
    recursion no;
    dnssec-validation no;
    notify no;
}};

controls {{ }};

zone "{zone}" {{
    type secondary;
    primaries {{ {host} port {aport}; }};
    file "{d}/cust.test.db";
    allow-notify {{ {host}; }};
    allow-transfer {{ {host}; }};
    notify no;
}};
""".format(host=HOST, port=port, aport=aport, d=d, zone=ORIGIN.rstrip("."))
    with open(path, "w") as f:
        f.write(text)
    return path, [NAMED, "-g", "-c", path]


SECONDARIES = [("knotd", KNOTD, knot_conf), ("nsd", NSD, nsd_conf),
               ("named", NAMED, named_conf)]


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def soa_serial(port, zone=ORIGIN, timeout=0.3):
    try:
        r = harness.query(port, zone, "SOA", timeout=timeout)
    except Exception:  # noqa: BLE001
        return None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def addresses(port, qtype, name=ORIGIN, timeout=0.3, rd=False):
    """(set of addresses of qtype at name, TTL or None), or (None, None)."""
    try:
        r = harness.query(port, name, qtype, timeout=timeout, rd=rd)
    except Exception:  # noqa: BLE001
        return None, None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None, None
    rdtype = dns.rdatatype.from_text(qtype)
    got, ttl = set(), None
    for rrset in r.answer:
        if rrset.rdtype == rdtype:
            got |= {rd.address for rd in rrset}
            ttl = rrset.ttl
    return got, ttl


def axfr_records(port, zone=ORIGIN, timeout=5.0):
    """The zone's AXFR as a set of 'name type rdata' lines (no TTL: a
    flattened TTL may have counted down between two transfers), plus the
    TTLs of the apex A/AAAA; or (None, error)."""
    try:
        msgs = list(dns.query.xfr(HOST, zone, port=port, relativize=False,
                                  timeout=timeout, lifetime=2 * timeout))
    except Exception as e:  # noqa: BLE001
        return None, "%s: %s" % (type(e).__name__, e)
    out = set()
    ttls = {}
    for m in msgs:
        for rrset in m.answer:
            for rd in rrset:
                out.add("%s %s %s" % (rrset.name.to_text().lower(),
                                      dns.rdatatype.to_text(rrset.rdtype),
                                      rd.to_text().lower()))
            if rrset.name.to_text().lower() == ORIGIN and \
                    rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                ttls[dns.rdatatype.to_text(rrset.rdtype)] = rrset.ttl
    return out, ttls


class Log:
    """apexd's stderr, looked at for event=zone_version lines; remembers
    (monotonic) when each was first seen."""

    VERSION = re.compile(r"event=zone_version zone=(\S+) serial=(\d+) "
                         r"previous_serial=(\d+)")

    def __init__(self, proc):
        self.proc = proc
        self.seen = []   # (first seen at, serial, previous serial, line)

    def poll(self):
        now = time.monotonic()
        lines = [l for l in self.proc.stderr().splitlines()
                 if "event=zone_version " in l]
        for l in lines[len(self.seen):]:
            m = self.VERSION.search(l)
            serial = int(m.group(2)) if m else None
            prev = int(m.group(3)) if m else None
            self.seen.append((now, serial, prev, l.strip()))
        return self.seen

    def versions(self):
        return [v for v in self.poll() if ORIGIN in v[3]]


def check_notify_sent(res, apexd, secs, serial, label):
    """apexd logged event=notify_sent for each secondary (bounded wait)."""
    pats = {s["name"]: re.compile(
        r"event=notify_sent zone=%s serial=%d target=%s:%d\b"
        % (re.escape(ORIGIN), serial, re.escape(HOST), s["port"])) for s in secs}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and \
            not all(p.search(apexd.stderr()) for p in pats.values()):
        time.sleep(POLL)
    err = apexd.stderr()
    for s in secs:
        res.check(bool(pats[s["name"]].search(err)),
                  "%s: apexd logs event=notify_sent serial %d for %s (%s:%d)"
                  % (label, serial, s["name"], HOST, s["port"]),
                  "  apexd stderr:\n%s" % tail(err))


def note_transfers(res, apexd, serial, live):
    """Prints apexd's transfers of `serial`; each live secondary's IXFR must have been
    answered from the journal (the new addresses alone), not with the whole zone."""
    lines = [l.strip() for l in apexd.stderr().splitlines()
             if "event=transfer " in l and "zone=%s" % ORIGIN in l
             and "serial=%d" % serial in l]
    print("NOTE apexd's transfers of %s serial %d:\n%s"
          % (ORIGIN, serial, "\n".join("    " + l for l in lines) or "    (none)"))
    incremental = [l for l in lines if "type=IXFR" in l and "answer=incremental" in l]
    res.check(len(incremental) >= len(live),
              "each secondary's IXFR of serial %d answered from the journal (%d of %d)"
              % (serial, len(incremental), len(live)), "  transfers:\n%s" % "\n".join(lines))


def converge(res, apexd, log, live, qtype, addr, t0, bound, label):
    """Poll every live secondary (and apexd itself) until it serves
    cust.test. qtype addr; returns ({name: seconds from t0}, apexd's
    seconds or None).  Stops at t0 + bound."""
    conv = {}
    apex_t = None
    pending = list(live)
    while (pending or apex_t is None) and time.monotonic() - t0 < bound:
        tick = time.monotonic()
        log.poll()
        if apex_t is None:
            got, _ = addresses(apexd.port, qtype, timeout=0.2)
            if got == {addr}:
                apex_t = time.monotonic() - t0
        for s in list(pending):
            got, _ = addresses(s["port"], qtype, timeout=0.2)
            if got == {addr}:
                conv[s["name"]] = time.monotonic() - t0
                pending.remove(s)
        left = POLL - (time.monotonic() - tick)
        if left > 0:
            time.sleep(left)
    log.poll()
    if apex_t is not None:
        print("NOTE apexd itself answered %s %s %s %.2f s after the %s"
              % (ORIGIN, qtype, addr, apex_t, label))
    else:
        res.fail("%s: apexd answers %s %s %s" % (label, ORIGIN, qtype, addr),
                 "  not within %.0f s; apexd stderr:\n%s"
                 % (bound, tail(apexd.stderr())))
    return conv, apex_t


def report_pending(res, apexd, live, conv, what, bound):
    for s in live:
        if s["name"] not in conv:
            res.fail(what % s["name"],
                     "  not within %.0f s (its SOA serial now %s; apexd's %s)\n"
                     "  %s stderr:\n%s\n  apexd stderr:\n%s"
                     % (bound, soa_serial(s["port"]), soa_serial(apexd.port),
                        s["name"], tail(s["proc"].stderr()),
                        tail(apexd.stderr(), 40)))


def compare_axfr(res, apexd, live, label):
    want, why = axfr_records(apexd.port)
    if want is None:
        res.fail("%s: apexd answers AXFR of %s" % (label, ORIGIN), "  %s" % why)
        return
    for s in live:
        got, why = axfr_records(s["port"])
        if got is None:
            res.fail("%s: %s answers AXFR of %s" % (label, s["name"], ORIGIN),
                     "  %s" % why)
            continue
        res.check(got == want, "%s: %s serves exactly apexd's records" % (label, s["name"]),
                  "  only at apexd: %s\n  only at %s: %s"
                  % (sorted(want - got), s["name"], sorted(got - want)))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    t_start = time.monotonic()
    aport, kport, uport, *sports = distinct_ports(3 + len(SECONDARIES))

    # the platform: knotd with platform.test., unbound stubbed to it
    pdir = os.path.join(workdir, "platform")
    os.makedirs(pdir, exist_ok=True)
    ppath = os.path.join(pdir, "platform.test.zone")
    with open(ppath, "w") as f:
        f.write(platform_zone(1, A1, AAAA1))
    knot = harness.start_knotd([(PLATFORM, ppath)], workdir=pdir, port=kport)
    udir = os.path.join(workdir, "unbound")
    unbound = peers.start_unbound(udir, {PLATFORM: knot.port}, port=uport,
                                  ready_name=PLATFORM)
    got, ttl = addresses(unbound.port, "A", TARGET, timeout=1.0, rd=True)
    res.check(got == {A1}, "unbound resolves %s A %s (via knotd)" % (TARGET, A1),
              "  got %s" % got)

    # the secondaries' configurations
    secs = []
    for (name, path, confn), port in zip(SECONDARIES, sports):
        if not os.path.exists(path):
            print("SKIP %s: %s is not installed" % (name, path))
            continue
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        conf, argv = confn(d, port, aport)
        secs.append(dict(name=name, port=port, dir=d, argv=argv, conf=conf, proc=None))
    if not secs:
        res.fail("no secondary is installed (knotd, nsd, named)")
        return

    # apexd
    adir = os.path.join(workdir, "apexd")
    os.makedirs(adir, exist_ok=True)
    zpath = os.path.join(adir, "cust.test.zone")
    with open(zpath, "w") as f:
        f.write(cust_zone())
    notify = "notify = [%s]" % ", ".join('"%s:%d"' % (HOST, s["port"]) for s in secs)
    conf = os.path.join(adir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join([
            "[server]", 'listen = ["%s:%d"]' % (HOST, aport),
            'state_dir = "%s"' % os.path.join(workdir, "state"), "",
            "[log]", 'level = "info"', "",
            "[resolver]", 'upstreams = ["%s:%d"]' % (HOST, unbound.port),
            "min_ttl = 1", 'serve_stale = "%ds"' % STALE, "",
            "[[zone]]", 'origin = "%s"' % ORIGIN, 'file = "%s"' % zpath,
            'allow_transfer = ["127.0.0.0/8"]', notify, 'serial = "increment"',
            ""]))
    apexd = harness.start_apexd_config(binary, conf, aport, ORIGIN, adir)
    log = Log(apexd)
    got, ttl = addresses(aport, "A", timeout=2.0)
    res.check(got == {A1} and ttl is not None and ttl <= TTL,
              "apexd answers %s A %s (flattened, TTL <= %d)" % (ORIGIN, A1, TTL),
              "  got %s TTL %s" % (got, ttl))

    # 1-2. the secondaries load the zone: A1 and the initial serial
    for s in secs:
        s["proc"] = harness._spawn(s["name"], s["argv"], s["dir"], s["port"], s["conf"])
    loaded = {}
    t0 = time.monotonic()
    while len(loaded) < len(secs) and time.monotonic() - t0 < LOAD_TIMEOUT:
        for s in secs:
            if s["name"] in loaded or not s["proc"].alive():
                continue
            got, _ = addresses(s["port"], "A", timeout=0.2)
            if got == {A1} and soa_serial(s["port"], timeout=0.2) == SERIAL1:
                loaded[s["name"]] = time.monotonic() - t0
        if all(not s["proc"].alive() for s in secs if s["name"] not in loaded):
            break
        time.sleep(POLL)
    for s in secs:
        what = "%s serves %s A %s with serial %d" % (s["name"], ORIGIN, A1, SERIAL1)
        if s["name"] in loaded:
            res.ok(what)
            print("NOTE %s loaded %s %.2f s after it started" % (s["name"], ORIGIN,
                                                                 loaded[s["name"]]))
        elif not s["proc"].alive():
            res.fail(what, "  %s exited with %s; stderr:\n%s"
                     % (s["name"], s["proc"].popen.returncode, tail(s["proc"].stderr(), 40)))
        else:
            got, _ = addresses(s["port"], "A")
            res.fail(what, "  not within %.0f s: A %s, serial %s; stderr:\n%s"
                     % (LOAD_TIMEOUT, got, soa_serial(s["port"]),
                        tail(s["proc"].stderr(), 40)))
    live = [s for s in secs if s["name"] in loaded]
    res.check(soa_serial(aport) == SERIAL1, "apexd serves serial %d" % SERIAL1,
              "  serial %s" % soa_serial(aport))
    compare_axfr(res, apexd, live, "before the change")
    res.check(not log.versions(), "apexd made no new version of %s at start" % ORIGIN,
              "  %s" % [v[3] for v in log.versions()])

    # 3. the platform changes: my-app A A2
    with open(ppath, "w") as f:
        f.write(platform_zone(2, A2, AAAA1))
    rc, out = peers.knotc_reload(knot, PLATFORM)
    t_change = time.monotonic()
    res.check(rc == 0, "knotc zone-reload %s" % PLATFORM, "  rc %s: %s" % (rc, out))
    r = peers.wait_answer(knot.port, TARGET, "A",
                          lambda m: any(rd.address == A2 for rr in m.answer for rd in rr),
                          timeout=5.0)
    res.check(r is not None and any(rd.address == A2 for rr in r.answer for rd in rr),
              "the platform knotd serves %s A %s" % (TARGET, A2),
              "  reply:\n%s" % (r.to_text() if r is not None else "(none)"))
    print("NOTE the platform knotd serves the new address %.2f s after the reload "
          "returned" % (time.monotonic() - t_change))

    conv, apex_t = converge(res, apexd, log, live, "A", A2, t_change,
                            CONVERGE_BOUND, "platform change")
    for s in live:
        if s["name"] in conv:
            print("%s converged in %.2f s after the platform change"
                  % (s["name"], conv[s["name"]]))
            res.check(conv[s["name"]] < CONVERGE_BOUND,
                      "%s serves %s A %s within %.0f s of the platform change"
                      % (s["name"], ORIGIN, A2, CONVERGE_BOUND),
                      "  took %.2f s" % conv[s["name"]])
            if conv[s["name"]] > CONVERGE_EXPECT:
                print("NOTE %s took longer than the expected ~%.0f s"
                      % (s["name"], CONVERGE_EXPECT))
    report_pending(res, apexd, live, conv,
                   "%%s serves %s A %s within %.0f s of the platform change"
                   % (ORIGIN, A2, CONVERGE_BOUND), CONVERGE_BOUND)
    time.sleep(0.5)  # a second, wrong version would show up right after the first
    versions = log.versions()
    serial2 = soa_serial(aport)
    res.check(serial2 == SERIAL1 + 1,
              "apexd's serial went up by exactly one (%d -> %d)" % (SERIAL1, SERIAL1 + 1),
              "  apexd serves serial %s" % serial2)
    res.check(len(versions) == 1 and versions[0][1] == SERIAL1 + 1
              and versions[0][2] == SERIAL1,
              "apexd logged event=zone_version once (serial=%d previous_serial=%d)"
              % (SERIAL1 + 1, SERIAL1),
              "  lines:\n%s\n  apexd stderr:\n%s"
              % ("\n".join("    " + v[3] for v in versions), tail(apexd.stderr(), 40)))
    t_v1 = versions[0][0] if versions else None
    if versions:
        print("NOTE %s (seen %.2f s after the platform change)"
              % (versions[0][3], t_v1 - t_change))
    check_notify_sent(res, apexd, secs, SERIAL1 + 1, "after the platform change")
    for s in live:
        sv = soa_serial(s["port"])
        res.check(sv == SERIAL1 + 1, "%s serves serial %d" % (s["name"], SERIAL1 + 1),
                  "  serial %s" % sv)
    compare_axfr(res, apexd, live, "after the platform change")
    note_transfers(res, apexd, SERIAL1 + 1, live)

    # 4. no change, no version: two TTLs more with the platform unchanged
    t_q = time.monotonic()
    ttls = []
    moved = []
    while time.monotonic() - t_q < QUIET:
        got, ttl = addresses(aport, "A", timeout=0.3)
        if ttl is not None:
            ttls.append(ttl)
        if got != {A2}:
            moved.append(got)
        time.sleep(0.25)
    serial_q = soa_serial(aport)
    vq = log.versions()
    res.check(serial_q == SERIAL1 + 1 and len(vq) == 1,
              "no change for %.0f s (TTL %d counting down): apexd's serial stays %d, "
              "no new version" % (QUIET, TTL, SERIAL1 + 1),
              "  serial %s; versions:\n%s" % (serial_q, "\n".join("    " + v[3] for v in vq)))
    res.check(not moved, "apexd kept answering %s A %s meanwhile" % (ORIGIN, A2),
              "  other answers: %s" % moved[:5])
    print("NOTE apexd's TTLs for %s A during the quiet period: %s"
          % (ORIGIN, sorted(set(ttls))))
    for s in live:
        sv = soa_serial(s["port"])
        res.check(sv == SERIAL1 + 1, "%s still at serial %d after the quiet period"
                  % (s["name"], SERIAL1 + 1), "  serial %s" % sv)

    # 5. an AAAA-only change, within 30 s of the first version: merged, so the
    # version waits until 30 s after the first one
    with open(ppath, "w") as f:
        f.write(platform_zone(3, A2, AAAA2))
    rc, out = peers.knotc_reload(knot, PLATFORM)
    t_change2 = time.monotonic()
    res.check(rc == 0, "knotc zone-reload %s (AAAA change)" % PLATFORM,
              "  rc %s: %s" % (rc, out))
    earliest = (t_v1 + MERGE_INTERVAL) if t_v1 is not None else t_change2
    bound2 = max(earliest - t_change2, 0) + MERGE_SLACK
    conv2, apex_t2 = converge(res, apexd, log, live, "AAAA", AAAA2, t_change2,
                              bound2, "AAAA change")
    if apex_t2 is not None:
        res.check(apex_t2 < 2 * TTL + 2,
                  "apexd's own AAAA answer follows the platform within ~2 TTLs "
                  "(not held back by the merge interval)", "  took %.2f s" % apex_t2)
    for s in live:
        if s["name"] in conv2:
            print("%s converged in %.2f s after the AAAA change (%.2f s after the "
                  "first version)" % (s["name"], conv2[s["name"]],
                                      t_change2 + conv2[s["name"]] - t_v1
                                      if t_v1 is not None else float("nan")))
            res.ok("%s serves %s AAAA %s after the AAAA change" % (s["name"], ORIGIN, AAAA2))
    report_pending(res, apexd, live, conv2,
                   "%%s serves %s AAAA %s after the AAAA change (by 30 s after the "
                   "first version + %.0f s)" % (ORIGIN, AAAA2, MERGE_SLACK), bound2)
    time.sleep(0.5)
    versions = log.versions()
    serial3 = soa_serial(aport)
    res.check(serial3 == SERIAL1 + 2 and len(versions) == 2
              and versions[1][1] == SERIAL1 + 2 and versions[1][2] == SERIAL1 + 1,
              "the AAAA change made exactly one more version (serial %d)" % (SERIAL1 + 2),
              "  apexd serves %s; versions:\n%s"
              % (serial3, "\n".join("    " + v[3] for v in versions)))
    if len(versions) >= 2 and t_v1 is not None:
        gap = versions[1][0] - t_v1
        print("NOTE %s (seen %.2f s after the AAAA change, %.2f s after the first "
              "version)" % (versions[1][3], versions[1][0] - t_change2, gap))
        # seen-times are polled at 0.1 s; allow that much
        res.check(gap >= MERGE_INTERVAL - 0.5,
                  "the second version came no sooner than %.0f s after the first "
                  "(changes closer together are merged)" % MERGE_INTERVAL,
                  "  %.2f s after" % gap)
    check_notify_sent(res, apexd, secs, SERIAL1 + 2, "after the AAAA change")
    for s in live:
        got, _ = addresses(s["port"], "A")
        sv = soa_serial(s["port"])
        res.check(got == {A2} and sv == SERIAL1 + 2,
                  "%s serves serial %d and still A %s" % (s["name"], SERIAL1 + 2, A2),
                  "  serial %s, A %s" % (sv, got))
    compare_axfr(res, apexd, live, "after the AAAA change")
    note_transfers(res, apexd, SERIAL1 + 2, live)

    # 6. the resolver goes away for longer than the stale window: the transfers
    # keep the last known addresses, and nothing moves
    harness.stop(unbound)
    t_stop = time.monotonic()
    kept = re.compile(r"event=transfer_target_unresolved zone=%s .*action=\"last known "
                      r"addresses sent\"" % re.escape(ORIGIN))
    seen = None
    while time.monotonic() - t_stop < LAST_KNOWN_BOUND:
        if kept.search(apexd.stderr()):
            seen = time.monotonic() - t_stop
            break
        time.sleep(POLL)
    res.check(seen is not None,
              "with the resolver stopped, apexd logs that the last known addresses of %s "
              "are sent" % ORIGIN,
              "  not within %.0f s; apexd stderr:\n%s" % (LAST_KNOWN_BOUND, tail(apexd.stderr(), 20)))
    if seen is not None:
        print("NOTE the resolver stopped: last known addresses used %.2f s later" % seen)
    got, _ = axfr_records(aport)
    want = {"%s A %s" % (ORIGIN, A2), "%s AAAA %s" % (ORIGIN, AAAA2)}
    res.check(got is not None and want <= {l.replace(" a ", " A ").replace(" aaaa ", " AAAA ")
                                           for l in got},
              "an AXFR with the resolver down still carries %s A %s and AAAA %s"
              % (ORIGIN, A2, AAAA2),
              "  got %s" % (sorted(l for l in got if l.startswith(ORIGIN)) if got else got))
    time.sleep(0.5)
    res.check(soa_serial(aport) == SERIAL1 + 2 and len(log.versions()) == 2,
              "the failing resolver made no new version (serial stays %d)" % (SERIAL1 + 2),
              "  serial %s; versions:\n%s" % (soa_serial(aport),
                                              "\n".join("    " + v[3] for v in log.versions())))

    err = apexd.stderr()
    res.check("event=notify_failed" not in err, "apexd logs no notify_failed",
              "  %s" % "\n  ".join(l for l in err.splitlines() if "notify_failed" in l))
    odd = [l for l in err.splitlines()
           if re.match(r"\S+\s+(warn|warning|error|critical)\b", l)
           or " [warning] " in l or " [error] " in l]
    if odd:
        print("NOTE apexd warnings/errors:\n%s" % "\n".join("    " + l for l in odd))

    for s in secs:
        p = s["proc"]
        res.check(p.alive(), "%s still running at the end" % s["name"],
                  "  exit %s; stderr:\n%s" % (p.popen.returncode, tail(p.stderr())))
    res.check(apexd.alive(), "apexd still running at the end",
              "  exit %s; stderr:\n%s" % (apexd.popen.returncode, tail(apexd.stderr())))
    for s in secs:
        harness.stop(s["proc"])
    harness.stop(knot)
    harness.stop(apexd)
    res.check(apexd.popen.returncode == 0, "apexd exits 0 on SIGTERM",
              "  exit %s" % apexd.popen.returncode)
    print("NOTE took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    harness.main(body, harness.base_parser(
        "flattened names follow the platform into knotd, nsd and named"))
