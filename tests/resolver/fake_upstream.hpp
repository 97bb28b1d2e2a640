// Test doubles for the resolver: a scripted upstream and a controllable clock.
#pragma once
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>

#include "resolver/alias_resolver.hpp"
#include "resolver/upstream.hpp"
#include "zone/wire/name.hpp"

namespace apexd::test {

/// Answers every query with `answer(name, type)` after `delay`; counts the queries it got.
class ScriptedUpstream final : public resolver::UpstreamClient {
 public:
  std::function<resolver::Resolution(std::string name, uint16_t type)> answer;
  std::chrono::milliseconds delay{0};
  int queries = 0;

  boost::asio::awaitable<resolver::Resolution> resolve(wire::NameView name, uint16_t type) override {
    ++queries;
    if (delay.count() > 0) {
      boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, delay);
      co_await t.async_wait(boost::asio::use_awaitable);
    }
    co_return answer(wire::name_to_text(name), type);
  }
};

/// A clock the test moves by hand.
struct FakeClock {
  resolver::TimePoint now = resolver::TimePoint{} + std::chrono::hours(1000);
  resolver::AliasResolver::NowFn fn() {
    return [this] { return now; };
  }
  void advance(std::chrono::seconds s) { now += s; }
};

inline resolver::Resolution addresses(uint32_t ttl, std::initializer_list<std::string> rdata) {
  resolver::Resolution r;
  r.outcome = resolver::Outcome::addresses;
  r.ttl = ttl;
  r.rdata = rdata;
  return r;
}

inline std::string rname(const char* text) { return *wire::name_from_text(text); }
inline wire::NameView rview(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

}  // namespace apexd::test
