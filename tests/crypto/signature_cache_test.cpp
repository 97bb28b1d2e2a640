// Tests for crypto/signature_cache: hits and misses by remaining validity (the caller's `now` is
// the clock), least recently used out of a full set, replacing a key, capacity and size.
#include "crypto/signature_cache.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

using namespace apexd;
using crypto::CachedSignature;
using crypto::SignatureCache;
using crypto::SignatureKey;

namespace {

// A key in set `set` (bytes 8..15 choose the set, bytes 0..7 the shard: one shard here), told
// apart by `n`.
SignatureKey key_in_set(uint64_t set, uint64_t n) {
  SignatureKey k{};
  std::memcpy(k.data(), &n, 8);
  std::memcpy(k.data() + 8, &set, 8);
  return k;
}

CachedSignature signature(uint8_t fill, uint32_t inception = 1000, uint32_t expiration = 5000) {
  CachedSignature s;
  s.inception = inception;
  s.expiration = expiration;
  s.length = 64;
  s.bytes.fill(fill);
  return s;
}

}  // namespace

TEST_CASE("signature cache: find after insert, with the signature as stored") {
  SignatureCache cache(1000, 4);
  SignatureKey k = key_in_set(3, 42);
  CachedSignature out;
  CHECK_FALSE(cache.find(k, 2000, 0, out));
  cache.insert(k, signature(0xAB, 1000, 5000));
  REQUIRE(cache.find(k, 2000, 0, out));
  CHECK(out.inception == 1000);
  CHECK(out.expiration == 5000);
  CHECK(out.length == 64);
  CHECK(out.bytes[0] == 0xAB);
  CHECK(out.bytes[63] == 0xAB);
  CHECK_FALSE(cache.find(key_in_set(3, 43), 2000, 0, out));  // another key of the same set
  CHECK_FALSE(cache.find(key_in_set(4, 42), 2000, 0, out));  // the same low word, another set
}

TEST_CASE("signature cache: a miss once less than min_remaining is left before expiration") {
  // expiration 5000; (now, min_remaining) -> found.
  struct Case {
    uint32_t now, min_remaining;
    bool found;
  } cases[] = {
      {1000, 0, true},     {1000, 4000, true},  {1000, 4001, false}, {4999, 1, true},   {4999, 2, false},
      {5000, 0, true},     {5000, 1, false},    {5001, 0, false},    {0, 5000, true},   {0, 5001, false},
      {1000, UINT32_MAX, false},
  };
  SignatureCache cache(64, 1);
  SignatureKey k = key_in_set(0, 1);
  cache.insert(k, signature(1, 1000, 5000));
  for (const Case& c : cases) {
    CAPTURE(c.now);
    CAPTURE(c.min_remaining);
    CachedSignature out;
    CHECK(cache.find(k, c.now, c.min_remaining, out) == c.found);
  }
  CHECK(cache.size() == 1);  // a miss by age does not remove the entry
}

