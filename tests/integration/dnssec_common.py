#!/usr/bin/python3
"""Shared helpers for dnssec_validate.py and dnssec_knot_diff.py (apexd's online
DNSSEC signing, issue 13).

- keys: `apexd keygen`, `apexd ds`, BIND's dnssec-keygen / dnssec-dsfromkey, DS
  lines parsed and compared with the DNSKEY a server publishes;
- knotd with mod-onlinesign (its own key, or a BIND key pair imported with keymgr);
- a validating unbound (trust anchors = DS lines, stubbed to 127.0.0.1 only) and
  delv (a trust-anchors file with static-ds);
- answer inspection: RRSIGs verified with dnspython against the zone's DNSKEY,
  NSEC type bitmaps, canonical-order coverage.

Builds on harness.py / peers.py: every process is started through harness's
spawner (registered, stopped by PID, SIGKILLed if the test dies); only 127.0.0.1
is used; every wait is bounded.

Run directly, it checks its own helpers (DS parsing, bitmap decoding, coverage)
on fixed inputs, without starting any server:

    /usr/bin/python3 tests/integration/dnssec_common.py
"""

import os
import re
import subprocess
import sys
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

import harness
import peers

HOST = harness.HOST
DNSSEC_ZONES = os.path.join(harness.ZONES_DIR, "dnssec")
KNOTD = "/usr/sbin/knotd"
KEYMGR = "/usr/sbin/keymgr"
DNSSEC_KEYGEN = "/usr/bin/dnssec-keygen"
DNSSEC_DSFROMKEY = "/usr/bin/dnssec-dsfromkey"
DELV = "/usr/bin/delv"

NXNAME = 128            # RFC 9824 NXNAME pseudo-type (dnspython prints TYPE128)
RRSIG = dns.rdatatype.RRSIG
NSEC = dns.rdatatype.NSEC
DNSKEY = dns.rdatatype.DNSKEY

# Never let a validator send a packet to a documentation address (the glue of the
# test zones and the proxy edges): unbound's do-not-query-address.
DOC_NETS = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]


def zpath(name):
    return os.path.join(DNSSEC_ZONES, name)


def run(argv, timeout=30.0, cwd=None):
    """Run a tool to completion: (rc, stdout, stderr); rc -1 on timeout, -2 when
    the program is missing."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout,
                           cwd=cwd, preexec_fn=harness._die_with_parent)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -1, out, "TIMEOUT after %.0fs" % timeout
    except OSError as e:
        return -2, "", "cannot run %s: %s" % (argv[0], e)


def indent(text, pre="    "):
    return "\n".join(pre + line for line in str(text).rstrip().splitlines())


# --------------------------------------------------------------------------
# keys and DS
# --------------------------------------------------------------------------

def apexd_keygen(binary, keydir, zone, algorithm=None, role=None, extra=()):
    """`apexd keygen --dir DIR [--algorithm A] [--ksk|--zsk] ZONE`:
    (rc, stdout, stderr)."""
    argv = [binary, "keygen", "--dir", keydir]
    if algorithm:
        argv += ["--algorithm", algorithm]
    if role:
        argv.append("--" + role)
    argv += list(extra)
    argv.append(zone)
    return run(argv)


def apexd_ds(binary, config, zone):
    """`apexd ds --config FILE ZONE`: (rc, stdout, stderr)."""
    return run([binary, "ds", "--config", config, zone])


def bind_keygen(keydir, zone, algorithm="ECDSAP256SHA256", ksk=True):
    """BIND's dnssec-keygen; returns (base path without .key/.private, output)."""
    argv = [DNSSEC_KEYGEN, "-q", "-a", algorithm]
    if ksk:
        argv += ["-f", "KSK"]
    argv += ["-K", keydir, zone.rstrip(".") + "."]
    rc, out, err = run(argv)
    if rc != 0:
        raise RuntimeError("dnssec-keygen failed (%s): %s %s" % (rc, out, err))
    base = out.strip().splitlines()[-1].strip()
    return os.path.join(keydir, base), out + err


def bind_dsfromkey(keyfile):
    """dnssec-dsfromkey -2 FILE.key: the SHA-256 DS line."""
    rc, out, err = run([DNSSEC_DSFROMKEY, "-2", keyfile])
    if rc != 0:
        raise RuntimeError("dnssec-dsfromkey failed (%s): %s" % (rc, err))
    return out.strip()


