#!/usr/bin/python3
"""Real ACME clients get certificates from pebble, validating DNS-01 against apexd.

    /usr/bin/python3 tests/integration/acme_certificates.py --apexd build-rel/apexd

Needs Debian's pebble (the offline ACME test CA), lego, certbot and
python3-certbot-dns-rfc2136 (scripts/install-deps.sh --test installs them),
openssl and tsig-keygen; a missing one is a FAIL, never a skip. Everything runs
on 127.0.0.1: apexd serves example.test., pdns.test. and certbot.test. (the
first and last with allow_update for acme-key. at _acme-challenge.* TXT only,
pdns.test. with no grant at all), with [control] listen + api_key (the
PowerDNS-compatible API); pebble gets its own HTTPS certificate (made here with
openssl, SAN IP:127.0.0.1) and resolves the challenges with apexd
(-dnsserver), without its random sleeps or nonce rejections. Three issuances,
each for a name and its wildcard:

1. lego --dns rfc2136 (TSIG hmac-sha256 RFC 2136 UPDATEs) for example.test
   and *.example.test;
2. lego --dns pdns (PATCH of the zone's rrsets, PUT .../notify) for pdns.test
   and *.pdns.test;
3. certbot certonly --authenticator dns-rfc2136 (credentials HMAC-SHA256) for
   certbot.test and *.certbot.test.

For each: the client exits 0 and leaves a certificate file whose
subjectAltName (`openssl x509 -noout -ext subjectAltName`) is exactly the two
names, which `openssl verify` accepts against pebble's root
(https://127.0.0.1:MGMT/roots/0) with the issuer chain given as -untrusted;
afterwards apexd answers _acme-challenge.NAME TXT (UDP and TCP, authoritative)
with NXDOMAIN or NODATA, the zone's SOA serial has moved on, and apexd's log
for the run shows event=change_applied for the zone (the RFC 2136 runs: two
TXT RRs added and two removed, one UPDATE each; the pdns run: as many RRs
removed as added, a PATCH REPLACE being logged as the old RRset removed and
the new one added), no event=update_refused, and, for the pdns run,
event=api_request method=PATCH ... status=204 on the zone's url (present and
clean-up), the PUT .../notify with status=200 and no API request answered
4xx/5xx. apexd is still running at the end and exits 0 on SIGTERM.
(lego 4.9.1's pdns clean-up DELETEs the whole _acme-challenge RRset at the
first name, so it warns "no existing record found" for the second: lego's
doing, not checked here.) The time each issuance took
is printed as a NOTE line (`NOTE lego rfc2136 issued example.test +
*.example.test in N.N s`).

Ends with `N passed, N failed`; exits 1 on any failure. About 12 s; every
client runs under `timeout` (90 s) in its own process group (killed as a group
if it outlives that), apexd start 10 s, pebble start 15 s, and the whole run
is bounded by a 170 s alarm (a failure, with every process stopped).
"""

import os
import re
import signal
import ssl
import subprocess
import time
import urllib.request

import dns.flags
import dns.rcode
import dns.rdatatype

import harness
import tsig_keys

HOST = harness.HOST
KEY_NAME = "acme-key."
API_KEY = "acme-test-api-key-6f1c2d9e8a7b"
SERIAL0 = 2026040101

ZONE_LEGO = "example.test."
ZONE_PDNS = "pdns.test."
ZONE_CERTBOT = "certbot.test."

PEBBLE = "/usr/bin/pebble"
LEGO = "/usr/bin/lego"
CERTBOT = "/usr/bin/certbot"
OPENSSL = "/usr/bin/openssl"
TIMEOUT = "/usr/bin/timeout"
PYTHON = "/usr/bin/python3"

CLIENT_TIMEOUT = 90      # one lego / certbot run (`timeout`)
PEBBLE_START = 15.0
APEXD_START = 10.0
LOG_WAIT = 3.0
TOTAL_BOUND = 170        # the whole run (SIGALRM)
POLL = 0.05

tail = harness.tail