TEST_CASE("signature cache: the least recently used way of a full set is replaced") {
  // One shard, capacity 16 = 2 sets of 8 ways; keys with equal bytes 8..15 share a set.
  SignatureCache cache(16, 1);
  CHECK(cache.capacity() == 16);
  CachedSignature out;
  for (uint64_t n = 0; n < SignatureCache::ways; ++n) cache.insert(key_in_set(0, n), signature(uint8_t(n)));
  CHECK(cache.size() == 8);
  for (uint64_t n = 0; n < SignatureCache::ways; ++n) {
    CAPTURE(n);
    CHECK(cache.find(key_in_set(0, n), 2000, 0, out));
  }
  // Every key was used in order 0..7: touch 0 and 1 again, so 2 is now the oldest.
  CHECK(cache.find(key_in_set(0, 0), 2000, 0, out));
  CHECK(cache.find(key_in_set(0, 1), 2000, 0, out));
  cache.insert(key_in_set(0, 100), signature(100));
  CHECK(cache.size() == 8);  // a replacement, not a new entry
  struct Case {
    uint64_t n;
    bool present;
  } after_first[] = {{0, true}, {1, true}, {2, false}, {3, true}, {7, true}, {100, true}};
  for (const Case& c : after_first) {
    CAPTURE(c.n);
    CHECK(cache.find(key_in_set(0, c.n), 2000, 0, out) == c.present);
  }
  // The finds above touched 0, 1, 3, 7, 100 (in that order): 4 is the oldest now, then 5, 6.
  cache.insert(key_in_set(0, 101), signature(101));
  cache.insert(key_in_set(0, 102), signature(102));
  Case after_second[] = {{4, false}, {5, false}, {6, true}, {0, true}, {101, true}, {102, true}};
  for (const Case& c : after_second) {
    CAPTURE(c.n);
    CHECK(cache.find(key_in_set(0, c.n), 2000, 0, out) == c.present);
  }
  // The other set is untouched by all this, and has room of its own.
  for (uint64_t n = 0; n < SignatureCache::ways; ++n) cache.insert(key_in_set(1, n), signature(uint8_t(n)));
  CHECK(cache.size() == 16);
  CHECK(cache.find(key_in_set(0, 0), 2000, 0, out));
  CHECK(cache.find(key_in_set(1, 0), 2000, 0, out));
  // A find that misses an entry by age does not count as a use of it.
  SignatureCache aged(8, 1);
  aged.insert(key_in_set(0, 0), signature(0, 1000, 3000));  // expires early
  for (uint64_t n = 1; n < SignatureCache::ways; ++n) aged.insert(key_in_set(0, n), signature(uint8_t(n)));
  CHECK_FALSE(aged.find(key_in_set(0, 0), 2999, 100, out));
  aged.insert(key_in_set(0, 50), signature(50));
  CHECK_FALSE(aged.find(key_in_set(0, 0), 1000, 0, out));  // it was the oldest: replaced
  CHECK(aged.find(key_in_set(0, 1), 1000, 0, out));
}

TEST_CASE("signature cache: inserting a key again replaces its signature in place") {
  SignatureCache cache(16, 1);
  CachedSignature out;
  for (uint64_t n = 0; n < SignatureCache::ways; ++n) cache.insert(key_in_set(0, n), signature(uint8_t(n)));
  cache.insert(key_in_set(0, 3), signature(0xEE, 4000, 9000));  // a re-made signature
  CHECK(cache.size() == 8);
  REQUIRE(cache.find(key_in_set(0, 3), 5000, 1000, out));
  CHECK(out.bytes[0] == 0xEE);
  CHECK(out.inception == 4000);
  CHECK(out.expiration == 9000);
  // Nothing else of the full set was evicted for it.
  for (uint64_t n = 0; n < SignatureCache::ways; ++n) {
    CAPTURE(n);
    CHECK(cache.find(key_in_set(0, n), 2000, 0, out));
  }
}

TEST_CASE("signature cache: capacity rounds up to whole sets; size counts entries in use") {
  struct Case {
    size_t capacity, shards, expected;
  } cases[] = {
      {0, 1, 8}, {1, 1, 8}, {8, 1, 8}, {9, 1, 16}, {16, 1, 16}, {1000, 4, 1024}, {100, 64, 512}, {64, 0, 64},
  };
  for (const Case& c : cases) {
    CAPTURE(c.capacity);
    CAPTURE(c.shards);
    SignatureCache cache(c.capacity, c.shards);
    CHECK(cache.capacity() == c.expected);
    CHECK(cache.size() == 0);
  }
  // Many distinct keys: size grows to the capacity and stays there.
  SignatureCache cache(64, 4);
  for (uint64_t n = 0; n < 1000; ++n) cache.insert(key_in_set(n * 0x9E3779B97F4A7C15ull, n * 31), signature(1));
  CHECK(cache.size() <= cache.capacity());
  CHECK(cache.size() >= cache.capacity() / 2);
}
