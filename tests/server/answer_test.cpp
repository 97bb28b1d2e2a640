// The behaviour battery for server/answer and server/query_handler: (qname, qtype) → rcode, flags
// and sections in zone-file syntax, run against zones built from text and from files.
// Semantics: Knot DNS 3.2 with minimal responses.
#include "server/answer.hpp"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/query_handler.hpp"
#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_set.hpp"

using namespace apexd;
using apexd::test::view;
using apexd::test::wire_name;
namespace rcode = wire::rcode;
namespace rrtype = wire::rrtype;

namespace {

// ---- zones ------------------------------------------------------------------------------------

std::string label50(char c) { return std::string(50, c); }

// The DNAME target of yx.example.com.: 4 × 51 + 13 = 217 bytes, so a long qname overflows.
std::string yx_target() {
  return label50('p') + "." + label50('q') + "." + label50('r') + "." + label50('s') + ".example.net.";
}

std::string big_txt(const char* owner, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    std::string s = std::to_string(i) + std::string(48, 'x');
    out += std::string(owner) + " TXT \"" + s.substr(0, 50) + "\"\n";
  }
  return out;
}

std::string example_com_text() {
  std::string t = R"ZONE($ORIGIN example.com.
$TTL 3600
@         SOA   ns1 hostmaster 2024010101 7200 3600 1209600 300
@         NS    ns1
@         NS    ns2
@         MX    10 mail
@         A     192.0.2.1
ns1       A     192.0.2.53
ns2       A     192.0.2.54
ns2       AAAA  2001:db8::54
mail      A     192.0.2.25
mail      AAAA  2001:db8::25
www       A     192.0.2.10
www       TXT   "web"
alias     CNAME www
chain1    CNAME chain2
chain2    CNAME www
outside   CNAME www.example.org.
tother    CNAME ns.other.test.
dangling  CNAME nowhere
loop1     CNAME loop2
loop2     CNAME loop1
c1        CNAME c2
c2        CNAME c3
c3        CNAME c4
c4        CNAME c5
c5        CNAME c6
c6        CNAME c7
c7        CNAME www
a.b.c     A     192.0.2.30
*.wild    A     192.0.2.40
sub.wild  TXT   "sub"
*.cn      CNAME www
*.wl      CNAME x.wl
*.ent     A     192.0.2.41
x.y.ent   A     192.0.2.42
mxwild    MX    10 host.wild
mxout     MX    10 mail.example.net.
_sip._udp SRV   0 5 5060 sip
sip       A     192.0.2.60
deleg     NS    ns.deleg
deleg     NS    ns.elsewhere.example.net.
deleg     DS    12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.deleg  A     192.0.2.70
sub.deleg NS    ns.sub.deleg
nods      NS    ns1
child     NS    ns.child
child     DS    54321 13 2 fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
ns.child  A     192.0.2.80
tochild   CNAME www.child
todeleg   CNAME www.deleg
old       DNAME new
www.new   A     192.0.2.90
ext       DNAME example.net.
tobig     CNAME big
)ZONE";
  t += "yx DNAME " + yx_target() + "\n";
  t += big_txt("big", 12);
  t += big_txt("big2", 20);
  for (int i = 1; i <= 10; ++i) {
    std::string m = "m" + std::to_string(i);
    t += "manymx MX 10 " + m + "\n";
    for (int k = 1; k <= 4; ++k) t += m + " A 192.0.2." + std::to_string(100 + k) + "\n";
  }
  for (int i = 1; i <= 8; ++i) {
    std::string ns = "ns" + std::to_string(i) + ".bigdeleg";
    t += "bigdeleg NS " + ns + "\n";
    for (int k = 1; k <= 4; ++k) {
      t += ns + " A 198.51.100." + std::to_string(10 * i + k) + "\n";
      t += ns + " AAAA 2001:db8:" + std::to_string(i) + "::" + std::to_string(k) + "\n";
    }
  }
  return t;
}

const char* child_text = R"ZONE($ORIGIN child.example.com.
$TTL 600
@   SOA ns.child.example.com. admin.child.example.com. 7 3600 600 86400 60
@   NS  ns
ns  A   192.0.2.80
www A   192.0.2.81
)ZONE";

const char* other_text = R"ZONE($ORIGIN other.test.
@  30 SOA ns admin 1 3600 600 86400 300
@  30 NS ns
ns 30 A 192.0.2.100
)ZONE";

struct ZoneSource {
  std::string origin;
  std::string file;
  std::string text;
};

std::vector<ZoneSource> sources() {
  return {{"example.com.", "example.com.zone", example_com_text()},
          {"child.example.com.", "child.example.com.zone", child_text},
          {"other.test.", "other.test.zone", other_text}};
}

// Every way of building the served zones; each case runs against all of them.
struct ZoneSets {
  test::TempDir dir;
  std::map<std::string, zone::ZoneSet> by_way;

