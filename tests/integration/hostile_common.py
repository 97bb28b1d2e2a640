#!/usr/bin/python3
"""Shared helpers for the hostile_*.py integration tests (hostile traffic and failing
upstreams): a scripted upstream resolver whose misbehaviour can be switched at run time,
an apexd config writer, and clients that measure latency, send bursts and flood.

Builds on harness.py (processes registered, stopped by PID, SIGKILLed if the test dies)
and ops_common.py (/metrics).  Only 127.0.0.0/8 is used: apexd and the scripted
upstreams listen on 127.0.0.1, clients may bind 127.0.0.2..127.0.0.9 (and, for the
RRL prefix checks, 127.0.1.x / 127.0.2.x) to act as distinct clients.  Every loop is
bounded in time or count; every thread is a daemon and is stopped explicitly.

Run directly, it checks the scripted upstream itself (every mode, with dnspython as
the client), so the hostile tests stand on a fake that is known to misbehave exactly
as intended:

    /usr/bin/python3 tests/integration/hostile_common.py [--apexd PATH]
"""

import heapq
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
import zlib

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

import harness
import ops_common
import peers

HOST = harness.HOST
HOSTILE_DIR = os.path.join(harness.ZONES_DIR, "hostile")
HOSTILE_ZONE = ("hostile.test.", os.path.join(HOSTILE_DIR, "hostile.test.zone"))
AMP_ZONE = ("amp.test.", os.path.join(HOSTILE_DIR, "amp.test.zone"))
TARGET_SUFFIX = "tgt.example."   # every flattening target of hostile.test.
SPOOF_A = "203.0.113.66"          # what forged answers claim
SPOOF_AAAA = "2001:db8:bad::66"
EDE_OPTION = peers.EDE_OPTION

# Modes of the scripted upstream.
MODES = ("normal", "silent", "slow", "wrong_id", "wrong_question", "wrong_port",
         "garbage", "garbage_id", "tc_close", "tc_garbage", "tc_tc", "tc_silent",
         "tc_ok", "flap", "servfail", "refused", "nxdomain", "inject", "poison",
         "cname_loop", "cname_forever")

# Python threads (scripted upstreams, load senders) share the GIL with the thread that
# measures latency: switch often so the measurement is not inflated by the GIL.
sys.setswitchinterval(0.0005)


def genuine_a(qname):
    """The genuine address the scripted upstream gives a name (stable per name)."""
    n = str(qname).lower().rstrip(".") + "."
    return "198.51.100.%d" % (zlib.crc32(n.encode()) % 250 + 1)


def genuine_aaaa(qname):
    n = str(qname).lower().rstrip(".") + "."
    return "2001:db8:51::%x" % (zlib.crc32(n.encode()) % 65000 + 1)


def target_of(label):
    """hostile.test. name `label` is a CNAME to `label`.tgt.example."""
    return "%s.%s" % (label, TARGET_SUFFIX)


# --------------------------------------------------------------------------
# the scripted upstream
# --------------------------------------------------------------------------

