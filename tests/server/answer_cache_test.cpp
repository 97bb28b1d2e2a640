// AnswerCache: a hit is byte for byte what handle_query writes (with the new query's ID); zone
// changes, letter case and slot collisions never yield a wrong answer. (Flattened answers from
// the resolver's cache: tests/server/flattener_test.cpp.)
#include "server/answer_cache.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/query_handler.hpp"
#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_set.hpp"

using namespace apexd;
namespace rrtype = wire::rrtype;

namespace {

std::string zone_text(const char* www_address) {
  std::string t = R"($ORIGIN cache.test.
$TTL 3600
@        SOA   ns1 hostmaster 1 7200 3600 1209600 300
@        NS    ns1
@        MX    10 mail
@        CNAME app.cache.test.
ns1      A     192.0.2.53
mail     A     192.0.2.25
app      60 A  198.51.100.10
alias    CNAME www
*.wild   A     192.0.2.99
sub      NS    ns.sub
ns.sub   A     192.0.2.200
edge     A     198.51.100.7
)";
  t += std::string("www A ") + www_address + "\n";
  for (int i = 0; i < 40; ++i) t += "big TXT \"" + std::to_string(i) + std::string(60, 'x') + "\"\n";
  return t;
}

std::shared_ptr<const zone::ZoneSet> make_zones(const char* www_address) {
  std::string origin = test::wire_name("cache.test.");
  zone::ZoneOptions o;
  o.proxied = {test::wire_name("edge.cache.test.")};
  auto z = zone::compile_zone(test::view(origin), zone::load_zone_text(zone_text(www_address), test::view(origin), "c.zone"),
                              "c.zone", o);
  return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{z});
}

struct Case {
  const char* qname;
  uint16_t qtype;
  bool edns;
  uint16_t payload;
};

const Case cases[] = {
    {"www.cache.test.", rrtype::A, false, 0},        {"WwW.Cache.TEST.", rrtype::A, false, 0},
    {"www.cache.test.", rrtype::A, true, 1232},      {"www.cache.test.", rrtype::A, true, 4096},
    {"alias.cache.test.", rrtype::A, false, 0},      {"x.wild.cache.test.", rrtype::A, true, 1232},
    {"host.sub.cache.test.", rrtype::A, false, 0},   {"nothing.cache.test.", rrtype::A, true, 1232},
    {"www.cache.test.", rrtype::AAAA, false, 0},     {"cache.test.", rrtype::MX, false, 0},
    {"big.cache.test.", rrtype::TXT, false, 0},      {"big.cache.test.", rrtype::TXT, true, 1232},
    {"edge.cache.test.", rrtype::A, false, 0},       {"out.of.zone.example.", rrtype::A, false, 0},
    {"www.cache.test.", rrtype::ANY, false, 0},
};

server::HandlerOptions options(const server::EdgeAddresses& edges) {
  server::HandlerOptions o;
  o.alias.edges = &edges;
  return o;
}

// Answers `q` through the cache and directly; the bytes must be equal. Returns both results.
std::pair<server::HandleResult, server::HandleResult> answer_both(server::AnswerCache& cache, const zone::ZoneSet& zones,
                                                                  const std::vector<uint8_t>& q,
                                                                  const server::HandlerOptions& opts) {
  std::vector<uint8_t> want(4096), got(4096);
  server::HandleResult w = server::handle_query(zones, q, want, opts);
  server::HandleResult g = cache.answer(zones, 1, q, got, opts);
  REQUIRE(g.size == w.size);
  CHECK(std::equal(got.begin(), got.begin() + g.size, want.begin()));
  return {g, w};
}

}  // namespace

TEST_CASE("answer cache: a hit is exactly what handle_query writes, with the new query's ID") {
  auto zones = make_zones("192.0.2.10");
  server::EdgeAddresses edges;
  edges.ipv4 = {std::string("\xcb\x00\x71\x0a", 4)};
  auto opts = options(edges);
  // A fixed seed: with a random one two of these 15 queries shared a slot in ~1.5 % of runs
  // (the birthday bound for 8192 slots), and the later one evicted the earlier — a flaky miss.
  server::AnswerCache cache(server::AnswerCache::default_slots, 1);
  uint16_t id = 1;
  for (int pass = 0; pass < 3; ++pass) {
    for (const Case& c : cases) {
      CAPTURE(c.qname);
      CAPTURE(c.qtype);
      test::QueryOptions qo;
      qo.id = id++;
      qo.edns = c.edns;
      if (c.edns) qo.payload = c.payload;
      auto [g, w] = answer_both(cache, *zones, test::make_query(c.qname, c.qtype, qo), opts);
      CHECK(g.rcode == w.rcode);
      CHECK(g.qtype == w.qtype);
      CHECK(g.truncated == w.truncated);
      CHECK(g.empty_answer == w.empty_answer);
      CHECK(g.wildcard == w.wildcard);
      CHECK(g.question_end == w.question_end);
      CHECK(g.zone == w.zone);
      CHECK(g.from_cache == (pass > 0));  // every case here is static and small enough to keep
    }
  }
}