def zone_text(origin):
    return "\n".join([
        "$ORIGIN %s" % origin,
        "$TTL 60",
        "@ SOA ns1 hostmaster %d 3600 600 86400 60" % SERIAL0,
        "@ NS ns1",
        "ns1 A 127.0.0.1",
        "@ A 127.0.0.1",
    ]) + "\n"


def bare(origin):
    return origin.rstrip(".")


# --------------------------------------------------------------------------
# prerequisites
# --------------------------------------------------------------------------

def check_tools(res):
    """FAIL (not skip) for every missing tool; True when all are there."""
    ok = True
    hint = " (install with scripts/install-deps.sh --test)"
    for path, pkg in ((PEBBLE, "pebble"), (LEGO, "lego"), (CERTBOT, "certbot"),
                      (OPENSSL, "openssl"), (TIMEOUT, "coreutils"),
                      (tsig_keys.TSIG_KEYGEN, "bind9-utils")):
        ok &= res.check(os.path.isfile(path) and os.access(path, os.X_OK),
                        "%s is installed" % path,
                        "  %s not found: package %s%s" % (path, pkg, hint))
    try:
        p = subprocess.run([PYTHON, "-c", "import certbot_dns_rfc2136"],
                           capture_output=True, text=True, timeout=20)
        have = p.returncode == 0
        why = p.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        have, why = False, str(e)
    ok &= res.check(have, "certbot's dns-rfc2136 plugin is installed",
                    "  import certbot_dns_rfc2136 failed: %s\n  package "
                    "python3-certbot-dns-rfc2136%s" % (why, hint))
    return ok


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------

def run(argv, timeout=20):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def run_client(name, argv, env, workdir, bound=CLIENT_TIMEOUT):
    """Run an ACME client under `timeout`, in its own process group, output to
    workdir/NAME.log. Returns (exit status or None, seconds, output)."""
    logp = os.path.join(workdir, name + ".log")
    t0 = time.monotonic()
    with open(logp, "wb") as lf:
        p = subprocess.Popen([TIMEOUT, "-k", "5", str(bound)] + argv,
                             stdin=subprocess.DEVNULL, stdout=lf,
                             stderr=subprocess.STDOUT, cwd=workdir, env=env,
                             start_new_session=True,
                             preexec_fn=harness._die_with_parent)
    rc = None
    try:
        rc = p.wait(timeout=bound + 10)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if p.returncode is None:          # not reaped: its group id is still ours
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
    secs = time.monotonic() - t0
    with open(logp, "r", errors="replace") as f:
        out = f.read()
    return rc, secs, out


def client_env(workdir, **extra):
    env = {"PATH": "/usr/bin:/bin", "HOME": workdir}
    env.update(extra)
    return env


def proc_output(proc):
    text = proc.stderr()
    try:
        with open(proc.stdout_path, "r", errors="replace") as f:
            text += f.read()
    except OSError:
        pass
    return text


def no_proxy_opener(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPSHandler(context=ctx))


def make_pebble_tls(pdir):
    """A CA and a leaf for pebble's own HTTPS listeners (SAN IP:127.0.0.1)."""
    ca_key, ca_pem = os.path.join(pdir, "ca.key"), os.path.join(pdir, "ca.pem")
    key, csr = os.path.join(pdir, "key.pem"), os.path.join(pdir, "leaf.csr")
    cert, ext = os.path.join(pdir, "cert.pem"), os.path.join(pdir, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in ([OPENSSL, "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca_pem,
                                                   "-days", "30", "-subj", "/CN=apexd test pebble TLS CA"],
                 [OPENSSL, "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
                 [OPENSSL, "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
                  "-CAcreateserial", "-out", cert, "-days", "30", "-extfile", ext]):
        rc, out = run(argv)
        if rc != 0:
            raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv), rc, out))
    return ca_pem, cert, key