class ScriptedUpstream:
    """A recursive resolver stand-in on 127.0.0.1:port (UDP and TCP) that answers every
    A/AAAA question with genuine_a()/genuine_aaaa() (TTL `ttl_for(name)`), unless `mode`
    says to misbehave:

    normal          answers at once
    silent          never answers (UDP or TCP)
    slow            answers after `slow_delay` seconds (beyond apexd's per-try timeout)
    wrong_id        a forged answer (SPOOF_A) with a wrong ID, from the right address/port
    wrong_question  forged answers with the right ID but another name / type / class
    wrong_port      a forged answer with the right ID and question, from another port of
                    127.0.0.1 and from the right port of 127.0.0.2
    garbage         random bytes
    garbage_id      the right ID and QR=1 followed by junk; then, in turns, the right ID
                    and question with an address record of the wrong length, or three
                    answers announced and one (forged) present
    tc_close        TC=1 over UDP; TCP connections closed at once
    tc_garbage      TC=1 over UDP; TCP answered with a frame of random bytes
    tc_tc           TC=1 over UDP and over TCP
    tc_silent       TC=1 over UDP; TCP connections accepted, never answered
    tc_ok           TC=1 over UDP; the genuine answer over TCP
    flap            normal for `flap_period` seconds, silent for the next, and so on
    servfail / refused / nxdomain   that rcode (NXDOMAIN with an SOA in authority whose
                    TTL and MINIMUM are ttl_for(name))
    inject          the genuine answer plus A records of other names (victimN...) with
                    SPOOF_A in the answer and additional sections, and a forged NS
    cname_loop      X CNAME loop.X, and loop.X CNAME X (no address, no SOA: each answer
                    sends apexd on to ask for the next name)
    cname_forever   X CNAME c1.X CNAME c2.c1.X CNAME c3.c2.c1.X, no address, no SOA: an
                    endless chain, three links per answer
    poison          a flood of forged answers (wrong IDs from the right port, the right
                    ID with another question from the right port, the right ID and
                    question from other ports/addresses), then the genuine answer after
                    `genuine_after` seconds (default 0.3)

    For wrong_id, wrong_question, wrong_port, garbage, garbage_id: when `genuine_after`
    is set, the genuine answer follows the forged ones after that many seconds.
    Every query received is logged in `log` (dicts: t, transport, src, id, qname, qtype).
    """

    def __init__(self, name="up"):
        self.name = name
        self.port = harness.free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, self.port))
        self.udp.setblocking(False)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((HOST, self.port))
        self.tcp.listen(128)
        self.tcp.setblocking(False)
        # forgers: another port on 127.0.0.1, and the same port on 127.0.0.2
        self.alt = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.alt.bind((HOST, 0))
        self.alt.setblocking(False)
        self.alt2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.alt2.bind(("127.0.0.2", self.port))
        except OSError:
            self.alt2.bind(("127.0.0.2", 0))
        self.alt2.setblocking(False)
        self.lock = threading.Lock()
        self.mode = "normal"
        self.slow_delay = 0.9
        self.genuine_after = None
        self.flap_period = 0.25
        self.flap_t0 = time.monotonic()
        self.poison_wrong_ids = 1500
        self.poison_other_port = 200
        self.ttl_for = lambda qname: 1 if str(qname).lower().startswith("s-") else 300
        self.log = []
        self.forged_sent = 0       # forged datagrams sent from the right address and port
        self.forged_elsewhere = 0  # forged datagrams from other ports/addresses
        self.tcp_accepted = 0
        self._events = []
        self._seq = 0
        self._conns = {}
        self._stop = False
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.udp, selectors.EVENT_READ, ("udp", None))
        self._sel.register(self.tcp, selectors.EVENT_READ, ("accept", None))
        self._thread = threading.Thread(target=self._run, name="scripted-" + name,
                                        daemon=True)
        self._thread.start()

    # -- control ----------------------------------------------------------

    @property
    def address(self):
        return "%s:%d" % (HOST, self.port)

    def set_mode(self, mode, genuine_after=None, **kw):
        if mode not in MODES:
            raise ValueError("unknown mode %s" % mode)
        with self.lock:
            self.mode = mode
            self.genuine_after = genuine_after
            if mode == "poison" and genuine_after is None:
                self.genuine_after = 0.3
            for k, v in kw.items():
                if not hasattr(self, k):
                    raise ValueError("unknown option %s" % k)
                setattr(self, k, v)
            if mode == "flap":
                self.flap_t0 = time.monotonic()

    def queries(self, qname=None, transport=None, since=0.0):
        with self.lock:
            out = list(self.log)
        return [e for e in out
                if (qname is None or e["qname"] == qname.lower())
                and (transport is None or e["transport"] == transport)
                and e["t"] >= since]

    def close(self):
        self._stop = True
        self._thread.join(timeout=3.0)
        for c in list(self._conns):
            try:
                c.close()
            except OSError:
                pass
        for s in (self.udp, self.tcp, self.alt, self.alt2):
            try:
                s.close()
            except OSError:
                pass
        try:
            self._sel.close()
        except Exception:  # noqa: BLE001
            pass

    # -- loop ---------------------------------------------------------------

    def _later(self, delay, fn):
        self._seq += 1
        heapq.heappush(self._events, (time.monotonic() + delay, self._seq, fn))

    def _run(self):
        while not self._stop:
            timeout = 0.02
            if self._events:
                timeout = max(0.0, min(timeout, self._events[0][0] - time.monotonic()))
            try:
                ready = self._sel.select(timeout)
            except (OSError, ValueError):
                ready = []
            for key, _ in ready:
                kind, _data = key.data
                try:
                    if kind == "udp":
                        self._drain_udp()
                    elif kind == "accept":
                        self._accept()
                    elif kind == "conn":
                        self._read_conn(key.fileobj)
                except Exception:  # noqa: BLE001 - a fake must never die
                    pass
            now = time.monotonic()
            while self._events and self._events[0][0] <= now:
                _, _, fn = heapq.heappop(self._events)
                try:
                    fn()
                except Exception:  # noqa: BLE001
                    pass

    def _current_mode(self):
        with self.lock:
            mode = self.mode
            if mode == "flap":
                up = int((time.monotonic() - self.flap_t0) / self.flap_period) % 2 == 0
                mode = "normal" if up else "silent"
            return mode

    def _record(self, transport, src, q):
        qn = str(q.question[0].name).lower() if q.question else ""
        qt = dns.rdatatype.to_text(q.question[0].rdtype) if q.question else ""
        with self.lock:
            self.log.append(dict(t=time.monotonic(), transport=transport, src=src,
                                 id=q.id, qname=qn, qtype=qt))

    def _drain_udp(self):
        for _ in range(256):
            try:
                data, src = self.udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001
                continue
            if not q.question:
                continue
            self._record("udp", src, q)
            self._udp_query(q, src)

    # -- answers ------------------------------------------------------------

    def _response(self, q, rcode=dns.rcode.NOERROR, address=None, ttl=None,
                  with_answer=True):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        r.set_rcode(rcode)
        qq = q.question[0]
        if rcode == dns.rcode.NOERROR and with_answer and qq.rdtype in (
                dns.rdatatype.A, dns.rdatatype.AAAA):
            if address is None:
                address = genuine_a(qq.name) if qq.rdtype == dns.rdatatype.A \
                    else genuine_aaaa(qq.name)
            t = self.ttl_for(qq.name) if ttl is None else ttl
            r.answer.append(dns.rrset.from_text(qq.name, t, "IN",
                                                dns.rdatatype.to_text(qq.rdtype), address))
        if rcode == dns.rcode.NXDOMAIN:
            neg = self.ttl_for(qq.name)  # SOA TTL and MINIMUM: the negative TTL
            r.authority.append(dns.rrset.from_text(
                TARGET_SUFFIX, neg, "IN", "SOA",
                "ns.%s host.%s 1 3600 600 86400 %d" % (TARGET_SUFFIX, TARGET_SUFFIX, neg)))
        return r

    def _genuine(self, q):
        return self._response(q).to_wire()

    def _spoof(self, q):
        qq = q.question[0]
        addr = SPOOF_A if qq.rdtype == dns.rdatatype.A else SPOOF_AAAA
        return self._response(q, address=addr, ttl=3600).to_wire()

    def _send(self, sock, wire, dst):
        try:
            sock.sendto(wire, dst)
            return True
        except OSError:
            return False

    def _udp_query(self, q, src):
        mode = self._current_mode()
        with self.lock:
            genuine_after = self.genuine_after
            slow = self.slow_delay
        genuine = self._genuine(q)
        if mode == "normal":
            self._send(self.udp, genuine, src)
        elif mode == "silent":
            pass
        elif mode == "slow":
            self._later(slow, lambda: self._send(self.udp, genuine, src))
        elif mode in ("servfail", "refused", "nxdomain"):
            rc = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED,
                  "nxdomain": dns.rcode.NXDOMAIN}[mode]
            self._send(self.udp, self._response(q, rcode=rc).to_wire(), src)
        elif mode.startswith("tc_"):
            r = self._response(q, with_answer=False)
            r.flags |= dns.flags.TC
            self._send(self.udp, r.to_wire(), src)
        elif mode == "inject":
            r = self._response(q)
            for i in range(10):
                victim = "victim%d.%s" % (i, TARGET_SUFFIX)
                r.answer.append(dns.rrset.from_text(victim, 3600, "IN", "A", SPOOF_A))
                r.additional.append(dns.rrset.from_text(victim, 3600, "IN", "A", SPOOF_A))
            r.authority.append(dns.rrset.from_text(TARGET_SUFFIX, 3600, "IN", "NS",
                                                   "ns.evil.example."))
            self._send(self.udp, r.to_wire(), src)
            self.forged_sent += 1
        elif mode in ("cname_loop", "cname_forever"):
            self._send(self.udp, self._cname_answer(q, mode).to_wire(), src)
        elif mode == "poison":
            self._poison(q, src)
            self._later(genuine_after or 0.3, lambda: self._send(self.udp, genuine, src))
        elif mode in ("wrong_id", "wrong_question", "wrong_port", "garbage", "garbage_id"):
            for sock, wire in self._forgeries(mode, q, src):
                self._send(sock, wire, src)
                if sock is self.udp:
                    self.forged_sent += 1
                else:
                    self.forged_elsewhere += 1
            if genuine_after is not None:
                self._later(genuine_after, lambda: self._send(self.udp, genuine, src))

    def _cname_answer(self, q, mode):
        r = self._response(q, with_answer=False)
        name = q.question[0].name
        text = str(name)
        if mode == "cname_loop":
            nxt = [text[len("loop."):] if text.lower().startswith("loop.") else "loop." + text]
        else:
            nxt = []
            cur = text
            for i in range(1, 4):
                cur = "c%d.%s" % (i, cur)
                if len(cur) > 200:
                    cur = "c%d.%s" % (i, TARGET_SUFFIX)
                nxt.append(cur)
        owner = text
        for t in nxt:
            r.answer.append(dns.rrset.from_text(owner, 300, "IN", "CNAME", t))
            owner = t
        return r

    def _forgeries(self, mode, q, src):
        """[(socket, bytes)] of the forged datagrams of a mode."""
        spoof = self._spoof(q)
        qq = q.question[0]
        out = []
        if mode == "wrong_id":
            for delta in (1, 0x8000, 0x0100):
                w = bytearray(spoof)
                struct.pack_into("!H", w, 0, (q.id + delta) & 0xFFFF)
                out.append((self.udp, bytes(w)))
        elif mode == "wrong_question":
            variants = [(dns.name.from_text("evil-" + str(qq.name)), qq.rdtype, qq.rdclass),
                        (qq.name, dns.rdatatype.MX, qq.rdclass),
                        (qq.name, qq.rdtype, dns.rdataclass.CH)]
            for name, rdtype, rdclass in variants:
                fq = dns.message.make_query(name, rdtype, rdclass)
                fq.id = q.id
                r = dns.message.make_response(fq)
                r.answer.append(dns.rrset.from_text(qq.name, 3600, "IN", "A", SPOOF_A))
                out.append((self.udp, r.to_wire()))
        elif mode == "wrong_port":
            out.append((self.alt, spoof))
            out.append((self.alt2, spoof))
        elif mode == "garbage":
            rnd = random.Random()
            out.append((self.udp, b""))
            out.append((self.udp, os.urandom(11)))
            for _ in range(3):
                out.append((self.udp, os.urandom(rnd.randrange(12, 600))))
        elif mode == "garbage_id":
            qwire = q.to_wire()
            qend = 12 + len(qq.name.to_wire()) + 4
            question = qwire[12:qend]
            out.append((self.udp, struct.pack("!HHHHHH", q.id, 0x8180, 1, 0, 0, 0)
                        + os.urandom(40)))
            # an address record of the queried type with a wrong length
            bad_len = 5 if qq.rdtype == dns.rdatatype.A else 15
            bad_a = (struct.pack("!HHHHHH", q.id, 0x8180, 1, 1, 0, 0) + question
                     + struct.pack("!HHHIH", 0xC00C, qq.rdtype, 1, 3600, bad_len)
                     + os.urandom(bad_len))
            out.append((self.udp, bad_a))
            # three answers announced, one present
            rd = bytes([203, 0, 113, 66]) if qq.rdtype == dns.rdatatype.A else \
                dns.rdata.from_text("IN", "AAAA", SPOOF_AAAA).to_digestable()
            missing = (struct.pack("!HHHHHH", q.id, 0x8180, 1, 3, 0, 0) + question
                       + struct.pack("!HHHIH", 0xC00C, qq.rdtype, 1, 3600, len(rd)) + rd)
            # alternate which of the two comes first (the first one decides)
            self._garbage_flip = not getattr(self, "_garbage_flip", False)
            out.insert(1 if self._garbage_flip else 2, (self.udp, missing))
        return out

    def _poison(self, q, src):
        spoof = self._spoof(q)
        with self.lock:
            n_wrong, n_other = self.poison_wrong_ids, self.poison_other_port
        ids = [i for i in random.sample(range(65536), min(65535, n_wrong + 1)) if i != q.id][:n_wrong]
        w = bytearray(spoof)
        for i in ids:  # wrong IDs from the right address and port
            struct.pack_into("!H", w, 0, i)
            if self._send(self.udp, bytes(w), src):
                self.forged_sent += 1
        for sock, wire in self._forgeries("wrong_question", q, src):
            if self._send(sock, wire, src):
                self.forged_sent += 1
        for _ in range(n_other):  # the right ID and question from elsewhere
            if self._send(self.alt, spoof, src):
                self.forged_elsewhere += 1
            if self._send(self.alt2, spoof, src):
                self.forged_elsewhere += 1

    # -- TCP ----------------------------------------------------------------

    def _accept(self):
        for _ in range(64):
            try:
                c, _src = self.tcp.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.tcp_accepted += 1
            if self._current_mode() == "tc_close":
                with self.lock:
                    self.log.append(dict(t=time.monotonic(), transport="tcp-conn",
                                         src=_src, id=None, qname="", qtype=""))
                c.close()
                continue
            c.setblocking(False)
            self._conns[c] = b""
            self._sel.register(c, selectors.EVENT_READ, ("conn", None))
            # never keep a connection for long
            self._later(5.0, lambda c=c: self._drop_conn(c))

    def _drop_conn(self, c):
        if c in self._conns:
            try:
                self._sel.unregister(c)
            except Exception:  # noqa: BLE001
                pass
            del self._conns[c]
            try:
                c.close()
            except OSError:
                pass

    def _read_conn(self, c):
        try:
            data = c.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_conn(c)
            return
        buf = self._conns.get(c, b"") + data
        while len(buf) >= 2:
            (n,) = struct.unpack("!H", buf[:2])
            if len(buf) < 2 + n:
                break
            msg, buf = buf[2:2 + n], buf[2 + n:]
            try:
                q = dns.message.from_wire(msg)
            except Exception:  # noqa: BLE001
                continue
            if not q.question:
                continue
            self._record("tcp", c.getpeername(), q)
            out = self._tcp_answer(q)
            if out is not None:
                try:
                    c.setblocking(True)
                    c.settimeout(1.0)
                    c.sendall(struct.pack("!H", len(out)) + out)
                    c.setblocking(False)
                except OSError:
                    self._drop_conn(c)
                    return
        if c in self._conns:
            self._conns[c] = buf

    def _tcp_answer(self, q):
        mode = self._current_mode()
        if mode in ("silent", "tc_silent"):
            return None
        if mode == "tc_garbage":
            return os.urandom(random.randrange(12, 300))
        if mode == "tc_tc":
            r = self._response(q, with_answer=False)
            r.flags |= dns.flags.TC
            return r.to_wire()
        if mode in ("servfail", "refused", "nxdomain"):
            rc = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED,
                  "nxdomain": dns.rcode.NXDOMAIN}[mode]
            return self._response(q, rcode=rc).to_wire()
        return self._genuine(q)