  ZoneSets() {
    std::vector<std::shared_ptr<const zone::Zone>> from_text, from_files;
    for (const ZoneSource& s : sources()) {
      std::string origin = wire_name(s.origin);
      from_text.push_back(zone::compile_zone(view(origin), zone::load_zone_text(s.text, view(origin), s.file), s.file));
      std::string path = dir.write(s.file, s.text);
      from_files.push_back(zone::load_zone(path, view(origin)));
    }
    by_way.emplace("load_zone_text + compile_zone", zone::ZoneSet(std::move(from_text)));
    by_way.emplace("load_zone (files)", zone::ZoneSet(std::move(from_files)));
  }
};

const ZoneSets& zone_sets() {
  static const ZoneSets sets;
  return sets;
}

// ---- queries and checks ---------------------------------------------------------------------

struct Exchange {
  server::HandleResult result;
  std::vector<uint8_t> bytes;  // the response
  test::Decoded decoded;
};

Exchange ask(const zone::ZoneSet& zones, const std::vector<uint8_t>& request,
                  const server::HandlerOptions& opts = {.transport = server::Transport::udp, .max_udp_payload = 1232}) {
  Exchange e;
  std::vector<uint8_t> out(server::max_message_size);
  e.result = server::handle_query(zones, request, out, opts);
  e.bytes.assign(out.begin(), out.begin() + long(e.result.size));
  if (e.result.size > 0) e.decoded = test::decode(e.bytes);
  return e;
}

uint16_t type_of(const std::string& text) {
  auto t = wire::type_from_text(text);
  REQUIRE(t.has_value());
  return *t;
}

/// One question and the whole expected response.
struct Case {
  std::string qname;
  std::string qtype;
  bool edns = false;
  uint16_t rcode = rcode::NOERROR;
  bool aa = true;
  bool tc = false;
  std::vector<std::string> answer, authority, additional;
};

void check_case(const zone::ZoneSet& zones, const Case& c) {
  CAPTURE(c.qname);
  CAPTURE(c.qtype);
  CAPTURE(c.edns);
  test::QueryOptions q{.rd = true, .edns = c.edns};
  Exchange e = ask(zones, test::make_query(c.qname, type_of(c.qtype), q));
  REQUIRE(e.result.size > 0);
  REQUIRE(e.decoded.ok);
  const test::Decoded& d = e.decoded;
  CHECK(wire::rcode_to_text(d.full_rcode()) == wire::rcode_to_text(c.rcode));
  CHECK(e.result.rcode == c.rcode);
  CHECK(d.aa == c.aa);
  CHECK(d.tc == c.tc);
  CHECK(e.result.truncated == c.tc);
  CHECK(d.qr);
  CHECK(d.edns == c.edns);
  CHECK(d.answer == test::normalize_rrs(c.answer));
  CHECK(d.authority == test::normalize_rrs(c.authority));
  CHECK(d.additional == test::normalize_rrs(c.additional));
  CHECK(e.bytes.size() <= (c.edns ? 1232u : 512u));
}

void run_cases(const std::vector<Case>& cases) {
  for (const auto& [way, zones] : zone_sets().by_way) {
    CAPTURE(way);
    for (const Case& c : cases) check_case(zones, c);
  }
}

// ---- expected records used by many cases --------------------------------------------------------

const std::string soa =
    "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300";
const std::string child_soa =
    "child.example.com. 60 IN SOA ns.child.example.com. admin.child.example.com. 7 3600 600 86400 60";
const std::vector<std::string> deleg_ns = {"deleg.example.com. 3600 IN NS ns.deleg.example.com.",
                                           "deleg.example.com. 3600 IN NS ns.elsewhere.example.net."};
const std::string deleg_glue = "ns.deleg.example.com. 3600 IN A 192.0.2.70";
const std::string deleg_ds =
    "deleg.example.com. 3600 IN DS 12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string www_a = "www.example.com. 3600 IN A 192.0.2.10";

// Texts grouped by (owner, type): how many RRs of each RRset made it into a section.
std::map<std::string, size_t> rrset_sizes(const std::vector<std::string>& section) {
  std::map<std::string, size_t> out;
  for (const std::string& rr : section) {
    // ldns text: owner \t TTL \t class \t type \t rdata
    size_t a = rr.find('\t'), b = rr.find('\t', a + 1), c = rr.find('\t', b + 1), d = rr.find('\t', c + 1);
    ++out[rr.substr(0, a) + " " + rr.substr(c + 1, d - c - 1)];
  }
  return out;
}

}  // namespace

