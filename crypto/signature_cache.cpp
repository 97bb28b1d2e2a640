// SignatureCache: shards of 8-way sets, LRU within a set, try_lock only.
#include "crypto/signature_cache.hpp"

#include <algorithm>
#include <cstring>

namespace apexd::crypto {

namespace {

uint64_t word(const SignatureKey& k, size_t at) {
  uint64_t w;
  std::memcpy(&w, k.data() + at, 8);
  return w;
}

}  // namespace

SignatureCache::SignatureCache(size_t capacity, size_t shards)
    : nshards_(std::max<size_t>(shards, 1)),
      sets_(std::max<size_t>(1, (std::max<size_t>(capacity, 1) + nshards_ * ways - 1) / (nshards_ * ways))),
      shards_(new Shard[nshards_]) {
  for (size_t i = 0; i < nshards_; ++i) shards_[i].entries.resize(sets_ * ways);
}

// The key is a cryptographic digest: its bits are already uniform, and a client cannot aim
// many keys at one set.
SignatureCache::Shard& SignatureCache::shard_of(const SignatureKey& key) const noexcept {
  return shards_[word(key, 0) % nshards_];
}

SignatureCache::Entry* SignatureCache::set_of(Shard& s, const SignatureKey& key) const noexcept {
  return s.entries.data() + (word(key, 8) % sets_) * ways;
}

bool SignatureCache::find(const SignatureKey& key, uint32_t now, uint32_t min_remaining, CachedSignature& out) noexcept {
  Shard& s = shard_of(key);
  std::unique_lock lock(s.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  Entry* set = set_of(s, key);
  for (size_t i = 0; i < ways; ++i) {
    Entry& e = set[i];
    if (e.last_used == 0 || e.key != key) continue;
    if (e.sig.expiration < now || e.sig.expiration - now < min_remaining) return false;  // due for re-signing
    e.last_used = ++s.clock ? s.clock : ++s.clock;
    out = e.sig;
    return true;
  }
  return false;
}

void SignatureCache::insert(const SignatureKey& key, const CachedSignature& sig) noexcept {
  Shard& s = shard_of(key);
  std::unique_lock lock(s.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;
  Entry* set = set_of(s, key);
  Entry* victim = nullptr;
  for (size_t i = 0; i < ways && !victim; ++i)
    if (set[i].last_used != 0 && set[i].key == key) victim = &set[i];
  if (!victim) {
    // The least recently used way; empty ways (last_used 0) come first.
    victim = set;
    for (size_t i = 1; i < ways; ++i)
      if (set[i].last_used < victim->last_used) victim = &set[i];
  }
  if (victim->last_used == 0) used_.fetch_add(1, std::memory_order_relaxed);
  victim->key = key;
  victim->sig = sig;
  victim->last_used = ++s.clock ? s.clock : ++s.clock;
}

}  // namespace apexd::crypto