# --------------------------------------------------------------------------
# apexd configuration and start
# --------------------------------------------------------------------------

def write_config(path, port, zones, threads=2, control_port=None, server=None,
                 upstreams=(), resolver=None, rrl=None, level="warn"):
    """An apexd.toml.  zones: [(origin, file, flatten or None)]; server, resolver, rrl:
    dicts of extra keys (values are TOML literal text); rrl=None leaves [rrl] out."""
    lines = ["[server]", 'listen = ["%s:%d"]' % (HOST, port), "threads = %d" % threads]
    for k, v in (server or {}).items():
        lines.append("%s = %s" % (k, v))
    lines += ["", "[log]", 'level = "%s"' % level, ""]
    if control_port:
        lines += ["[control]", 'listen = "%s:%d"' % (HOST, control_port), ""]
    if upstreams or resolver:
        lines += ["[resolver]", "upstreams = %s" % peers.toml_list(upstreams)]
        for k, v in (resolver or {}).items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    if rrl is not None:
        lines.append("[rrl]")
        for k, v in rrl.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    for origin, zfile, flatten in zones:
        lines += ["[[zone]]", 'origin = "%s"' % origin, 'file = "%s"' % os.path.abspath(zfile)]
        if flatten:
            lines.append('flatten = "%s"' % flatten)
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def start_apexd(binary, workdir, name="apexd", **config):
    """Writes a config (see write_config; zones default to hostile.test. with
    flatten = "all") and starts apexd; returns (proc, port, control_port)."""
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    port = harness.free_port()
    control = harness.free_port()
    zones = config.pop("zones", None) or [HOSTILE_ZONE + ("all",)]
    conf = write_config(os.path.join(d, "apexd.toml"), port, zones, control_port=control,
                        **config)
    proc = ops_common.start(binary, conf, d, port, zones[0][0], name=name)
    return proc, port, control