def key_files(keydir):
    """Sorted names of the K*.key / K*.private files in keydir."""
    try:
        return sorted(f for f in os.listdir(keydir)
                      if f.startswith("K") and (f.endswith(".key") or
                                                f.endswith(".private")))
    except OSError:
        return []


def parse_ds_lines(text):
    """DS records out of zone-file-like lines (`owner [ttl] [IN] DS tag alg dt hex`,
    as `apexd ds`, keymgr and dnssec-dsfromkey print them).  Returns a list of
    (dns.name.Name, DS rdata); lines that are not DS records are ignored."""
    out = []
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        toks = line.split()
        up = [t.upper() for t in toks]
        if "DS" not in up[1:]:
            continue
        i = up.index("DS", 1)
        rest = toks[i + 1:]
        if len(rest) < 4:
            continue
        # the digest may be split in groups: join everything after the digest type
        rdtext = " ".join(rest[:3]) + " " + "".join(rest[3:])
        try:
            rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, rdtext)
        except Exception:  # noqa: BLE001 - not a DS line after all
            continue
        out.append((dns.name.from_text(toks[0]), rd))
    return out


def ds_text(owner, rd):
    """Canonical one-line text: `owner DS tag alg dt HEX` (digest upper case)."""
    return "%s DS %d %d %d %s" % (owner.to_text().lower(), rd.key_tag, rd.algorithm,
                                  rd.digest_type, rd.digest.hex().upper())


def ds_of_dnskeys(zone, dnskey_rrset, digest="SHA256", sep_only=True):
    """The DS texts for the DNSKEYs of a zone (flags 257 only when sep_only)."""
    name = dns.name.from_text(zone)
    out = set()
    for k in dnskey_rrset:
        if sep_only and not (k.flags & 0x0001):
            continue
        out.add(ds_text(name, dns.dnssec.make_ds(name, k, digest)))
    return out


def unbound_trust_anchor_lines(ds_list):
    return ['trust-anchor: "%s"' % ds_text(o, rd) for o, rd in ds_list]


def write_delv_anchors(path, ds_list):
    """A trust-anchors file for delv -a (static-ds entries)."""
    lines = ["trust-anchors {"]
    for owner, rd in ds_list:
        lines.append('    %s static-ds %d %d %d "%s";'
                     % (owner.to_text(), rd.key_tag, rd.algorithm, rd.digest_type,
                        rd.digest.hex().upper()))
    lines.append("};")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------
# knotd with mod-onlinesign
# --------------------------------------------------------------------------

def write_knot_onlinesign_conf(kdir, port, zones):
    """knot.conf for knotd 3.2 signing `zones` online.  zones: list of dicts with
    origin, file, and key ("import" = keys come from keymgr import-bind, so the
    policy is manual; "auto" = knotd generates an ECDSA P-256 CSK itself).

    Notes (knotd 3.2.6):
    - mod-onlinesign needs a kasp-db (database.kasp-db);
    - an imported BIND KSK (flags 257) is "KSK" only and the module then fails
      with "missing active KSK or ZSK": keymgr `set KEY zsk=yes` makes it a CSK;
    - CDS/CDNSKEY are published only with cds-cdnskey-publish: always (the
      default, rollover, publishes none for a steady key and knotd then answers a
      CDS query with an empty NOERROR without SOA: unprovable);
    - knotd gives CDS/CDNSKEY TTL 0 and DNSKEY the SOA's TTL."""
    for d in ("run", "db", "storage", "kasp", "journal", "timer"):
        os.makedirs(os.path.join(kdir, d), exist_ok=True)
    conf = os.path.join(kdir, "knot.conf")
    text = [
        "server:",
        "    listen: %s@%d" % (HOST, port),
        "    rundir: %s" % os.path.join(kdir, "run"),
        "    udp-workers: 1",
        "    tcp-workers: 1",
        "    background-workers: 1",
        "",
        "database:",
        "    storage: %s" % os.path.join(kdir, "db"),
        "    kasp-db: %s" % os.path.join(kdir, "kasp"),
        "    journal-db: %s" % os.path.join(kdir, "journal"),
        "    timer-db: %s" % os.path.join(kdir, "timer"),
        "",
        "log:",
        "  - target: stderr",
        "    any: info",
        "",
        "policy:",
        "  - id: imported",
        "    manual: on",
        "    single-type-signing: on",
        "    cds-cdnskey-publish: always",
        "  - id: generated",
        "    algorithm: ecdsap256sha256",
        "    single-type-signing: on",
        "    cds-cdnskey-publish: always",
        "",
        "mod-onlinesign:",
        "  - id: imported",
        "    policy: imported",
        "  - id: generated",
        "    policy: generated",
        "",
        "template:",
        "  - id: default",
        "    storage: %s" % os.path.join(kdir, "storage"),
        "    semantic-checks: off",
        "    zonefile-sync: -1",
        "    zonefile-load: whole",
        "    journal-content: none",
        "",
        "zone:",
    ]
    for z in zones:
        text += ["  - domain: %s" % z["origin"],
                 "    file: %s" % os.path.abspath(z["file"]),
                 "    module: mod-onlinesign/%s"
                 % ("imported" if z.get("key") == "import" else "generated")]
    with open(conf, "w") as f:
        f.write("\n".join(text) + "\n")
    return conf


