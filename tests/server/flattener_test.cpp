// Flattened and proxied answers through handle_query: local chains, the resolver's cache with a
// fake clock and a scripted upstream, stale answers and SERVFAIL with Extended DNS Errors.
#include "server/answer_cache.hpp"
#include "server/flattener.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "server/query_handler.hpp"
#include "support/dns_test.hpp"
#include "tests/resolver/fake_upstream.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using namespace std::chrono_literals;
namespace rrtype = wire::rrtype;
namespace rcode = wire::rcode;

namespace {

const char* cust_zone = R"($ORIGIN cust.test.
$TTL 3600
@      SOA ns1 hostmaster 1 7200 3600 1209600 300
@      NS  ns1
@      MX  10 mail
@      MX  20 origin
@      TXT "apex text"
@      CNAME app.platform.test.
ns1    A   192.0.2.53
mail   A   192.0.2.25
www    CNAME app.platform.test.
origin A   198.51.100.7 ; the real server cf_tags=cf-proxied:true
viaproxy CNAME www
ext    CNAME far.example.net.
gone   CNAME nothing.platform.test.
v4only CNAME v4.platform.test.
loop   CNAME loop.platform.test.
)";

const char* platform_zone = R"($ORIGIN platform.test.
$TTL 600
@      SOA ns hostmaster 1 7200 3600 1209600 300
@      NS  ns
ns     A   192.0.2.1
app    CNAME app-backend
app-backend 60 A 198.51.100.10
app-backend 60 A 198.51.100.11
app-backend 120 AAAA 2001:db8::10
v4     A   198.51.100.20
loop   CNAME loop.cust.test.
)";

zone::ZoneOptions cust_options(zone::FlattenMode mode = zone::FlattenMode::apex) {
  zone::ZoneOptions o;
  o.flatten = mode;
  o.proxied = {test::wire_name("www.cust.test.")};
  return o;
}

std::shared_ptr<const zone::ZoneSet> zones(zone::FlattenMode mode = zone::FlattenMode::apex) {
  std::string cust = test::wire_name("cust.test."), plat = test::wire_name("platform.test.");
  auto c = zone::compile_zone(test::view(cust), zone::load_zone_text(cust_zone, test::view(cust), "cust.zone"),
                              "cust.zone", cust_options(mode));
  auto p = zone::compile_zone(test::view(plat), zone::load_zone_text(platform_zone, test::view(plat), "p.zone"),
                              "p.zone");
  return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{c, p});
}

struct Fixture {
  std::shared_ptr<const zone::ZoneSet> set = zones();
  server::EdgeAddresses edges;
  test::ScriptedUpstream upstream;
  test::FakeClock clock;
  resolver::CacheOptions cache_opts;
  std::unique_ptr<resolver::AliasResolver> resolver;
  bool upstream_up = true;

  Fixture() {
    edges.ipv4 = {std::string("\xcb\x00\x71\x0a", 4)};  // 203.0.113.10
    edges.ttl = 300;
    cache_opts.serve_stale = 100s;
    cache_opts.hash_seed = 3;
    upstream.answer = [this](std::string name, uint16_t type) {
      resolver::Resolution r;
      if (!upstream_up) {
        r.ede_code = resolver::ede::no_reachable_authority;
        r.ede_text = "no upstream answered in time";
        return r;
      }
      if (name == "far.example.net." && type == rrtype::A) return test::addresses(200, {std::string("\xc0\x00\x02\x63", 4)});
      r.outcome = resolver::Outcome::nodata;
      r.ttl = 60;
      return r;
    };
    resolver = std::make_unique<resolver::AliasResolver>(cache_opts, upstream, clock.fn());
  }

  server::HandlerOptions options() {
    server::HandlerOptions o;
    o.alias.edges = &edges;
    o.alias.resolver = resolver.get();
    return o;
  }

