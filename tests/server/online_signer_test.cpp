// Tests for server/online_signer and the signed answers of server/answer through handle_query:
// NSEC type bitmaps (RFC 4034 §4.1.2), names around a name (RFC 4471), the signing budget, zone
// keys; then (qname, qtype) → sections in zone-file syntax with every RRSIG checked by ldns,
// compact denial (RFC 9824), the signature cache, DO=0 answers byte for byte unsigned, throttling.
#include "server/online_signer.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/dnssec_key.hpp"
#include "crypto/signature_cache.hpp"
#include "server/query_handler.hpp"
#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_set.hpp"

using namespace apexd;
using crypto::DnssecAlgorithm;
using server::TypeBitmap;
using Bytes = std::vector<uint8_t>;
namespace rrtype = wire::rrtype;
namespace rcode = wire::rcode;

namespace {

constexpr uint64_t now = 1796297000;

std::string hex(std::span<const uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// A wire name from labels (any octets), for names text cannot spell conveniently.
Bytes name_of(const std::vector<std::string>& labels) {
  Bytes out;
  for (const std::string& l : labels) {
    out.push_back(uint8_t(l.size()));
    out.insert(out.end(), l.begin(), l.end());
  }
  out.push_back(0);
  return out;
}

Bytes view_bytes(wire::NameView n) { return Bytes(n.begin(), n.end()); }

std::string show(std::span<const uint8_t> n) { return wire::name_to_text(n) + " (" + std::to_string(n.size()) + " bytes)"; }

// ---- ldns as the validator ----------------------------------------------------------------------

ldns_rr* rr_from_wire(const std::string& owner, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata) {
  Bytes w(owner.begin(), owner.end());
  test::put_u16(w, type);
  test::put_u16(w, wire::rrclass::IN);
  test::put_u16(w, uint16_t(ttl >> 16));
  test::put_u16(w, uint16_t(ttl));
  test::put_u16(w, uint16_t(rdata.size()));
  w.insert(w.end(), rdata.begin(), rdata.end());
  ldns_rr* rr = nullptr;
  size_t pos = 0;
  REQUIRE(ldns_wire2rr(&rr, w.data(), w.size(), &pos, LDNS_SECTION_ANSWER) == LDNS_STATUS_OK);
  return rr;
}

// Every RRSIG in a message verified by ldns against the RRset it covers (same section, owner and
// type) and the zone's DNSKEYs, at `now`.
struct LdnsCheck {
  size_t rrsigs = 0;
  std::vector<std::string> errors;
  std::vector<uint16_t> key_tags;  ///< of each RRSIG, in message order
};

LdnsCheck ldns_check(std::span<const uint8_t> msg, const std::string& origin,
                     const std::vector<std::vector<uint8_t>>& dnskeys) {
  LdnsCheck out;
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, msg.data(), msg.size()) == LDNS_STATUS_OK);
  ldns_rr_list* keys = ldns_rr_list_new();
  for (const auto& k : dnskeys) ldns_rr_list_push_rr(keys, rr_from_wire(origin, rrtype::DNSKEY, 3600, k));
  for (ldns_rr_list* section : {ldns_pkt_answer(pkt), ldns_pkt_authority(pkt), ldns_pkt_additional(pkt)}) {
    for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
      ldns_rr* sig = ldns_rr_list_rr(section, i);
      if (ldns_rr_get_type(sig) != LDNS_RR_TYPE_RRSIG) continue;
      ++out.rrsigs;
      out.key_tags.push_back(ldns_rdf2native_int16(ldns_rr_rrsig_keytag(sig)));
      ldns_rr_type covered = ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(sig));
      ldns_rr_list* rrset = ldns_rr_list_new();
      for (size_t k = 0; k < ldns_rr_list_rr_count(section); ++k) {
        ldns_rr* rr = ldns_rr_list_rr(section, k);
        if (ldns_rr_get_type(rr) == covered && ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(sig)) == 0)
          ldns_rr_list_push_rr(rrset, ldns_rr_clone(rr));
      }
      ldns_status st = ldns_verify_rrsig_keylist_time(rrset, sig, keys, time_t(now), nullptr);
      if (st != LDNS_STATUS_OK) {
        ldns_rr* copy = ldns_rr_clone(sig);
        out.errors.push_back(test::rr_to_text(copy, false) + ": " + ldns_get_errorstr_by_id(st));
        ldns_rr_free(copy);
      }
      ldns_rr_list_deep_free(rrset);
    }
  }
  ldns_rr_list_deep_free(keys);
  ldns_pkt_free(pkt);
  return out;
}

// ---- a signed zone ---------------------------------------------------------------------------

const char* zone_text = R"ZONE($ORIGIN example.com.
$TTL 3600
@         SOA   ns1 hostmaster 2024010101 7200 3600 1209600 300
@         NS    ns1
@         NS    ns2
@         MX    10 mail
@         A     192.0.2.1
ns1       A     192.0.2.53
ns2       A     192.0.2.54
mail      A     192.0.2.25
mail      AAAA  2001:db8::25
www       A     192.0.2.10
www       TXT   "web"
Mixed     A     192.0.2.11
alias     CNAME www
*.wild    A     192.0.2.40
deleg     NS    ns.deleg
deleg     DS    12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.deleg  A     192.0.2.70
nods      NS    ns.elsewhere.example.net.
_sip._udp SRV   0 5 5060 www
big       TXT   "0-this-text-is-fifty-characters-long-padding-xxxxx"
big       TXT   "1-this-text-is-fifty-characters-long-padding-xxxxx"
big       TXT   "2-this-text-is-fifty-characters-long-padding-xxxxx"
big       TXT   "3-this-text-is-fifty-characters-long-padding-xxxxx"
big       TXT   "4-this-text-is-fifty-characters-long-padding-xxxxx"
big       TXT   "5-this-text-is-fifty-characters-long-padding-xxxxx"
)ZONE";

std::shared_ptr<const zone::ZoneSet> compile(const char* text, bool dnssec) {
  std::string origin = test::wire_name("example.com.");
  zone::ZoneOptions options;
  options.dnssec = dnssec;
  auto z = zone::compile_zone(test::view(origin), zone::load_zone_text(text, test::view(origin), "example.com.zone"),
                              "example.com.zone", options);
  return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{z});
}

// Keys generated into a temp folder, the signer table, cache and counters one worker would have,
// and the zone compiled signed and unsigned.
struct Signed {
  test::TempDir dir;
  std::string origin = test::wire_name("example.com.");
  server::SignerTable table;
  crypto::SignatureCache cache{1000, 4};
  server::SigningStats stats;
  std::vector<std::vector<uint8_t>> dnskeys;
  std::vector<std::shared_ptr<const crypto::SigningKey>> keys;
  std::shared_ptr<const zone::ZoneSet> signed_zones = compile(zone_text, true);
  std::shared_ptr<const zone::ZoneSet> plain_zones = compile(zone_text, false);