def keymgr(conf, *args, timeout=20.0):
    return run([KEYMGR, "-c", conf] + list(args), timeout=timeout)


def knot_import_bind(conf, zone, keybase):
    """Import a BIND key pair into knotd's KASP DB and make it a CSK.
    Returns a list of problems (empty = fine)."""
    rc, out, err = keymgr(conf, zone, "import-bind", keybase + ".private")
    if rc != 0:
        return ["keymgr import-bind exit %s: %s %s" % (rc, out.strip(), err.strip())]
    keyid = out.strip().splitlines()[0].strip() if out.strip() else ""
    if not keyid:
        return ["keymgr import-bind printed no key id: %r" % out]
    rc, out2, err2 = keymgr(conf, zone, "set", keyid, "zsk=yes")
    if rc != 0:
        return ["keymgr set %s zsk=yes exit %s: %s %s" % (keyid, rc, out2, err2)]
    return []


def knot_ds(conf, zone):
    """keymgr ds: the SHA-256 DS records of knotd's key(s) for zone."""
    rc, out, err = keymgr(conf, zone, "ds")
    if rc != 0:
        raise RuntimeError("keymgr ds exit %s: %s %s" % (rc, out, err))
    return [(o, rd) for o, rd in parse_ds_lines(out) if rd.digest_type == 2]


def start_knotd_onlinesign(workdir, zones, port=None, timeout=15.0):
    """Start knotd signing `zones` online (see write_knot_onlinesign_conf);
    keys to import are given as z["keybase"] (BIND base path).  Waits until every
    zone answers its SOA with an RRSIG (DO=1).  Returns the harness Proc."""
    os.makedirs(workdir, exist_ok=True)
    port = port or harness.free_port()
    kdir = os.path.join(workdir, "knot")
    conf = write_knot_onlinesign_conf(kdir, port, zones)
    for z in zones:
        if z.get("key") == "import":
            probs = knot_import_bind(conf, z["origin"], z["keybase"])
            if probs:
                raise RuntimeError("knotd key import for %s: %s"
                                   % (z["origin"], "; ".join(probs)))
    proc = harness._spawn("knotd", [KNOTD, "-c", conf], workdir, port, conf)
    deadline = time.monotonic() + timeout
    pending = [z["origin"] for z in zones]
    last = None
    try:
        while pending and time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError("knotd exited with %s; stderr:\n%s"
                                   % (proc.popen.returncode, proc.stderr()))
            try:
                r = harness.query(port, pending[0], "SOA", do=True, timeout=0.5)
                last = r
                if r is not None and r.rcode() == dns.rcode.NOERROR and \
                        any(s.rdtype == RRSIG for s in r.answer):
                    pending.pop(0)
                    continue
            except Exception as e:  # noqa: BLE001 - keep polling
                last = e
            time.sleep(0.1)
        if pending:
            raise RuntimeError("knotd: %s not answered signed after %.0fs (last=%r);"
                               " stderr:\n%s" % (pending[0], timeout, last,
                                                 proc.stderr()))
    except Exception:
        harness.stop(proc)
        raise
    return proc


# --------------------------------------------------------------------------
# unbound as a validator, delv
# --------------------------------------------------------------------------

def validator_extra(ds_list, verbosity=1):
    """unbound.conf lines (server: clause) for a validator with these anchors.
    module-config given again overrides peers.write_unbound_conf's "iterator"."""
    lines = ['module-config: "validator iterator"',
             "val-log-level: 2",
             "verbosity: %d" % verbosity,
             # no RFC 8145 key-tag queries (_ta-XXXX) to the servers under test
             "trust-anchor-signaling: no",
             # every query goes to the server under test, the same way each time
             "qname-minimisation: no",
             "prefetch: no",
             "serve-expired: no"]
    lines += ["do-not-query-address: %s" % n for n in DOC_NETS]
    lines += unbound_trust_anchor_lines(ds_list)
    return lines