def start_pebble(pdir, ports, aport):
    acme, mgmt, http01, tls01 = ports
    ca_pem, cert, key = make_pebble_tls(pdir)
    conf = os.path.join(pdir, "pebble.json")
    with open(conf, "w") as f:
        f.write('{"pebble": {"listenAddress": "%s:%d", "managementListenAddress": "%s:%d",\n'
                '  "certificate": "%s", "privateKey": "%s", "httpPort": %d, "tlsPort": %d,\n'
                '  "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n'
                % (HOST, acme, HOST, mgmt, cert, key, http01, tls01))
    argv = ["/usr/bin/env", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0",
            "PEBBLE_AUTHZREUSE=0", PEBBLE, "-config", conf,
            "-dnsserver", "%s:%d" % (HOST, aport)]
    proc = harness._spawn("pebble", argv, pdir, acme, conf)
    deadline = time.monotonic() + PEBBLE_START
    opener = no_proxy_opener(ca_pem)
    last = "no 'ACME directory available' in its log"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError("pebble exited with %s:\n%s"
                               % (proc.popen.returncode, tail(proc_output(proc))))
        if "ACME directory available" in proc_output(proc):
            try:
                with opener.open("https://%s:%d/dir" % (HOST, acme), timeout=2) as r:
                    if r.status == 200:
                        return proc, ca_pem, opener
                    last = "GET /dir: HTTP %d" % r.status
            except Exception as e:  # noqa: BLE001 - keep polling
                last = "GET /dir: %s" % e
        time.sleep(0.1)
    raise RuntimeError("pebble not ready after %.0f s (%s):\n%s"
                       % (PEBBLE_START, last, tail(proc_output(proc))))


# --------------------------------------------------------------------------
# apexd side
# --------------------------------------------------------------------------

def soa_serial(port, zone):
    try:
        r = harness.query(port, zone, "SOA", timeout=1.0)
    except Exception:  # noqa: BLE001
        return None
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return None
    for rs in r.answer:
        if rs.rdtype == dns.rdatatype.SOA:
            return rs[0].serial
    return None


def challenge_gone(port, zone):
    """(ok, description) for _acme-challenge.ZONE TXT over UDP and TCP."""
    qname = "_acme-challenge." + zone
    seen = []
    ok = True
    for tcp in (False, True):
        try:
            r = harness.query(port, qname, "TXT", tcp=tcp, timeout=2.0)
        except Exception as e:  # noqa: BLE001
            r, err = None, str(e)
        else:
            err = "no reply"
        how = "TCP" if tcp else "UDP"
        if r is None:
            ok = False
            seen.append("%s: %s" % (how, err))
            continue
        txt = [rd.to_text() for rs in r.answer if rs.rdtype == dns.rdatatype.TXT for rd in rs]
        rc = r.rcode()
        aa = bool(r.flags & dns.flags.AA)
        good = aa and not txt and rc in (dns.rcode.NXDOMAIN, dns.rcode.NOERROR)
        ok &= good
        seen.append("%s: %s, AA=%d, TXT: %s" % (how, dns.rcode.to_text(rc), aa,
                                                 " ".join(txt) if txt else "none"))
    return ok, "; ".join(seen)


CHANGE_RE = re.compile(r'event=change_applied zone=(\S+) by="([^"]*)" serial=(\d+) '
                       r'previous_serial=(\d+) added=(\d+) removed=(\d+)')


def changes(log, zone):
    return [m for m in CHANGE_RE.finditer(log) if m.group(1) == zone]


def wait_log(proc, mark, pred, wait=LOG_WAIT):
    deadline = time.monotonic() + wait
    while True:
        seg = proc.stderr()[mark:]
        if pred(seg) or time.monotonic() >= deadline:
            return seg
        time.sleep(POLL)


# --------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------

def sans(cert):
    rc, out = run([OPENSSL, "x509", "-in", cert, "-noout", "-ext", "subjectAltName"])
    if rc != 0:
        return None, out
    return set(re.findall(r"DNS:([^,\s]+)", out)), out


