// A TTL-aware, sharded, size-bounded cache of resolutions keyed by (name, type).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "resolver/resolution.hpp"
#include "zone/wire/name.hpp"

namespace apexd::resolver {

struct CacheOptions {
  size_t max_entries = 100000;
  uint32_t min_ttl = 5;        ///< TTLs are clamped to [min_ttl, max_ttl]
  uint32_t max_ttl = 86400;
  std::chrono::seconds serve_stale{86400};  ///< entries are kept this long past expiry (RFC 8767)
  /// After a failed resolution, the name is not asked upstream again for this long (RFC 8767 §5
  /// "failure recheck"): its clients get the stale data, at once. Names without stale data wait
  /// at most failure_hold_max (RFC 2308 §7.1 server-failure caching, kept short so that a
  /// returning upstream is used soon). 0 = ask again on every query.
  std::chrono::seconds failure_recheck{30};
  uint64_t hash_seed = 0;      ///< 0 = pick one at random
};

/// What the cache holds for a key at a moment.
enum class Freshness : uint8_t { fresh, stale, missing };

/// A cache entry as seen by a reader (valid only inside the visitor).
struct CacheEntry {
  Resolution value;
  TimePoint inserted;
  TimePoint expires;        ///< inserted + clamped TTL
  TimePoint stale_until;    ///< expires + serve_stale
  uint32_t ttl;             ///< clamped TTL at insertion
  bool prefetching = false; ///< a refresh is in flight
};

/// Thread-safe; lookups on the query path use try_lock and report `busy` instead of blocking.
class Cache {
 public:
  explicit Cache(CacheOptions opts);

  struct Probe {
    Freshness freshness = Freshness::missing;
    bool busy = false;          ///< the shard was locked: treat as a miss, do not wait
    bool prefetch_due = false;  ///< fresh, in the last tenth of its TTL, no refresh in flight yet (now claimed)
  };

  /// Looks `(lower_name, type)` up at `now` and, when present and not past stale_until, calls
  /// `visit(const CacheEntry&, uint32_t remaining_ttl)` under the shard lock. Never blocks, never allocates.
  template <class Visit>
  Probe probe(wire::NameView lower_name, uint16_t type, TimePoint now, Visit&& visit);
  /// The same, waiting for the shard lock: for slow paths (serving stale after a failure) where
  /// a busy shard must not be mistaken for a missing entry.
  template <class Visit>
  Probe probe_blocking(wire::NameView lower_name, uint16_t type, TimePoint now, Visit&& visit);

  /// Stores a positive or negative resolution (failures are not stored). Clamps the TTL.
  void insert(wire::NameView lower_name, uint16_t type, const Resolution& r, TimePoint now);
  /// Whether anything (fresh or stale) is kept for the key at `now`; no side effects (LRU, prefetch).
  bool contains(wire::NameView lower_name, uint16_t type, TimePoint now);
  /// Clears the prefetch claim of a key (after a refresh failed).
  void release_prefetch(wire::NameView lower_name, uint16_t type);

  /// Moves after every insert (and the evictions it makes). An answer built from the cache while
  /// generation() (read before) was G is still what the cache holds while it is G.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  size_t size() const;
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t shard_count = 16;
  static constexpr size_t max_key = 2 + wire::max_name_length;

  struct Hash {
    using is_transparent = void;
    uint64_t seed;
    size_t operator()(std::string_view s) const noexcept;
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  };
  struct Slot {
    CacheEntry entry;
    std::list<std::string>::iterator lru;  ///< position in the shard's recency list
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Slot, Hash, Eq> map;
    std::list<std::string> lru;  ///< most recent first
  };

  template <class Visit>
  Probe probe_locked(wire::NameView lower_name, uint16_t type, TimePoint now, Visit&& visit, bool wait);
  static size_t make_key(wire::NameView lower, uint16_t type, std::array<char, max_key>& buf);
  Shard& shard_for(std::string_view key);

  CacheOptions opts_;
  Hash hash_;
  size_t per_shard_;
  std::array<Shard, shard_count> shards_;
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> generation_{0};
};

template <class Visit>
Cache::Probe Cache::probe(wire::NameView lower_name, uint16_t type, TimePoint now, Visit&& visit) {
  return probe_locked(lower_name, type, now, std::forward<Visit>(visit), false);
}

template <class Visit>
Cache::Probe Cache::probe_blocking(wire::NameView lower_name, uint16_t type, TimePoint now, Visit&& visit) {
  return probe_locked(lower_name, type, now, std::forward<Visit>(visit), true);
}

template <class Visit>
Cache::Probe Cache::probe_locked(wire::NameView lower_name, uint16_t type, TimePoint now, Visit&& visit, bool wait) {
  std::array<char, max_key> buf;
  std::string_view key(buf.data(), make_key(lower_name, type, buf));
  Shard& s = shard_for(key);
  std::unique_lock lock(s.mutex, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return {Freshness::missing, true, false};
  }
  auto it = s.map.find(key);
  if (it == s.map.end()) return {};
  CacheEntry& e = it->second.entry;
  if (now >= e.stale_until) return {};
  s.lru.splice(s.lru.begin(), s.lru, it->second.lru);  // O(1), no allocation
  Probe p;
  uint32_t remaining = 0;
  if (now < e.expires) {
    p.freshness = Freshness::fresh;
    remaining = uint32_t(std::chrono::duration_cast<std::chrono::seconds>(e.expires - now).count());
    // Prefetch in the last tenth of the TTL so popular names never wait (Unbound's prefetch rule).
    auto left = e.expires - now;
    if (!e.prefetching && left * 10 <= std::chrono::seconds(e.ttl)) {
      e.prefetching = true;
      p.prefetch_due = true;
    }
  } else {
    p.freshness = Freshness::stale;
  }
  visit(static_cast<const CacheEntry&>(e), remaining);
  return p;
}

}  // namespace apexd::resolver