def vquery(port, qname, qtype, cd=False, do=True, timeout=3.0, tcp=False):
    """A stub query to a resolver (RD=1, DO as given, CD as given); the Message
    (with .wire) or None."""
    q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232,
                               want_dnssec=do)
    q.flags |= dns.flags.RD
    if cd:
        q.flags |= dns.flags.CD
    wire = q.to_wire()
    rep = (harness.send_tcp_raw(port, wire, timeout) if tcp
           else harness.send_udp_raw(port, wire, timeout))
    if rep is None:
        return None
    m = harness.parse(rep)
    m.wire = rep
    return m


def start_validator(workdir, stubs, ds_list, ready_name, port=None,
                    control_port=None, timeout=10.0, name="unbound"):
    """A validating unbound stubbed to `stubs` ({zone: port on 127.0.0.1}) with
    `ds_list` as trust anchors.  Ready when ready_name SOA is answered at all with
    CD=1 (so a server whose signatures are bad still lets it start).  Returns the
    harness Proc (config_path = its unbound.conf)."""
    os.makedirs(workdir, exist_ok=True)
    port = port or harness.free_port()
    conf = peers.write_unbound_conf(workdir, port, stubs, control_port,
                                    validator_extra(ds_list))
    proc = harness._spawn(name, [peers.UNBOUND, "-d", "-c", conf], workdir, port,
                          conf)
    deadline = time.monotonic() + timeout
    last = None
    try:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError("unbound exited with %s; stderr:\n%s"
                                   % (proc.popen.returncode, proc.stderr()))
            try:
                r = vquery(port, ready_name, "SOA", cd=True, timeout=0.5)
                last = r
                if r is not None and r.rcode() == dns.rcode.NOERROR and r.answer:
                    break
            except Exception as e:  # noqa: BLE001 - keep polling
                last = e
            time.sleep(0.05)
        else:
            raise RuntimeError("unbound not ready after %.0fs (last=%r); stderr:\n%s"
                               % (timeout, last, proc.stderr()))
        # a clean cache: the readiness query was answered without validation
        if control_port:
            unbound_control(proc, "flush_zone", ready_name)
    except Exception:
        harness.stop(proc)
        raise
    return proc


def unbound_control(proc, *args, timeout=5.0):
    """unbound-control -c CONF ARGS: (rc, output)."""
    rc, out, err = run([peers.UNBOUND_CONTROL, "-c", proc.config_path] + list(args),
                       timeout=timeout)
    return rc, (out + err).strip()


def delv(port, qname, qtype, anchor_file, root, timeout=15.0, extra=()):
    """delv @127.0.0.1 -p PORT -a ANCHORS +root=ROOT QNAME QTYPE: (rc, output).
    delv sends RD queries to the given server and validates itself, from the trust
    anchor for ROOT down (it needs no resolver: an authoritative server works)."""
    argv = [DELV, "@" + HOST, "-p", str(port), "-a", anchor_file,
            "+root=" + root.rstrip("."), "+nosplit", "+nomultiline"]
    argv += list(extra)
    argv += [qname, qtype]
    rc, out, err = run(argv, timeout=timeout)
    return rc, (out + err).rstrip()


def delv_verdict(output):
    """'validated' (positive), 'negative' (negative response, fully validated),
    'failed' or 'other'."""
    if "; negative response, fully validated" in output:
        return "negative"
    if "; fully validated" in output:
        return "validated"
    if "resolution failed" in output or "validation failed" in output or \
            "failed to verify" in output or "broken trust chain" in output:
        return "failed"
    return "other"


# --------------------------------------------------------------------------
# answer inspection
# --------------------------------------------------------------------------

def flags_text(msg):
    return dns.flags.to_text(msg.flags) if msg is not None else "-"


def is_ad(msg):
    return msg is not None and bool(msg.flags & dns.flags.AD)


