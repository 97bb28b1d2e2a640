#!/usr/bin/python3
"""apexd's PowerDNS-compatible HTTP API, driven with the requests of PowerDNS's
own documentation (docs/http-api: zone.rst, endpoint-zones.rst) and its
clients (lego's pdns provider, octoDNS, external-dns), answered by apexd and
checked both in the JSON and with DNS queries.

    /usr/bin/python3 tests/integration/api_pdns.py --apexd build-rel/apexd

apexd serves file.test. from a zone file (with a proxied name in cf_tags),
[control] with an api_key, [control.zone_defaults] (allow_transfer, serial =
"increment"), state_dir in the work folder. Checks:

1. keys: no X-API-Key → 401 {"error": "Unauthorized"} with WWW-Authenticate;
   a wrong key → 401; ?api-key= works as PowerDNS's does;
2. discovery: GET /api → [{"url": "/api/v1", "version": 1}]; /api/v1/servers
   lists localhost; /api/v1/servers/localhost has type Server, id localhost,
   daemon_type authoritative and a version of three integers (octoDNS);
3. zone creation (the docs' example: name, kind Native, masters [],
   nameservers) → 201 with the zone object (kind Native, SOA and NS rrsets);
   served at once (dig SOA, NS, AA); a second POST → 409; a name without the
   dot → 422 "not canonical"; kind Slave → 422; ?zone= lists it, ids with
   and without the trailing dot find it, ?rrsets=false leaves rrsets out;
4. PATCH (the docs' example: test.example.org. A REPLACE) → 204, served,
   serial +1; a TXT REPLACE as lego sends it (quoted content, records with
   extra keys) served; DELETE → 204 and NXDOMAIN; a DELETE and a REPLACE of
   the same name in one PATCH (octoDNS's order) → 204, the CNAME served;
5. errors: unknown zone 404 (GET, PATCH); bad content 422 naming the record;
   out of zone 422 "Name is out of zone"; a CNAME beside an A 422 "Conflicts
   with pre-existing RRset"; a changetype that is neither 422; invalid JSON
   400; nothing applied by a failed PATCH (same serial);
6. flattening and proxied through the API: an ALIAS at the apex answers A
   with the target's address and shows as ALIAS in GET; a comment
   cf_tags=cf-proxied:true makes a name answer the [proxy] address and GET
   shows "proxied": true; "proxied": false takes it back; the file zone's
   proxied name shows "proxied": true and keeps answering the edge after a
   PATCH elsewhere in the zone;
7. AXFR of an API-created zone (zone_defaults' allow_transfer) has what GET
   shows; PUT .../notify → 200; GET .../export is zone-file text, proxied
   names with their cf_tags comment;
8. durability: SIGKILL right after an acknowledged PATCH, restart: the change
   is served, the API-created zones come back; DELETE of an API zone → 204
   and REFUSED, and it stays gone after a restart; DELETE of the file zone →
   422 (it is the config's);
9. compaction: 105 PATCHes of the file zone compact its change log into
   state_dir/changes/file.test.overlay (zone-file text, cf_tags kept) at 100
   entries, the zone file untouched; SIGKILL and restart serve everything
   (overlay=yes); the zone file edited and reloaded wins over the overlay;
10. rate limit: after 10 wrong keys from one address, 429 even with the right
   key (last, as it locks this address out for a minute).
"""
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone

import harness
from harness import HOST

KEY = "test-api-key-0123456789"
POLL = 0.05

FILE_ZONE = """$ORIGIN file.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 60
@ NS ns1
ns1 A 127.0.0.1
www A 192.0.2.1 ; cf_tags=cf-proxied:true
"""


