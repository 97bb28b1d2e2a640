#!/usr/bin/python3
"""The Debian package: build it with CPack (Release, in a temporary build
folder), check its contents and control data, then (as root only) install
it, use it, and purge it again.

    /usr/bin/python3 tests/integration/ops_package.py --apexd build/apexd
        [--build-dir DIR]   reuse (or keep) this build folder instead of a temporary one
        [--deb FILE]        check this .deb instead of building one

Building takes a few minutes on two cores: before starting, the test waits
(at most 15 minutes) until no other ninja/make/compiler runs, so two builds
never run at once. Skipped (passes with a note) when cmake, ninja, cpack or
dpkg-deb is missing.

Checks:
  * cmake + ninja + `cpack -G DEB` make apexd_0.1.0_amd64.deb
  * `dpkg-deb -c`: /usr/sbin/apexd (0755), /lib/systemd/system/apexd.service
    (exactly there, as Debian 12 packages ship units),
    /etc/apexd/apexd.toml, /etc/apexd/zones/example.com.zone,
    /usr/share/man/man8/apexd.8[.gz], every file root:root, nothing else
    (no headers, static libraries, test binaries)
  * control: Package apexd, Version 0.1.0, Architecture amd64, Depends on
    adduser and the shared libraries (libldns), conffiles lists both /etc
    files, postinst is executable
  * the packaged binary prints `apexd 0.1.0`
  * as root, when apexd is not installed already: `dpkg -i`, then
    `/usr/sbin/apexd check --config /etc/apexd/apexd.toml` exits 0 without
    a warning, user apexd
    exists (system user, no login shell), /var/log/apexd belongs to it,
    `man -w apexd` finds the page, `systemd-analyze verify apexd.service`
    passes (when systemd-analyze exists);
    the installed binary serves the installed zone on a free 127.0.0.1 port
    with `user = "apexd"`; then `dpkg --purge apexd` removes every file. What
    the test created and the package leaves behind (user apexd,
    /var/log/apexd) is removed by the test, and reported.
"""

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time

import dns.rcode

import harness
import ops_common as oc

VERSION = "0.1.0"
DEB_NAME = "apexd_%s_amd64.deb" % VERSION
SRC = os.path.dirname(os.path.dirname(harness.HERE))
UNIT = "./lib/systemd/system/apexd.service"
UNIT_ELSEWHERE = "./usr/lib/systemd/system/apexd.service"
EXPECTED_FILES = {
    "./usr/sbin/apexd",
    "./etc/apexd/apexd.toml",
    "./etc/apexd/zones/example.com.zone",
}
MAN = {"./usr/share/man/man8/apexd.8", "./usr/share/man/man8/apexd.8.gz"}
BUSY = {"ninja", "make", "cc1plus", "cc1", "ld", "collect2", "cpack"}


def run(argv, timeout=600, cwd=None, env=None):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=cwd,
                           env=env, preexec_fn=harness._die_with_parent)
        return r.returncode, r.stdout
    except subprocess.TimeoutExpired as e:
        return -1, "TIMEOUT after %ss\n%s" % (timeout, e.stdout or "")
    except OSError as e:
        return -1, str(e)


def busy_builders():
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in BUSY:
            out.append("%s:%s" % (d, comm))
    return out


def wait_for_idle_builders(limit=900.0):
    deadline = time.monotonic() + limit
    printed = False
    while time.monotonic() < deadline:
        b = busy_builders()
        if not b:
            return True
        if not printed:
            print("waiting for another build to finish: %s" % " ".join(b[:6]))
            printed = True
        time.sleep(2.0)
    return False


def build_deb(res, bdir):
    if not wait_for_idle_builders():
        res.fail("build: another build was still running after 15 minutes")
        return None
    t = time.monotonic()
    rc, out = run(["cmake", "-S", SRC, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release",
                   "-DBUILD_TESTING=OFF", "-G", "Ninja"], timeout=300)
    if not res.check(rc == 0, "cmake configure (Release, BUILD_TESTING=OFF)", out[-3000:]):
        return None
    rc, out = run(["ninja", "-C", bdir], timeout=1200)
    if not res.check(rc == 0, "ninja build", out[-3000:]):
        return None
    rc, out = run(["cpack", "-G", "DEB"], cwd=bdir, timeout=300)
    deb = os.path.join(bdir, DEB_NAME)
    if not res.check(rc == 0 and os.path.isfile(deb), "cpack -G DEB makes %s" % DEB_NAME,
                     "rc %d; files %r\n%s" % (rc, sorted(os.listdir(bdir)), out[-3000:])):
        return None
    print("built %s in %.0f s" % (deb, time.monotonic() - t))
    return deb


