// RRSIG over canonical RRsets (RFC 4034 §3.1.8.1, §6): the signed data, built allocation-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "zone/wire/name.hpp"

namespace apexd::crypto {

/// RRSIG RDATA before the signer's name: type covered .. key tag (RFC 4034 §3.1).
inline constexpr size_t rrsig_fixed_size = 18;
inline constexpr size_t rrsig_times_offset = 8;  ///< expiration (4) then inception (4)

/// The fields of an RRSIG apart from the signature.
struct RrsigFields {
  uint16_t type_covered = 0;
  uint8_t algorithm = 0;
  uint8_t labels = 0;          ///< owner labels, without a leading `*` (RFC 4034 §3.1.3)
  uint32_t original_ttl = 0;
  uint32_t expiration = 0;
  uint32_t inception = 0;
  uint16_t key_tag = 0;
  wire::NameView signer;       ///< the zone's origin, lowercase (RFC 4034 §3.1.7)
};

/// Writes the RRSIG RDATA fields (without the signature) to `out`; returns their length, 0 when
/// `out` is too small.
[[nodiscard]] size_t put_rrsig_fields(const RrsigFields& f, std::span<uint8_t> out) noexcept;

/// Copies `rdata` of `type` to `out` in canonical form: names inside the RDATA of the types
/// RFC 4034 §6.2 lists (minus NSEC, RFC 6840 §5.1) lowercased. Returns the length, 0 when `out`
/// is too small or the RDATA is malformed.
[[nodiscard]] size_t canonical_rdata(uint16_t type, std::span<const uint8_t> rdata, std::span<uint8_t> out) noexcept;

/// The RRset part of the signed data (RFC 4034 §3.1.8.1): each RR as owner | type | class IN |
/// original TTL | RDLENGTH | canonical RDATA, the RRs in canonical order (§6.3), duplicates
/// once. `owner` must be lowercase. Appends to `out` at `at`; returns the new end, 0 when it
/// does not fit. Uses per-thread scratch space (no allocation once it has grown).
[[nodiscard]] size_t put_canonical_rrset(wire::NameView owner, uint16_t type, uint32_t original_ttl,
                                         std::span<const std::span<const uint8_t>> rdatas, std::span<uint8_t> out,
                                         size_t at) noexcept;

/// RFC 4034 §3.1.3: the Labels field for an owner (a leading `*` label does not count).
[[nodiscard]] uint8_t rrsig_labels(wire::NameView owner) noexcept;

}  // namespace apexd::crypto
