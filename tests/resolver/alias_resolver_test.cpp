// AliasResolver: coalescing of concurrent misses, results cached, background prefetch.
#include "resolver/alias_resolver.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "tests/resolver/fake_upstream.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using test::rview;

namespace {
resolver::CacheOptions opts() {
  resolver::CacheOptions o;
  o.hash_seed = 7;
  o.serve_stale = 3600s;
  return o;
}
}  // namespace

TEST_CASE("resolver: N concurrent misses for one name cause exactly one upstream query") {
  test::ScriptedUpstream up;
  up.delay = 50ms;
  up.answer = [](std::string, uint16_t) { return test::addresses(300, {"\x0a\x00\x00\x01"}); };
  test::FakeClock clock;
  resolver::AliasResolver r(opts(), up, clock.fn());
  asio::io_context io;
  std::string name = test::rname("app.platform.test.");
  constexpr int n = 100;
  int done = 0, correct = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      resolver::Resolution res = co_await r.resolve(rview(name), wire::rrtype::A);
      ++done;
      if (res.outcome == resolver::Outcome::addresses && res.rdata.size() == 1 && res.ttl == 300) ++correct;
    }, asio::detached);
  }
  io.run_for(5s);
  CHECK(done == n);
  CHECK(correct == n);
  CHECK(up.queries == 1);
  CHECK(r.stats().coalesced.load() == n - 1);
}

TEST_CASE("resolver: waiters on other threads' executors are resumed on their own executors") {
  test::ScriptedUpstream up;
  up.delay = 30ms;
  up.answer = [](std::string, uint16_t) { return test::addresses(300, {"\x0a\x00\x00\x02"}); };
  resolver::AliasResolver r(opts(), up);
  std::string name = test::rname("threads.test.");
  asio::io_context a, b;
  std::atomic<int> ok{0};
  std::thread::id ta, tb;
  auto spawn = [&](asio::io_context& io, std::thread::id* tid) {
    for (int i = 0; i < 20; ++i)
      asio::co_spawn(io, [&, tid]() -> asio::awaitable<void> {
        auto res = co_await r.resolve(rview(name), wire::rrtype::A);
        if (res.outcome == resolver::Outcome::addresses && std::this_thread::get_id() == *tid) ++ok;
      }, asio::detached);
  };
  spawn(a, &ta);
  spawn(b, &tb);
  std::thread t1([&] { ta = std::this_thread::get_id(); a.run_for(3s); });
  std::thread t2([&] { tb = std::this_thread::get_id(); b.run_for(3s); });
  t1.join();
  t2.join();
  CHECK(ok.load() == 40);
  CHECK(up.queries <= 2);  // one per racing leader at most; usually 1
}

TEST_CASE("resolver: a resolved name is answered from the cache, and a hit near expiry prefetches") {
  test::ScriptedUpstream up;
  int serial = 0;
  up.answer = [&](std::string, uint16_t) {
    ++serial;
    return test::addresses(100, {std::string("\x0a\x00\x00", 3) + char(serial)});
  };
  test::FakeClock clock;
  resolver::AliasResolver r(opts(), up, clock.fn());
  asio::io_context io;
  std::string name = test::rname("pre.test.");
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await r.resolve(rview(name), wire::rrtype::A); }, asio::detached);
  io.run();
  io.restart();
  REQUIRE(up.queries == 1);

  asio::any_io_executor ex = io.get_executor();
  std::string seen;
  auto visit = [&](const resolver::CacheEntry& e, uint32_t) { seen = e.value.rdata.at(0); };
  clock.advance(50s);
  auto p = r.probe(ex, rview(name), wire::rrtype::A, visit);
  CHECK(p.freshness == resolver::Freshness::fresh);
  io.run();
  io.restart();
  CHECK(up.queries == 1);  // no refresh at half the TTL

  clock.advance(45s);  // 5 s left of 100: prefetch
  p = r.probe(ex, rview(name), wire::rrtype::A, visit);
  CHECK(p.prefetch_due);
  CHECK(seen.back() == char(1));  // still served the old value at once
  io.run();
  CHECK(up.queries == 2);
  CHECK(r.stats().prefetches.load() == 1);
  r.probe(ex, rview(name), wire::rrtype::A, visit);
  CHECK(seen.back() == char(2));  // refreshed in the background
}