class Api:
    def __init__(self, port):
        self.base = "http://%s:%d" % (HOST, port)

    def call(self, method, path, body=None, key=KEY, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if key is not None:
            req.add_header("X-API-Key", key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def json(self, method, path, body=None, **kw):
        status, headers, text = self.call(method, path, body, **kw)
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text


def query(port, name, rdtype, tcp=False):
    q = dns.message.make_query(name, rdtype)
    q.flags &= ~dns.flags.RD
    try:
        return (dns.query.tcp if tcp else dns.query.udp)(q, HOST, port=port, timeout=2)
    except Exception:  # noqa: BLE001 - reported as no answer
        return None


def addresses(port, name, rdtype="A"):
    r = query(port, name, rdtype)
    if r is None:
        return None
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.from_text(rdtype))


def soa_serial(port, zone):
    r = query(port, zone, "SOA")
    for rrset in (r.answer if r else []):
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def rrset_of(zone_json, name, rtype):
    for s in (zone_json or {}).get("rrsets", []):
        if s["name"] == name and s["type"] == rtype:
            return s
    return None


def write_config(workdir, port, cport):
    with open(os.path.join(workdir, "file.test.zone"), "w") as f:
        f.write(FILE_ZONE)
    conf = os.path.join(workdir, "apexd.toml")
    with open(conf, "w") as f:
        f.write("""[server]
listen = ["%s:%d"]
state_dir = "state"
threads = 1

[log]
level = "info"

[control]
listen = "%s:%d"
api_key = "%s"

[control.zone_defaults]
allow_transfer = ["127.0.0.0/8"]
serial = "increment"

[proxy]
ipv4 = ["203.0.113.7"]
ttl = 60

[[zone]]
origin = "file.test."
file = "file.test.zone"
""" % (HOST, port, HOST, cport, KEY))
    return conf


def check_keys(res, api):
    status, headers, body = api.call("GET", "/api/v1/servers/localhost", key=None)
    res.check(status == 401 and json.loads(body or "{}").get("error") == "Unauthorized"
              and "X-API-Key" in headers.get("WWW-Authenticate", ""),
              "no X-API-Key: 401 {\"error\": \"Unauthorized\"} with WWW-Authenticate",
              "  %s %s %s" % (status, headers.get("WWW-Authenticate"), body))
    status, _, body = api.call("GET", "/api/v1/servers/localhost", key="wrong-key-wrong-key")
    res.check(status == 401, "a wrong key: 401", "  %s %s" % (status, body))
    status, _, body = api.call("GET", "/api/v1/servers/localhost?api-key=" + KEY, key=None)
    res.check(status == 200, "the key as ?api-key= (as PowerDNS takes it): 200", "  %s %s" % (status, body))


def check_discovery(res, api):
    status, body = api.json("GET", "/api")
    res.check(status == 200 and body == [{"url": "/api/v1", "version": 1}],
              "GET /api: [{\"url\": \"/api/v1\", \"version\": 1}]", "  %s %s" % (status, body))
    status, body = api.json("GET", "/api/v1/servers")
    res.check(status == 200 and isinstance(body, list) and body and body[0].get("id") == "localhost",
              "GET /api/v1/servers lists localhost", "  %s %s" % (status, body))
    status, body = api.json("GET", "/api/v1/servers/localhost")
    ok = status == 200 and isinstance(body, dict)
    version = body.get("version", "") if ok else ""
    res.check(ok and body.get("type") == "Server" and body.get("daemon_type") == "authoritative"
              and body.get("url") == "/api/v1/servers/localhost" and "zones_url" in body
              and re.fullmatch(r"\d+\.\d+\.\d+", version) is not None
              and [int(p) for p in version.split(".")] >= [4, 5, 0],
              "GET /api/v1/servers/localhost: Server, authoritative, version X.Y.Z >= 4.5 "
              "(octoDNS parses it)", "  %s %s" % (status, body))


def check_create(res, api, port):
    # docs/http-api/zone.rst, "Creating a zone"
    create = {"name": "example.org.", "kind": "Native", "masters": [],
              "nameservers": ["ns1.example.org.", "ns2.example.org."]}
    status, body = api.json("POST", "/api/v1/servers/localhost/zones", create)
    ok = status == 201 and isinstance(body, dict)
    res.check(ok and body.get("name") == "example.org." and body.get("id") == "example.org."
              and body.get("kind") == "Native"
              and body.get("url") == "/api/v1/servers/localhost/zones/example.org."
              and rrset_of(body, "example.org.", "SOA") is not None
              and sorted(r["content"] for r in (rrset_of(body, "example.org.", "NS") or {"records": []})["records"])
              == ["ns1.example.org.", "ns2.example.org."],
              "POST zones (the docs' example): 201, the zone with its SOA and NS rrsets",
              "  %s %s" % (status, body))
    r = query(port, "example.org.", "NS")
    res.check(r is not None and r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
              and sorted(rd.to_text() for s in r.answer for rd in s) == ["ns1.example.org.", "ns2.example.org."],
              "the created zone is served at once (NS, AA)", "  %s" % r)
    status, body = api.json("POST", "/api/v1/servers/localhost/zones", create)
    res.check(status == 409, "the same POST again: 409 Conflict", "  %s %s" % (status, body))
    status, body = api.json("POST", "/api/v1/servers/localhost/zones", dict(create, name="nodot.org"))
    res.check(status == 422 and "not canonical" in str(body), "a name without its dot: 422 not canonical",
              "  %s %s" % (status, body))
    status, body = api.json("POST", "/api/v1/servers/localhost/zones", dict(create, name="sec.org.", kind="Slave"))
    res.check(status == 422, "kind Slave: 422 (apexd's API creates primary zones)", "  %s %s" % (status, body))
    status, body = api.json("GET", "/api/v1/servers/localhost/zones?zone=example.org.")
    res.check(status == 200 and [z["name"] for z in body] == ["example.org."] and "rrsets" not in body[0],
              "GET zones?zone=example.org.: that zone alone, without rrsets", "  %s %s" % (status, body))
    for zid in ("example.org.", "example.org"):
        status, body = api.json("GET", "/api/v1/servers/localhost/zones/" + zid)
        res.check(status == 200 and body.get("name") == "example.org." and "rrsets" in body,
                  "GET zones/%s finds the zone, with rrsets" % zid, "  %s %s" % (status, body))
    status, body = api.json("GET", "/api/v1/servers/localhost/zones/example.org.?rrsets=false")
    res.check(status == 200 and "rrsets" not in body, "?rrsets=false leaves rrsets out", "  %s %s" % (status, body))


def patch(api, zone, rrsets):
    return api.json("PATCH", "/api/v1/servers/localhost/zones/" + zone, {"rrsets": rrsets})


def check_patch(res, api, port):
    before = soa_serial(port, "example.org.")
    # docs/http-api/zone.rst, "Creating new RRset"
    status, body = patch(api, "example.org.", [{"name": "test.example.org.", "type": "A", "ttl": 86400,
                                                "changetype": "REPLACE",
                                                "records": [{"content": "192.0.5.4", "disabled": False}]}])
    res.check(status == 204 and body is None, "PATCH REPLACE (the docs' example): 204, no body",
              "  %s %s" % (status, body))
    res.check(addresses(port, "test.example.org.") == ["192.0.5.4"], "the new A is served",
              "  %s" % addresses(port, "test.example.org."))
    after = soa_serial(port, "example.org.")
    res.check(before is not None and after == before + 1, "the serial moved by one (serial = \"increment\")",
              "  %s -> %s" % (before, after))
    # lego's pdns provider, verbatim shape (per-record name/type/ttl and rrset kind are ignored)
    status, body = patch(api, "example.org.", [{"name": "_acme-challenge.example.org.", "type": "TXT", "kind": "Master",
                                                "changetype": "REPLACE", "ttl": 60, "records": [
                                                    {"content": "\"tok-1\"", "disabled": False,
                                                     "name": "_acme-challenge.example.org.", "type": "TXT", "ttl": 60},
                                                    {"content": "\"tok-2\"", "disabled": False,
                                                     "name": "_acme-challenge.example.org.", "type": "TXT", "ttl": 60}]}])
    res.check(status == 204 and addresses(port, "_acme-challenge.example.org.", "TXT") == ['"tok-1"', '"tok-2"'],
              "PATCH as lego sends it: 204, both TXT served",
              "  %s %s %s" % (status, body, addresses(port, "_acme-challenge.example.org.", "TXT")))
    status, body = patch(api, "example.org.", [{"name": "_acme-challenge.example.org.", "type": "TXT", "kind": "",
                                                "changetype": "DELETE"}])
    r = query(port, "_acme-challenge.example.org.", "TXT")
    res.check(status == 204 and r is not None and r.rcode() == dns.rcode.NXDOMAIN,
              "PATCH DELETE (as lego's cleanup): 204, then NXDOMAIN", "  %s %s %s" % (status, body, r))
    # octoDNS: DELETEs before REPLACEs in one request; a CNAME where the A was
    status, body = patch(api, "example.org.", [
        {"name": "test.example.org.", "type": "A", "changetype": "delete", "ttl": 86400,
         "records": [{"content": "192.0.5.4", "disabled": False}]},
        {"name": "test.example.org.", "type": "CNAME", "changetype": "replace", "ttl": 300,
         "records": [{"content": "ns1.example.org.", "disabled": False}]}])
    r = query(port, "test.example.org.", "CNAME")
    res.check(status == 204 and r is not None and [rd.to_text() for s in r.answer for rd in s] == ["ns1.example.org."],
              "DELETE A then REPLACE CNAME at one name in one PATCH (lowercase changetypes): 204, the CNAME served",
              "  %s %s %s" % (status, body, r))


def check_errors(res, api, port):
    status, body = api.json("GET", "/api/v1/servers/localhost/zones/nowhere.test.")
    res.check(status == 404 and isinstance(body, dict) and "error" in body, "GET an unknown zone: 404 {\"error\": ...}",
              "  %s %s" % (status, body))
    status, body = patch(api, "nowhere.test.", [{"name": "a.nowhere.test.", "type": "A", "ttl": 60,
                                                 "changetype": "REPLACE", "records": [{"content": "192.0.2.1"}]}])
    res.check(status == 404, "PATCH an unknown zone: 404", "  %s %s" % (status, body))
    serial = soa_serial(port, "example.org.")
    cases = [
        ([{"name": "bad.example.org.", "type": "A", "ttl": 60, "changetype": "REPLACE",
           "records": [{"content": "192.0.2.300", "disabled": False}]}], "bad.example.org./A '192.0.2.300'",
         "an A with content 192.0.2.300"),
        ([{"name": "www.other.org.", "type": "A", "ttl": 60, "changetype": "REPLACE",
           "records": [{"content": "192.0.2.1", "disabled": False}]}], "Name is out of zone", "a name out of zone"),
        ([{"name": "ns1.example.org.", "type": "A", "ttl": 60, "changetype": "REPLACE",
           "records": [{"content": "192.0.2.1", "disabled": False}]},
          {"name": "ns1.example.org.", "type": "CNAME", "ttl": 60, "changetype": "REPLACE",
           "records": [{"content": "example.net.", "disabled": False}]}],
         "Conflicts with pre-existing RRset", "a CNAME beside an A"),
        ([{"name": "x.example.org.", "type": "A", "ttl": 60, "changetype": "EXTEND",
           "records": [{"content": "192.0.2.1", "disabled": False}]}], "Changetype", "changetype EXTEND"),
        ([{"name": "x.example.org.", "type": "A", "changetype": "REPLACE",
           "records": [{"content": "192.0.2.1", "disabled": False}]}], "ttl", "a REPLACE without ttl"),
    ]
    for rrsets, words, what in cases:
        status, body = patch(api, "example.org.", rrsets)
        res.check(status == 422 and isinstance(body, dict) and words in body.get("error", ""),
                  "PATCH with %s: 422 naming it (%r)" % (what, words), "  %s %s" % (status, body))
    status, _, body = api.call("PATCH", "/api/v1/servers/localhost/zones/example.org.", raw=b"{not json")
    res.check(status == 400, "PATCH with invalid JSON: 400", "  %s %s" % (status, body))
    res.check(soa_serial(port, "example.org.") == serial and addresses(port, "ns1.example.org.") == [],
              "failed PATCHes changed nothing (serial %s, ns1.example.org. has no A)" % serial,
              "  serial %s, A %s" % (soa_serial(port, "example.org."), addresses(port, "ns1.example.org.")))


def check_flatten_proxied(res, api, port):
    status, body = patch(api, "example.org.", [
        {"name": "origin.example.org.", "type": "A", "ttl": 120, "changetype": "REPLACE",
         "records": [{"content": "192.0.2.50", "disabled": False}]},
        {"name": "example.org.", "type": "ALIAS", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "origin.example.org.", "disabled": False}]}])
    res.check(status == 204 and addresses(port, "example.org.") == ["192.0.2.50"],
              "an ALIAS at the apex: 204, A at the apex answers the target's address (flattened)",
              "  %s %s %s" % (status, body, addresses(port, "example.org.")))
    r = query(port, "example.org.", "CNAME")
    res.check(r is not None and not any(s.rdtype == dns.rdatatype.CNAME for s in r.answer),
              "a CNAME query at the apex never shows the target", "  %s" % r)
    status, body = api.json("GET", "/api/v1/servers/localhost/zones/example.org.")
    alias = rrset_of(body, "example.org.", "ALIAS")
    res.check(alias is not None and alias["records"][0]["content"] == "origin.example.org.",
              "GET shows the apex as an ALIAS rrset", "  %s" % (body.get("rrsets") if isinstance(body, dict) else body))
    status, body = patch(api, "example.org.", [
        {"name": "shop.example.org.", "type": "A", "ttl": 120, "changetype": "REPLACE",
         "records": [{"content": "192.0.2.60", "disabled": False}],
         "comments": [{"content": "cf_tags=cf-proxied:true", "account": ""}]}])
    res.check(status == 204 and addresses(port, "shop.example.org.") == ["203.0.113.7"],
              "an A with the comment cf_tags=cf-proxied:true answers the [proxy] address",
              "  %s %s %s" % (status, body, addresses(port, "shop.example.org.")))
    status, body = api.json("GET", "/api/v1/servers/localhost/zones/example.org.")
    shop = rrset_of(body, "shop.example.org.", "A")
    res.check(shop is not None and shop.get("proxied") is True and shop["records"][0]["content"] == "192.0.2.60"
              and any("cf-proxied:true" in c["content"] for c in shop.get("comments", [])),
              "GET shows it proxied (\"proxied\": true, the cf_tags comment, the origin's content)", "  %s" % shop)
    status, body = patch(api, "example.org.", [{"name": "shop.example.org.", "type": "A", "changetype": "REPLACE",
                                                "proxied": False}])
    res.check(status == 204 and addresses(port, "shop.example.org.") == ["192.0.2.60"],
              "\"proxied\": false alone: the origin's address again", "  %s %s %s" % (
                  status, body, addresses(port, "shop.example.org.")))
    status, body = patch(api, "file.test.", [{"name": "new.file.test.", "type": "TXT", "ttl": 60,
                                              "changetype": "REPLACE", "records": [{"content": "\"hi\""}]}])
    res.check(status == 204 and addresses(port, "www.file.test.") == ["203.0.113.7"]
              and addresses(port, "new.file.test.", "TXT") == ['"hi"'],
              "a PATCH of the file zone: 204, served, and its cf_tags-proxied www still answers the edge",
              "  %s %s %s" % (status, body, addresses(port, "www.file.test.")))
    status, body = api.json("GET", "/api/v1/servers/localhost/zones/file.test.")
    www = rrset_of(body, "www.file.test.", "A")
    res.check(www is not None and www.get("proxied") is True, "GET shows the file's proxied www as proxied",
              "  %s" % www)