  explicit Signed(std::vector<uint16_t> flags = {257}, DnssecAlgorithm alg = DnssecAlgorithm::ecdsap256sha256) {
    std::string d = dir.path().string();
    for (uint16_t f : flags) (void)crypto::generate_key(d, test::view(origin), alg, f, int64_t(now));
    keys = crypto::read_zone_keys(d, test::view(origin));
    REQUIRE(keys.size() == flags.size());
    server::ZoneKeys zk = server::make_zone_keys(test::view(origin), keys);
    dnskeys = zk.dnskey;
    table.add(std::move(zk));
  }

  server::HandlerOptions options(server::SigningBudget* budget = nullptr, uint64_t at = now) {
    server::HandlerOptions o;
    o.unix_now = at;
    o.signing = {.table = &table, .cache = &cache, .budget = budget, .stats = &stats};
    return o;
  }
};

struct Answer {
  server::HandleResult result;
  Bytes bytes;
  test::Decoded d;
};

Answer ask(const zone::ZoneSet& zones, const std::string& qname, uint16_t qtype, const server::HandlerOptions& opts,
           test::QueryOptions q = {.edns = true, .dnssec_ok = true}) {
  Bytes request = test::make_query(qname, qtype, q);
  Bytes out(65535);
  Answer a;
  a.result = server::handle_query(zones, request, out, opts);
  a.bytes.assign(out.begin(), out.begin() + ptrdiff_t(a.result.size));
  a.d = test::decode(a.bytes);
  REQUIRE(a.d.ok);
  return a;
}

// A section's RRs without the RRSIGs (those are checked by ldns, their bytes vary).
std::vector<std::string> without_rrsigs(const std::vector<std::string>& rrs) {
  std::vector<std::string> out;
  for (const std::string& rr : rrs) {
    std::istringstream in(rr);
    std::string owner, ttl, rclass, type;
    in >> owner >> ttl >> rclass >> type;
    if (type != "RRSIG") out.push_back(rr);
  }
  return out;
}

size_t rrsig_count(const std::vector<std::string>& rrs) { return rrs.size() - without_rrsigs(rrs).size(); }

std::string label_of(char first, size_t fill) { return first + std::string(fill, '\xFF'); }

}  // namespace

// ---- type bitmaps --------------------------------------------------------------------------------

TEST_CASE("online signer TypeBitmap: RFC 4034 §4.3's example and other windows") {
  struct Case {
    const char* what;
    std::vector<uint16_t> add, remove;
    const char* encoded;
  } cases[] = {
      // alfa.example.com. NSEC host.example.com. ( A MX RRSIG NSEC TYPE1234 )
      {"RFC 4034 §4.3", {rrtype::A, rrtype::MX, rrtype::RRSIG, rrtype::NSEC, 1234}, {},
       "0006400100000003041b000000000000000000000000000000000000000000000000000020"},
      {"the same added out of order, twice",
       {1234, rrtype::NSEC, rrtype::A, rrtype::MX, rrtype::RRSIG, rrtype::A, 1234}, {},
       "0006400100000003041b000000000000000000000000000000000000000000000000000020"},
      {"RFC 9824 NXDOMAIN: RRSIG NSEC NXNAME", {rrtype::RRSIG, rrtype::NSEC, server::rrtype_nxname}, {},
       "00110000000000030000000000000000000080"},
      {"type 0 and 255", {0, 255}, {}, "00208000000000000000000000000000000000000000000000000000000000000001"},
      {"CAA in window 1", {rrtype::A, rrtype::CAA}, {}, "0001400101 40"},
      {"type 65535", {65535}, {}, "ff200000000000000000000000000000000000000000000000000000000000000001"},
      {"removed: the DS a referral denies", {rrtype::NS, rrtype::DS, rrtype::RRSIG, rrtype::NSEC}, {rrtype::DS},
       "0006200000000003"},
      {"removing what is absent changes nothing", {rrtype::A}, {rrtype::AAAA, 1234}, "000140"},
      {"empty", {}, {}, ""},
      {"all removed", {rrtype::A}, {rrtype::A}, ""},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    TypeBitmap b;
    for (uint16_t t : c.add) b.add(t);
    for (uint16_t t : c.remove) b.remove(t);
    for (uint16_t t : c.add) {
      bool removed = std::find(c.remove.begin(), c.remove.end(), t) != c.remove.end();
      CHECK(b.has(t) == !removed);
    }
    std::array<uint8_t, TypeBitmap::max_encoded> out{};
    size_t n = b.encode(out);
    std::string expected = c.encoded;
    expected.erase(std::remove(expected.begin(), expected.end(), ' '), expected.end());
    CHECK(hex({out.data(), n}) == expected);
  }
}

TEST_CASE("online signer TypeBitmap: too little room is 0; more than max_types are dropped") {
  TypeBitmap b;
  for (uint16_t t : {rrtype::A, rrtype::MX, rrtype::RRSIG, rrtype::NSEC, uint16_t(1234)}) b.add(t);
  std::array<uint8_t, 37> exact{};
  CHECK(b.encode(exact) == 37);
  std::array<uint8_t, 36> small{};
  CHECK(b.encode(small) == 0);
  TypeBitmap full;
  for (uint16_t t = 1; t <= TypeBitmap::max_types + 1; ++t) full.add(t);
  CHECK(full.has(TypeBitmap::max_types));
  CHECK_FALSE(full.has(TypeBitmap::max_types + 1));
  std::array<uint8_t, TypeBitmap::max_encoded> out{};
  CHECK(full.encode(out) == 2 + 13);  // types 1..96 in window 0: 13 bytes
}

// ---- names around a name -------------------------------------------------------------------------