def metrics(control_port):
    return ops_common.get_metrics(control_port)


def metric(prom, name):
    return prom.sum(name)


# --------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------

def make_query(qname, qtype="A", edns=True, payload=1232, do=False, rd=False, qid=None):
    return harness.make_query(qname, qtype, edns=edns, payload=payload, do=do, rd=rd,
                              qid=qid)


def _parse(data):
    try:
        m = dns.message.from_wire(data, raise_on_truncation=False)
        m.wire = data
        return m
    except Exception:  # noqa: BLE001
        return data


def udp(port, qname, qtype="A", src=HOST, timeout=3.0, **kw):
    """One UDP query from `src`; (reply Message, bytes if unparsable, or None; seconds)."""
    q = make_query(qname, qtype, **kw)
    wire = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.connect((HOST, port))
        t0 = time.monotonic()
        s.send(wire)
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, time.monotonic() - t0
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None, time.monotonic() - t0
            if len(data) >= 2 and data[:2] == wire[:2]:
                return _parse(data), time.monotonic() - t0
    finally:
        s.close()


def tcp(port, qname, qtype="A", src=HOST, timeout=3.0, **kw):
    """One TCP query on a new connection from `src`; (reply or None, seconds)."""
    q = make_query(qname, qtype, **kw)
    wire = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t0 = time.monotonic()
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        try:
            s.connect((HOST, port))
            s.sendall(struct.pack("!H", len(wire)) + wire)
        except OSError:
            return None, time.monotonic() - t0
        deadline = t0 + timeout
        hdr = harness._recv_exact(s, 2, deadline)
        if hdr is None:
            return None, time.monotonic() - t0
        (n,) = struct.unpack("!H", hdr)
        body = harness._recv_exact(s, n, deadline)
        if body is None:
            return None, time.monotonic() - t0
        return _parse(body), time.monotonic() - t0
    finally:
        s.close()