def check_transfer_notify_export(res, api, port):
    status, body = api.json("GET", "/api/v1/servers/localhost/zones/example.org.")
    shown = set()
    for s in body.get("rrsets", []):
        for r in s["records"]:
            shown.add((s["name"], s["type"], r["content"]))
    try:
        z = dns.zone.from_xfr(dns.query.xfr(HOST, "example.org.", port=port, timeout=5, lifetime=10))
        names = {(n.to_text() + ".example.org." if n.to_text() != "@" else "example.org.", dns.rdatatype.to_text(rds.rdtype))
                 for n, node in z.nodes.items() for rds in node.rdatasets}
    except Exception as e:  # noqa: BLE001 - reported
        names = None
        res.fail("AXFR of the API-created zone (zone_defaults' allow_transfer)", "  %s" % e)
    if names is not None:
        want = {(n, "A" if t == "ALIAS" else t) for n, t, _ in shown}
        res.check(names == want, "AXFR of the API-created zone: the names and types GET shows (the ALIAS as A)",
                  "  missing %s\n  extra %s" % (sorted(want - names), sorted(names - want)))
    status, body = api.json("PUT", "/api/v1/servers/localhost/zones/example.org./notify")
    res.check(status == 200 and body == {"result": "Notification queued"}, "PUT .../notify: 200 Notification queued",
              "  %s %s" % (status, body))
    status, _, text = api.call("GET", "/api/v1/servers/localhost/zones/example.org./export")
    res.check(status == 200 and "IN\tSOA\t" in text and "example.org.\t300\tIN\tCNAME\torigin.example.org." in text,
              "GET .../export: the zone as zone-file text, the apex ALIAS as the CNAME apexd flattens",
              "  %s\n%s" % (status, harness.tail(text, 12)))
    status, _, text = api.call("GET", "/api/v1/servers/localhost/zones/file.test./export")
    res.check(status == 200 and re.search(r"www\.file\.test\.\t300\tIN\tA\t192\.0\.2\.1 ; cf_tags=cf-proxied:true", text),
              "GET .../export of the file zone: its proxied name with its cf_tags comment",
              "  %s\n%s" % (status, harness.tail(text, 12)))