TEST_CASE("answers: exact matches, NODATA and NXDOMAIN") {
  run_cases({
      {.qname = "www.example.com.", .qtype = "A", .answer = {www_a}},
      {.qname = "WWW.Example.COM.", .qtype = "A", .answer = {www_a}},
      {.qname = "www.example.com.", .qtype = "TXT", .answer = {"www.example.com. 3600 IN TXT \"web\""}},
      {.qname = "example.com.", .qtype = "A", .answer = {"example.com. 3600 IN A 192.0.2.1"}},
      {.qname = "example.com.",
       .qtype = "SOA",
       .answer = {"example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"}},
      // RFC 2308 §3: the SOA of a negative answer has TTL min(SOA TTL, MINIMUM) = min(3600, 300).
      {.qname = "www.example.com.", .qtype = "AAAA", .authority = {soa}},
      {.qname = "www.example.com.", .qtype = "RRSIG", .authority = {soa}},
      {.qname = "nope.example.com.", .qtype = "A", .rcode = rcode::NXDOMAIN, .authority = {soa}},
      {.qname = "deep.nope.example.com.", .qtype = "A", .rcode = rcode::NXDOMAIN, .authority = {soa}},
      // Empty non-terminals exist (RFC 8020): NODATA, not NXDOMAIN.
      {.qname = "b.c.example.com.", .qtype = "A", .authority = {soa}},
      {.qname = "c.example.com.", .qtype = "A", .authority = {soa}},
      {.qname = "a.b.c.example.com.", .qtype = "A", .answer = {"a.b.c.example.com. 3600 IN A 192.0.2.30"}},
      {.qname = "x.a.b.c.example.com.", .qtype = "A", .rcode = rcode::NXDOMAIN, .authority = {soa}},
      // Here SOA TTL 30 < MINIMUM 300: the TTL stays 30.
      {.qname = "nope.other.test.",
       .qtype = "A",
       .rcode = rcode::NXDOMAIN,
       .authority = {"other.test. 30 IN SOA ns.other.test. admin.other.test. 1 3600 600 86400 300"}},
  });
}

TEST_CASE("answers: additional A/AAAA for NS, MX and SRV targets") {
  run_cases({
      {.qname = "example.com.",
       .qtype = "NS",
       .answer = {"example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com."},
       .additional = {"ns1.example.com. 3600 IN A 192.0.2.53", "ns2.example.com. 3600 IN A 192.0.2.54",
                      "ns2.example.com. 3600 IN AAAA 2001:db8::54"}},
      {.qname = "example.com.",
       .qtype = "MX",
       .answer = {"example.com. 3600 IN MX 10 mail.example.com."},
       .additional = {"mail.example.com. 3600 IN A 192.0.2.25", "mail.example.com. 3600 IN AAAA 2001:db8::25"}},
      // A target covered by a wildcard gets the synthesized address under the target's name.
      {.qname = "mxwild.example.com.",
       .qtype = "MX",
       .answer = {"mxwild.example.com. 3600 IN MX 10 host.wild.example.com."},
       .additional = {"host.wild.example.com. 3600 IN A 192.0.2.40"}},
      {.qname = "mxout.example.com.", .qtype = "MX", .answer = {"mxout.example.com. 3600 IN MX 10 mail.example.net."}},
      {.qname = "_sip._udp.example.com.",
       .qtype = "SRV",
       .answer = {"_sip._udp.example.com. 3600 IN SRV 0 5 5060 sip.example.com."},
       .additional = {"sip.example.com. 3600 IN A 192.0.2.60"}},
  });
}

TEST_CASE("answers: CNAME chains inside the zone (RFC 1034 §4.3.2 step 3a)") {
  run_cases({
      {.qname = "alias.example.com.", .qtype = "A", .answer = {"alias.example.com. 3600 IN CNAME www.example.com.", www_a}},
      {.qname = "chain1.example.com.",
       .qtype = "A",
       .answer = {"chain1.example.com. 3600 IN CNAME chain2.example.com.",
                  "chain2.example.com. 3600 IN CNAME www.example.com.", www_a}},
      // The target has no AAAA: the chain ends in NODATA.
      {.qname = "alias.example.com.",
       .qtype = "AAAA",
       .answer = {"alias.example.com. 3600 IN CNAME www.example.com."},
       .authority = {soa}},
      // The target does not exist: NXDOMAIN describes the last name (RFC 6604).
      {.qname = "dangling.example.com.",
       .qtype = "A",
       .rcode = rcode::NXDOMAIN,
       .answer = {"dangling.example.com. 3600 IN CNAME nowhere.example.com."},
       .authority = {soa}},
      // A CNAME query, or ANY, at a CNAME is answered with the CNAME alone.
      {.qname = "alias.example.com.", .qtype = "CNAME", .answer = {"alias.example.com. 3600 IN CNAME www.example.com."}},
      {.qname = "alias.example.com.", .qtype = "ANY", .answer = {"alias.example.com. 3600 IN CNAME www.example.com."}},
      // Out of zone: the chain stops, NOERROR, still authoritative. Other served zones are not
      // consulted either (other.test. is ours, but a different zone).
      {.qname = "outside.example.com.", .qtype = "A", .answer = {"outside.example.com. 3600 IN CNAME www.example.org."}},
      {.qname = "tother.example.com.", .qtype = "A", .answer = {"tother.example.com. 3600 IN CNAME ns.other.test."}},
      // A loop stops once each CNAME is in the answer.
      {.qname = "loop1.example.com.",
       .qtype = "A",
       .answer = {"loop1.example.com. 3600 IN CNAME loop2.example.com.",
                  "loop2.example.com. 3600 IN CNAME loop1.example.com."}},
      // Knot's CNAME_CHAIN_MAX = 5 links.
      {.qname = "c1.example.com.",
       .qtype = "A",
       .answer = {"c1.example.com. 3600 IN CNAME c2.example.com.", "c2.example.com. 3600 IN CNAME c3.example.com.",
                  "c3.example.com. 3600 IN CNAME c4.example.com.", "c4.example.com. 3600 IN CNAME c5.example.com.",
                  "c5.example.com. 3600 IN CNAME c6.example.com."}},
      {.qname = "c3.example.com.",
       .qtype = "A",
       .answer = {"c3.example.com. 3600 IN CNAME c4.example.com.", "c4.example.com. 3600 IN CNAME c5.example.com.",
                  "c5.example.com. 3600 IN CNAME c6.example.com.", "c6.example.com. 3600 IN CNAME c7.example.com.",
                  "c7.example.com. 3600 IN CNAME www.example.com.", www_a}},
  });
}