class Rec:
    __slots__ = ("qname", "qtype", "sent", "reply", "latency", "transport")

    def __init__(self, qname, qtype, transport="udp"):
        self.qname, self.qtype, self.transport = qname, qtype, transport
        self.sent = None
        self.reply = None
        self.latency = None

    def __repr__(self):
        return "<%s %s %s: %s after %s>" % (self.transport, self.qname, self.qtype,
                                            describe(self.reply), self.latency)


class Flight:
    """Sends UDP queries from a background thread (`interval` seconds apart, round
    robin over `nsocks` sockets bound to `src`, or a fresh socket per query with
    fresh_sockets=True) and collects the replies, matched by socket and ID, until
    every query is answered or `timeout` seconds after the last one was sent.
    Items are (qname, qtype) or (qname, qtype, options dict for make_query)."""

    def __init__(self, port, items, interval=0.0, src=HOST, nsocks=1, timeout=3.0,
                 fresh_sockets=False):
        self.port = port
        self.items = list(items)
        self.interval = interval
        self.src = src
        self.nsocks = max(1, nsocks)
        self.timeout = timeout
        self.fresh = fresh_sockets
        self.recs = [Rec(i[0], i[1]) for i in self.items]
        self.error = None
        self._parsed = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def wait(self, slack=5.0):
        self._thread.join(timeout=self.interval * len(self.items) + self.timeout + slack)
        if self._thread.is_alive():
            self.error = self.error or "still running after its time"
            return self.recs
        if not self._parsed:
            self._parsed = True
            for r in self.recs:
                if isinstance(r.reply, (bytes, bytearray)):
                    r.reply = _parse(r.reply)
        return self.recs

    def run(self):
        return self.start().wait()

    def _run(self):
        sel = selectors.DefaultSelector()
        socks = []
        pending = {}
        try:
            if not self.fresh:
                for _ in range(self.nsocks):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                    s.bind((self.src, 0))
                    s.connect((HOST, self.port))
                    s.setblocking(False)
                    socks.append(s)
                    sel.register(s, selectors.EVENT_READ)
            wires = []
            base = random.randrange(65536)
            for i, it in enumerate(self.items):
                opts = it[2] if len(it) > 2 else {}
                qid = (base + i) & 0xFFFF
                wires.append(make_query(it[0], it[1], qid=qid, **opts).to_wire())
            start = time.monotonic()
            last_sent = start
            nxt = 0
            answered = 0
            while True:
                now = time.monotonic()
                while nxt < len(self.items) and now >= start + nxt * self.interval:
                    if self.fresh:
                        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        s.bind((self.src, 0))
                        s.connect((HOST, self.port))
                        s.setblocking(False)
                        socks.append(s)
                        sel.register(s, selectors.EVENT_READ)
                    else:
                        s = socks[nxt % self.nsocks]
                    rec = self.recs[nxt]
                    rec.sent = time.monotonic()
                    try:
                        s.send(wires[nxt])
                    except OSError:
                        pass
                    pending[(s.fileno(), wires[nxt][:2])] = rec
                    last_sent = rec.sent
                    nxt += 1
                    now = time.monotonic()
                if nxt >= len(self.items) and (answered >= len(self.items)
                                               or now > last_sent + self.timeout):
                    break
                wait = last_sent + self.timeout - now
                if nxt < len(self.items):
                    wait = min(wait, start + nxt * self.interval - now)
                for key, _ in sel.select(max(0.0, min(wait, 0.05))):
                    s = key.fileobj
                    for _ in range(256):
                        try:
                            data = s.recv(65535)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        t = time.monotonic()
                        rec = pending.get((s.fileno(), data[:2]))
                        if rec is None:
                            continue
                        if rec.reply is None:
                            rec.reply = data  # parsed after the run: keep this loop light
                            rec.latency = t - rec.sent
                            answered += 1
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)
        finally:
            sel.close()
            for s in socks:
                s.close()


