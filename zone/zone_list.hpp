// ZoneList: the zones of a ZoneSet in fixed-size chunks that successive sets share, so a set
// with one zone replaced, added or removed costs one chunk, not a copy of every zone.
#pragma once
#include <cstddef>
#include <iterator>
#include <memory>
#include <vector>

#include "zone/zone.hpp"

namespace apexd::zone {

/// An immutable list of zones. Copying shares everything; replaced(), appended() and
/// swap_removed() give a new list that shares every chunk but one or two. 100,000 zones are
/// 196 chunks: a change copies 512 pointers and 196 chunk pointers, where a flat vector copied
/// 100,000 (each an atomic increment on a control block far away in memory).
class ZoneList {
 public:
  static constexpr size_t chunk_bits = 9;
  static constexpr size_t chunk_size = size_t(1) << chunk_bits;
  using Chunk = std::vector<std::shared_ptr<const Zone>>;

  ZoneList() = default;
  explicit ZoneList(const std::vector<std::shared_ptr<const Zone>>& zones);

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::shared_ptr<const Zone>& operator[](size_t i) const noexcept {
    return (*chunks_[i >> chunk_bits])[i & (chunk_size - 1)];
  }

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::shared_ptr<const Zone>;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;
    const_iterator() = default;
    const_iterator(const ZoneList* list, size_t i) : list_(list), i_(i) {}
    reference operator*() const { return (*list_)[i_]; }
    pointer operator->() const { return &(*list_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }

   private:
    const ZoneList* list_ = nullptr;
    size_t i_ = 0;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

  /// The zones as a flat vector (a copy: for code that edits a list).
  operator std::vector<std::shared_ptr<const Zone>>() const { return {begin(), end()}; }

  /// This list with position i holding z.
  ZoneList replaced(size_t i, std::shared_ptr<const Zone> z) const;
  /// This list with z at the end.
  ZoneList appended(std::shared_ptr<const Zone> z) const;
  /// This list without position i: the last zone moves there (order is not kept).
  ZoneList swap_removed(size_t i) const;

 private:
  std::vector<std::shared_ptr<const Chunk>> chunks_;
  size_t size_ = 0;
};

}  // namespace apexd::zone
