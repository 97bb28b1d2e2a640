// AliasResolver: the cache in front of the upstream, with request coalescing, prefetch and serve-stale.
#pragma once
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "resolver/cache.hpp"
#include "resolver/upstream.hpp"

namespace apexd::resolver {

inline constexpr size_t max_coalesced_waiters = 4096;  // beyond this, a waiter fails at once (no unbounded queue)
inline constexpr std::chrono::seconds failure_hold_max{5};  // a failure without stale data is held this long at most
inline constexpr size_t max_held_failures = 65536;          // beyond this, expired holds are swept, then all

struct ResolverStats {
  std::atomic<uint64_t> hits{0}, misses{0}, stale{0}, prefetches{0}, coalesced{0}, overflows{0};
  std::atomic<uint64_t> held_failures{0};  ///< resolutions answered from a recent failure, no upstream query
};

/// Thread-safe. The query path calls probe() synchronously; only misses co_await resolve().
class AliasResolver {
 public:
  using NowFn = std::function<TimePoint()>;

  AliasResolver(CacheOptions cache_opts, UpstreamClient& upstream, NowFn now = &Clock::now)
      : cache_(cache_opts), upstream_(upstream), now_(std::move(now)), failure_recheck_(cache_opts.failure_recheck) {}

  /// Cache-only look-up for the query path: calls `visit(entry, remaining_ttl)` under the shard
  /// lock when something usable (fresh or stale) is there. Starts a background refresh on `ex`
  /// when the entry is in the last tenth of its TTL.
  template <class Visit>
  Cache::Probe probe(const boost::asio::any_io_executor& ex, wire::NameView lower_name, uint16_t type, Visit&& visit) {
    Cache::Probe p = cache_.probe(lower_name, type, now_(), std::forward<Visit>(visit));
    if (p.freshness == Freshness::fresh) stats_.hits.fetch_add(1, std::memory_order_relaxed);
    if (p.prefetch_due) prefetch(ex, lower_name, type);
    return p;
  }

  /// Resolves through the upstream, coalescing concurrent calls for the same key into one
  /// upstream query; stores the result in the cache. Always completes (failure on timeout).
  /// Within the failure recheck time of a failed attempt it completes at once with that failure.
  boost::asio::awaitable<Resolution> resolve(wire::NameView lower_name, uint16_t type);

  Cache& cache() { return cache_; }
  const ResolverStats& stats() const { return stats_; }
  TimePoint now() const { return now_(); }
  void count_stale() { stats_.stale.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Inflight;
  struct HeldFailure {
    TimePoint retry_at;
    Resolution result;
  };
  void prefetch(const boost::asio::any_io_executor& ex, wire::NameView lower_name, uint16_t type);
  void record_outcome(const std::string& key, wire::NameView lower_name, uint16_t type, const Resolution& r);

  Cache cache_;
  UpstreamClient& upstream_;
  NowFn now_;
  ResolverStats stats_;
  std::mutex inflight_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Inflight>> inflight_;
  std::chrono::seconds failure_recheck_;
  std::unordered_map<std::string, HeldFailure> held_;  ///< guarded by inflight_mutex_
};

}  // namespace apexd::resolver
