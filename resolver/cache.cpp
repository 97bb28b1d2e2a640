// Cache internals: sharding by a seeded hash, LRU eviction per shard, TTL clamping.
#include "resolver/cache.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace apexd::resolver {

size_t Cache::Hash::operator()(std::string_view s) const noexcept {
  // FNV-1a over the key, seeded so clients cannot aim names at one bucket.
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return size_t(h ^ (h >> 29));
}

Cache::Cache(CacheOptions opts) : opts_(opts) {
  uint64_t seed = opts_.hash_seed;
  if (seed == 0) seed = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  hash_ = Hash{seed};
  per_shard_ = std::max<size_t>(1, opts_.max_entries / shard_count);
  for (Shard& s : shards_) s.map = std::unordered_map<std::string, Slot, Hash, Eq>(16, hash_, Eq{});
}

size_t Cache::make_key(wire::NameView lower, uint16_t type, std::array<char, max_key>& buf) {
  buf[0] = char(type >> 8);
  buf[1] = char(type);
  std::memcpy(buf.data() + 2, lower.data(), lower.size());
  return 2 + lower.size();
}

Cache::Shard& Cache::shard_for(std::string_view key) { return shards_[(hash_(key) >> 7) % shard_count]; }

void Cache::insert(wire::NameView lower_name, uint16_t type, const Resolution& r, TimePoint now) {
  if (r.outcome == Outcome::failure || !r.cacheable) return;
  std::array<char, max_key> buf;
  std::string key(buf.data(), make_key(lower_name, type, buf));
  Shard& s = shard_for(key);
  uint32_t ttl = std::clamp(r.ttl, opts_.min_ttl, opts_.max_ttl);
  std::lock_guard lock(s.mutex);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    while (s.map.size() >= per_shard_ && !s.lru.empty()) {
      s.map.erase(s.lru.back());
      s.lru.pop_back();
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    s.lru.push_front(key);
    it = s.map.emplace(key, Slot{{}, s.lru.begin()}).first;
  } else {
    s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
  }
  CacheEntry& e = it->second.entry;
  e.value = r;
  e.value.ttl = ttl;
  e.inserted = now;
  e.ttl = ttl;
  e.expires = now + std::chrono::seconds(ttl);
  e.stale_until = e.expires + opts_.serve_stale;
  e.prefetching = false;
  generation_.fetch_add(1, std::memory_order_release);  // after the write: see generation()
}

void Cache::release_prefetch(wire::NameView lower_name, uint16_t type) {
  std::array<char, max_key> buf;
  std::string_view key(buf.data(), make_key(lower_name, type, buf));
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  auto it = s.map.find(key);
  if (it != s.map.end()) it->second.entry.prefetching = false;
}

bool Cache::contains(wire::NameView lower_name, uint16_t type, TimePoint now) {
  std::array<char, max_key> buf;
  std::string_view key(buf.data(), make_key(lower_name, type, buf));
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  auto it = s.map.find(key);
  return it != s.map.end() && now < it->second.entry.stale_until;
}

size_t Cache::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(const_cast<std::mutex&>(s.mutex));
    n += s.map.size();
  }
  return n;
}

}  // namespace apexd::resolver