def check_durability(res, api, apexd, binary, conf, port, workdir):
    status, body = patch(api, "example.org.", [{"name": "late.example.org.", "type": "A", "ttl": 60,
                                                "changetype": "REPLACE", "records": [{"content": "192.0.2.99"}]}])
    res.check(status == 204, "a PATCH acknowledged (204)", "  %s %s" % (status, body))
    os.kill(apexd.pid, signal.SIGKILL)
    apexd.popen.wait(timeout=5)
    apexd = harness.start_apexd_config(binary, conf, port, "file.test.", workdir)
    res.check(addresses(port, "late.example.org.") == ["192.0.2.99"] and addresses(port, "example.org.") == ["192.0.2.50"],
              "after SIGKILL and a restart: the acknowledged PATCH and the API-created zone are served",
              "  %s %s" % (addresses(port, "late.example.org."), addresses(port, "example.org.")))
    status, body = api.json("POST", "/api/v1/servers/localhost/zones",
                            {"name": "gone.test.", "kind": "Native", "nameservers": ["ns1.file.test."]})
    res.check(status == 201 and soa_serial(port, "gone.test.") is not None, "another zone created",
              "  %s %s" % (status, body))
    status, body = api.json("DELETE", "/api/v1/servers/localhost/zones/gone.test.")
    r = query(port, "gone.test.", "SOA")
    res.check(status == 204 and r is not None and r.rcode() == dns.rcode.REFUSED,
              "DELETE an API-created zone: 204, then REFUSED", "  %s %s %s" % (status, body, r))
    status, body = api.json("DELETE", "/api/v1/servers/localhost/zones/file.test.")
    res.check(status == 422 and soa_serial(port, "file.test.") is not None,
              "DELETE the config's zone: 422, still served", "  %s %s" % (status, body))
    harness.stop(apexd)
    apexd = harness.start_apexd_config(binary, conf, port, "file.test.", workdir)
    r = query(port, "gone.test.", "SOA")
    res.check(r is not None and r.rcode() == dns.rcode.REFUSED and soa_serial(port, "example.org.") is not None,
              "after a restart: the deleted zone stays gone, example.org. is back",
              "  %s" % r)
    return apexd


