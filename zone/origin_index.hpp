// OriginIndex: an open-addressing hash index from zone origin to position, built in one pass.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace apexd::zone {

/// Maps keys (origins in lowercase wire form) to their positions 0..n-1 in a list the caller
/// owns; `key_of(i)` gives the key at i. One flat array, so building it for 100,000 zones on
/// every reload costs one pass with no allocation per entry (a node-based map costs a malloc
/// and a free per zone per reload), and a look-up is one or two probes of the same array.
class OriginIndex {
 public:
  static constexpr size_t npos = size_t(-1);
  struct Duplicate {
    size_t first = npos, second = npos;  ///< positions of the first key met twice
  };

  /// Indexes keys 0..n-1. A key met again is not indexed; the first such pair is returned.
  template <class KeyOf>
  Duplicate build(size_t n, KeyOf key_of) {
    Duplicate dup;
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;  // load factor ≤ 1/2: probe runs stay short
    slots_.assign(n ? cap : 0, 0);
    mask_ = cap - 1;
    count_ = 0;
    for (size_t i = 0; i < n; ++i) {
      std::string_view key = key_of(i);
      uint64_t h = hash(key);
      size_t at = h & mask_;
      bool again = false;
      for (uint64_t s; (s = slots_[at]) != 0 && !again; at = (at + 1) & mask_)
        again = (s >> 32) == (h >> 32) && key_of(size_t(uint32_t(s)) - 1) == key;
      if (!again) {
        slots_[at] = (h & ~uint64_t(0xffffffff)) | uint64_t(i + 1);
        ++count_;
      } else if (dup.first == npos) {
        dup = {find(key, key_of), i};
      }
    }
    return dup;
  }

  template <class KeyOf>
  size_t slot_of(std::string_view key, KeyOf key_of) const {
    if (slots_.empty()) return npos;
    uint64_t h = hash(key);
    for (size_t at = h & mask_;; at = (at + 1) & mask_) {
      uint64_t s = slots_[at];
      if (!s) return npos;
      if ((s >> 32) == (h >> 32) && key_of(size_t(uint32_t(s)) - 1) == key) return at;
    }
  }

  template <class KeyOf>
  size_t find(std::string_view key, KeyOf key_of) const noexcept {
    if (slots_.empty()) return npos;
    uint64_t h = hash(key);
    for (size_t at = h & mask_;; at = (at + 1) & mask_) {
      uint64_t s = slots_[at];
      if (!s) return npos;
      // The stored high hash bits rule out almost every other key before its bytes are read.
      if ((s >> 32) == (h >> 32) && key_of(size_t(uint32_t(s)) - 1) == key) return size_t(uint32_t(s)) - 1;
    }
  }

  bool empty() const { return slots_.empty(); }
  /// Keys indexed.
  size_t size() const { return count_; }

  /// Adds `key` at position `pos` (not indexed yet). Returns false, changing nothing, when the
  /// table is too full for it: rebuild with build() then.
  bool insert(std::string_view key, size_t pos) {
    if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) return false;
    uint64_t h = hash(key);
    size_t at = h & mask_;
    while (slots_[at] != 0) at = (at + 1) & mask_;
    slots_[at] = (h & ~uint64_t(0xffffffff)) | uint64_t(pos + 1);
    ++count_;
    return true;
  }

  /// Removes `key` (its position by `key_of`); the slots after it are moved back so that every
  /// probe run stays unbroken (linear probing's backward-shift deletion). Returns whether it was there.
  template <class KeyOf>
  bool erase(std::string_view key, KeyOf key_of) {
    size_t hole = slot_of(key, key_of);
    if (hole == npos) return false;
    slots_[hole] = 0;
    --count_;
    for (size_t j = (hole + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
      size_t home = hash(key_of(size_t(uint32_t(slots_[j])) - 1)) & mask_;
      // The entry at j may fill the hole when its home is not in (hole, j] (cyclically).
      bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      slots_[j] = 0;
      hole = j;
    }
    return true;
  }

  /// Points `key` (found by `key_of`) at position `pos`.
  template <class KeyOf>
  void reposition(std::string_view key, KeyOf key_of, size_t pos) {
    size_t at = slot_of(key, key_of);
    if (at != npos) slots_[at] = (slots_[at] & ~uint64_t(0xffffffff)) | uint64_t(pos + 1);
  }

 private:
  static uint64_t hash(std::string_view key) noexcept {
    uint64_t h = std::hash<std::string_view>()(key);
    return h ^ (h >> 29) * 0xbf58476d1ce4e5b9ULL;  // spread into the high bits too (libstdc++'s hash is 64-bit murmur)
  }
  std::vector<uint64_t> slots_;  ///< (high 32 hash bits << 32) | (position + 1); 0 = empty
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace apexd::zone