TEST_CASE("answer cache: a new zone snapshot is answered from the new data") {
  auto before = make_zones("192.0.2.10");
  auto after = make_zones("192.0.2.11");
  server::EdgeAddresses edges;
  auto opts = options(edges);
  server::AnswerCache cache;
  auto q = test::make_query("www.cache.test.", rrtype::A);
  std::vector<uint8_t> out(4096);
  auto r = cache.answer(*before, 1, q, out, opts);
  r = cache.answer(*before, 1, q, out, opts);
  CHECK(r.from_cache);
  CHECK(test::decode({out.data(), r.size}).answer == test::normalize_rrs({"www.cache.test. 3600 IN A 192.0.2.10"}));
  r = cache.answer(*after, 2, q, out, opts);
  CHECK_FALSE(r.from_cache);
  CHECK(test::decode({out.data(), r.size}).answer == test::normalize_rrs({"www.cache.test. 3600 IN A 192.0.2.11"}));
  r = cache.answer(*after, 2, q, out, opts);
  CHECK(r.from_cache);
}

TEST_CASE("answer cache: a name flattened through our own zones is static and kept") {
  auto zones = make_zones("192.0.2.10");
  server::EdgeAddresses edges;
  auto opts = options(edges);
  server::AnswerCache cache;
  auto q = test::make_query("cache.test.", rrtype::A);  // the apex CNAME -> app.cache.test., in this zone
  std::vector<uint8_t> out(4096);
  for (int i = 0; i < 3; ++i) {
    auto r = cache.answer(*zones, 1, q, out, opts);
    CHECK(r.flattened);
    CHECK(r.from_cache == (i > 0));
    CHECK(test::decode({out.data(), r.size}).answer == test::normalize_rrs({"cache.test. 60 IN A 198.51.100.10"}));
  }
}

TEST_CASE("answer cache: colliding queries in one slot each get their own answer") {
  auto zones = make_zones("192.0.2.10");
  server::EdgeAddresses edges;
  auto opts = options(edges);
  server::AnswerCache cache(1);  // one slot: every query collides
  const char* names[] = {"www.cache.test.", "mail.cache.test.", "WWW.cache.test.", "ns1.cache.test."};
  for (int round = 0; round < 3; ++round) {
    for (const char* n : names) {
      answer_both(cache, *zones, test::make_query(n, rrtype::A), opts);
    }
  }
  // The same query twice in a row is a hit even with one slot.
  auto q = test::make_query("mail.cache.test.", rrtype::A);
  std::vector<uint8_t> out(4096);
  cache.answer(*zones, 1, q, out, opts);
  CHECK(cache.answer(*zones, 1, q, out, opts).from_cache);
}

TEST_CASE("answer cache: malformed queries and oversized answers are answered but not kept") {
  auto zones = make_zones("192.0.2.10");
  server::EdgeAddresses edges;
  auto opts = options(edges);
  server::AnswerCache cache;
  test::QueryOptions qo;
  qo.edns = true;
  qo.payload = 4096;
  opts.max_udp_payload = 4096;
  auto big = test::make_query("big.cache.test.", rrtype::TXT, qo);  // > 512 bytes of answer
  std::vector<uint8_t> out(4096);
  auto r = cache.answer(*zones, 1, big, out, opts);
  CHECK(r.size > server::AnswerCache::max_answer);
  CHECK_FALSE(cache.answer(*zones, 1, big, out, opts).from_cache);
  auto bad = test::make_query("www.cache.test.", rrtype::A);
  bad[5] = 2;  // QDCOUNT 2: FORMERR
  r = cache.answer(*zones, 1, bad, out, opts);
  CHECK(r.rcode == wire::rcode::FORMERR);
  CHECK_FALSE(cache.answer(*zones, 1, bad, out, opts).from_cache);
}

TEST_CASE("answer cache: a name that points into the ID is never answered from the cache (fuzz regression)") {
  // Found by fuzz_packet: the question name ends with a pointer to offset 0, so the ID bytes are
  // read as labels and two queries equal but for their IDs mean different names.
  auto zones = make_zones("192.0.2.10");
  server::EdgeAddresses edges;
  auto opts = options(edges);
  server::AnswerCache cache;
  auto with_id = [](uint8_t a, uint8_t b) {
    std::vector<uint8_t> q = {a, b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                              1, 'y', 0xC0, 0x00,  // "y" + pointer to the ID
                              0, 1, 0, 1};
    return q;
  };
  const std::vector<std::vector<uint8_t>> queries = {
      with_id(0x00, 0x00), with_id(0x05, 'w'), with_id(0x00, 0x00), with_id(0x03, 'w'), with_id(0x05, 'w')};
  for (const auto& q : queries) CHECK_FALSE(answer_both(cache, *zones, q, opts).first.from_cache);
}