TEST_CASE("online signer nsec_successor: \\000. prepended, else the first label's last octet incremented") {
  const std::string a63(63, 'a');
  struct Case {
    const char* what;
    Bytes name;
    bool ok;
    Bytes successor;
  } cases[] = {
      {"example.", name_of({"example"}), true, name_of({std::string(1, '\0'), "example"})},
      {"lowercased", name_of({"Example", "COM"}), true, name_of({std::string(1, '\0'), "example", "com"})},
      {"the root", name_of({}), true, name_of({std::string(1, '\0')})},
      // 253 bytes: 2 more fit (255).
      {"253 bytes", name_of({a63, a63, a63, std::string(59, 'b')}), true,
       name_of({std::string(1, '\0'), a63, a63, a63, std::string(59, 'b')})},
      // 254 bytes, first label of 63 octets: no label fits and the first cannot grow.
      {"254 bytes, 63-octet first label", name_of({a63, a63, a63, std::string(60, 'b')}), true,
       name_of({std::string(62, 'a') + "b", a63, a63, std::string(60, 'b')})},
      {"254 bytes, capitals skipped: '@' + 1 is '['", name_of({std::string(62, 'a') + "@", a63, a63, std::string(60, 'b')}),
       true, name_of({std::string(62, 'a') + "[", a63, a63, std::string(60, 'b')})},
      {"254 bytes, lowercased first: 'Y' + 1 is 'z'", name_of({std::string(62, 'A') + "Y", a63, a63, std::string(60, 'b')}),
       true, name_of({std::string(62, 'a') + "z", a63, a63, std::string(60, 'b')})},
      {"255 bytes", name_of({a63, a63, a63, std::string(61, 'b')}), true,
       name_of({std::string(62, 'a') + "b", a63, a63, std::string(61, 'b')})},
      {"255 bytes ending in 0xFF", name_of({std::string(62, 'a') + "\xFF", a63, a63, std::string(61, 'b')}), false, {}},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    REQUIRE(wire::name_is_valid(c.name));
    wire::NameBuf out;
    REQUIRE(server::nsec_successor(c.name, out) == c.ok);
    if (!c.ok) continue;
    CAPTURE(show(out.view()));
    CHECK(view_bytes(out.view()) == c.successor);
    CHECK(wire::name_is_valid(out.view()));
    CHECK(wire::name_canonical_compare(c.name, out.view()) < 0);
  }
}

// Regression: for a 254-byte name whose first label is shorter than 63 octets, the successor
// was the first label with its last octet incremented, which skips the 255-byte names whose
// first label extends it (RFC 4471 §3.1.2: the immediate successor is the label with a \000
// octet appended). A compact-denial NSEC at such a name then denied those names.
TEST_CASE("online signer nsec_successor: no valid name between a 254-byte name and its successor") {
  const std::string a63(63, 'a');
  Bytes name = name_of({"b", a63, a63, a63, std::string(58, 'c')});  // 2 + 192 + 59 + 1 = 254 bytes
  REQUIRE(name.size() == 254);
  Bytes between = name_of({std::string("b") + '\0', a63, a63, a63, std::string(58, 'c')});  // 255 bytes, valid
  REQUIRE(wire::name_is_valid(between));
  REQUIRE(wire::name_canonical_compare(name, between) < 0);
  wire::NameBuf out;
  REQUIRE(server::nsec_successor(name, out));
  CAPTURE(show(out.view()));
  CHECK(wire::name_canonical_compare(between, out.view()) >= 0);  // expected: out == `between`
  CHECK(view_bytes(out.view()) == between);
}

TEST_CASE("online signer nsec_subtree_successor: a zero octet appended to the first label") {
  const std::string a63(63, 'a');
  struct Case {
    const char* what;
    Bytes name;
    bool ok;
    Bytes successor;
  } cases[] = {
      {"x.wild.", name_of({"x", "wild"}), true, name_of({std::string("x") + '\0', "wild"})},
      {"mixed case", name_of({"X", "Wild", "COM"}), true, name_of({std::string("x") + '\0', "wild", "com"})},
      {"254 bytes: 255 with the octet", name_of({"b", a63, a63, a63, std::string(58, 'c')}), true,
       name_of({std::string("b") + '\0', a63, a63, a63, std::string(58, 'c')})},
      {"a 63-octet first label cannot grow: last octet incremented", name_of({a63, "x"}), true,
       name_of({std::string(62, 'a') + "b", "x"})},
      {"255 bytes: last octet incremented", name_of({a63, a63, a63, std::string(61, 'b')}), true,
       name_of({std::string(62, 'a') + "b", a63, a63, std::string(61, 'b')})},
      {"the root has none", name_of({}), false, {}},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    REQUIRE(wire::name_is_valid(c.name));
    wire::NameBuf out;
    REQUIRE(server::nsec_subtree_successor(c.name, out) == c.ok);
    if (!c.ok) continue;
    CAPTURE(show(out.view()));
    // Only the first label is lowercased (the answer passes lowercase names; names in NSEC
    // RDATA compare case-insensitively, RFC 4034 §6.1).
    CHECK(wire::name_lower(out.view()) == wire::name_lower(c.successor));
    CHECK(wire::name_is_valid(out.view()));
    CHECK(wire::name_canonical_compare(c.name, out.view()) < 0);
    // Everything below the name sorts before it (RFC 4034 §6.1): the NSEC covers the subtree.
    if (c.name.size() + 2 <= wire::max_name_length) {
      Bytes below{1, 0xFF};
      below.insert(below.end(), c.name.begin(), c.name.end());
      CHECK(wire::name_canonical_compare(below, out.view()) < 0);
      wire::NameBuf first;
      REQUIRE(server::nsec_successor(c.name, first));
      CHECK(wire::name_canonical_compare(first.view(), out.view()) < 0);
    }
  }
}

TEST_CASE("online signer nsec_predecessor: last octet decremented, label filled with 0xFF to 63") {
  struct Case {
    const char* what;
    Bytes name;
    bool ok;
    Bytes predecessor;
  } cases[] = {
      {"b.example.", name_of({"b", "example"}), true, name_of({label_of('a', 62), "example"})},
      {"mixed case", name_of({"B", "Example"}), true, name_of({label_of('a', 62), "example"})},
      {"ab.x.", name_of({"ab", "x"}), true, name_of({"a" + label_of('a', 61), "x"})},
      {"capitals skipped: '[' - 1 is '@'", name_of({"[", "x"}), true, name_of({label_of('@', 62), "x"})},
      {"a\\000.x. -> a.x.", name_of({std::string("a") + '\0', "x"}), true, name_of({"a", "x"})},
      {"ab\\000.x. -> ab.x.", name_of({std::string("ab") + '\0', "x"}), true, name_of({"ab", "x"})},
      {"\\000.x. -> x.", name_of({std::string(1, '\0'), "x"}), true, name_of({"x"})},
      {"\\000. -> the root", name_of({std::string(1, '\0')}), true, name_of({})},
      // A long name: the fill stops at 255 bytes.
      {"250 bytes: 5 octets of fill", name_of({"b", std::string(63, 'p'), std::string(63, 'q'), std::string(63, 'r'),
                                               std::string(54, 's')}),
       true, name_of({label_of('a', 5), std::string(63, 'p'), std::string(63, 'q'), std::string(63, 'r'), std::string(54, 's')})},
      {"the root has none", name_of({}), false, {}},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    REQUIRE(wire::name_is_valid(c.name));
    wire::NameBuf out;
    REQUIRE(server::nsec_predecessor(c.name, out) == c.ok);
    if (!c.ok) continue;
    CAPTURE(show(out.view()));
    CHECK(wire::name_lower(out.view()) == wire::name_lower(c.predecessor));  // first label lowercased only
    CHECK(wire::name_is_valid(out.view()));
    CHECK(wire::name_canonical_compare(out.view(), c.name) < 0);
  }
}

