#!/usr/bin/python3
"""Response rate limiting ([rrl]) under bursts.

    /usr/bin/python3 tests/integration/hostile_rrl.py --apexd build/apexd

With `[rrl] responses_per_second = 10, slip = 2, whitelist = ["127.0.0.9/32"]`:

- a burst of 200 identical UDP queries from one client gets ~10-20 full answers; of the
  rest about half are slipped (TC=1, header and question only, every section empty) and
  half dropped; apexd_rrl_slipped_total / apexd_rrl_dropped_total move by exactly that;
- buckets are per name (another name from the limited client is answered), per /24
  (127.0.0.2 shares 127.0.0.1's bucket; 127.0.1.2 and 127.0.2.2, other /24s inside
  127.0.0.0/8 on the loopback interface, do not) and per response kind (NXDOMAIN for
  random names shares one bucket per zone, REFUSED too, and so do random names answered
  by one wildcard, as Knot's "wildcard" class does);
- the whitelisted 127.0.0.9 is never limited; TCP is never limited;
- the bucket refills at the configured rate;
- flattened answers that waited for the resolver are limited too;
- with threads = 2 (one worker per core, what threads = 0 gives here) the limit still
  holds per client: ~10-20 for a client on one socket and for one on random ports;
- without [rrl] (the default) all 200 are answered.

Ends with `N passed, N failed`; exits 1 on any failure.  About 20-30 s.
"""

import random
import threading
import time

import dns.flags
import dns.rcode

import harness
import hostile_common as hc

RATE = 10
BURST = 200
FULL_LO, FULL_HI = RATE, 2 * RATE   # "~10-20 answered fully"
NOTES = []
RRL = {"responses_per_second": str(RATE), "slip": "2", "whitelist": '["127.0.0.9/32"]'}


def classify(recs, qname=None):
    """(full, slipped, silent, bad) for a list of Rec."""
    full, slipped, silent, bad = [], [], [], []
    for r in recs:
        m = r.reply
        if m is None:
            silent.append(r)
        elif isinstance(m, (bytes, bytearray)):
            bad.append(r)
        elif m.flags & dns.flags.TC:
            w = m.wire
            counts = [int.from_bytes(w[i:i + 2], "big") for i in (4, 6, 8, 10)]
            q = m.question[0] if m.question else None
            ok = (counts == [1, 0, 0, 0] and q is not None
                  and str(q.name).lower() == r.qname.lower() and len(w) == 12 + len(q.name.to_wire()) + 4)
            (slipped if ok else bad).append(r)
        else:
            full.append(r)
    return full, slipped, silent, bad


def burst(port, qname, n=BURST, src=harness.HOST, qtype="A", fresh=False, names=None):
    items = [(nm, qtype) for nm in names] if names else [(qname, qtype)] * n
    fl = hc.Flight(port, items, src=src, timeout=1.0, fresh_sockets=fresh)
    return fl.run()


def check_burst(res, label, recs, lo=FULL_LO, hi=FULL_HI, good=None):
    full, slipped, silent, bad = classify(recs)
    limited = len(recs) - len(full)
    NOTES.append("%s: %d full, %d slipped, %d dropped, %d malformed" % (
        label, len(full), len(slipped), len(silent), len(bad)))
    res.check(lo <= len(full) <= hi, "%s: %d-%d of %d answered fully" % (label, lo, hi, len(recs)),
              "  %d full" % len(full))
    res.check(not bad, "%s: every slipped answer is TC=1 with the question only" % label,
              "\n".join("  %s" % hc.describe(r.reply) for r in bad[:3]))
    if limited:
        res.check(abs(len(slipped) - limited / 2.0) <= 2,
                  "%s: about half of the %d limited answers slipped (slip = 2)" % (label, limited),
                  "  %d slipped, %d dropped" % (len(slipped), len(silent)))
    if good:
        wrong = [r for r in full if not good(r.reply)]
        res.check(not wrong, "%s: the full answers are right" % label,
                  "\n".join("  %s" % hc.describe(r.reply) for r in wrong[:3]))
    return full, slipped, silent


def is_static(name, addr):
    return lambda m: (m.rcode() == dns.rcode.NOERROR and hc.addresses(m) == {addr})


