// Cache: TTL countdown and clamping, negative entries, serve-stale window, prefetch claim, eviction.
#include "resolver/cache.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "resolver/alias_resolver.hpp"
#include "tests/resolver/fake_upstream.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using namespace std::chrono_literals;
using test::rview;

namespace {

struct Seen {
  resolver::Freshness freshness = resolver::Freshness::missing;
  uint32_t remaining = 0;
  resolver::Outcome outcome = resolver::Outcome::failure;
  size_t addresses = 0;
};

Seen look(resolver::Cache& c, const std::string& name, resolver::TimePoint now, bool* prefetch = nullptr) {
  Seen s;
  auto p = c.probe(rview(name), wire::rrtype::A, now, [&](const resolver::CacheEntry& e, uint32_t remaining) {
    s.remaining = remaining;
    s.outcome = e.value.outcome;
    s.addresses = e.value.rdata.size();
  });
  s.freshness = p.freshness;
  if (prefetch) *prefetch = p.prefetch_due;
  return s;
}

resolver::CacheOptions opts() {
  resolver::CacheOptions o;
  o.min_ttl = 5;
  o.max_ttl = 3600;
  o.serve_stale = 60s;
  o.hash_seed = 42;
  return o;
}

}  // namespace

TEST_CASE("cache: TTL counts down and the entry goes stale, then away") {
  resolver::Cache c(opts());
  test::FakeClock clock;
  std::string name = test::rname("app.platform.test.");
  c.insert(rview(name), wire::rrtype::A, test::addresses(100, {"\x01\x02\x03\x04"}), clock.now);

  Seen s = look(c, name, clock.now);
  CHECK(s.freshness == resolver::Freshness::fresh);
  CHECK(s.remaining == 100);
  CHECK(s.addresses == 1);

  clock.advance(30s);
  CHECK(look(c, name, clock.now).remaining == 70);

  clock.advance(70s);  // expired: stale, still visible for serve-stale
  CHECK(look(c, name, clock.now).freshness == resolver::Freshness::stale);
  clock.advance(59s);
  CHECK(look(c, name, clock.now).freshness == resolver::Freshness::stale);
  clock.advance(1s);  // past serve_stale
  CHECK(look(c, name, clock.now).freshness == resolver::Freshness::missing);
}

TEST_CASE("cache: TTLs are clamped to [min_ttl, max_ttl]") {
  struct Case {
    uint32_t ttl, expected;
  };
  for (Case k : {Case{0, 5}, Case{1, 5}, Case{5, 5}, Case{300, 300}, Case{3600, 3600}, Case{86400, 3600}}) {
    CAPTURE(k.ttl);
    resolver::Cache c(opts());
    test::FakeClock clock;
    std::string name = test::rname("x.test.");
    c.insert(rview(name), wire::rrtype::A, test::addresses(k.ttl, {"\x01\x02\x03\x04"}), clock.now);
    CHECK(look(c, name, clock.now).remaining == k.expected);
  }
}

TEST_CASE("cache: negative answers are cached (RFC 2308), failures are not") {
  resolver::Cache c(opts());
  test::FakeClock clock;
  std::string nx = test::rname("nx.test."), nodata = test::rname("nodata.test."), fail = test::rname("f.test.");
  resolver::Resolution r;
  r.outcome = resolver::Outcome::nxdomain;
  r.ttl = 30;
  c.insert(rview(nx), wire::rrtype::A, r, clock.now);
  r.outcome = resolver::Outcome::nodata;
  c.insert(rview(nodata), wire::rrtype::A, r, clock.now);
  r.outcome = resolver::Outcome::failure;
  c.insert(rview(fail), wire::rrtype::A, r, clock.now);

  CHECK(look(c, nx, clock.now).outcome == resolver::Outcome::nxdomain);
  CHECK(look(c, nx, clock.now).remaining == 30);
  CHECK(look(c, nodata, clock.now).outcome == resolver::Outcome::nodata);
  CHECK(look(c, fail, clock.now).freshness == resolver::Freshness::missing);
}

TEST_CASE("cache: keys are (name, type) and names compare as given (callers lowercase)") {
  resolver::Cache c(opts());
  test::FakeClock clock;
  std::string name = test::rname("a.test.");
  c.insert(rview(name), wire::rrtype::A, test::addresses(60, {"\x01\x02\x03\x04"}), clock.now);
  auto p = c.probe(rview(name), wire::rrtype::AAAA, clock.now, [](const resolver::CacheEntry&, uint32_t) {});
  CHECK(p.freshness == resolver::Freshness::missing);
}

TEST_CASE("cache: prefetch is due once, in the last tenth of the TTL") {
  resolver::Cache c(opts());
  test::FakeClock clock;
  std::string name = test::rname("hot.test.");
  c.insert(rview(name), wire::rrtype::A, test::addresses(100, {"\x01\x02\x03\x04"}), clock.now);
  bool due = true;
  clock.advance(50s);
  look(c, name, clock.now, &due);
  CHECK_FALSE(due);
  clock.advance(41s);  // 9 s left of 100
  look(c, name, clock.now, &due);
  CHECK(due);
  look(c, name, clock.now, &due);
  CHECK_FALSE(due);  // claimed: one refresh at a time
  c.release_prefetch(rview(name), wire::rrtype::A);
  look(c, name, clock.now, &due);
  CHECK(due);
}

TEST_CASE("cache: size is bounded, least recently used entries go first") {
  resolver::CacheOptions o = opts();
  o.max_entries = 64;
  resolver::Cache c(o);
  test::FakeClock clock;
  std::string keep = test::rname("keep.test.");
  c.insert(rview(keep), wire::rrtype::A, test::addresses(600, {"\x01\x02\x03\x04"}), clock.now);
  for (int i = 0; i < 2000; ++i) {
    std::string n = test::rname(("n" + std::to_string(i) + ".test.").c_str());
    c.insert(rview(n), wire::rrtype::A, test::addresses(600, {"\x01\x02\x03\x04"}), clock.now);
    look(c, keep, clock.now);  // keep it recently used
  }
  CHECK(c.size() <= 64);
  CHECK(c.evictions() >= 2000 - 64);
  CHECK(look(c, keep, clock.now).freshness == resolver::Freshness::fresh);
}

TEST_CASE("cache: a busy shard is 'busy' to probe() but waited for by probe_blocking() (stale path regression)") {
  resolver::Cache c(opts());
  test::FakeClock clock;
  std::string name = test::rname("busy.test.");
  c.insert(rview(name), wire::rrtype::A, test::addresses(60, {"\x01\x02\x03\x04"}), clock.now);
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    c.probe(rview(name), wire::rrtype::A, clock.now, [&](const resolver::CacheEntry&, uint32_t) {
      holding = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // keeps the shard locked
    });
  });
  while (!holding) std::this_thread::yield();
  auto quick = c.probe(rview(name), wire::rrtype::A, clock.now, [](const resolver::CacheEntry&, uint32_t) {});
  CHECK(quick.busy);
  bool seen = false;
  auto waited = c.probe_blocking(rview(name), wire::rrtype::A, clock.now,
                                 [&](const resolver::CacheEntry&, uint32_t) { seen = true; });
  CHECK_FALSE(waited.busy);
  CHECK(waited.freshness == resolver::Freshness::fresh);
  CHECK(seen);
  holder.join();
}
