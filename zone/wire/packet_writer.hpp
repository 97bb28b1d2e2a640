// PacketWriter: builds a response in a caller-owned buffer with name compression,
// RRset-atomic rollback and truncation as a normal state (NSD/PowerDNS style).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "zone/wire/name.hpp"
#include "zone/wire/query.hpp"

namespace apexd::wire {

enum class Section : uint8_t { answer = 0, authority = 1, additional = 2 };

/// A compression dictionary for messages with many names (zone transfers): every name suffix
/// written, hashed, in place of the writer's short list (max_compress_entries, searched in
/// turn, which suits answers of a few names). Owned by the caller, reused message after message.
struct CompressionTable {
  static constexpr size_t slots = 4096;  // a 16 KiB message has fewer than 3,000 labels to point at
  std::array<uint16_t, slots> offset{};  ///< 0 = empty, 1 = removed (no name starts inside the header)
  size_t used = 0;
};

/// Writes a DNS message into `buf`, never past `limit` bytes. Allocates nothing.
/// A failed put leaves the packet unchanged (the caller rolls back to a mark to drop a whole RRset).
class PacketWriter {
 public:
  /// A point to roll back to: size, section counts and compression table length.
  struct Mark {
    size_t size;
    std::array<uint16_t, 3> counts;
    uint16_t compress_entries;
  };

  PacketWriter(std::span<uint8_t> buf, size_t limit) : buf_(buf), limit_(limit < buf.size() ? limit : buf.size()) {}

  /// Compresses against `table` (cleared by begin_response/begin_query) instead of the short list.
  void use_table(CompressionTable* table) { table_ = table; }
  /// Starts a response to `h`: copies ID, opcode, RD and CD; sets QR.
  void begin_response(const Header& h);
  /// Starts a query with `id` (QR=0, opcode QUERY, RD as given).
  void begin_query(uint16_t id, bool rd);
  /// Writes the question (only valid right after begin_response); registers it for compression.
  [[nodiscard]] bool put_question(NameView qname, uint16_t qtype, uint16_t qclass);
  /// Writes one RR. Names in the owner and in RDATA of RFC 1035 types are compressed
  /// (RFC 3597 §4 forbids it for newer types). Returns false, writing nothing, when it does not fit.
  [[nodiscard]] bool put_rr(Section s, NameView owner, uint16_t type, uint16_t rclass, uint32_t ttl,
                            std::span<const uint8_t> rdata);
  /// Appends an OPT pseudo-RR (RFC 6891 §6.1.2) to the additional section; uses reserved room.
  [[nodiscard]] bool put_opt(uint16_t payload, uint8_t ext_rcode, uint8_t version, bool dnssec_ok);
  /// Appends an EDNS option to the OPT record just written (must be the last RR). RFC 6891 §6.1.2.
  [[nodiscard]] bool put_opt_option(uint16_t code, std::span<const uint8_t> data);

  /// Keeps `n` bytes free at the end for a later record (the OPT RR).
  void reserve(size_t n) { reserved_ = n; }
  void release_reserve() { reserved_ = 0; }

  Mark mark() const { return {size_, counts_, compress_count_}; }
  void rollback(const Mark& m);

  void set_aa(bool on);
  void set_tc();
  void set_rcode(uint16_t rcode);  ///< low 4 bits go to the header
  bool tc() const { return buf_[2] & 0x02; }

  size_t size() const { return size_; }
  size_t limit() const { return limit_; }
  uint16_t count(Section s) const { return counts_[size_t(s)]; }
  std::span<const uint8_t> data() const { return {buf_.data(), size_}; }

 private:
  bool put_name(NameView name, bool compress);
  bool put_rdata(uint16_t type, std::span<const uint8_t> rdata);
  bool put_bytes(const uint8_t* p, size_t n);
  bool put_u16(uint16_t v);
  bool put_u32(uint32_t v);
  size_t find_suffix(NameView suffix) const;
  bool packet_name_equals(size_t offset, NameView suffix) const;
  void write_counts();
  size_t room() const { return limit_ - reserved_; }

  static constexpr size_t max_compress_entries = 96;
  struct Entry {
    uint16_t offset;  ///< where a literal label starts in the packet
    uint8_t length;   ///< wire length of the name from there (for a quick filter)
  };

  std::span<uint8_t> buf_;
  size_t limit_;
  size_t reserved_ = 0;
  size_t opt_rdlen_at_ = 0;  ///< where the OPT RR's RDLENGTH is, once written
  size_t size_ = 0;
  std::array<uint16_t, 3> counts_{};
  std::array<Entry, max_compress_entries> compress_;  // [0, compress_count_) is valid; not zeroed per packet
  uint16_t compress_count_ = 0;
  CompressionTable* table_ = nullptr;
  void table_clear();
  void table_insert(uint16_t offset, NameView suffix);
};

}  // namespace apexd::wire
