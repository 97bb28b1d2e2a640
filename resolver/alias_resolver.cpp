// Coalescing: the first miss for a key queries upstream; later ones wait for its result, each
// resumed on its own executor. Prefetch refreshes a popular entry before it expires.
#include "resolver/alias_resolver.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <vector>

namespace apexd::resolver {

namespace asio = boost::asio;

struct AliasResolver::Inflight {
  std::mutex mutex;
  bool done = false;
  Resolution result;
  std::vector<std::function<void(const Resolution&)>> waiters;

  void complete(const Resolution& r) {
    std::vector<std::function<void(const Resolution&)>> ws;
    {
      std::lock_guard lock(mutex);
      done = true;
      result = r;
      ws.swap(waiters);
    }
    for (auto& w : ws) w(r);
  }

  // Suspends until complete(); the continuation runs on the waiter's own executor.
  asio::awaitable<Resolution> wait() {
    auto ex = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Resolution)>(
        [this, ex](auto handler) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          auto resume = [h, ex](const Resolution& r) {
            asio::post(ex, [h, r]() mutable { (*h)(std::move(r)); });
          };
          std::unique_lock lock(mutex);
          if (done) {
            Resolution r = result;
            lock.unlock();
            resume(r);
            return;
          }
          if (waiters.size() >= max_coalesced_waiters) {
            lock.unlock();
            Resolution r;
            r.ede_code = ede::other;
            r.ede_text = "too many clients waiting for one name";
            resume(r);
            return;
          }
          waiters.push_back(std::move(resume));
        },
        asio::use_awaitable);
  }
};

asio::awaitable<Resolution> AliasResolver::resolve(wire::NameView lower_name, uint16_t type) {
  std::string key(reinterpret_cast<const char*>(lower_name.data()), lower_name.size());
  key.push_back(char(type >> 8));
  key.push_back(char(type));
  std::shared_ptr<Inflight> flight;
  bool leader = false;
  std::optional<Resolution> held;
  {
    std::lock_guard lock(inflight_mutex_);
    if (auto h = held_.find(key); h != held_.end()) {
      if (now_() < h->second.retry_at)
        held = h->second.result;
      else
        held_.erase(h);
    }
  }
  if (held) {
    stats_.held_failures.fetch_add(1, std::memory_order_relaxed);
    co_return *held;
  }
  {
    std::lock_guard lock(inflight_mutex_);
    auto [it, inserted] = inflight_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Inflight>();
    flight = it->second;
    leader = inserted;
  }
  if (!leader) {
    stats_.coalesced.fetch_add(1, std::memory_order_relaxed);
    co_return co_await flight->wait();
  }
  stats_.misses.fetch_add(1, std::memory_order_relaxed);
  Resolution r = co_await upstream_.resolve(lower_name, type);
  cache_.insert(lower_name, type, r, now_());
  record_outcome(key, lower_name, type, r);
  {
    std::lock_guard lock(inflight_mutex_);
    inflight_.erase(key);
  }
  flight->complete(r);
  co_return r;
}

// RFC 8767 §5: after a failure, wait before asking again. With stale data to serve the wait is
// the full recheck time (clients lose nothing); without it the failure is held briefly, as
// RFC 2308 §7.1 allows for server failures, so that a dead upstream is not asked on every query.
void AliasResolver::record_outcome(const std::string& key, wire::NameView lower_name, uint16_t type, const Resolution& r) {
  if (failure_recheck_.count() == 0) return;
  const TimePoint now = now_();
  if (r.outcome != Outcome::failure) {
    std::lock_guard lock(inflight_mutex_);
    held_.erase(key);
    return;
  }
  const auto hold = cache_.contains(lower_name, type, now) ? failure_recheck_ : std::min(failure_recheck_, failure_hold_max);
  std::lock_guard lock(inflight_mutex_);
  if (held_.size() >= max_held_failures) {
    std::erase_if(held_, [&](const auto& kv) { return kv.second.retry_at <= now; });
    if (held_.size() >= max_held_failures) held_.clear();
  }
  held_[key] = HeldFailure{now + hold, r};
}

void AliasResolver::prefetch(const asio::any_io_executor& ex, wire::NameView lower_name, uint16_t type) {
  if (!ex) {  // nowhere to run it (a synchronous caller): leave the entry to expire normally
    cache_.release_prefetch(lower_name, type);
    return;
  }
  stats_.prefetches.fetch_add(1, std::memory_order_relaxed);
  std::string name(reinterpret_cast<const char*>(lower_name.data()), lower_name.size());
  asio::co_spawn(
      ex,
      [this, name = std::move(name), type]() -> asio::awaitable<void> {
        wire::NameView v(reinterpret_cast<const uint8_t*>(name.data()), name.size());
        Resolution r = co_await resolve(v, type);
        if (r.outcome == Outcome::failure) cache_.release_prefetch(v, type);
      },
      asio::detached);
}

}  // namespace apexd::resolver