def parse_listing(text):
    """dpkg-deb -c lines -> {path: (mode string, owner)}"""
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        path = parts[5].split(" -> ")[0]
        out[path] = (parts[0], parts[1])
    return out


def check_deb(res, deb, workdir):
    rc, out = run(["dpkg-deb", "-c", deb])
    if not res.check(rc == 0, "dpkg-deb -c", out):
        return
    listing = parse_listing(out)
    files = {p for p, (m, _) in listing.items() if not m.startswith("d")}
    man = files & MAN
    res.check(EXPECTED_FILES <= files, "deb contains the binary, config and zone",
              "missing %r" % sorted(EXPECTED_FILES - files))
    res.check(UNIT in files, "deb contains the unit at /lib/systemd/system/apexd.service",
              "unit files in the deb: %r" % sorted(f for f in files if f.endswith(".service")))
    unit_path = UNIT if UNIT in files else (UNIT_ELSEWHERE if UNIT_ELSEWHERE in files else None)
    res.check(len(man) == 1, "deb contains the man page apexd(8)", "files %r" % sorted(files))
    extra = sorted(files - EXPECTED_FILES - MAN - {UNIT, UNIT_ELSEWHERE})
    res.check(not extra, "deb contains nothing else (no headers, libraries, tests)", repr(extra))
    mode = listing.get("./usr/sbin/apexd", ("", ""))[0]
    res.check(mode == "-rwxr-xr-x", "/usr/sbin/apexd is 0755", mode)
    for p in ("./etc/apexd/apexd.toml", "./etc/apexd/zones/example.com.zone", unit_path):
        if p is None:
            continue
        m = listing.get(p, ("", ""))[0]
        res.check(m == "-rw-r--r--", "%s is 0644" % p[1:], m)
    owners = {p: o for p, (m, o) in listing.items() if o != "root/root"}
    res.check(not owners, "every entry is root/root", repr(owners))

    rc, info = run(["dpkg-deb", "-f", deb])
    fields = {}
    for line in info.splitlines():
        k, _, v = line.partition(":")
        if v:
            fields[k.strip()] = v.strip()
    print("control: %s" % {k: fields.get(k) for k in ("Package", "Version", "Architecture", "Depends", "Section")})
    res.check(fields.get("Package") == "apexd", "control: Package apexd", repr(fields.get("Package")))
    res.check(fields.get("Version") == VERSION, "control: Version %s" % VERSION, repr(fields.get("Version")))
    res.check(fields.get("Architecture") == "amd64", "control: Architecture amd64")
    dep = fields.get("Depends", "")
    res.check("adduser" in dep, "control: Depends on adduser", dep)
    res.check("libldns" in dep, "control: Depends on libldns (shlibdeps)", dep)
    cdir = os.path.join(workdir, "control")
    rc, out = run(["dpkg-deb", "-e", deb, cdir])
    if res.check(rc == 0, "dpkg-deb -e", out):
        conff = oc.read_text(os.path.join(cdir, "conffiles")).split()
        res.check(sorted(conff) == ["/etc/apexd/apexd.toml", "/etc/apexd/zones/example.com.zone"],
                  "control: conffiles lists both /etc files", repr(conff))
        pi = os.path.join(cdir, "postinst")
        res.check(os.path.isfile(pi) and os.stat(pi).st_mode & stat.S_IXUSR,
                  "control: postinst present and executable")
    xdir = os.path.join(workdir, "x")
    rc, out = run(["dpkg-deb", "-x", deb, xdir])
    if res.check(rc == 0, "dpkg-deb -x", out):
        rc, out = run([os.path.join(xdir, "usr/sbin/apexd"), "--version"], timeout=10)
        res.check(rc == 0 and out.strip() == "apexd %s" % VERSION, "packaged binary prints apexd %s" % VERSION,
                  "rc %d %r" % (rc, out))
        unit = oc.read_text(os.path.join(xdir, unit_path or UNIT))
        res.check("ExecStart=/usr/sbin/apexd --config /etc/apexd/apexd.toml" in unit
                  and re.search(r"^Type=notify$", unit, re.M) is not None,
                  "unit: Type=notify, ExecStart runs /usr/sbin/apexd on /etc/apexd/apexd.toml", unit)
        # One broken zone must not keep the unit from starting: the pre-start check reports, never blocks.
        pre = re.findall(r"^ExecStartPre=(.*)$", unit, re.M)
        res.check(all(p.startswith("-") for p in pre), "unit: ExecStartPre failures are not fatal", repr(pre))