def check_compaction(res, api, apexd, binary, conf, port, workdir):
    """105 changes to the file zone: the change log is compacted into the overlay (zone-file
    syntax, cf_tags kept) at 100 entries; the zone file is never written; a SIGKILL and restart
    serve all of it; an edit of the zone file wins over the overlay."""
    zone_file = os.path.join(workdir, "file.test.zone")
    with open(zone_file, "rb") as f:
        original = f.read()
    started = time.monotonic()
    statuses = [patch(api, "file.test.", [{"name": "n%d.file.test." % i, "type": "TXT", "ttl": 60,
                                           "changetype": "REPLACE", "records": [{"content": "\"v%d\"" % i}]}])[0]
                for i in range(105)]
    took = time.monotonic() - started
    print("NOTE 105 PATCHes (each fsync'd before its 204) in %.2f s" % took)
    overlay = os.path.join(workdir, "state", "changes", "file.test.overlay")
    log = os.path.join(workdir, "state", "changes", "file.test.changes")
    text = open(overlay).read() if os.path.exists(overlay) else ""
    res.check(statuses.count(204) == 105 and "event=changes_compacted zone=file.test." in apexd.stderr()
              and "n90.file.test." in text and re.search(r"www\.file\.test\.\t300\tIN\tA\t192\.0\.2\.1 ; cf_tags=cf-proxied:true", text)
              and os.path.getsize(log) < 4096,
              "100 changes compact the change log into state_dir/changes/file.test.overlay (zone-file text, "
              "cf_tags kept; the log cut back)", "  statuses %s\n  log %s bytes\n%s" % (
                  sorted(set(statuses)), os.path.getsize(log) if os.path.exists(log) else None, harness.tail(text, 5)))
    with open(zone_file, "rb") as f:
        res.check(f.read() == original, "the operator's zone file is never written")
    os.kill(apexd.pid, signal.SIGKILL)
    apexd.popen.wait(timeout=5)
    apexd = harness.start_apexd_config(binary, conf, port, "file.test.", workdir)
    served = [addresses(port, "n%d.file.test." % i, "TXT") for i in (0, 50, 99, 104)]
    res.check(served == [['"v0"'], ['"v50"'], ['"v99"'], ['"v104"']] and addresses(port, "www.file.test.") == ["203.0.113.7"]
              and "overlay=yes" in apexd.stderr(),
              "after SIGKILL: the overlay and the changes after it are served, www still proxied (changes_replayed overlay=yes)",
              "  %s %s\n%s" % (served, addresses(port, "www.file.test."), harness.tail(apexd.stderr(), 6)))
    with open(zone_file, "w") as f:
        f.write(FILE_ZONE.replace(" 1 3600", " 500 3600") + "edited A 192.0.2.8\n")
    mark = len(apexd.stderr())
    os.kill(apexd.pid, signal.SIGHUP)
    harness_wait = time.monotonic() + 10
    while time.monotonic() < harness_wait and "event=reload trigger=sighup" not in apexd.stderr()[mark:]:
        time.sleep(POLL)
    res.check(addresses(port, "edited.file.test.") == ["192.0.2.8"] and addresses(port, "n0.file.test.", "TXT") == []
              and not os.path.exists(overlay) and "event=changes_dropped zone=file.test." in apexd.stderr()[mark:],
              "the zone file edited and reloaded wins: the overlay is dropped, the file's data served",
              "  %s\n%s" % (addresses(port, "n0.file.test.", "TXT"), harness.tail(apexd.stderr()[mark:], 6)))
    return apexd