  // Answers like a transport would: a first pass, then (if needed) resolve and a second pass.
  test::Decoded ask(const char* qname, uint16_t qtype, bool* waited = nullptr) {
    test::QueryOptions qo;
    qo.edns = true;
    auto q = test::make_query(qname, qtype, qo);
    std::vector<uint8_t> out(4096);
    server::HandlerOptions o = options();
    server::HandleResult r = server::handle_query(*set, q, out, o);
    if (waited) *waited = r.needs_resolution;
    if (r.needs_resolution) {
      boost::asio::io_context io;
      resolver::Resolution res;
      boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
        res = co_await resolver->resolve(r.target.view(), r.target_type);
      }, boost::asio::detached);
      io.run();
      server::ResolvedTarget rt{r.target, r.target_type, &res};
      o.alias.resolved = &rt;
      r = server::handle_query(*set, q, out, o);
      REQUIRE_FALSE(r.needs_resolution);
    }
    last_wire.assign(out.begin(), out.begin() + r.size);
    return test::decode(last_wire);
  }

  // The EDE INFO-CODE in the last response's OPT, or -1.
  int ede() const {
    ldns_pkt* pkt = nullptr;
    if (ldns_wire2pkt(&pkt, last_wire.data(), last_wire.size()) != LDNS_STATUS_OK) return -1;
    int code = -1;
    if (ldns_rdf* data = ldns_pkt_edns_data(pkt)) {
      const uint8_t* p = ldns_rdf_data(data);
      size_t n = ldns_rdf_size(data), i = 0;
      while (i + 4 <= n) {
        uint16_t opt = uint16_t(p[i] << 8 | p[i + 1]), len = uint16_t(p[i + 2] << 8 | p[i + 3]);
        if (opt == 15 && len >= 2 && i + 6 <= n) code = p[i + 4] << 8 | p[i + 5];
        i += 4 + len;
      }
    }
    ldns_pkt_free(pkt);
    return code;
  }

  std::vector<uint8_t> last_wire;
};

std::vector<std::string> rrs(std::initializer_list<std::string> texts) { return test::normalize_rrs(texts); }

}  // namespace

TEST_CASE("flatten: the apex answers its target's addresses from our own zones, TTL = chain minimum") {
  Fixture f;
  bool waited = true;
  auto d = f.ask("CuSt.TeSt.", rrtype::A, &waited);
  CHECK_FALSE(waited);  // a target we serve needs no network
  CHECK(d.rcode == rcode::NOERROR);
  CHECK(d.aa);
  CHECK(d.qname == "CuSt.TeSt.");
  CHECK(d.answer == rrs({"cust.test. 60 IN A 198.51.100.10", "cust.test. 60 IN A 198.51.100.11"}));
  CHECK(d.authority.empty());
  d = f.ask("cust.test.", rrtype::AAAA);
  CHECK(d.answer == rrs({"cust.test. 120 IN AAAA 2001:db8::10"}));
}

TEST_CASE("flatten: CNAME, ANY and other types at a flattened apex never reveal the target") {
  Fixture f;
  auto d = f.ask("cust.test.", rrtype::CNAME);
  CHECK(d.rcode == rcode::NOERROR);
  CHECK(d.answer.empty());
  CHECK(d.authority == rrs({"cust.test. 300 IN SOA ns1.cust.test. hostmaster.cust.test. 1 7200 3600 1209600 300"}));
  d = f.ask("cust.test.", rrtype::ANY);
  CHECK(d.answer == rrs({"cust.test. 60 IN A 198.51.100.10", "cust.test. 60 IN A 198.51.100.11"}));
  d = f.ask("cust.test.", rrtype::TXT);
  CHECK(d.answer == rrs({"cust.test. 3600 IN TXT \"apex text\""}));
  d = f.ask("cust.test.", rrtype::MX);
  CHECK(d.answer.size() == 2);
  for (const auto& s : d.answer) CHECK(s.find("platform") == std::string::npos);
}

TEST_CASE("flatten: a missing target, or one without the type, is NODATA with our SOA") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  for (auto [name, type] : {std::pair{"gone.cust.test.", rrtype::A}, std::pair{"v4only.cust.test.", rrtype::AAAA}}) {
    CAPTURE(name);
    auto d = f.ask(name, type);
    CHECK(d.rcode == rcode::NOERROR);
    CHECK(d.answer.empty());
    REQUIRE(d.authority.size() == 1);
    CHECK(d.authority[0].rfind("cust.test.", 0) == 0);
  }
  auto d = f.ask("v4only.cust.test.", rrtype::A);
  CHECK(d.answer == rrs({"v4only.cust.test. 600 IN A 198.51.100.20"}));
}