def install_and_use(res, deb, workdir):
    if os.geteuid() != 0:
        print("SKIP install: needs root (running as uid %d)" % os.geteuid())
        res.ok("install skipped (not root)")
        return
    rc, out = run(["dpkg-query", "-W", "-f=${Status}", "apexd"])
    if rc == 0 and "installed" in out and "not-installed" not in out:
        print("SKIP install: a package apexd is already installed (%s); not touching it" % out)
        res.ok("install skipped (apexd already installed)")
        return
    user_before = _user_exists("apexd")
    log_before = os.path.exists("/var/log/apexd")
    state_before = os.path.exists("/var/lib/apexd")
    installed = False
    try:
        rc, out = run(["dpkg", "-i", deb], timeout=300)
        installed = True  # even a half-configured package is removed below
        if not res.check(rc == 0, "dpkg -i", out[-3000:]):
            return
        rc, out = run(["/usr/sbin/apexd", "--version"], timeout=10)
        res.check(rc == 0 and out.strip() == "apexd %s" % VERSION, "installed /usr/sbin/apexd --version", out)
        rc, out = run(["/usr/sbin/apexd", "check", "--config", "/etc/apexd/apexd.toml"], timeout=30)
        res.check(rc == 0, "apexd check --config /etc/apexd/apexd.toml exits 0", "rc %d\n%s" % (rc, out))
        print("apexd check: %s" % out.strip())
        res.check("warning" not in out.lower(), "apexd check: no warning for the packaged config", out)
        rc, out = run(["getent", "passwd", "apexd"])
        res.check(rc == 0 and out.startswith("apexd:"), "getent passwd apexd", "rc %d %r" % (rc, out))
        if rc == 0:
            f = out.strip().split(":")
            res.check(int(f[2]) < 1000, "user apexd is a system user", out)
            res.check(f[6] in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"),
                      "user apexd has no login shell", out)
        for folder in ("/var/log/apexd", "/var/lib/apexd"):
            try:
                st = os.stat(folder)
                res.check(pwd.getpwuid(st.st_uid).pw_name == "apexd", "%s belongs to apexd" % folder)
            except (OSError, KeyError) as e:
                res.fail("%s exists" % folder, repr(e))
        rc, out = run(["man", "-w", "apexd"], timeout=30)
        page = [p for p in ("/usr/share/man/man8/apexd.8", "/usr/share/man/man8/apexd.8.gz") if os.path.isfile(p)]
        res.check((rc == 0 and "apexd.8" in out) or page, "man -w apexd (or the page file exists)",
                  "man -w: rc %d %r; files %r" % (rc, out, page))
        if page:
            rc, out = run(["man", "--warnings", "-l", page[0]], timeout=30,
                          env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
            warn = [l for l in out.splitlines() if re.search(r"warning|error", l, re.I) and "apexd" not in l.lower()[:6]]
            res.check(rc == 0 and "apexd" in out, "man page renders", "rc %d\n%s" % (rc, out[-1500:]))
            res.check(not [l for l in out.splitlines() if l.startswith(("troff:", "groff:", "man:", "<standard input>"))],
                      "man page renders without groff warnings", "\n".join(warn[:10]))
        if shutil.which("systemd-analyze"):
            rc, out = run(["systemd-analyze", "verify", "apexd.service"], timeout=60, cwd=workdir)
            res.check(rc == 0, "systemd-analyze verify apexd.service (found by name, commands exist)",
                      "rc %d\n%s" % (rc, out[-1500:]))
        serve_installed(res, workdir)
    finally:
        if installed:
            rc, out = run(["dpkg", "--purge", "apexd"], timeout=300)
            res.check(rc == 0, "dpkg --purge apexd", out[-2000:])
            left = [p for p in ("/usr/sbin/apexd", "/lib/systemd/system/apexd.service",
                                "/usr/lib/systemd/system/apexd.service",
                                "/etc/apexd/apexd.toml", "/etc/apexd/zones/example.com.zone",
                                "/usr/share/man/man8/apexd.8", "/usr/share/man/man8/apexd.8.gz")
                    if os.path.exists(p)]
            res.check(not left, "purge removes every packaged file", repr(left))
            leftovers = []
            if not user_before and _user_exists("apexd"):
                leftovers.append("user apexd")
                run(["userdel", "apexd"])
                run(["groupdel", "apexd"])
            if not log_before and os.path.exists("/var/log/apexd"):
                leftovers.append("/var/log/apexd")
                shutil.rmtree("/var/log/apexd", ignore_errors=True)
            if not state_before and os.path.exists("/var/lib/apexd"):
                leftovers.append("/var/lib/apexd")
                shutil.rmtree("/var/lib/apexd", ignore_errors=True)
            if os.path.isdir("/etc/apexd") and not os.listdir("/etc/apexd"):
                leftovers.append("/etc/apexd (empty)")
                os.rmdir("/etc/apexd")
            if leftovers:
                print("NOTE: after dpkg --purge the package left %s (no postrm); removed by the test"
                      % ", ".join(leftovers))
            res.check(not _user_exists("apexd") or user_before, "machine clean: user apexd gone")


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def serve_installed(res, workdir):
    """The installed binary, the installed zone, user = apexd, a free port."""
    wd = os.path.join(workdir, "serve")
    os.makedirs(wd)
    os.chmod(workdir, 0o755)
    os.chmod(wd, 0o755)
    port = harness.free_port()
    text = oc.read_text("/etc/apexd/apexd.toml")
    text = re.sub(r"(?m)^listen = \[.*\]$", 'listen = ["127.0.0.1:%d"]' % port, text)
    text = text.replace('file = "zones/example.com.zone"', 'file = "/etc/apexd/zones/example.com.zone"')
    conf = os.path.join(wd, "apexd.toml")
    with open(conf, "w") as f:
        f.write(text)
    os.chmod(conf, 0o644)
    proc = None
    try:
        proc = oc.start("/usr/sbin/apexd", conf, wd, port, "example.com.", name="apexd-installed")
        r = harness.query(port, "example.com.", "SOA", timeout=2.0)
        res.check(r is not None and r.rcode() == dns.rcode.NOERROR and r.answer,
                  "installed apexd serves /etc/apexd/zones/example.com.zone")
        uid = None
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        uid = line.split()[1:]
        except OSError:
            pass
        want = str(pwd.getpwnam("apexd").pw_uid)
        res.check(uid == [want] * 4, "installed apexd runs as user apexd", repr(uid))
    except Exception as e:  # noqa: BLE001
        res.fail("installed apexd starts with the packaged config (port changed)",
                 "%r\n%s" % (e, proc.stderr()[-1000:] if proc else ""))
    finally:
        harness.stop(proc)


def body(args, res, workdir):
    missing = [t for t in ("cmake", "ninja", "cpack", "dpkg-deb") if not shutil.which(t)]
    if args.deb:
        deb = os.path.abspath(args.deb)
    elif missing:
        print("SKIP: %s not installed, no package built" % ", ".join(missing))
        res.ok("package test skipped (missing %s)" % ", ".join(missing))
        return
    else:
        bdir = os.path.abspath(args.build_dir) if args.build_dir else tempfile.mkdtemp(prefix="apexd-deb-")
        try:
            deb = build_deb(res, bdir)
            if deb:
                keep = os.path.join(workdir, DEB_NAME)
                shutil.copy(deb, keep)
                deb = keep
        finally:
            if not args.build_dir:
                shutil.rmtree(bdir, ignore_errors=True)
        if not deb:
            return
    check_deb(res, deb, workdir)
    install_and_use(res, deb, workdir)


if __name__ == "__main__":
    ap = harness.base_parser(__doc__)
    ap.add_argument("--build-dir", help="build folder to use (kept); default: a temporary one")
    ap.add_argument("--deb", help="an already built .deb to check instead of building")
    harness.main(body, parser=ap)