def deltas(before, after):
    return (hc.metric(after, "apexd_rrl_slipped_total") - hc.metric(before, "apexd_rrl_slipped_total"),
            hc.metric(after, "apexd_rrl_dropped_total") - hc.metric(before, "apexd_rrl_dropped_total"))


def test_single_worker(res, binary, workdir, up):
    proc, port, control = hc.start_apexd(binary, workdir, name="rrl1", threads=1, rrl=RRL,
                                         upstreams=[up.address],
                                         resolver={"timeout": '"600ms"', "deadline": '"1000ms"'})
    rrl0 = "rrl0.hostile.test."
    before = hc.metrics(control)
    recs = burst(port, rrl0)
    after = hc.metrics(control)
    full, slipped, silent = check_burst(res, "threads=1, burst of 200 from 127.0.0.1", recs,
                                        good=is_static(rrl0, "192.0.2.100"))
    ds, dd = deltas(before, after)
    res.check(ds == len(slipped) and dd == len(silent),
              "threads=1: apexd_rrl_slipped_total / apexd_rrl_dropped_total moved by what the"
              " client saw", "  slipped +%d (saw %d), dropped +%d (saw %d silent)"
              % (ds, len(slipped), dd, len(silent)))

    # Buckets, each check on fresh buckets (names not used before) and with the
    # competing clients sending at the same moment (a dropped answer costs the client a
    # second of waiting, in which the bucket refills).
    # - one client, two names: a bucket each
    flights = [hc.Flight(port, [(n, "A")] * 100, timeout=1.0).start()
               for n in ("rrl1.hostile.test.", "rrl2.hostile.test.")]
    for n, fl in zip(("rrl1", "rrl2"), flights):
        full, _, _, _ = classify(fl.wait())
        res.check(FULL_LO <= len(full) <= FULL_HI,
                  "one client, two names at once: %s gets its own bucket (%d-%d of 100)"
                  % (n, FULL_LO, FULL_HI), "  %d full" % len(full))
    # - five addresses of one /24: one bucket
    flights = [hc.Flight(port, [("rrl3.hostile.test.", "A")] * 60, src="127.0.0.%d" % a,
                         timeout=1.0).start() for a in range(2, 7)]
    total = sum(len(classify(fl.wait())[0]) for fl in flights)
    res.check(total <= FULL_HI, "127.0.0.2..6 (one /24) at once share one bucket: %d-%d of 300"
              " answered fully (separate buckets would give 50)" % (FULL_LO, FULL_HI),
              "  %d full" % total)
    # - three /24s: a bucket each
    srcs = ("127.0.0.1", "127.0.1.2", "127.0.2.2")
    flights = [hc.Flight(port, [("ns1.hostile.test.", "A")] * 100, src=a, timeout=1.0).start()
               for a in srcs]
    for a, fl in zip(srcs, flights):
        full, _, _, _ = classify(fl.wait())
        res.check(FULL_LO <= len(full) <= FULL_HI,
                  "three /24s at once: %s has its own bucket (%d-%d of 100)" % (a, FULL_LO, FULL_HI),
                  "  %d full" % len(full))
    # - the whitelisted address while 127.0.0.1 is limited for the same name
    fl1 = hc.Flight(port, [(rrl0, "A")] * BURST, timeout=1.0).start()
    recs = burst(port, rrl0, src="127.0.0.9")
    fl1.wait()
    full, slipped, silent, bad = classify(recs)
    res.check(len(full) == BURST, "whitelisted 127.0.0.9: 200/200 answered fully",
              "  %d full, %d slipped, %d silent" % (len(full), len(slipped), len(silent)))

    # TCP is never limited
    box = []

    def tcp_run():
        ok = 0
        for _ in range(50):
            r, _ = hc.tcp(port, rrl0, timeout=2.0)
            if r is not None and hasattr(r, "flags") and not (r.flags & dns.flags.TC) \
                    and hc.addresses(r) == {"192.0.2.100"}:
                ok += 1
        box.append(ok)
    t = threading.Thread(target=tcp_run, daemon=True)
    t.start()
    t.join(timeout=60)
    res.check(box and box[0] == 50, "TCP from the limited client: 50/50 answered fully",
              "  %s" % box)

    # response kinds: random NXDOMAIN names share one bucket per zone; REFUSED too
    names = ["nx%08x.hostile.test." % random.randrange(1 << 32) for _ in range(BURST)]
    recs = burst(port, None, names=names, src="127.0.0.3")
    check_burst(res, "200 random NXDOMAIN names from 127.0.0.3", recs,
                good=lambda m: m.rcode() == dns.rcode.NXDOMAIN)
    # random names under a wildcard: one synthesized answer, so one bucket (Knot keys
    # wildcard answers by the zone, class "wildcard"); otherwise every random name gets
    # a fresh bucket and the limit never applies
    names = ["r%08x.wild.hostile.test." % random.randrange(1 << 32) for _ in range(BURST)]
    recs = burst(port, None, names=names, src="127.0.2.3", qtype="TXT")
    check_burst(res, "200 random names under a wildcard (TXT) from 127.0.2.3", recs,
                good=lambda m: m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1)
    names = ["x%08x.elsewhere.example." % random.randrange(1 << 32) for _ in range(BURST)]
    recs = burst(port, None, names=names, src="127.0.1.3")
    check_burst(res, "200 random out-of-zone (REFUSED) names from 127.0.1.3", recs,
                good=lambda m: m.rcode() == dns.rcode.REFUSED)

    # refill: after 1.5 s idle the bucket holds a second's worth again
    time.sleep(1.5)
    recs = burst(port, rrl0, n=RATE)
    full, _, _, _ = classify(recs)
    res.check(len(full) == RATE, "after 1.5 s the bucket has refilled: %d/%d answered" % (len(full), RATE))
    # sustained: 40 queries over 2 s (20 a second, twice the rate)
    time.sleep(1.2)
    fl = hc.Flight(port, [(rrl0, "A")] * 40, interval=0.05, timeout=1.0)
    recs = fl.run()
    full, slipped, silent, bad = classify(recs)
    NOTES.append("sustained 20 q/s for 2 s (rate 10): %d full, %d slipped, %d dropped"
                 % (len(full), len(slipped), len(silent)))
    res.check(22 <= len(full) <= 34, "sustained 20 q/s for 2 s: about 10 + 2 x 10 answered fully",
              "  %d full" % len(full))

    # flattened answers that waited for the resolver are limited too
    up.set_mode("slow", slow_delay=0.2)
    recs = burst(port, "g-slow.hostile.test.")
    check_burst(res, "burst for a flattened name not yet cached (answers wait for the resolver)",
                recs, good=lambda m: hc.is_genuine(m, "g-slow.hostile.test.", "g-slow"))
    up.set_mode("normal")
    res.check(proc.alive(), "threads=1: apexd alive", proc.stderr()[-2000:])
    harness.stop(proc)