TEST_CASE("online signer: the predecessor of a name's successor is the name") {
  for (const char* text : {"example.", "www.example.com.", "WWW.Example.COM.", "x.wild.example.com.", "."}) {
    INFO("text := " << std::string(text));
    std::string n = test::wire_name(text);
    wire::NameBuf succ, pred;
    REQUIRE(server::nsec_successor(test::view(n), succ));
    REQUIRE(server::nsec_predecessor(succ.view(), pred));
    CHECK(wire::name_lower(pred.view()) == wire::name_lower(test::view(n)));
    CHECK(wire::name_canonical_compare(pred.view(), succ.view()) < 0);
  }
}

// ---- budget, keys, table ---------------------------------------------------------------------

TEST_CASE("online signer SigningBudget: a token bucket of 20 ms, refilled continuously") {
  server::SigningBudget budget(1000);  // 1 per ms, at most 20 at once
  uint64_t t = 5000000;
  int granted = 0;
  while (budget.take(t)) ++granted;
  CHECK(granted == 20);  // full at the start: one burst's worth
  CHECK_FALSE(budget.take(t));
  CHECK(budget.take(t + 1));  // one more per millisecond
  CHECK_FALSE(budget.take(t + 1));
  granted = 0;
  for (uint64_t ms = t + 2; ms < t + 1002; ++ms)
    while (budget.take(ms)) ++granted;
  CHECK(granted == 1000);  // per_second over a second, spread out
  // A long pause refills no more than the burst.
  granted = 0;
  while (budget.take(t + 100000)) ++granted;
  CHECK(granted == 20);
  // A clock going back refills nothing.
  CHECK_FALSE(budget.take(t));
  server::SigningBudget small(1);  // below 50/s: a burst of one
  CHECK(small.take(1000));
  CHECK_FALSE(small.take(1500));
  CHECK(small.take(2000));
  server::SigningBudget unlimited(0);
  for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.take(5));
}

TEST_CASE("online signer make_zone_keys: KSKs sign the keysets, ZSKs the rest; a lone kind signs both") {
  test::TempDir dir;
  std::string origin = test::wire_name("Example.COM.");
  struct Case {
    const char* what;
    std::vector<uint16_t> flags;
    size_t ksks, zsks, cds;
  } cases[] = {
      {"one CSK", {257}, 1, 1, 1},
      {"KSK and ZSK", {257, 256}, 1, 1, 1},
      {"two KSKs, two ZSKs", {257, 257, 256, 256}, 2, 2, 2},
      {"two CSKs", {257, 257}, 2, 2, 2},
      {"a ZSK alone signs everything", {256}, 1, 1, 1},
  };
  int n = 0;
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    std::string d = (dir.path() / std::to_string(n++)).string();
    for (uint16_t f : c.flags) (void)crypto::generate_key(d, test::view(origin), DnssecAlgorithm::ed25519, f, int64_t(now));
    auto keys = crypto::read_zone_keys(d, test::view(origin));
    server::ZoneKeys zk = server::make_zone_keys(test::view(origin), keys);
    CHECK(zk.origin == wire::name_lower(test::view(origin)));
    CHECK(zk.ksks.size() == c.ksks);
    CHECK(zk.zsks.size() == c.zsks);
    CHECK(zk.dnskey.size() == c.flags.size());
    CHECK(zk.cds.size() == c.cds);
    CHECK(zk.cdnskey.size() == c.cds);
    for (size_t i = 0; i < zk.cds.size(); ++i) {
      CHECK(zk.cds[i] == crypto::ds_rdata(zk.origin_view(), zk.cdnskey[i]));
      CHECK(std::find(zk.dnskey.begin(), zk.dnskey.end(), zk.cdnskey[i]) != zk.dnskey.end());
    }
    if (c.ksks + c.zsks > c.flags.size()) continue;  // CSKs: both lists hold every key
    for (const auto& k : zk.ksks) CHECK(k->sep());
    for (const auto& k : zk.zsks) CHECK_FALSE(k->sep());
  }
  CHECK_THROWS_AS((void)server::make_zone_keys(test::view(origin), {}), crypto::KeyError);
}

TEST_CASE("online signer ZoneKeys::apex_rrset and SignerTable::find") {
  Signed s;
  std::string origin = test::wire_name("example.com.");
  const server::ZoneKeys* zk = s.table.find(test::view(origin));
  REQUIRE(zk != nullptr);
  CHECK(s.table.size() == 1);
  CHECK(zk->apex_rrset(rrtype::DNSKEY) == &zk->dnskey);
  CHECK(zk->apex_rrset(rrtype::CDS) == &zk->cds);
  CHECK(zk->apex_rrset(rrtype::CDNSKEY) == &zk->cdnskey);
  CHECK(zk->apex_rrset(rrtype::A) == nullptr);
  CHECK(zk->apex_rrset(rrtype::DS) == nullptr);
  std::string other = test::wire_name("example.net.");
  CHECK(s.table.find(test::view(other)) == nullptr);
  std::string below = test::wire_name("www.example.com.");
  CHECK(s.table.find(test::view(below)) == nullptr);
}

// ---- AnswerSigner statuses -------------------------------------------------------------------