TEST_CASE("answers: wildcards (RFC 4592)") {
  run_cases({
      {.qname = "foo.wild.example.com.", .qtype = "A", .answer = {"foo.wild.example.com. 3600 IN A 192.0.2.40"}},
      {.qname = "a.b.wild.example.com.", .qtype = "A", .answer = {"a.b.wild.example.com. 3600 IN A 192.0.2.40"}},
      {.qname = "FOO.wild.example.com.", .qtype = "A", .answer = {"foo.wild.example.com. 3600 IN A 192.0.2.40"}},
      {.qname = "foo.wild.example.com.", .qtype = "AAAA", .authority = {soa}},
      {.qname = "*.wild.example.com.", .qtype = "A", .answer = {"*.wild.example.com. 3600 IN A 192.0.2.40"}},
      // An existing name is never covered by the wildcard, nor are names below it (§2.2.1).
      {.qname = "sub.wild.example.com.", .qtype = "A", .authority = {soa}},
      {.qname = "x.sub.wild.example.com.", .qtype = "A", .rcode = rcode::NXDOMAIN, .authority = {soa}},
      // The wild label's parent is an empty non-terminal: NODATA.
      {.qname = "wild.example.com.", .qtype = "A", .authority = {soa}},
      // Wildcard CNAME: synthesized under the qname, then followed.
      {.qname = "foo.cn.example.com.",
       .qtype = "A",
       .answer = {"foo.cn.example.com. 3600 IN CNAME www.example.com.", www_a}},
      // A wildcard CNAME pointing back under itself stops after visiting the wildcard twice.
      {.qname = "a.wl.example.com.",
       .qtype = "A",
       .answer = {"a.wl.example.com. 3600 IN CNAME x.wl.example.com.", "x.wl.example.com. 3600 IN CNAME x.wl.example.com."}},
      // An empty non-terminal blocks the wildcard above it (§2.2.2): y.ent exists (ENT), so
      // names below it have closest encloser y.ent, which has no `*` child.
      {.qname = "q.ent.example.com.", .qtype = "A", .answer = {"q.ent.example.com. 3600 IN A 192.0.2.41"}},
      {.qname = "y.ent.example.com.", .qtype = "A", .authority = {soa}},
      {.qname = "z.y.ent.example.com.", .qtype = "A", .rcode = rcode::NXDOMAIN, .authority = {soa}},
      {.qname = "x.y.ent.example.com.", .qtype = "A", .answer = {"x.y.ent.example.com. 3600 IN A 192.0.2.42"}},
  });
}