def static_latencies(port, n=500, qname="static.hostile.test.", qtype="A",
                     timeout=1.0, src=HOST):
    """n sequential UDP queries over one socket; [seconds or None (no answer)] and the
    replies' rcodes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out = []
    bad = []
    try:
        s.bind((src, 0))
        s.connect((HOST, port))
        base = random.randrange(65536)
        for i in range(n):
            w = make_query(qname, qtype, qid=(base + i) & 0xFFFF).to_wire()
            t0 = time.monotonic()
            s.send(w)
            got = None
            while True:
                left = t0 + timeout - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data = s.recv(65535)
                except (socket.timeout, ConnectionRefusedError):
                    break
                if data[:2] == w[:2]:
                    got = time.monotonic() - t0
                    m = _parse(data)
                    if not hasattr(m, "rcode") or m.rcode() != dns.rcode.NOERROR or not m.answer:
                        bad.append(describe(m))
                    break
            out.append(got)
    finally:
        s.close()
    return out, bad


def socket_drops(port, proto="udp"):
    """Datagrams the kernel dropped at the sockets bound to 127.0.0.1:port (the "drops"
    column of /proc/net/udp): queries apexd never saw because its receive buffer was
    full.  None when unreadable."""
    want = "0100007F:%04X" % port
    total = 0
    try:
        with open("/proc/net/" + proto) as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 13 and parts[1] == want:
                    total += int(parts[-1])
    except (OSError, ValueError, StopIteration):
        return None
    return total


def percentile(values, p):
    vals = sorted(v for v in values)
    if not vals:
        return None
    k = min(len(vals) - 1, max(0, int(round(p / 100.0 * len(vals) + 0.5)) - 1))
    return vals[k]


def latency_summary(lat):
    got = [x for x in lat if x is not None]
    lost = len(lat) - len(got)
    if not got:
        return "no answer at all (%d lost)" % lost
    return "n=%d lost=%d p50=%.1fms p99=%.1fms max=%.1fms" % (
        len(lat), lost, 1000 * percentile(got, 50), 1000 * percentile(got, 99),
        1000 * max(got))


def p99_ok(lat, limit):
    """(ok, summary): every query answered and p99 below `limit` seconds."""
    got = [x for x in lat if x is not None]
    if len(got) != len(lat) or not got:
        return False, latency_summary(lat)
    return percentile(got, 99) < limit, latency_summary(lat)


# --------------------------------------------------------------------------
# reply inspection
# --------------------------------------------------------------------------

def describe(m):
    if m is None:
        return "(no reply)"
    if isinstance(m, (bytes, bytearray)):
        return "(unparsable %d bytes %r)" % (len(m), bytes(m[:24]))
    flags = dns.flags.to_text(m.flags)
    ans = "; ".join(str(rr) for rr in m.answer) or "-"
    auth = "; ".join("%s %s" % (rr.name, dns.rdatatype.to_text(rr.rdtype))
                     for rr in m.authority) or "-"
    return "%s [%s] an=[%s] ns=[%s] ede=%s" % (dns.rcode.to_text(m.rcode()), flags, ans,
                                              auth, ede_codes(m))


def ede_codes(m):
    if m is None or isinstance(m, (bytes, bytearray)):
        return []
    return [c for c, _ in peers.ede_options(m)]


def addresses(m, rdtype=dns.rdatatype.A):
    out = set()
    if m is None or isinstance(m, (bytes, bytearray)):
        return out
    for rr in m.answer:
        if rr.rdtype == rdtype:
            out.update(r.address for r in rr)
    return out


def all_addresses(m):
    """Every A/AAAA address anywhere in a reply (answer, authority, additional)."""
    out = set()
    if m is None or isinstance(m, (bytes, bytearray)):
        return out
    for sec in (m.answer, m.authority, m.additional):
        for rr in sec:
            if rr.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                out.update(r.address for r in rr)
    return out


def is_servfail_ede(m):
    return (m is not None and not isinstance(m, (bytes, bytearray))
            and m.rcode() == dns.rcode.SERVFAIL and not m.answer and bool(ede_codes(m)))


def is_genuine(m, qname, label):
    """NOERROR, AA, exactly the genuine A of label's target under qname."""
    if m is None or isinstance(m, (bytes, bytearray)):
        return False
    if m.rcode() != dns.rcode.NOERROR or not (m.flags & dns.flags.AA):
        return False
    want = {genuine_a(target_of(label))}
    if addresses(m) != want:
        return False
    return all(str(rr.name).lower() == qname.lower() for rr in m.answer)