TEST_CASE("online signer AnswerSigner: no room, throttled and failed leave the message as it was") {
  Signed s;
  const server::ZoneKeys& zk = *s.table.find(test::view(s.origin));
  std::string owner = test::wire_name("www.example.com.");
  Bytes a{192, 0, 2, 1};
  std::vector<std::span<const uint8_t>> one{a};
  auto fresh = [&](wire::PacketWriter& w) {
    w.begin_response(wire::Header{.id = 1});
    REQUIRE(w.put_rr(wire::Section::answer, test::view(owner), rrtype::A, 1, 300, a));
  };
  using Status = server::AnswerSigner::Status;
  Bytes buf(4096);

  SUBCASE("written, and valid_until is the expiration less the refresh margin") {
    server::SigningContext ctx{.cache = &s.cache, .stats = &s.stats};
    server::AnswerSigner signer(ctx, zk, uint32_t(now));
    CHECK(signer.valid_until() == UINT64_MAX);
    wire::PacketWriter w(buf, buf.size());
    fresh(w);
    CHECK(signer.sign(w, wire::Section::answer, test::view(owner), test::view(owner), rrtype::A, 300, 300, one) ==
          Status::written);
    CHECK(signer.valid_until() == now + server::signature_lifetime - server::signature_refresh);
    CHECK(s.stats.made.get() == 1);
    CHECK(s.stats.cache_misses.get() == 1);
    CHECK(s.cache.size() == 1);
  }
  SUBCASE("no room") {
    server::SigningContext ctx;
    server::AnswerSigner signer(ctx, zk, uint32_t(now));
    Bytes small(12 + owner.size() + 14 + 40);
    wire::PacketWriter w(small, small.size());
    fresh(w);
    size_t before = w.size();
    CHECK(signer.sign(w, wire::Section::answer, test::view(owner), test::view(owner), rrtype::A, 300, 300, one) ==
          Status::no_room);
    CHECK(w.size() == before);
    CHECK(w.count(wire::Section::answer) == 1);
  }
  SUBCASE("an NSEC past the budget is throttled; a cached one, and any other type, are not") {
    server::SigningBudget budget(1);
    REQUIRE(budget.take(now * 1000));  // the bucket's only signature is spent
    server::SigningContext ctx{.cache = &s.cache, .budget = &budget, .stats = &s.stats};
    server::AnswerSigner signer(ctx, zk, uint32_t(now));
    std::string next = test::wire_name("\\000.www.example.com.");
    TypeBitmap types;
    types.add(rrtype::A);
    types.add(rrtype::RRSIG);
    types.add(rrtype::NSEC);
    wire::PacketWriter w(buf, buf.size());
    fresh(w);
    size_t before = w.size();
    CHECK(signer.put_nsec(w, wire::Section::authority, test::view(owner), test::view(owner), test::view(next), types,
                          300) == Status::throttled);
    CHECK(w.size() == before);  // the NSEC went with its missing signature
    CHECK(s.stats.made.get() == 0);
    // Positive data is signed whatever the budget (finite: not what a flood of names costs).
    CHECK(signer.sign(w, wire::Section::answer, test::view(owner), test::view(owner), rrtype::A, 300, 300, one) ==
          Status::written);
    CHECK(s.stats.made.get() == 1);
    // Signed once without a budget, the same NSEC is a cache hit within the budget.
    server::SigningContext unlimited{.cache = &s.cache, .stats = &s.stats};
    server::AnswerSigner first(unlimited, zk, uint32_t(now));
    wire::PacketWriter w1(buf, buf.size());
    fresh(w1);
    CHECK(first.put_nsec(w1, wire::Section::authority, test::view(owner), test::view(owner), test::view(next), types,
                         300) == Status::written);
    CHECK(w1.count(wire::Section::authority) == 2);
    wire::PacketWriter w2(buf, buf.size());
    fresh(w2);
    CHECK(signer.put_nsec(w2, wire::Section::authority, test::view(owner), test::view(owner), test::view(next), types,
                          300) == Status::written);
    CHECK(s.stats.cache_hits.get() == 1);
    CHECK(s.stats.made.get() == 2);
  }
  SUBCASE("failed: malformed RDATA") {
    server::SigningContext ctx;
    server::AnswerSigner signer(ctx, zk, uint32_t(now));
    wire::PacketWriter w(buf, buf.size());
    fresh(w);
    size_t before = w.size();
    Bytes bad_mx{0, 10, 9, 'x'};
    std::vector<std::span<const uint8_t>> bad{bad_mx};
    CHECK(signer.sign(w, wire::Section::answer, test::view(owner), test::view(owner), rrtype::MX, 300, 300, bad) ==
          Status::failed);
    CHECK(w.size() == before);
  }
}

TEST_CASE("online signer AnswerSigner: keysets by the KSKs, everything else by the ZSKs") {
  Signed s({257, 256});
  const server::ZoneKeys& zk = *s.table.find(test::view(s.origin));
  REQUIRE(zk.ksks.size() == 1);
  REQUIRE(zk.zsks.size() == 1);
  server::HandlerOptions opts = s.options();
  Answer keyset = ask(*s.signed_zones, "example.com.", rrtype::DNSKEY, opts);
  LdnsCheck k = ldns_check(keyset.bytes, s.origin, s.dnskeys);
  CHECK(k.errors == std::vector<std::string>{});
  CHECK(without_rrsigs(keyset.d.answer).size() == 2);
  CHECK(k.key_tags == std::vector<uint16_t>{zk.ksks[0]->tag()});
  Answer a = ask(*s.signed_zones, "www.example.com.", rrtype::A, opts);
  LdnsCheck c = ldns_check(a.bytes, s.origin, s.dnskeys);
  CHECK(c.errors == std::vector<std::string>{});
  CHECK(c.key_tags == std::vector<uint16_t>{zk.zsks[0]->tag()});
}

// ---- signed answers through handle_query -----------------------------------------------------