def test_two_workers(res, binary, workdir):
    proc, port, control = hc.start_apexd(binary, workdir, name="rrl2", threads=2, rrl=RRL)
    recs = burst(port, "rrl2.hostile.test.")
    check_burst(res, "threads=2, burst of 200 from one socket", recs)
    time.sleep(1.5)
    recs = burst(port, "rrl2.hostile.test.", fresh=True)
    check_burst(res, "threads=2, burst of 200 from random source ports", recs)
    harness.stop(proc)


def test_off(res, binary, workdir):
    proc, port, control = hc.start_apexd(binary, workdir, name="rrloff", threads=2)
    before = hc.metrics(control)
    recs = burst(port, "rrl0.hostile.test.")
    after = hc.metrics(control)
    full, slipped, silent, bad = classify(recs)
    res.check(len(full) == BURST, "no [rrl] (default): 200/200 answered fully",
              "  %d full, %d slipped, %d silent" % (len(full), len(slipped), len(silent)))
    names = ["nx%08x.hostile.test." % random.randrange(1 << 32) for _ in range(BURST)]
    full, _, _, _ = classify(burst(port, None, names=names))
    res.check(len(full) == BURST, "no [rrl]: 200/200 random NXDOMAIN answered", "  %d" % len(full))
    ds, dd = deltas(before, after)
    res.check(ds == 0 and dd == 0, "no [rrl]: the RRL counters stay at 0", "  +%d, +%d" % (ds, dd))
    harness.stop(proc)


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    up = hc.ScriptedUpstream("up")
    try:
        test_single_worker(res, binary, workdir, up)
        test_two_workers(res, binary, workdir)
        test_off(res, binary, workdir)
    finally:
        up.close()
        for n in NOTES:
            print("NOTE %s" % n)


if __name__ == "__main__":
    harness.main(body, description=__doc__.split("\n")[0])
