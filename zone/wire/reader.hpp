// Bounds-checked reader over untrusted packet bytes; every read reports failure instead of overrunning.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "zone/wire/name.hpp"

namespace apexd::wire {

inline constexpr int max_pointer_hops = 16;  // loop guard; a real message rarely needs more than a few

/// Reads big-endian integers and names from a packet. Never reads outside `pkt`.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> pkt, size_t pos = 0) : pkt_(pkt), pos_(pos) {}

  size_t pos() const { return pos_; }
  const uint8_t* data() const { return pkt_.data(); }
  size_t remaining() const { return pkt_.size() - pos_; }
  bool at_end() const { return pos_ == pkt_.size(); }

  [[nodiscard]] bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = pkt_[pos_++];
    return true;
  }
  [[nodiscard]] bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = uint16_t(pkt_[pos_] << 8 | pkt_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  [[nodiscard]] bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = uint32_t(pkt_[pos_]) << 24 | uint32_t(pkt_[pos_ + 1]) << 16 | uint32_t(pkt_[pos_ + 2]) << 8 | pkt_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  [[nodiscard]] bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

  /// Reads a possibly compressed name into `out` (uncompressed, original case).
  /// Pointers must point strictly backwards (before the label that holds them), which
  /// rules out loops; hops, total length and label length are bounded (RFC 1035 §4.1.4).
  [[nodiscard]] bool name(NameBuf& out) {
    size_t pos = pos_;
    size_t len = 0;
    int hops = 0;
    bool jumped = false;
    for (;;) {
      if (pos >= pkt_.size()) return false;
      uint8_t l = pkt_[pos];
      if ((l & 0xC0) == 0xC0) {
        if (pos + 1 >= pkt_.size()) return false;
        size_t target = size_t(l & 0x3F) << 8 | pkt_[pos + 1];
        if (target >= pos || ++hops > max_pointer_hops) return false;
        if (!jumped) pos_ = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if ((l & 0xC0) != 0) return false;  // 0x40/0x80: obsolete extended label types
      if (len + 1 + l > max_name_length) return false;
      if (pos + 1 + l > pkt_.size()) return false;
      out.data[len] = l;
      for (size_t i = 0; i < l; ++i) out.data[len + 1 + i] = pkt_[pos + 1 + i];
      len += 1 + l;
      pos += 1 + l;
      if (l == 0) break;
    }
    if (!jumped) pos_ = pos;
    out.len = uint8_t(len);
    return true;
  }

 private:
  std::span<const uint8_t> pkt_;
  size_t pos_;
};

}  // namespace apexd::wire