def check_certificate(res, label, cert, chain, root, names):
    if not res.check(os.path.isfile(cert), "%s: certificate file %s written" % (label, os.path.basename(cert)),
                     "  no %s" % cert):
        return
    got, out = sans(cert)
    res.check(got == set(names), "%s: subjectAltName is %s" % (label, ", ".join(names)),
              "  openssl x509 -ext subjectAltName:\n%s" % tail(out))
    if res.check(os.path.isfile(chain), "%s: issuer chain %s written" % (label, os.path.basename(chain)),
                 "  no %s" % chain):
        rc, out = run([OPENSSL, "verify", "-CAfile", root, "-untrusted", chain, cert])
        res.check(rc == 0 and out.strip().endswith("OK"),
                  "%s: openssl verify against pebble's root: OK" % label,
                  "  exit %d:\n%s" % (rc, tail(out)))


def issue(res, label, zone, argv, env, workdir, apexd, aport, root, cert, chain, pdns=False):
    """One client run and every check that goes with it."""
    names = [bare(zone), "*." + bare(zone)]
    serial_before = soa_serial(aport, zone)
    mark = len(apexd.stderr())
    rc, secs, out = run_client(label.replace(" ", "-"), argv, env, workdir)
    ok = res.check(rc == 0, "%s: exits 0 for %s" % (label, " + ".join(names)),
                   "  exit %s after %.1f s; its output:\n%s\n  apexd log:\n%s"
                   % ("timeout" if rc is None else rc, secs, tail(out, 30),
                      tail(apexd.stderr()[mark:], 20)))
    if ok:
        print("NOTE %s issued %s in %.1f s" % (label, " + ".join(names), secs))
    check_certificate(res, label, cert, chain, root, names)

    gone, seen = challenge_gone(aport, zone)
    res.check(gone, "%s: _acme-challenge.%s TXT gone afterwards (NXDOMAIN or NODATA)" % (label, zone),
              "  %s" % seen)
    serial_after = soa_serial(aport, zone)
    res.check(serial_before is not None and serial_after is not None and serial_after > serial_before,
              "%s: %s SOA serial moved on" % (label, zone),
              "  before %s, after %s" % (serial_before, serial_after))

    def done(seg):
        cs = changes(seg, zone)
        return cs and sum(int(m.group(6)) for m in cs) >= sum(int(m.group(5)) for m in cs) >= 2
    seg = wait_log(apexd, mark, done)
    cs = changes(seg, zone)
    added = sum(int(m.group(5)) for m in cs)
    removed = sum(int(m.group(6)) for m in cs)
    lines = "\n".join("    " + m.group(0) for m in cs) or "    (none)"
    if pdns:
        # a PATCH REPLACE is logged as the old RRset removed and the new one added
        good = added == removed and added >= 2
        what = "as many RRs removed as added (>= 2)"
    else:
        # one UPDATE per challenge value, one per clean-up
        good = added == 2 and removed == 2
        what = "2 TXT added and 2 removed"
    res.check(good, "%s: apexd logs event=change_applied for %s, %s" % (label, zone, what),
              "  added %d, removed %d in:\n%s\n  apexd log of the run:\n%s"
              % (added, removed, lines, tail(seg, 30)))
    refused = [l for l in seg.splitlines() if "event=update_refused" in l]
    res.check(not refused, "%s: no event=update_refused" % label, "\n".join("    " + l for l in refused))
    if pdns:
        url = "/api/v1/servers/localhost/zones/%s" % zone
        patch = re.findall(r'event=api_request client=\S+ method=PATCH target="%s" status=204'
                           % re.escape(url), seg)
        res.check(len(patch) >= 2, "%s: apexd logs event=api_request method=PATCH %s status=204 "
                  "(present and clean-up)" % (label, url),
                  "  %d such lines; apexd log of the run:\n%s" % (len(patch), tail(seg, 30)))
        notify = re.findall(r'event=api_request client=\S+ method=PUT target="%s/notify" status=200'
                            % re.escape(url), seg)
        res.check(notify, "%s: apexd logs event=api_request method=PUT %s/notify status=200" % (label, url),
                  "  apexd log of the run:\n%s" % tail(seg, 30))
        bad = [l for l in seg.splitlines()
               if re.search(r"event=api_request .* status=[45]\d\d", l)]
        res.check(not bad, "%s: no API request answered 4xx/5xx" % label,
                  "\n".join("    " + l for l in bad))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def _out_of_time(signum, frame):
    raise TimeoutError("the test ran past its %d s bound" % TOTAL_BOUND)


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    tools = check_tools(res)
    if not binary or not tools:
        return
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TOTAL_BOUND)
    t_start = time.monotonic()
    aport, cport, acme, mgmt, http01, tls01 = harness.distinct_ports(6)
    try:
        key = tsig_keys.tsig_keygen("hmac-sha256", KEY_NAME)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        res.fail("tsig-keygen makes %s" % KEY_NAME, "  %s" % e)
        return

    # apexd
    adir = os.path.join(workdir, "apexd")
    os.makedirs(adir)
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, aport), 'state_dir = "state"', "threads = 1", "",
             "[log]", 'level = "info"', "",
             "[control]", 'listen = "%s:%d"' % (HOST, cport), 'api_key = "%s"' % API_KEY, "",
             "[[key]]", 'name = "%s"' % KEY_NAME, 'algorithm = "%s"' % key.algorithm,
             'secret = "%s"' % key.secret, ""]
    grant = 'allow_update = [{ key = "%s", names = ["_acme-challenge.*"], types = ["TXT"] }]' % KEY_NAME
    for zone, with_grant in ((ZONE_LEGO, True), (ZONE_PDNS, False), (ZONE_CERTBOT, True)):
        with open(os.path.join(adir, bare(zone) + ".zone"), "w") as f:
            f.write(zone_text(zone))
        lines += ["[[zone]]", 'origin = "%s"' % zone, 'file = "%s.zone"' % bare(zone)]
        if with_grant:
            lines.append(grant)
        lines.append("")
    conf = os.path.join(adir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    try:
        apexd = harness.start_apexd_config(binary, conf, aport, ZONE_LEGO, adir, APEXD_START)
        harness.wait_ready(apexd, [ZONE_PDNS, ZONE_CERTBOT], APEXD_START)
    except RuntimeError as e:
        res.fail("apexd starts", "  %s" % e)
        return
    for zone in (ZONE_LEGO, ZONE_PDNS, ZONE_CERTBOT):
        res.check(soa_serial(aport, zone) == SERIAL0, "apexd serves %s serial %d" % (zone, SERIAL0))

    # pebble
    pdir = os.path.join(workdir, "pebble")
    os.makedirs(pdir)
    try:
        pebble, tls_ca, opener = start_pebble(pdir, (acme, mgmt, http01, tls01), aport)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        res.fail("pebble starts", "  %s" % e)
        return
    res.ok("pebble starts and serves its directory")
    root = os.path.join(workdir, "pebble-root.pem")
    try:
        with opener.open("https://%s:%d/roots/0" % (HOST, mgmt), timeout=5) as r:
            pem = r.read()
    except Exception as e:  # noqa: BLE001
        pem = b""
        why = str(e)
    else:
        why = "not a PEM certificate: %r" % pem[:80]
    if not res.check(b"BEGIN CERTIFICATE" in pem, "pebble's root from /roots/0", "  %s" % why):
        return
    with open(root, "wb") as f:
        f.write(pem)
    directory = "https://%s:%d/dir" % (HOST, acme)

    # 1. lego, rfc2136
    ldir = os.path.join(workdir, "lego-rfc2136")
    env = client_env(workdir, LEGO_CA_CERTIFICATES=tls_ca,
                     RFC2136_NAMESERVER="%s:%d" % (HOST, aport), RFC2136_TSIG_KEY=KEY_NAME,
                     RFC2136_TSIG_SECRET=key.secret, RFC2136_TSIG_ALGORITHM="hmac-sha256.",
                     RFC2136_PROPAGATION_TIMEOUT="30", RFC2136_POLLING_INTERVAL="1",
                     RFC2136_DNS_TIMEOUT="5", RFC2136_SEQUENCE_INTERVAL="1", RFC2136_TTL="60")
    argv = [LEGO, "--server", directory, "--email", "acme@example.test", "--accept-tos",
            "--dns", "rfc2136", "--dns.resolvers", "%s:%d" % (HOST, aport), "--dns.disable-cp",
            "--domains", bare(ZONE_LEGO), "--domains", "*." + bare(ZONE_LEGO), "--path", ldir, "run"]
    cdir = os.path.join(ldir, "certificates")
    issue(res, "lego rfc2136", ZONE_LEGO, argv, env, workdir, apexd, aport, root,
          os.path.join(cdir, bare(ZONE_LEGO) + ".crt"), os.path.join(cdir, bare(ZONE_LEGO) + ".issuer.crt"))

    # 2. lego, pdns (apexd's PowerDNS-compatible API)
    ldir = os.path.join(workdir, "lego-pdns")
    env = client_env(workdir, LEGO_CA_CERTIFICATES=tls_ca,
                     PDNS_API_URL="http://%s:%d" % (HOST, cport), PDNS_API_KEY=API_KEY,
                     PDNS_PROPAGATION_TIMEOUT="30", PDNS_POLLING_INTERVAL="1", PDNS_TTL="60",
                     PDNS_HTTP_TIMEOUT="10")
    argv = [LEGO, "--server", directory, "--email", "acme@pdns.test", "--accept-tos",
            "--dns", "pdns", "--dns.resolvers", "%s:%d" % (HOST, aport), "--dns.disable-cp",
            "--domains", bare(ZONE_PDNS), "--domains", "*." + bare(ZONE_PDNS), "--path", ldir, "run"]
    cdir = os.path.join(ldir, "certificates")
    issue(res, "lego pdns", ZONE_PDNS, argv, env, workdir, apexd, aport, root,
          os.path.join(cdir, bare(ZONE_PDNS) + ".crt"), os.path.join(cdir, bare(ZONE_PDNS) + ".issuer.crt"),
          pdns=True)

    # 3. certbot, dns-rfc2136
    cbdir = os.path.join(workdir, "certbot")
    os.makedirs(cbdir)
    ini = os.path.join(cbdir, "rfc2136.ini")
    fd = os.open(ini, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        # UPPERCASE algorithm: anything else silently falls back to HMAC-MD5
        f.write("dns_rfc2136_server = %s\ndns_rfc2136_port = %d\ndns_rfc2136_name = %s\n"
                "dns_rfc2136_secret = %s\ndns_rfc2136_algorithm = HMAC-SHA256\n"
                % (HOST, aport, KEY_NAME, key.secret))
    os.chmod(ini, 0o600)
    env = client_env(workdir, REQUESTS_CA_BUNDLE=tls_ca)
    argv = [CERTBOT, "certonly", "--non-interactive", "--agree-tos", "-m", "acme@certbot.test",
            "--no-eff-email", "--server", directory, "--authenticator", "dns-rfc2136",
            "--dns-rfc2136-credentials", ini, "--dns-rfc2136-propagation-seconds", "1",
            "--preferred-challenges", "dns", "-d", bare(ZONE_CERTBOT), "-d", "*." + bare(ZONE_CERTBOT),
            "--config-dir", os.path.join(cbdir, "config"), "--work-dir", os.path.join(cbdir, "work"),
            "--logs-dir", os.path.join(cbdir, "logs")]
    live = os.path.join(cbdir, "config", "live", bare(ZONE_CERTBOT))
    issue(res, "certbot dns-rfc2136", ZONE_CERTBOT, argv, env, workdir, apexd, aport, root,
          os.path.join(live, "cert.pem"), os.path.join(live, "chain.pem"))

    res.check(apexd.alive(), "apexd still running after the three issuances",
              "  exit %s; stderr:\n%s" % (apexd.popen.returncode, tail(apexd.stderr())))
    harness.stop(pebble)
    harness.stop(apexd)
    res.check(apexd.popen.returncode == 0, "apexd exits 0 on SIGTERM",
              "  exit %s; stderr:\n%s" % (apexd.popen.returncode, tail(apexd.stderr())))
    signal.alarm(0)
    print("NOTE took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    harness.main(body, harness.base_parser("ACME certificates from pebble via apexd (lego rfc2136 and pdns, "
                                           "certbot dns-rfc2136)"))