TEST_CASE("online signer answers: DO=1 on a signed zone, every RRSIG verified by ldns") {
  struct Case {
    const char* qname;
    uint16_t qtype;
    uint16_t rcode;
    bool aa;
    std::vector<std::string> answer, authority, additional;  ///< without RRSIGs
    size_t rrsigs;                                           ///< in all sections
  } cases[] = {
      {"www.example.com.", rrtype::A, rcode::NOERROR, true, {"www.example.com. 3600 IN A 192.0.2.10"}, {}, {}, 1},
      {"WWW.Example.COM.", rrtype::A, rcode::NOERROR, true, {"www.example.com. 3600 IN A 192.0.2.10"}, {}, {}, 1},
      {"mixed.example.com.", rrtype::A, rcode::NOERROR, true, {"mixed.example.com. 3600 IN A 192.0.2.11"}, {}, {}, 1},
      {"alias.example.com.", rrtype::A, rcode::NOERROR, true,
       {"alias.example.com. 3600 IN CNAME www.example.com.", "www.example.com. 3600 IN A 192.0.2.10"}, {}, {}, 2},
      {"example.com.", rrtype::MX, rcode::NOERROR, true, {"example.com. 3600 IN MX 10 mail.example.com."}, {},
       {"mail.example.com. 3600 IN A 192.0.2.25", "mail.example.com. 3600 IN AAAA 2001:db8::25"}, 3},
      {"_sip._udp.example.com.", rrtype::SRV, rcode::NOERROR, true,
       {"_sip._udp.example.com. 3600 IN SRV 0 5 5060 www.example.com."}, {}, {"www.example.com. 3600 IN A 192.0.2.10"}, 2},
      // RFC 9824: a name that does not exist is NOERROR with an NSEC saying NXNAME.
      {"nx.example.com.", rrtype::A, rcode::NOERROR, true, {},
       {"example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        "nx.example.com. 300 IN NSEC \\000.nx.example.com. RRSIG NSEC TYPE128"}, {}, 2},
      {"a.b.nx.example.com.", rrtype::TXT, rcode::NOERROR, true, {},
       {"example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        "a.b.nx.example.com. 300 IN NSEC \\000.a.b.nx.example.com. RRSIG NSEC TYPE128"}, {}, 2},
      // NODATA: the NSEC lists the name's types (not the one asked for).
      {"www.example.com.", rrtype::AAAA, rcode::NOERROR, true, {},
       {"example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        "www.example.com. 300 IN NSEC \\000.www.example.com. A TXT RRSIG NSEC"}, {}, 2},
      {"example.com.", rrtype::AAAA, rcode::NOERROR, true, {},
       {"example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        "example.com. 300 IN NSEC \\000.example.com. A NS SOA MX RRSIG NSEC DNSKEY CDS CDNSKEY"}, {}, 2},
      {"nods.example.com.", rrtype::DS, rcode::NOERROR, true, {},
       {"example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        "nods.example.com. 300 IN NSEC \\000.nods.example.com. NS RRSIG NSEC"}, {}, 2},
      // An NSEC query gets the NSEC denial would use.
      {"www.example.com.", rrtype::NSEC, rcode::NOERROR, true,
       {"www.example.com. 300 IN NSEC \\000.www.example.com. A TXT RRSIG NSEC"}, {}, {}, 1},
      // Referrals: the NS unsigned, the DS signed, or an NSEC proving there is none.
      {"www.deleg.example.com.", rrtype::A, rcode::NOERROR, false, {},
       {"deleg.example.com. 3600 IN NS ns.deleg.example.com.",
        "deleg.example.com. 3600 IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
       {"ns.deleg.example.com. 3600 IN A 192.0.2.70"}, 1},
      {"www.nods.example.com.", rrtype::A, rcode::NOERROR, false, {},
       {"nods.example.com. 3600 IN NS ns.elsewhere.example.net.",
        "nods.example.com. 300 IN NSEC \\000.nods.example.com. NS RRSIG NSEC"}, {}, 1},
  };
  Signed s;
  server::HandlerOptions opts = s.options();
  for (const Case& c : cases) {
    INFO("c.qname := " << std::string(c.qname));
    CAPTURE(wire::type_to_text(c.qtype));
    Answer a = ask(*s.signed_zones, c.qname, c.qtype, opts);
    CHECK(a.d.rcode == c.rcode);
    CHECK(a.d.aa == c.aa);
    CHECK_FALSE(a.d.tc);
    CHECK(a.d.edns_do);
    CHECK(without_rrsigs(a.d.answer) == test::normalize_rrs(c.answer));
    CHECK(without_rrsigs(a.d.authority) == test::normalize_rrs(c.authority));
    CHECK(without_rrsigs(a.d.additional) == test::normalize_rrs(c.additional));
    LdnsCheck check = ldns_check(a.bytes, s.origin, s.dnskeys);
    CHECK(check.rrsigs == c.rrsigs);
    CHECK(check.errors == std::vector<std::string>{});
    CHECK(a.result.valid_until_unix == now + server::signature_lifetime - server::signature_refresh);
  }
}

TEST_CASE("online signer answers: a wildcard expansion comes with the NSEC proving its name absent") {
  // x.wild.example.com. A from *.wild: the A signed as *.wild (labels 3), and an NSEC from just
  // before x.wild to x\000.wild (after x.wild's subtree, RFC 4470 §3.1.2). The NSEC's owner has a
  // label of 63 octets, longer as text than ldns reads: the expected RR is built in wire form.
  struct Case {
    const char* qname;
    char first;               ///< the next closer name's first octet, decremented
    const char* next_closer;  ///< lowercase
  } cases[] = {{"x.wild.example.com.", 'w', "x.wild.example.com."},
               {"X.Wild.Example.COM.", 'w', "x.wild.example.com."},
               {"a.b.c.wild.example.com.", 'b', "c.wild.example.com."}};
  Signed s;
  for (const Case& c : cases) {
    INFO("c.qname := " << std::string(c.qname));
    Answer a = ask(*s.signed_zones, c.qname, rrtype::A, s.options());
    CHECK(a.d.rcode == rcode::NOERROR);
    CHECK(without_rrsigs(a.d.answer) == test::normalize_rrs({std::string(c.qname) + " 3600 IN A 192.0.2.40"}));
    std::string closer = test::wire_name(c.next_closer);
    size_t first_len = uint8_t(closer[0]);
    std::string parent = closer.substr(1 + first_len);
    std::string owner = char(63) + label_of(c.first, 62) + parent;
    std::string next = char(first_len + 1) + closer.substr(1, first_len) + '\0' + parent;
    const std::string bitmap{0, 6, 0, 0, 0, 0, 0, 3};  // RRSIG NSEC
    std::string expected = test::wire_rr_text(owner, rrtype::NSEC, 1, 300, next + bitmap);
    CHECK(without_rrsigs(a.d.authority) == std::vector<std::string>{expected});
    LdnsCheck check = ldns_check(a.bytes, s.origin, s.dnskeys);
    CHECK(check.rrsigs == 2);
    CHECK(check.errors == std::vector<std::string>{});
  }
}

TEST_CASE("online signer answers: the RRSIG fields of a signed A (RFC 4034 §3.1, RFC 4035 §3.1)") {
  for (DnssecAlgorithm alg : {DnssecAlgorithm::ecdsap256sha256, DnssecAlgorithm::ed25519}) {
    CAPTURE(int(alg));
    Signed s({257}, alg);
    Answer a = ask(*s.signed_zones, "x.wild.example.com.", rrtype::A, s.options());
    ldns_pkt* pkt = nullptr;
    REQUIRE(ldns_wire2pkt(&pkt, a.bytes.data(), a.bytes.size()) == LDNS_STATUS_OK);
    ldns_rr_list* answer = ldns_pkt_answer(pkt);
    ldns_rr* sig = nullptr;
    for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i)
      if (ldns_rr_get_type(ldns_rr_list_rr(answer, i)) == LDNS_RR_TYPE_RRSIG) sig = ldns_rr_list_rr(answer, i);
    REQUIRE(sig != nullptr);
    CHECK(ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(sig)) == LDNS_RR_TYPE_A);
    CHECK(ldns_rdf2native_int8(ldns_rr_rrsig_algorithm(sig)) == uint8_t(alg));
    CHECK(ldns_rdf2native_int8(ldns_rr_rrsig_labels(sig)) == 3);  // *.wild.example.com.
    CHECK(ldns_rdf2native_int32(ldns_rr_rrsig_origttl(sig)) == 3600);
    CHECK(ldns_rdf2native_int32(ldns_rr_rrsig_inception(sig)) == now - server::signature_inception_skew);
    CHECK(ldns_rdf2native_int32(ldns_rr_rrsig_expiration(sig)) == now + server::signature_lifetime);
    CHECK(ldns_rdf2native_int16(ldns_rr_rrsig_keytag(sig)) == s.keys[0]->tag());
    char* signer = ldns_rdf2str(ldns_rr_rrsig_signame(sig));
    CHECK(std::string(signer) == "example.com.");
    free(signer);
    CHECK(ldns_rr_ttl(sig) == 3600);
    ldns_pkt_free(pkt);
    LdnsCheck check = ldns_check(a.bytes, s.origin, s.dnskeys);
    CHECK(check.rrsigs == 2);
    CHECK(check.errors == std::vector<std::string>{});
  }
}

TEST_CASE("online signer answers: DNSKEY, CDS and CDNSKEY at the apex, with and without DO") {
  Signed s;
  const server::ZoneKeys& zk = *s.table.find(test::view(s.origin));
  std::string key_b64 = crypto::base64_encode(s.keys[0]->dnskey_rdata().subspan(4));
  std::string dnskey = "example.com. 3600 IN DNSKEY 257 3 13 " + key_b64;
  std::string cds = "example.com. 3600 IN CDS " + std::to_string(s.keys[0]->tag()) + " 13 2 " + hex(std::span(zk.cds[0]).subspan(4));
  std::string cdnskey = "example.com. 3600 IN CDNSKEY 257 3 13 " + key_b64;
  struct Case {
    uint16_t qtype;
    bool dnssec_ok;
    std::string rr;
    size_t rrsigs;
  } cases[] = {
      {rrtype::DNSKEY, false, dnskey, 0}, {rrtype::DNSKEY, true, dnskey, 1}, {rrtype::CDS, false, cds, 0},
      {rrtype::CDS, true, cds, 1},        {rrtype::CDNSKEY, false, cdnskey, 0}, {rrtype::CDNSKEY, true, cdnskey, 1},
  };
  for (const Case& c : cases) {
    CAPTURE(wire::type_to_text(c.qtype));
    CAPTURE(c.dnssec_ok);
    Answer a = ask(*s.signed_zones, "example.com.", c.qtype, s.options(), {.edns = true, .dnssec_ok = c.dnssec_ok});
    CHECK(a.d.rcode == rcode::NOERROR);
    CHECK(a.d.aa);
    CHECK(without_rrsigs(a.d.answer) == test::normalize_rrs({c.rr}));
    CHECK(rrsig_count(a.d.answer) == c.rrsigs);
    CHECK(a.d.authority.empty());
    LdnsCheck check = ldns_check(a.bytes, s.origin, s.dnskeys);
    CHECK(check.errors == std::vector<std::string>{});
  }
  // Without EDNS too; and an unsigned zone has no DNSKEY.
  Answer plain = ask(*s.signed_zones, "example.com.", rrtype::DNSKEY, s.options(), {});
  CHECK(without_rrsigs(plain.d.answer) == test::normalize_rrs({dnskey}));
  CHECK(rrsig_count(plain.d.answer) == 0);
  Answer unsigned_zone = ask(*s.plain_zones, "example.com.", rrtype::DNSKEY, s.options());
  CHECK(unsigned_zone.d.answer.empty());
  CHECK(unsigned_zone.d.authority.size() == 1);  // the SOA of a NODATA
}

TEST_CASE("online signer answers: the same query again is a signature cache hit, byte for byte") {
  struct Case {
    const char* qname;
    uint16_t qtype;
    uint64_t signatures;  ///< the answer's RRSIGs
  } cases[] = {
      {"www.example.com.", rrtype::A, 1},
      {"nx.example.com.", rrtype::A, 2},
      {"www.example.com.", rrtype::AAAA, 2},
      {"example.com.", rrtype::DNSKEY, 1},
  };
  for (const Case& c : cases) {
    INFO("c.qname := " << std::string(c.qname));
    CAPTURE(wire::type_to_text(c.qtype));
    Signed s;
    Answer first = ask(*s.signed_zones, c.qname, c.qtype, s.options());
    CHECK(s.stats.made.get() == c.signatures);
    CHECK(s.stats.cache_misses.get() == c.signatures);
    CHECK(s.stats.cache_hits.get() == 0);
    Answer second = ask(*s.signed_zones, c.qname, c.qtype, s.options());
    CHECK(s.stats.made.get() == c.signatures);
    CHECK(s.stats.cache_hits.get() == c.signatures);
    CHECK(second.bytes == first.bytes);  // ECDSA signatures differ each time: these are the cached ones
    // Later, still within the refresh margin: the same signatures; past it, new ones.
    Answer later = ask(*s.signed_zones, c.qname, c.qtype, s.options(nullptr, now + 86400 - 1));
    CHECK(s.stats.made.get() == c.signatures);
    CHECK(later.bytes == first.bytes);
    Answer refreshed = ask(*s.signed_zones, c.qname, c.qtype, s.options(nullptr, now + 86400 + 1));
    CHECK(s.stats.made.get() == 2 * c.signatures);
    CHECK(refreshed.bytes != first.bytes);
    CHECK(refreshed.result.valid_until_unix == now + 86400 + 1 + 86400);
  }
}

TEST_CASE("online signer answers: DO=0 is byte for byte the answer of the zone compiled unsigned") {
  struct Case {
    const char* qname;
    uint16_t qtype;
  } cases[] = {
      {"www.example.com.", rrtype::A},      {"WWW.Example.COM.", rrtype::A},   {"nx.example.com.", rrtype::A},
      {"www.example.com.", rrtype::AAAA},   {"example.com.", rrtype::AAAA},    {"alias.example.com.", rrtype::A},
      {"x.wild.example.com.", rrtype::A},   {"www.deleg.example.com.", rrtype::A},
      {"nods.example.com.", rrtype::DS},    {"example.com.", rrtype::MX},      {"example.com.", rrtype::NS},
      {"example.com.", rrtype::SOA},        {"example.com.", rrtype::ANY},     {"www.example.com.", rrtype::NSEC},
      {"www.example.com.", rrtype::RRSIG},  {"_sip._udp.example.com.", rrtype::SRV},
  };
  Signed s;
  struct Way {
    const char* what;
    test::QueryOptions q;
  } ways[] = {{"EDNS, DO=0", {.edns = true}}, {"no EDNS", {}}, {"EDNS, DO=0, 512 bytes", {.edns = true, .payload = 512}}};
  for (const Way& way : ways) {
    for (const Case& c : cases) {
      INFO("way.what := " << std::string(way.what));
      INFO("c.qname := " << std::string(c.qname));
      CAPTURE(wire::type_to_text(c.qtype));
      Answer signed_zone = ask(*s.signed_zones, c.qname, c.qtype, s.options(), way.q);
      Answer plain = ask(*s.plain_zones, c.qname, c.qtype, s.options(), way.q);
      CHECK(hex(signed_zone.bytes) == hex(plain.bytes));
      CHECK(rrsig_count(signed_zone.d.answer) + rrsig_count(signed_zone.d.authority) == 0);
    }
  }
  CHECK(s.stats.made.get() == 0);
  CHECK(s.stats.cache_misses.get() == 0);
  // A DO=1 query of the unsigned zone is not signed either.
  Answer do_plain = ask(*s.plain_zones, "nx.example.com.", rrtype::A, s.options());
  CHECK(do_plain.d.rcode == rcode::NXDOMAIN);
  CHECK(rrsig_count(do_plain.d.authority) == 0);
  CHECK(s.stats.made.get() == 0);
}

TEST_CASE("online signer answers: past the signing budget, TC=1 and empty sections; cached answers go on") {
  Signed s;
  server::SigningBudget budget(1);
  server::HandlerOptions opts = s.options(&budget);

  // The NSEC takes the second's one signature (the SOA's is not counted: only NSECs are).
  Answer first = ask(*s.signed_zones, "nx1.example.com.", rrtype::A, opts);
  CHECK_FALSE(first.d.tc);
  CHECK(rrsig_count(first.d.authority) == 2);
  CHECK(s.stats.throttled.get() == 0);

  Answer second = ask(*s.signed_zones, "nx2.example.com.", rrtype::A, opts);
  CHECK(second.d.tc);
  CHECK(second.d.rcode == rcode::NOERROR);
  CHECK(second.d.qname == "nx2.example.com.");
  CHECK(second.d.answer.empty());
  CHECK(second.d.authority.empty());
  CHECK(second.d.additional.empty());
  CHECK(second.d.edns);
  CHECK(second.result.signing_throttled);
  CHECK(second.result.reusable_until == resolver::TimePoint::min());
  CHECK(s.stats.throttled.get() == 1);

  Answer again = ask(*s.signed_zones, "nx1.example.com.", rrtype::A, opts);
  CHECK_FALSE(again.d.tc);
  CHECK_FALSE(again.result.signing_throttled);
  CHECK(again.bytes == first.bytes);
  CHECK(s.stats.throttled.get() == 1);

  // Positive answers are signed past the budget (their RRsets are finite; names of a flood are not).
  Answer positive = ask(*s.signed_zones, "www.example.com.", rrtype::A, opts);
  CHECK_FALSE(positive.d.tc);
  CHECK(rrsig_count(positive.d.answer) == 1);
  Answer wildcard = ask(*s.signed_zones, "random1.wild.example.com.", rrtype::A, opts);
  CHECK(wildcard.d.tc);  // but its proof is an NSEC for each name
  CHECK(s.stats.throttled.get() == 2);
  // An unsigned answer (DO=0) needs no signature: never throttled.
  Answer no_do = ask(*s.signed_zones, "nx3.example.com.", rrtype::A, opts, {.edns = true});
  CHECK_FALSE(no_do.d.tc);
  CHECK(no_do.d.rcode == rcode::NXDOMAIN);

  // The next second has a new allowance.
  Answer next = ask(*s.signed_zones, "nx2.example.com.", rrtype::A, s.options(&budget, now + 1));
  CHECK_FALSE(next.d.tc);
  CHECK(rrsig_count(next.d.authority) == 2);
  CHECK(s.stats.throttled.get() == 2);
  LdnsCheck check = ldns_check(next.bytes, s.origin, s.dnskeys);
  CHECK(check.errors == std::vector<std::string>{});
}

TEST_CASE("online signer answers: an answer RRset whose RRSIG does not fit is truncated, not sent unsigned") {
  // big TXT: six RRs of 63 bytes fit in 512 bytes, not with their RRSIG. RFC 4035 §3.1.1: an
  // answer RRset without its RRSIG sets TC; an additional one may go without it.
  Signed s;
  Answer fits = ask(*s.signed_zones, "big.example.com.", rrtype::TXT, s.options());
  CHECK_FALSE(fits.d.tc);
  CHECK(without_rrsigs(fits.d.answer).size() == 6);
  CHECK(rrsig_count(fits.d.answer) == 1);
  Answer unsigned_fits = ask(*s.signed_zones, "big.example.com.", rrtype::TXT, s.options(), {.edns = true, .payload = 512});
  CHECK_FALSE(unsigned_fits.d.tc);
  CHECK(unsigned_fits.d.answer.size() == 6);
  Answer a = ask(*s.signed_zones, "big.example.com.", rrtype::TXT, s.options(),
                 {.edns = true, .payload = 512, .dnssec_ok = true});
  CHECK(a.bytes.size() <= 512);
  CHECK(a.d.tc);
  CHECK(a.d.answer.empty());
  // The MX's answer fits at 512 bytes with its RRSIG, and the glue with theirs.
  Answer mx = ask(*s.signed_zones, "example.com.", rrtype::MX, s.options(), {.edns = true, .payload = 512, .dnssec_ok = true});
  CHECK(mx.bytes.size() <= 512);
  CHECK_FALSE(mx.d.tc);
  CHECK(rrsig_count(mx.d.answer) == 1);
  LdnsCheck check = ldns_check(mx.bytes, s.origin, s.dnskeys);
  CHECK(check.errors == std::vector<std::string>{});
}

TEST_CASE("online signer: a zone with DNSSEC records does not compile with dnssec = true") {
  const std::string head = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n";
  struct Case {
    const char* record;  ///< on line 6 of the zone file
    const char* type;
  } cases[] = {
      {"@ RRSIG SOA 13 2 300 20250101000000 20240101000000 12345 example.com. "
       "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==",
       "RRSIG"},
      {"@ NSEC ns1.example.com. NS SOA RRSIG NSEC DNSKEY", "NSEC"},
      {"@ DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", "DNSKEY"},
      {"@ CDS 3613 15 2 3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b", "CDS"},
      {"@ CDNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", "CDNSKEY"},
      {"@ NSEC3PARAM 1 0 0 -", "NSEC3PARAM"},
  };
  std::string origin = test::wire_name("example.com.");
  for (const Case& c : cases) {
    INFO("c.record := " << std::string(c.record));
    std::string text = head + c.record + "\n";
    auto records = zone::load_zone_text(text, test::view(origin), "signed.zone");
    zone::ZoneOptions dnssec;
    dnssec.dnssec = true;
    std::string message;
    try {
      (void)zone::compile_zone(test::view(origin), records, "signed.zone", dnssec);
    } catch (const zone::ZoneError& e) {
      message = e.what();
    }
    CAPTURE(message);
    CHECK(message.rfind("signed.zone:6: ", 0) == 0);
    CHECK(message.find(std::string(c.type) + " record in a zone with dnssec = true") != std::string::npos);
    // Served as they are without dnssec.
    CHECK(zone::compile_zone(test::view(origin), records, "signed.zone") != nullptr);
  }
  // DS at a delegation is the zone's own data, signed like any other.
  std::string with_ds = head + "child NS ns.child\nchild DS 12345 13 2 " + std::string(64, 'a') + "\nns.child A 192.0.2.2\n";
  zone::ZoneOptions dnssec;
  dnssec.dnssec = true;
  CHECK(zone::compile_zone(test::view(origin), zone::load_zone_text(with_ds, test::view(origin), "ds.zone"), "ds.zone",
                           dnssec) != nullptr);
}