def answer_ttl(m):
    if m is None or isinstance(m, (bytes, bytearray)) or not m.answer:
        return None
    return min(rr.ttl for rr in m.answer)


def is_stale(m, qname, label):
    """The genuine address, TTL 30, EDE 3 (RFC 8767)."""
    return is_genuine(m, qname, label) and answer_ttl(m) == 30 and 3 in ede_codes(m)


def is_nodata(m, zone="hostile.test."):
    if m is None or isinstance(m, (bytes, bytearray)):
        return False
    return (m.rcode() == dns.rcode.NOERROR and not m.answer and bool(m.flags & dns.flags.AA)
            and any(rr.rdtype == dns.rdatatype.SOA and str(rr.name).lower() == zone
                    for rr in m.authority))


def spoofed(m):
    return bool(all_addresses(m) & {SPOOF_A, SPOOF_AAAA})


# --------------------------------------------------------------------------
# raising the descriptor limit (the TCP floods hold thousands of sockets)
# --------------------------------------------------------------------------

def raise_nofile(want=8192):
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------
# self-test: the scripted upstream misbehaves exactly as documented
# --------------------------------------------------------------------------

def _ask(up, qname, qtype="A", timeout=0.5, collect=0.3):
    """Query `up` from an unconnected socket; [(data, source)] received."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    q = dns.message.make_query(qname, qtype)
    s.sendto(q.to_wire(), (HOST, up.port))
    out = []
    end = time.monotonic() + timeout
    first = None
    while time.monotonic() < end:
        s.settimeout(max(0.001, end - time.monotonic()))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            break
        out.append((data, src))
        if first is None:
            first = time.monotonic()
            end = min(end, first + collect)
    s.close()
    return q, out


def _self_test(args, res, workdir):
    up = ScriptedUpstream("self")
    try:
        name = "x.tgt.example."
        q, got = _ask(up, name)
        m = _parse(got[0][0]) if got else None
        res.check(len(got) == 1 and m.id == q.id and addresses(m) == {genuine_a(name)}
                  and answer_ttl(m) == 300, "normal: one genuine answer", describe(m))
        q, got = _ask(up, "s-x.tgt.example.")
        res.check(got and answer_ttl(_parse(got[0][0])) == 1, "s- names get TTL 1")
        up.set_mode("silent")
        q, got = _ask(up, name)
        res.check(not got, "silent: nothing")
        up.set_mode("slow", slow_delay=0.4)
        t0 = time.monotonic()
        q, got = _ask(up, name, timeout=1.0)
        res.check(len(got) == 1 and time.monotonic() - t0 >= 0.35, "slow: one answer, late")
        up.set_mode("wrong_id")
        q, got = _ask(up, name)
        res.check(len(got) == 3 and all(_parse(d).id != q.id and spoofed(_parse(d))
                                        for d, _ in got), "wrong_id: 3 forged, wrong IDs")
        up.set_mode("wrong_id", genuine_after=0.1)
        q, got = _ask(up, name, collect=0.4)
        res.check(len(got) == 4 and _parse(got[-1][0]).id == q.id
                  and not spoofed(_parse(got[-1][0])), "wrong_id + genuine_after: genuine last")
        up.set_mode("wrong_question")
        q, got = _ask(up, name)
        ok = len(got) == 3
        for d, _ in got:
            fm = _parse(d)
            fq = fm.question[0]
            ok = ok and fm.id == q.id and (str(fq.name) != name or fq.rdtype != 1 or fq.rdclass != 1)
        res.check(ok, "wrong_question: 3 forged, right ID, other question")
        up.set_mode("wrong_port")
        q, got = _ask(up, name)
        srcs = {s for _, s in got}
        res.check(len(got) == 2 and (HOST, up.port) not in srcs
                  and all(_parse(d).id == q.id for d, _ in got),
                  "wrong_port: right ID from other ports/addresses", repr(srcs))
        up.set_mode("garbage")
        q, got = _ask(up, name)
        res.check(len(got) == 5, "garbage: 5 datagrams", repr(len(got)))
        up.set_mode("garbage_id")
        q, got = _ask(up, name)
        res.check(len(got) == 3 and all(d[:2] == q.to_wire()[:2] for d, _ in got),
                  "garbage_id: 3 datagrams with the right ID")
        for mode in ("servfail", "refused", "nxdomain"):
            up.set_mode(mode)
            q, got = _ask(up, name)
            m = _parse(got[0][0]) if got else None
            want = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED,
                    "nxdomain": dns.rcode.NXDOMAIN}[mode]
            res.check(m is not None and m.rcode() == want and (
                mode != "nxdomain" or m.authority), "%s: rcode" % mode)
        for mode in ("tc_close", "tc_garbage", "tc_tc", "tc_silent", "tc_ok"):
            up.set_mode(mode)
            q, got = _ask(up, name)
            m = _parse(got[0][0]) if got else None
            res.check(m is not None and bool(m.flags & dns.flags.TC) and not m.answer,
                      "%s: TC=1 over UDP" % mode)
            r, _ = tcp(up.port, name, timeout=0.6)
            if mode == "tc_close" or mode == "tc_silent":
                res.check(r is None, "%s: no TCP answer" % mode, describe(r))
            elif mode == "tc_garbage":
                raw = harness.send_tcp_raw(up.port, q.to_wire(), timeout=0.6)
                res.check(raw is not None and (len(raw) < 12 or raw[:2] != q.to_wire()[:2]
                                               or not addresses(_parse(raw))),
                          "tc_garbage: a TCP frame of junk", repr(raw))
            elif mode == "tc_tc":
                res.check(r is not None and hasattr(r, "flags") and bool(r.flags & dns.flags.TC),
                          "tc_tc: TC=1 over TCP", describe(r))
            else:
                res.check(r is not None and addresses(r) == {genuine_a(name)},
                          "tc_ok: genuine over TCP", describe(r))
        up.set_mode("inject")
        q, got = _ask(up, name)
        m = _parse(got[0][0]) if got else None
        res.check(m is not None and genuine_a(name) in addresses(m) and spoofed(m),
                  "inject: genuine plus injected records")
        up.set_mode("poison", poison_wrong_ids=50, poison_other_port=5)
        q, got = _ask(up, name, timeout=1.0, collect=0.6)
        last = _parse(got[-1][0]) if got else None
        res.check(len(got) >= 50 and last.id == q.id and not spoofed(last),
                  "poison: forged flood then the genuine answer", "%d datagrams" % len(got))
        up.set_mode("cname_loop")
        q, got = _ask(up, name)
        m = _parse(got[0][0]) if got else None
        q2, got2 = _ask(up, "loop." + name)
        m2 = _parse(got2[0][0]) if got2 else None
        res.check(m is not None and str(m.answer[0][0].target) == "loop." + name
                  and m2 is not None and str(m2.answer[0][0].target) == name,
                  "cname_loop: X -> loop.X -> X")
        up.set_mode("cname_forever")
        q, got = _ask(up, name)
        m = _parse(got[0][0]) if got else None
        res.check(m is not None and len(m.answer) == 3 and not m.authority
                  and not all_addresses(m), "cname_forever: three links, no address")
        up.set_mode("flap", flap_period=0.3)
        q1, got1 = _ask(up, name, timeout=0.2)
        time.sleep(0.35)
        q2, got2 = _ask(up, name, timeout=0.2)
        res.check(bool(got1) and not got2, "flap: up, then down")
        res.check(len(up.queries(name)) > 10, "queries are logged")
    finally:
        up.close()


if __name__ == "__main__":
    harness.main(_self_test, description="hostile_common self-test (scripted upstream)")