TEST_CASE("answers: referrals, glue and DS at the cut") {
  run_cases({
      // RFC 1034 §4.3.2 step 3b: not authoritative, NS of the cut in authority, glue in additional.
      {.qname = "deleg.example.com.", .qtype = "A", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      {.qname = "deleg.example.com.", .qtype = "NS", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      {.qname = "www.deleg.example.com.", .qtype = "A", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      {.qname = "a.b.deleg.example.com.", .qtype = "MX", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      {.qname = "www.deleg.example.com.", .qtype = "DS", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      // Glue is not authoritative data: asking for it directly is a referral too.
      {.qname = "ns.deleg.example.com.", .qtype = "A", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      // DS lives on the parent side (RFC 4035 §2.4): answered here, authoritatively.
      {.qname = "deleg.example.com.", .qtype = "DS", .answer = {deleg_ds}},
      {.qname = "nods.example.com.", .qtype = "DS", .authority = {soa}},
      // A cut whose name server is authoritative data of the parent: its address still helps.
      {.qname = "nods.example.com.",
       .qtype = "A",
       .aa = false,
       .authority = {"nods.example.com. 3600 IN NS ns1.example.com."},
       .additional = {"ns1.example.com. 3600 IN A 192.0.2.53"}},
      // A CNAME into a delegation: AA is decided by the first step (Knot), then the referral.
      {.qname = "todeleg.example.com.",
       .qtype = "A",
       .answer = {"todeleg.example.com. 3600 IN CNAME www.deleg.example.com."},
       .authority = deleg_ns,
       .additional = {deleg_glue}},
  });
}

TEST_CASE("answers: occluded NS below a cut still refers to the topmost cut") {
  run_cases({
      {.qname = "sub.deleg.example.com.", .qtype = "A", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      {.qname = "sub.deleg.example.com.", .qtype = "DS", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
      {.qname = "x.sub.deleg.example.com.", .qtype = "A", .aa = false, .authority = deleg_ns, .additional = {deleg_glue}},
  });
}

TEST_CASE("answers: parent and child zones") {
  run_cases({
      // The child zone answers its own names (longest match).
      {.qname = "www.child.example.com.", .qtype = "A", .answer = {"www.child.example.com. 600 IN A 192.0.2.81"}},
      {.qname = "child.example.com.",
       .qtype = "NS",
       .answer = {"child.example.com. 600 IN NS ns.child.example.com."},
       .additional = {"ns.child.example.com. 600 IN A 192.0.2.80"}},
      {.qname = "child.example.com.",
       .qtype = "SOA",
       .answer = {"child.example.com. 600 IN SOA ns.child.example.com. admin.child.example.com. 7 3600 600 86400 60"}},
      {.qname = "nope.child.example.com.", .qtype = "A", .rcode = rcode::NXDOMAIN, .authority = {child_soa}},
      // DS for the child's apex comes from the parent (RFC 4035 §3.1.4.1).
      {.qname = "child.example.com.",
       .qtype = "DS",
       .answer = {"child.example.com. 3600 IN DS 54321 13 2 "
                  "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"}},
      // DS below the child's apex belongs to the child.
      {.qname = "www.child.example.com.", .qtype = "DS", .authority = {child_soa}},
      // A CNAME in the parent into the child's names follows the parent's own delegation.
      {.qname = "tochild.example.com.",
       .qtype = "A",
       .answer = {"tochild.example.com. 3600 IN CNAME www.child.example.com."},
       .authority = {"child.example.com. 3600 IN NS ns.child.example.com."},
       .additional = {"ns.child.example.com. 3600 IN A 192.0.2.80"}},
      // Outside every zone: REFUSED, nothing else (Knot).
      {.qname = "www.example.org.", .qtype = "A", .rcode = rcode::REFUSED, .aa = false},
      {.qname = "com.", .qtype = "NS", .rcode = rcode::REFUSED, .aa = false},
      {.qname = ".", .qtype = "NS", .rcode = rcode::REFUSED, .aa = false},
      {.qname = "test.", .qtype = "DS", .rcode = rcode::REFUSED, .aa = false},
  });
}

TEST_CASE("answers: DNAME (RFC 6672)") {
  run_cases({
      {.qname = "www.old.example.com.",
       .qtype = "A",
       .answer = {"old.example.com. 3600 IN DNAME new.example.com.",
                  "www.old.example.com. 3600 IN CNAME www.new.example.com.",
                  "www.new.example.com. 3600 IN A 192.0.2.90"}},
      {.qname = "nope.old.example.com.",
       .qtype = "A",
       .rcode = rcode::NXDOMAIN,
       .answer = {"old.example.com. 3600 IN DNAME new.example.com.",
                  "nope.old.example.com. 3600 IN CNAME nope.new.example.com."},
       .authority = {soa}},
      // The DNAME owner itself is not redirected.
      {.qname = "old.example.com.", .qtype = "DNAME", .answer = {"old.example.com. 3600 IN DNAME new.example.com."}},
      {.qname = "old.example.com.", .qtype = "A", .authority = {soa}},
      // Out of zone: DNAME and the synthesized CNAME, then stop.
      {.qname = "a.b.ext.example.com.",
       .qtype = "A",
       .answer = {"ext.example.com. 3600 IN DNAME example.net.", "a.b.ext.example.com. 3600 IN CNAME a.b.example.net."}},
      // The synthesized CNAME answers a CNAME query.
      {.qname = "www.old.example.com.",
       .qtype = "CNAME",
       .answer = {"old.example.com. 3600 IN DNAME new.example.com.",
                  "www.old.example.com. 3600 IN CNAME www.new.example.com."}},
      // §2.2: a substitution longer than 255 bytes is YXDOMAIN, with the DNAME.
      {.qname = label50('a') + "." + label50('b') + ".yx.example.com.",
       .qtype = "A",
       .rcode = rcode::YXDOMAIN,
       .answer = {"yx.example.com. 3600 IN DNAME " + yx_target()}},
      {.qname = "a.yx.example.com.",
       .qtype = "A",
       .answer = {"yx.example.com. 3600 IN DNAME " + yx_target(), "a.yx.example.com. 3600 IN CNAME a." + yx_target()}},
  });
}

TEST_CASE("answers: ANY gets exactly one RRset (RFC 8482 §4.1)") {
  for (const auto& [way, zones] : zone_sets().by_way) {
    CAPTURE(way);
    struct Case {
      std::string qname;
      std::vector<std::string> one_of;  // the answer is exactly one of these RRsets
    };
    const std::vector<Case> cases = {
        {"www.example.com.", {www_a, "www.example.com. 3600 IN TXT \"web\""}},
        {"mail.example.com.", {"mail.example.com. 3600 IN A 192.0.2.25", "mail.example.com. 3600 IN AAAA 2001:db8::25"}},
        {"example.com.",
         {"example.com. 3600 IN A 192.0.2.1", "example.com. 3600 IN NS ns1.example.com.",
          "example.com. 3600 IN NS ns2.example.com.", "example.com. 3600 IN MX 10 mail.example.com.",
          "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"}},
    };
    for (const Case& c : cases) {
      CAPTURE(c.qname);
      Exchange e = ask(zones, test::make_query(c.qname, rrtype::ANY));
      REQUIRE(e.decoded.ok);
      CHECK(e.decoded.rcode == rcode::NOERROR);
      CHECK(e.decoded.aa);
      auto sizes = rrset_sizes(e.decoded.answer);
      REQUIRE(sizes.size() == 1);
      // The one RRset is whole: every RR of it that the zone has.
      std::vector<std::string> expected = test::normalize_rrs(c.one_of);
      std::vector<std::string> matching;
      for (const std::string& rr : expected)
        if (rrset_sizes({rr}).begin()->first == sizes.begin()->first) matching.push_back(rr);
      CHECK_FALSE(matching.empty());
      CHECK(e.decoded.answer == matching);
    }
    // ANY at an empty non-terminal or a missing name.
    Exchange ent = ask(zones, test::make_query("c.example.com.", rrtype::ANY));
    CHECK(ent.decoded.answer.empty());
    CHECK(ent.decoded.authority == test::normalize_rrs({soa}));
    Exchange nx = ask(zones, test::make_query("nope.example.com.", rrtype::ANY));
    CHECK(nx.decoded.rcode == rcode::NXDOMAIN);
  }
}

TEST_CASE("answers: truncation keeps whole RRsets only") {
  run_cases({
      // No EDNS: 512 bytes (RFC 1035 §4.2.1). 12 TXT of ~63 bytes do not fit: TC, empty answer.
      {.qname = "big.example.com.", .qtype = "TXT", .tc = true},
      {.qname = "tobig.example.com.", .qtype = "TXT", .tc = true, .answer = {"tobig.example.com. 3600 IN CNAME big.example.com."}},
      // The NODATA SOA still fits.
      {.qname = "big.example.com.", .qtype = "A", .authority = {soa}},
  });
  for (const auto& [way, zones] : zone_sets().by_way) {
    CAPTURE(way);
    SUBCASE("with EDNS 1232 the same answers fit") {
      Exchange e = ask(zones, test::make_query("tobig.example.com.", rrtype::TXT, {.edns = true}));
      CHECK_FALSE(e.decoded.tc);
      CHECK(e.decoded.answer.size() == 13);
      CHECK(e.bytes.size() <= 1232);
    }
    SUBCASE("additional records that do not fit are left out without TC") {
      Exchange e = ask(zones, test::make_query("manymx.example.com.", rrtype::MX));
      REQUIRE(e.decoded.ok);
      CHECK_FALSE(e.decoded.tc);
      CHECK(e.decoded.answer.size() == 10);
      CHECK(e.bytes.size() <= 512);
      auto sizes = rrset_sizes(e.decoded.additional);
      CHECK_FALSE(sizes.empty());
      CHECK(sizes.size() < 10);
      for (const auto& [rrset, n] : sizes) {
        CAPTURE(rrset);
        CHECK(n == 4);
      }
    }
    SUBCASE("glue below the cut that does not fit sets TC (RFC 9471 §3)") {
      Exchange e = ask(zones, test::make_query("www.bigdeleg.example.com.", rrtype::A));
      REQUIRE(e.decoded.ok);
      CHECK(e.decoded.tc);
      CHECK_FALSE(e.decoded.aa);
      CHECK(e.decoded.answer.empty());
      CHECK(e.decoded.authority.size() == 8);
      CHECK(e.bytes.size() <= 512);
      for (const auto& [rrset, n] : rrset_sizes(e.decoded.additional)) {
        CAPTURE(rrset);
        CHECK(n == 4);
      }
    }
    SUBCASE("the client's EDNS payload is honoured, floored at 512 and capped by ours") {
      struct Case {
        std::string what;
        uint16_t payload;
        const char* qname;
        size_t limit;
        bool tc;
      };
      const std::vector<Case> cases = {
          {"client 600 < answer", 600, "big.example.com.", 600, true},
          {"client 100 counts as 512", 100, "big.example.com.", 512, true},
          {"client 4096, ours 1232", 4096, "big2.example.com.", 1232, true},
          {"client 4096 fits", 4096, "big.example.com.", 1232, false},
      };
      for (const Case& c : cases) {
        CAPTURE(c.what);
        Exchange e = ask(zones, test::make_query(c.qname, rrtype::TXT, {.edns = true, .payload = c.payload}));
        REQUIRE(e.decoded.ok);
        CHECK(e.decoded.tc == c.tc);
        CHECK(e.bytes.size() <= c.limit);
        CHECK(e.decoded.edns);  // the OPT record always fits: its room is reserved
        if (c.tc) CHECK(e.decoded.answer.empty());
      }
    }
    SUBCASE("TCP is limited by the buffer only") {
      Exchange e = ask(zones, test::make_query("big2.example.com.", rrtype::TXT),
                            {.transport = server::Transport::tcp, .max_udp_payload = 1232});
      CHECK_FALSE(e.decoded.tc);
      CHECK(e.decoded.answer.size() == 20);
      CHECK(e.bytes.size() > 1232);
    }
  }
}

TEST_CASE("IXFR over UDP: our SOA alone, so that the client retries over TCP (RFC 1995 §2)") {
  const zone::ZoneSet& zones = zone_sets().by_way.begin()->second;
  Exchange e = ask(zones, test::make_query("example.com.", rrtype::IXFR, {.edns = true}));
  REQUIRE(e.decoded.ok);
  CHECK(e.result.rcode == rcode::NOERROR);
  CHECK(e.decoded.aa);
  REQUIRE(e.decoded.answer.size() == 1);
  CHECK(e.decoded.answer[0].find("\tSOA\t") != std::string::npos);
  Exchange other = ask(zones, test::make_query("www.example.com.", rrtype::IXFR, {}));  // not a zone apex
  CHECK(other.result.rcode == rcode::NOTAUTH);
  // Over TCP the transport serves transfers itself; one that reaches the query path is refused.
  Exchange tcp = ask(zones, test::make_query("example.com.", rrtype::IXFR, {.edns = true}),
                     {.transport = server::Transport::tcp, .max_udp_payload = 1232});
  CHECK(tcp.result.rcode == rcode::REFUSED);
}

TEST_CASE("request rules: class, EDNS version, transfers, malformed input") {
  const zone::ZoneSet& zones = zone_sets().by_way.begin()->second;
  struct Case {
    std::string what;
    std::string qname;
    uint16_t qtype;
    test::QueryOptions options;
    uint16_t rcode;  // full rcode, extended bits included
  };
  const std::vector<Case> cases = {
      {"class CH", "version.bind.", rrtype::TXT, {.qclass = 3}, rcode::REFUSED},
      {"class CH in a zone of ours", "www.example.com.", rrtype::A, {.qclass = 3, .edns = true}, rcode::REFUSED},
      {"EDNS version 1 → BADVERS (RFC 6891 §6.1.3)", "www.example.com.", rrtype::A, {.edns = true, .version = 1},
       rcode::BADVERS},
      {"AXFR over UDP", "example.com.", rrtype::AXFR, {}, rcode::REFUSED},
      {"outside every zone", "example.org.", rrtype::A, {.edns = true}, rcode::REFUSED},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Exchange e = ask(zones, test::make_query(c.qname, c.qtype, c.options));
    REQUIRE(e.decoded.ok);
    const test::Decoded& d = e.decoded;
    CHECK(d.full_rcode() == c.rcode);
    CHECK(e.result.rcode == c.rcode);
    CHECK_FALSE(d.aa);
    CHECK(d.qr);
    CHECK(d.opcode == c.options.opcode);
    CHECK(d.answer.empty());
    CHECK(d.authority.empty());
    CHECK(d.additional.empty());
    CHECK(d.edns == c.options.edns);
    if (d.edns) CHECK(d.edns_version == 0);
    // The question is echoed.
    CHECK(d.qdcount == 1);
    CHECK(d.qname == c.qname);
    CHECK(d.qtype == c.qtype);
    CHECK(d.qclass == c.options.qclass);
  }
}

TEST_CASE("request rules: an unimplemented opcode gets a bare NOTIMP header") {
  const zone::ZoneSet& zones = zone_sets().by_way.begin()->second;
  struct Case {
    std::string what;
    std::vector<uint8_t> request;
  };
  auto with_flags = [](std::vector<uint8_t> q, uint8_t opcode, bool rd_cd) {
    q[2] = uint8_t((opcode & 0x0F) << 3 | (rd_cd ? 0x01 : 0));
    q[3] = rd_cd ? 0x10 : 0;
    return q;
  };
  std::vector<uint8_t> no_question = with_flags(test::make_query("example.com.", rrtype::SOA), 15, true);
  no_question.resize(12);
  no_question[5] = 0;  // QDCOUNT 0: dig +opcode=15 +header-only
  std::vector<uint8_t> two_questions = with_flags(test::make_query("example.com.", rrtype::SOA), 1, false);
  two_questions[5] = 2;
  const std::vector<Case> cases = {
      {"opcode 2 (STATUS)", with_flags(test::make_query("www.example.com.", rrtype::A), 2, false)},
      {"opcode 4 (NOTIFY), RD and CD set", with_flags(test::make_query("example.com.", rrtype::SOA), 4, true)},
      {"opcode 5 (UPDATE) with EDNS", with_flags(test::make_query("example.com.", rrtype::SOA, {.edns = true}), 5, false)},
      {"opcode 15 without a question", no_question},
      {"opcode 1 with QDCOUNT 2", two_questions},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Exchange e = ask(zones, c.request);
    uint8_t opcode = (c.request[2] >> 3) & 0x0F;
    // ID, QR, the opcode, NOTIMP; RD, CD and every count zero (ISC genreport "opcodeflg").
    const std::vector<uint8_t> want = {c.request[0], c.request[1], uint8_t(0x80 | opcode << 3), rcode::NOTIMP,
                                       0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(e.bytes == want);
    CHECK(e.result.rcode == rcode::NOTIMP);
    CHECK_FALSE(e.result.malformed);
  }
}

TEST_CASE("request rules: malformed requests") {
  const zone::ZoneSet& zones = zone_sets().by_way.begin()->second;
  SUBCASE("a response (QR=1) or a runt is dropped") {
    std::vector<uint8_t> response = test::make_query("www.example.com.", rrtype::A);
    response[2] |= 0x80;
    CHECK(ask(zones, response).result.size == 0);
    CHECK(ask(zones, std::vector<uint8_t>(11, 0)).result.size == 0);
  }
  SUBCASE("an undecodable question gets FORMERR without a question") {
    std::vector<uint8_t> req = test::make_query("www.example.com.", rrtype::A);
    req[5] = 2;  // qdcount 2
    Exchange e = ask(zones, req);
    REQUIRE(e.decoded.ok);
    CHECK(e.decoded.rcode == rcode::FORMERR);
    CHECK(e.decoded.qdcount == 0);
    CHECK(e.decoded.id == 0x2a2a);
    CHECK(e.result.malformed);
    CHECK(e.bytes.size() == 12);
  }
  SUBCASE("a broken OPT gets FORMERR with the question and without OPT") {
    std::vector<uint8_t> req = test::make_query("www.example.com.", rrtype::A, {.edns = true});
    req.push_back(0);  // trailing garbage
    Exchange e = ask(zones, req);
    REQUIRE(e.decoded.ok);
    CHECK(e.decoded.rcode == rcode::FORMERR);
    CHECK(e.decoded.qname == "www.example.com.");
    CHECK_FALSE(e.decoded.edns);
    CHECK(e.decoded.answer.empty());
  }
}

TEST_CASE("header and EDNS of responses") {
  const zone::ZoneSet& zones = zone_sets().by_way.begin()->second;
  SUBCASE("question echoed in the client's letter case; ID and RD copied; RA never set") {
    struct Case {
      std::string qname;
      bool rd;
      uint16_t id;
    };
    for (const Case& c : std::vector<Case>{{"WwW.ExAmPlE.CoM.", true, 1}, {"www.EXAMPLE.com.", false, 0xffff}}) {
      CAPTURE(c.qname);
      Exchange e = ask(zones, test::make_query(c.qname, rrtype::A, {.id = c.id, .rd = c.rd}));
      REQUIRE(e.decoded.ok);
      CHECK(e.decoded.qname == c.qname);
      CHECK(e.decoded.rd == c.rd);
      CHECK(e.decoded.id == c.id);
      CHECK_FALSE(e.decoded.ra);
      CHECK(e.decoded.answer == test::normalize_rrs({www_a}));
    }
  }
  SUBCASE("the response OPT advertises our payload and copies DO") {
    struct Case {
      uint16_t client_payload;
      bool dnssec_ok;
      uint16_t ours;
    };
    for (const Case& c : std::vector<Case>{{4096, true, 1232}, {4096, false, 1232}, {512, true, 1400}, {1232, false, 4096}}) {
      CAPTURE(c.client_payload);
      CAPTURE(c.dnssec_ok);
      CAPTURE(c.ours);
      Exchange e = ask(zones,
                            test::make_query("www.example.com.", rrtype::A,
                                             {.edns = true, .payload = c.client_payload, .dnssec_ok = c.dnssec_ok}),
                            {.transport = server::Transport::udp, .max_udp_payload = c.ours});
      REQUIRE(e.decoded.ok);
      CHECK(e.decoded.edns);
      CHECK(e.decoded.edns_payload == c.ours);
      CHECK(e.decoded.edns_do == c.dnssec_ok);
      CHECK(e.decoded.edns_version == 0);
      CHECK(e.decoded.edns_ext_rcode == 0);
    }
  }
  SUBCASE("BADVERS puts the high rcode bits in the OPT") {
    Exchange e = ask(zones, test::make_query("www.example.com.", rrtype::A, {.edns = true, .version = 1}));
    REQUIRE(e.decoded.ok);
    CHECK(e.decoded.rcode == 0);
    CHECK(e.decoded.edns_ext_rcode == 1);
    CHECK(e.decoded.full_rcode() == rcode::BADVERS);
    CHECK(e.decoded.edns_version == 0);
  }
}