TEST_CASE("flatten: a chain looping between our zones is SERVFAIL with an EDE, never a hang") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  auto d = f.ask("loop.cust.test.", rrtype::A);
  CHECK(d.rcode == rcode::SERVFAIL);
  CHECK(f.ede() == resolver::ede::other);
}

TEST_CASE("flatten: flatten = \"all\" flattens every CNAME; \"apex\" leaves others as CNAMEs") {
  Fixture f;
  auto d = f.ask("gone.cust.test.", rrtype::A);
  CHECK(d.answer == rrs({"gone.cust.test. 3600 IN CNAME nothing.platform.test."}));
  f.set = zones(zone::FlattenMode::all);
  d = f.ask("v4only.cust.test.", rrtype::A);
  CHECK(d.answer == rrs({"v4only.cust.test. 600 IN A 198.51.100.20"}));
}

TEST_CASE("flatten: flatten = \"none\" refuses an apex CNAME with file:line") {
  std::string cust = test::wire_name("cust.test.");
  CHECK_THROWS_WITH_AS(zone::compile_zone(test::view(cust), zone::load_zone_text(cust_zone, test::view(cust), "cust.zone"),
                                          "cust.zone", cust_options(zone::FlattenMode::none)),
                       doctest::Contains("cust.zone:8: CNAME at the zone apex"), zone::ZoneError);
}

TEST_CASE("flatten: an external target is resolved once, then answered from the cache as its TTL counts down") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  bool waited = false;
  auto d = f.ask("ext.cust.test.", rrtype::A, &waited);
  CHECK(waited);
  CHECK(d.answer == rrs({"ext.cust.test. 200 IN A 192.0.2.99"}));
  f.clock.advance(50s);
  d = f.ask("ext.cust.test.", rrtype::A, &waited);
  CHECK_FALSE(waited);  // cache hit, answered synchronously
  CHECK(d.answer == rrs({"ext.cust.test. 150 IN A 192.0.2.99"}));
  CHECK(f.upstream.queries == 1);
}

TEST_CASE("flatten: upstream down → stale answer (TTL 30, EDE 3), then SERVFAIL (EDE 22) past serve_stale") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  f.ask("ext.cust.test.", rrtype::A);
  f.upstream_up = false;
  f.clock.advance(250s);  // expired 50 s ago; serve_stale is 100 s
  auto d = f.ask("ext.cust.test.", rrtype::A);
  CHECK(d.rcode == rcode::NOERROR);
  CHECK(d.answer == rrs({"ext.cust.test. 30 IN A 192.0.2.99"}));
  CHECK(f.ede() == resolver::ede::stale_answer);
  f.clock.advance(60s);  // past serve_stale
  d = f.ask("ext.cust.test.", rrtype::A);
  CHECK(d.rcode == rcode::SERVFAIL);
  CHECK(d.answer.empty());
  CHECK(f.ede() == resolver::ede::no_reachable_authority);
}

TEST_CASE("flatten: upstream down → a stale negative answer is NODATA with EDE 3, not SERVFAIL") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  auto d = f.ask("ext.cust.test.", rrtype::AAAA);  // the target has no AAAA: NODATA, cached 60 s
  CHECK(d.rcode == rcode::NOERROR);
  CHECK(d.answer.empty());
  CHECK(f.ede() == -1);
  f.upstream_up = false;
  f.clock.advance(90s);  // expired 30 s ago; serve_stale is 100 s
  d = f.ask("ext.cust.test.", rrtype::AAAA);
  CHECK(d.rcode == rcode::NOERROR);
  CHECK(d.answer.empty());
  CHECK(d.authority.size() == 1);  // the zone's SOA, as for any NODATA
  CHECK(f.ede() == resolver::ede::stale_answer);
}

TEST_CASE("flatten: after a failure, stale answers come at once without asking upstream until failure_recheck") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  f.ask("ext.cust.test.", rrtype::A);
  f.upstream_up = false;
  f.clock.advance(250s);
  f.ask("ext.cust.test.", rrtype::A);
  const int asked = f.upstream.queries;
  for (int i = 0; i < 5; ++i) {
    f.clock.advance(5s);  // 5..25 s after the failure
    auto d = f.ask("ext.cust.test.", rrtype::A);
    CHECK(d.answer == rrs({"ext.cust.test. 30 IN A 192.0.2.99"}));
    CHECK(f.ede() == resolver::ede::stale_answer);
  }
  CHECK(f.upstream.queries == asked);
  f.clock.advance(6s);  // 31 s: the upstream is asked again, and is back
  f.upstream_up = true;
  auto d = f.ask("ext.cust.test.", rrtype::A);
  CHECK(f.upstream.queries == asked + 1);
  CHECK(d.answer == rrs({"ext.cust.test. 200 IN A 192.0.2.99"}));
  CHECK(f.ede() == -1);
}