TEST_CASE("resolver: failures are returned to every waiter and not cached") {
  test::ScriptedUpstream up;
  up.delay = 10ms;
  up.answer = [](std::string, uint16_t) {
    resolver::Resolution r;
    r.outcome = resolver::Outcome::failure;
    r.ede_code = resolver::ede::no_reachable_authority;
    return r;
  };
  resolver::AliasResolver r(opts(), up);
  asio::io_context io;
  std::string name = test::rname("down.test.");
  int failures = 0;
  for (int i = 0; i < 5; ++i)
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      auto res = co_await r.resolve(rview(name), wire::rrtype::A);
      if (res.outcome == resolver::Outcome::failure) ++failures;
    }, asio::detached);
  io.run_for(2s);
  CHECK(failures == 5);
  CHECK(up.queries == 1);
  auto p = r.cache().probe(rview(name), wire::rrtype::A, r.now(), [](const resolver::CacheEntry&, uint32_t) {});
  CHECK(p.freshness == resolver::Freshness::missing);
}

namespace {
resolver::Resolution failed() {
  resolver::Resolution r;
  r.outcome = resolver::Outcome::failure;
  r.ede_code = resolver::ede::no_reachable_authority;
  return r;
}

// One resolve() to completion on `io`.
resolver::Resolution resolve_once(asio::io_context& io, resolver::AliasResolver& r, const std::string& name) {
  resolver::Resolution out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await r.resolve(rview(name), wire::rrtype::A); },
                 asio::detached);
  io.run();
  io.restart();
  return out;
}
}  // namespace

TEST_CASE("resolver: after a failure a name with stale data is not asked again within failure_recheck (RFC 8767 §5)") {
  test::ScriptedUpstream up;
  bool down = false;
  up.answer = [&](std::string, uint16_t) { return down ? failed() : test::addresses(100, {std::string("\x0a\x00\x00\x01", 4)}); };
  test::FakeClock clock;
  resolver::AliasResolver r(opts(), up, clock.fn());  // failure_recheck: the default 30 s
  asio::io_context io;
  std::string name = test::rname("recheck.test.");
  CHECK(resolve_once(io, r, name).outcome == resolver::Outcome::addresses);
  clock.advance(150s);  // expired, still within serve_stale
  down = true;
  CHECK(resolve_once(io, r, name).outcome == resolver::Outcome::failure);
  CHECK(up.queries == 2);
  clock.advance(10s);
  auto held = resolve_once(io, r, name);
  CHECK(held.outcome == resolver::Outcome::failure);
  CHECK(held.ede_code == resolver::ede::no_reachable_authority);
  CHECK(up.queries == 2);  // held: no upstream query
  CHECK(r.stats().held_failures.load() == 1);
  clock.advance(19s);  // 29 s after the failure
  resolve_once(io, r, name);
  CHECK(up.queries == 2);
  clock.advance(2s);  // 31 s: ask again
  down = false;
  CHECK(resolve_once(io, r, name).outcome == resolver::Outcome::addresses);
  CHECK(up.queries == 3);
  clock.advance(150s);  // a success clears the hold: the next failure is asked for
  down = true;
  resolve_once(io, r, name);
  CHECK(up.queries == 4);
}

TEST_CASE("resolver: a failure without stale data is held at most 5 s; failure_recheck = 0 asks every time") {
  test::ScriptedUpstream up;
  up.answer = [](std::string, uint16_t) { return failed(); };
  test::FakeClock clock;
  std::string name = test::rname("never.test.");
  SUBCASE("default") {
    resolver::AliasResolver r(opts(), up, clock.fn());
    asio::io_context io;
    resolve_once(io, r, name);
    clock.advance(4s);
    resolve_once(io, r, name);
    CHECK(up.queries == 1);
    clock.advance(2s);
    resolve_once(io, r, name);
    CHECK(up.queries == 2);
  }
  SUBCASE("off") {
    auto o = opts();
    o.failure_recheck = 0s;
    resolver::AliasResolver r(o, up, clock.fn());
    asio::io_context io;
    for (int i = 0; i < 3; ++i) resolve_once(io, r, name);
    CHECK(up.queries == 3);
    CHECK(r.stats().held_failures.load() == 0);
  }
}
