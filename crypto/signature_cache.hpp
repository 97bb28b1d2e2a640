// SignatureCache: RRSIG signatures shared by the workers, keyed by a digest of exactly what was
// signed (owner, type, original TTL, canonical RDATA, key), bounded, sharded, never blocking.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "crypto/dnssec_key.hpp"

namespace apexd::crypto {

/// 128 bits of the SHA-256 of the signed data with the two time fields zeroed.
using SignatureKey = std::array<uint8_t, 16>;

struct CachedSignature {
  uint32_t inception = 0;
  uint32_t expiration = 0;
  uint8_t length = 0;
  std::array<uint8_t, max_signature_size> bytes{};
};

/// Set-associative (8 ways), least recently used out of a set; `shards` mutexes taken with
/// try_lock only: a busy shard is a miss (find) or a skipped insert, never a wait (the query
/// path must not block, STYLE.md). Allocates only when constructed.
class SignatureCache {
 public:
  static constexpr size_t ways = 8;
  static constexpr size_t default_capacity = 200000;  ///< about 20 MiB

  explicit SignatureCache(size_t capacity = default_capacity, size_t shards = 64);

  /// The signature stored for `key` when it is still valid until `now + min_remaining`
  /// (unix seconds, RFC 1982 arithmetic not needed before 2106).
  [[nodiscard]] bool find(const SignatureKey& key, uint32_t now, uint32_t min_remaining, CachedSignature& out) noexcept;
  /// Stores (or replaces) the signature of `key`.
  void insert(const SignatureKey& key, const CachedSignature& sig) noexcept;

  size_t capacity() const { return nshards_ * sets_ * ways; }
  /// Entries in use (approximate: counted without locks), for metrics.
  size_t size() const noexcept { return used_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    SignatureKey key{};
    uint32_t last_used = 0;  // 0 = empty
    CachedSignature sig;
  };
  struct Shard {
    std::mutex mutex;
    uint32_t clock = 0;
    std::vector<Entry> entries;
  };
  Entry* set_of(Shard& s, const SignatureKey& key) const noexcept;
  Shard& shard_of(const SignatureKey& key) const noexcept;

  size_t nshards_;
  size_t sets_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<size_t> used_{0};
};

}  // namespace apexd::crypto