def check_rate_limit(res, api):
    codes = [api.call("GET", "/api/v1/servers/localhost", key="wrong-key-%d-xxxxxxxx" % i)[0] for i in range(12)]
    status, _, body = api.call("GET", "/api/v1/servers/localhost")
    res.check(codes[:9].count(401) == 9 and codes[-1] == 429 and status == 429,
              "after 10 wrong keys from one address: 429, even with the right key",
              "  codes %s, then %s %s" % (codes, status, body))


def body(args, res, workdir):
    binary = harness.require_apexd(args, res)
    if not binary:
        return
    port, cport = harness.distinct_ports(2)
    conf = write_config(workdir, port, cport)
    apexd = harness.start_apexd_config(binary, conf, port, "file.test.", workdir)
    api = Api(cport)
    started = time.monotonic()
    check_keys(res, api)
    check_discovery(res, api)
    check_create(res, api, port)
    check_patch(res, api, port)
    check_errors(res, api, port)
    check_flatten_proxied(res, api, port)
    check_transfer_notify_export(res, api, port)
    apexd = check_durability(res, api, apexd, binary, conf, port, workdir)
    apexd = check_compaction(res, api, apexd, binary, conf, port, workdir)
    check_rate_limit(res, api)
    errors = [l for l in apexd.stderr().splitlines() if " error " in l or "critical" in l]
    res.check(not errors, "apexd logged no error", harness.tail("\n".join(errors)))
    print("NOTE took %.1f s" % (time.monotonic() - started))


if __name__ == "__main__":
    harness.main(body, description=__doc__)