TEST_CASE("flatten: the answer cache reuses a flattened answer only until its TTL ticks or the resolver's cache changes") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  f.ask("ext.cust.test.", rrtype::A);  // resolved once: now in the resolver's cache (TTL 200)
  server::AnswerCache cache;
  auto opts = f.options();
  auto q = test::make_query("ext.cust.test.", rrtype::A);
  std::vector<uint8_t> want(4096), got(4096);
  auto same_as_direct = [&](bool expect_hit) {
    auto w = server::handle_query(*f.set, q, want, opts);
    auto g = cache.answer(*f.set, 1, q, got, opts);
    CHECK(g.from_cache == expect_hit);
    REQUIRE(g.size == w.size);
    CHECK(std::equal(got.begin(), got.begin() + g.size, want.begin()));
    return test::decode({got.data(), g.size});
  };
  CHECK(same_as_direct(false).answer == rrs({"ext.cust.test. 200 IN A 192.0.2.99"}));
  CHECK(same_as_direct(true).answer == rrs({"ext.cust.test. 200 IN A 192.0.2.99"}));  // same second: a copy
  f.clock.advance(1s);  // the TTL ticked: answered afresh
  CHECK(same_as_direct(false).answer == rrs({"ext.cust.test. 199 IN A 192.0.2.99"}));
  CHECK(same_as_direct(true).answer == rrs({"ext.cust.test. 199 IN A 192.0.2.99"}));
  // Anything stored in the resolver's cache (here another name) ends the reuse at once.
  f.ask("ext.cust.test.", rrtype::AAAA);
  CHECK(same_as_direct(false).answer == rrs({"ext.cust.test. 199 IN A 192.0.2.99"}));
  // Expired: the first pass needs the resolver again, nothing is reused.
  f.clock.advance(300s);
  auto r = cache.answer(*f.set, 1, q, got, opts);
  CHECK(r.needs_resolution);
  CHECK_FALSE(r.from_cache);
}

TEST_CASE("flatten: without a resolver an external target is SERVFAIL with an EDE, not silence") {
  Fixture f;
  f.set = zones(zone::FlattenMode::all);
  f.resolver.reset();
  auto d = f.ask("ext.cust.test.", rrtype::A);
  CHECK(d.rcode == rcode::SERVFAIL);
  CHECK(f.ede() == resolver::ede::no_reachable_authority);
}

TEST_CASE("proxied: edge addresses with the proxy TTL; no query type reveals the origin") {
  Fixture f;
  auto d = f.ask("www.cust.test.", rrtype::A);
  CHECK(d.answer == rrs({"www.cust.test. 300 IN A 203.0.113.10"}));
  d = f.ask("www.cust.test.", rrtype::AAAA);  // no IPv6 edges: NODATA
  CHECK(d.rcode == rcode::NOERROR);
  CHECK(d.answer.empty());
  CHECK(d.authority.size() == 1);
  d = f.ask("www.cust.test.", rrtype::CNAME);
  CHECK(d.answer.empty());
  d = f.ask("origin.cust.test.", rrtype::A);  // proxied by its cf_tags comment
  CHECK(d.answer == rrs({"origin.cust.test. 300 IN A 203.0.113.10"}));
  d = f.ask("viaproxy.cust.test.", rrtype::A);  // a DNS-only CNAME to a proxied name
  CHECK(d.answer == rrs({"viaproxy.cust.test. 3600 IN CNAME www.cust.test.", "www.cust.test. 300 IN A 203.0.113.10"}));
}

TEST_CASE("proxied: an MX target that is proxied gets no origin addresses in the additional section") {
  Fixture f;
  auto d = f.ask("cust.test.", rrtype::MX);
  CHECK(d.additional == rrs({"mail.cust.test. 3600 IN A 192.0.2.25"}));
  for (const auto& s : d.additional) CHECK(s.find("198.51.100.7") == std::string::npos);
}