def brief(msg, sig=False):
    """One header line plus the record lines (RRSIGs shortened unless sig)."""
    if msg is None:
        return "(no reply)"
    lines = ["rcode=%s flags=%s" % (dns.rcode.to_text(msg.rcode()), flags_text(msg))]
    for secname in ("answer", "authority"):
        for rrset in getattr(msg, secname):
            for line in rrset.to_text().splitlines():
                if rrset.rdtype == RRSIG and not sig:
                    toks = line.split()
                    line = " ".join(toks[:12]) + " ..."
                lines.append("%s: %s" % (secname[:4], re.sub(
                    r"(?:\\255){4,}", lambda m: "\\255{%d}" % (len(m.group(0)) // 4),
                    line)))
    return "\n".join(lines)


def short(name):
    """A name's text with runs of \\255 (minimally covering NSEC owners) collapsed:
    w\\255\\255... -> w\\255{62}."""
    text = name.to_text() if hasattr(name, "to_text") else str(name)
    return re.sub(r"(?:\\255){4,}", lambda m: "\\255{%d}" % (len(m.group(0)) // 4), text)


def nsec_types(rd):
    """The type codes in an NSEC (or NSEC3) rdata's bitmap, as a set of ints."""
    out = set()
    for window, bitmap in rd.windows:
        for i, byte in enumerate(bitmap):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    out.add(window * 256 + i * 8 + bit)
    return out


def types_text(types):
    return " ".join(dns.rdatatype.to_text(t) for t in sorted(types))


def rrsigs_for(msg_section, rrset):
    """The RRSIG RRset covering rrset in the same section, or None."""
    for s in msg_section:
        if s.rdtype == RRSIG and s.name == rrset.name and s.covers == rrset.rdtype:
            return s
    return None


def covers(nsec_owner, nsec_next, name):
    """True when the NSEC (owner, next) covers name (owner < name < next in
    canonical order; next <= owner means it wraps around to the apex)."""
    if nsec_owner < nsec_next:
        return nsec_owner < name < nsec_next
    return name > nsec_owner or name < nsec_next


def next_closer(qname, wildcard_labels):
    """The next closer name of a wildcard expansion whose RRSIG has `labels`
    (labels of the wildcard's parent, root not counted)."""
    n = len(qname) - 1          # labels without the root
    return qname.split(wildcard_labels + 1 + 1)[1] if n > wildcard_labels else qname


def must_sign(section, rrset, zone):
    """Whether an RRset in answer/authority must carry an RRSIG from `zone`:
    all authoritative data of the zone; a referral's NS (owner below the apex) and
    anything outside the zone are not signed."""
    z = dns.name.from_text(zone)
    if rrset.rdtype == RRSIG:
        return False
    if not rrset.name.is_subdomain(z):
        return False
    if section == "authority" and rrset.rdtype == dns.rdatatype.NS and \
            rrset.name != z:
        return False
    return True


# apexd's spec: inception now-1h, expiration a few days ahead, as
# (min inception age, max inception age, min validity left, max validity left)
SPEC_TIMING = (3600 - 300, 3600 + 900, 86400, 30 * 86400)


def check_sig_timing(msg, timing=SPEC_TIMING, now=None,
                     sections=("answer", "authority")):
    """Inception and expiration of every RRSIG in `sections` within `timing`."""
    p = []
    if msg is None:
        return ["no reply"]
    now = now or time.time()
    lo_age, hi_age, lo_left, hi_left = timing
    for secname in sections:
        for s in getattr(msg, secname):
            if s.rdtype != RRSIG:
                continue
            for sig in s:
                what = "%s %s RRSIG %s" % (secname, s.name,
                                           dns.rdatatype.to_text(sig.type_covered))
                age = now - sig.inception
                left = sig.expiration - now
                if not (lo_age <= age <= hi_age):
                    p.append("%s: inception %.0fs ago, want %d..%d"
                             % (what, age, lo_age, hi_age))
                if not (lo_left <= left <= hi_left):
                    p.append("%s: expiration in %.0fs, want %d..%d"
                             % (what, left, lo_left, hi_left))
    return p


def check_signatures(msg, zone, dnskeys, now=None,
                     sections=("answer", "authority")):
    """Every RRset of `sections` that must be signed has an RRSIG that verifies
    with `dnskeys` (dnspython, RFC 4035 5.3 incl. wildcard labels), signer = the
    zone, TTLs <= the original TTL; nothing else is signed.  Returns a list of
    problems."""
    p = []
    if msg is None:
        return ["no reply"]
    z = dns.name.from_text(zone)
    keys = {z: dnskeys}
    now = now or time.time()
    for secname in sections:
        sec = getattr(msg, secname)
        for rrset in sec:
            if rrset.rdtype == RRSIG:
                continue
            sigs = rrsigs_for(sec, rrset)
            what = "%s %s %s" % (secname, rrset.name,
                                 dns.rdatatype.to_text(rrset.rdtype))
            if sigs is None:
                if must_sign(secname, rrset, zone):
                    p.append("%s: no RRSIG" % what)
                continue
            if not must_sign(secname, rrset, zone):
                p.append("%s: signed, but should not be (not authoritative data)"
                         % what)
            try:
                dns.dnssec.validate(rrset, sigs, keys, now=now)
            except dns.dnssec.ValidationFailure as e:
                p.append("%s: RRSIG does not verify (%s)" % (what, e))
            except Exception as e:  # noqa: BLE001 - unsupported alg etc.
                p.append("%s: RRSIG check error %r" % (what, e))
            for sig in sigs:
                if sig.signer != z:
                    p.append("%s: RRSIG signer %s, want %s" % (what, sig.signer, z))
                if rrset.ttl > sig.original_ttl:
                    p.append("%s: TTL %d above the RRSIG original TTL %d"
                             % (what, rrset.ttl, sig.original_ttl))
                if sigs.ttl > sig.original_ttl:
                    p.append("%s: RRSIG TTL %d above its original TTL %d"
                             % (what, sigs.ttl, sig.original_ttl))
    return p


def nsecs(msg, section="authority"):
    """[(owner, next, set of types)] of the NSEC records in a section."""
    out = []
    if msg is None:
        return out
    for rrset in getattr(msg, section):
        if rrset.rdtype == NSEC:
            for rd in rrset:
                out.append((rrset.name, rd.next, nsec_types(rd)))
    return out


def nsec_text(msg):
    return "; ".join("%s NSEC %s %s" % (short(o), short(n), types_text(t))
                     for o, n, t in nsecs(msg)) or "(no NSEC)"


def wildcard_sigs(msg, section="answer"):
    """[(rrset, rrsig labels)] of the RRsets whose RRSIG labels field is smaller
    than the owner's label count (a wildcard expansion)."""
    out = []
    if msg is None:
        return out
    sec = getattr(msg, section)
    for rrset in sec:
        if rrset.rdtype == RRSIG:
            continue
        sigs = rrsigs_for(sec, rrset)
        if sigs is None:
            continue
        for sig in sigs:
            if sig.labels < len(rrset.name) - 1:
                out.append((rrset, sig.labels))
    return out


def fetch_dnskeys(port, zone, timeout=2.0):
    """The DNSKEY RRset a server publishes for zone (DO=1, TCP)."""
    r = harness.query(port, zone, "DNSKEY", do=True, tcp=True, timeout=timeout)
    if r is None:
        raise RuntimeError("no reply to %s DNSKEY on port %d" % (zone, port))
    for s in r.answer:
        if s.rdtype == DNSKEY and s.name == dns.name.from_text(zone):
            return s
    raise RuntimeError("no DNSKEY for %s on port %d:\n%s" % (zone, port, r.to_text()))


def strip_dnssec(section, drop_types=(RRSIG, NSEC)):
    return [s for s in section if s.rdtype not in drop_types]


# --------------------------------------------------------------------------
# answer shapes: each returns a list of problems (empty = as expected)
# --------------------------------------------------------------------------

def final_name(msg, qname, zone):
    """Follow the CNAMEs of the answer from qname: the name the answer ends at."""
    z = dns.name.from_text(zone)
    name = dns.name.from_text(qname)
    for _ in range(10):
        nxt = None
        for s in msg.answer:
            if s.rdtype == dns.rdatatype.CNAME and s.name == name:
                nxt = s[0].target
        if nxt is None or not nxt.is_subdomain(z):
            return name
        name = nxt
    return name


def p_denial(msg, zone, qname, qtype, kind=None, wild_parent=None):
    """The NSECs prove that `qtype` is not at the name the answer ends at: an NSEC
    owned by it without the type (and without CNAME; for DS at a cut: with NS,
    without SOA), or for a wildcard NODATA (kind "wild-nodata") an NSEC at the
    wildcard without the type plus one covering the next closer name."""
    z = dns.name.from_text(zone)
    p = []
    qt = dns.rdatatype.from_text(qtype)
    name = final_name(msg, qname, zone)
    ns = nsecs(msg)
    if not ns:
        return ["no NSEC in the authority section"]
    for o, n, types in ns:
        if o == name:
            if qt in types:
                p.append("NSEC at %s lists the queried type %s" % (o, qtype))
            if dns.rdatatype.CNAME in types:
                p.append("NSEC at %s lists CNAME" % o)
            if qt == dns.rdatatype.DS and o != z:
                if dns.rdatatype.NS not in types:
                    p.append("DS NODATA at %s: NSEC without NS (not a cut)" % o)
                if dns.rdatatype.SOA in types:
                    p.append("DS NODATA at %s: NSEC of the child side (SOA)" % o)
            return p
    # a wildcard NODATA proof: NSEC at the wildcard without the type, plus one
    # covering the next closer name
    if kind == "wild-nodata":
        wild = dns.name.from_text("*." + wild_parent)
        at_wild = [t for o, n, t in ns if o == wild]
        nc = next_closer(name, len(dns.name.from_text(wild_parent)) - 1)
        cov = [1 for o, n, t in ns if covers(o, n, nc)]
        if at_wild and cov and qt not in at_wild[0]:
            return p
    return ["no NSEC owned by %s (NSECs: %s)" % (name, nsec_text(msg))]


def p_compact(msg, zone, qname, kind):
    """RFC 9824 compact denial as apexd's spec has it: the NSEC owned by the name;
    for a name that does not exist (kind nxdomain / cname-nx) next = \\000.name and
    the bitmap RRSIG NSEC NXNAME; for NODATA no NXNAME, RRSIG and NSEC listed."""
    p = []
    name = final_name(msg, qname, zone)
    mine = [(o, n, t) for o, n, t in nsecs(msg) if o == name]
    if not mine:
        return ["no NSEC owned by %s" % name]
    o, n, t = mine[0]
    if kind in ("nxdomain", "cname-nx"):
        if t != {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, NXNAME}:
            p.append("bitmap %s, want RRSIG NSEC TYPE128 (NXNAME)" % types_text(t))
        if n != dns.name.from_text("\\000", name):
            p.append("next name %s, want \\000.%s" % (n, name))
    else:
        if NXNAME in t:
            p.append("NODATA bitmap with NXNAME: %s" % types_text(t))
        if not {dns.rdatatype.RRSIG, dns.rdatatype.NSEC} <= t:
            p.append("bitmap %s lacks RRSIG/NSEC" % types_text(t))
    return p


def p_wildcard(msg, qname, parent):
    """Signed with the wildcard's labels, NSEC covering the next closer name."""
    p = []
    labels = len(dns.name.from_text(parent)) - 1
    qn = dns.name.from_text(qname)
    ws = [(r, l) for r, l in wildcard_sigs(msg) if r.name == qn]
    if not ws:
        p.append("answer RRset at %s not signed as a wildcard expansion (labels %d)"
                 % (qn, labels))
    for r, l in ws:
        if l != labels:
            p.append("RRSIG labels %d, want %d" % (l, labels))
    nc = next_closer(qn, labels)
    cov = [(o, n) for o, n, t in nsecs(msg) if covers(o, n, nc)]
    if not cov:
        p.append("no NSEC covering the next closer name %s (NSECs: %s)"
                 % (nc, nsec_text(msg)))
    wparent = dns.name.from_text(parent)
    for o, n in cov:
        ce = nsec_closest_encloser(qn, o, n)
        if ce != wparent:
            p.append("the covering NSEC %s -> %s implies the closest encloser %s, not "
                     "the wildcard's parent %s%s (validators reject this: unbound "
                     "'wildcard proof failed', delv 'no valid NSEC')"
                     % (short(o), short(n), ce, wparent,
                        "; its next name is below %s, so it says %s exists as an "
                        "empty non-terminal" % (nc, nc) if n.is_subdomain(nc) else ""))
    return p


def nsec_closest_encloser(qname, owner, nxt):
    """The closest encloser a validator infers from an NSEC covering qname: the
    longer of qname's common ancestors with the owner and with the next name
    (unbound's nsec_closest_encloser, RFC 4035 5.4)."""
    c1 = qname.fullcompare(owner)[2]
    c2 = qname.fullcompare(nxt)[2]
    return qname.split(max(c1, c2))[1]


def p_referral(msg, cut, has_ds, check_ds=True):
    """A referral: AA=0, the cut's NS unsigned; with has_ds (and check_ds) the DS
    RRset + RRSIG, without DS an NSEC at the cut with NS and without DS/SOA."""
    p = []
    cutn = dns.name.from_text(cut)
    if msg.flags & dns.flags.AA:
        p.append("AA set on a referral")
    ns = [s for s in msg.authority if s.rdtype == dns.rdatatype.NS and s.name == cutn]
    if not ns:
        p.append("no NS for %s in the authority section" % cut)
    if ns and rrsigs_for(msg.authority, ns[0]) is not None:
        p.append("the referral's NS is signed")
    if has_ds:
        if check_ds:
            ds = [s for s in msg.authority
                  if s.rdtype == dns.rdatatype.DS and s.name == cutn]
            if not ds:
                p.append("no DS for the signed child %s (NSECs: %s)"
                         % (cut, nsec_text(msg)))
            elif rrsigs_for(msg.authority, ds[0]) is None:
                p.append("DS without RRSIG")
    else:
        mine = [t for o, n, t in nsecs(msg) if o == cutn]
        if not mine:
            p.append("no NSEC at the cut %s proving there is no DS (NSECs: %s)"
                     % (cut, nsec_text(msg)))
        else:
            t = mine[0]
            if dns.rdatatype.NS not in t or dns.rdatatype.DS in t or \
                    dns.rdatatype.SOA in t:
                p.append("NSEC at the cut: bitmap %s, want NS without DS/SOA"
                         % types_text(t))
    return p


def p_cds(msg, zone, qtype, dnskeys):
    """CDS = the SHA-256 DS of every flags-257 key, CDNSKEY = those keys."""
    z = dns.name.from_text(zone)
    ks = [k for k in dnskeys if k.flags & 1]
    got = set()
    for s in msg.answer:
        if s.rdtype == dns.rdatatype.from_text(qtype):
            got = {rd.to_text().lower() for rd in s}
    if qtype == "CDS":
        want = {dns.dnssec.make_ds(z, k, "SHA256").to_text().lower() for k in ks}
    else:
        want = {k.to_text().lower() for k in ks}
    if got == want:
        return []
    return ["%s %s, want %s" % (qtype, sorted(got), sorted(want))]


# --------------------------------------------------------------------------
# self-check
# --------------------------------------------------------------------------

def _self_check():
    res = harness.Results(verbose=True)
    text = ("sec.test. 3600 IN DS 12345 13 2 "
            "2BB183AF5F22588179A53B0A98631FAD1A292118D1A292118D1A292118D1A292\n"
            "sig.test. DS 2920 13 2 6c98456673f427ee4dab4585242ece709181477063714bc9"
            "552ecdc4e83a510a\n"
            "x.test. IN DS 1 8 2 49FD46E6C4B45C55D4AC "
            "49FD46E6C4B45C55D4AC49FD46E6C4B45C55D4AC49FD\n"
            "; a comment\nnot a ds line\n")
    ds = parse_ds_lines(text)
    res.check(len(ds) == 3, "parse_ds_lines: 3 DS records", repr(ds))
    if ds:
        res.check(ds_text(*ds[0]).startswith("sec.test. DS 12345 13 2 2BB183AF"),
                  "ds_text", ds_text(*ds[0]))
    rd = dns.rdata.from_text("IN", "NSEC", "\\000.x.test. RRSIG NSEC TYPE128")
    res.check(nsec_types(rd) == {46, 47, 128}, "nsec_types with TYPE128",
              repr(nsec_types(rd)))
    n = dns.name.from_text
    res.check(covers(n("a.test."), n("c.test."), n("b.test.")), "covers: a < b < c")
    res.check(not covers(n("x.test."), n("\\000.x.test."), n("x.test.")),
              "covers: owner itself is not covered")
    res.check(covers(n("x.test."), n("\\000.x.test."), n("\\000.x.test.")) is False,
              "covers: next itself is not covered")
    res.check(covers(n("z.test."), n("test."), n("zz.test.")), "covers: wrap-around")
    res.check(next_closer(n("a.b.wild.sec.test."), 3) == n("b.wild.sec.test."),
              "next_closer of a.b.wild.sec.test. with labels 3",
              str(next_closer(n("a.b.wild.sec.test."), 3)))
    res.check(next_closer(n("x.wild.sec.test."), 3) == n("x.wild.sec.test."),
              "next_closer of x.wild.sec.test. with labels 3")
    res.check(nsec_closest_encloser(n("x.wild.t."), n("w\\255.wild.t."),
                                    n("\\000.x.wild.t.")) == n("x.wild.t."),
              "nsec_closest_encloser: next below the qname -> the qname")
    res.check(nsec_closest_encloser(n("x.wild.t."), n("w\\255.wild.t."),
                                    n("x\\000.wild.t.")) == n("wild.t."),
              "nsec_closest_encloser: sibling next -> the parent")
    with_anchor = write_delv_anchors("/dev/null", ds[:1]) if ds else None
    res.check(with_anchor == "/dev/null", "write_delv_anchors")
    print(res.summary_line())
    sys.exit(1 if res.failed else 0)


if __name__ == "__main__":
    _self_check()
