// The TSIG resource record (RFC 8945 §4.2): finding it in a message, and appending one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "zone/wire/name.hpp"

namespace apexd::wire {

// Not in types.hpp yet; move them there when that file is next edited.
namespace rrtype {
inline constexpr uint16_t TSIG = 250;  ///< RFC 8945 §4.2
}

/// Values of the TSIG RR's Error field (RFC 8945 §3, IANA "DNS RCODEs"); 0 is no error.
namespace tsig_error {
inline constexpr uint16_t NOERROR = 0, BADSIG = 16, BADKEY = 17, BADTIME = 18, BADTRUNC = 22;
}

inline constexpr size_t tsig_fixed_size = 10 + 16;  ///< TYPE..RDLENGTH, plus RDATA without names, MAC, other

/// One TSIG RR. When filled by find_tsig, the spans point into the message it was found in.
/// Names are as received (any case); `offset` is where the RR starts, i.e. the length of the
/// message the MAC covers (RFC 8945 §4.3.2).
struct TsigRecord {
  NameBuf key_name;
  NameBuf algorithm;
  uint64_t time_signed = 0;  ///< 48 bits on the wire
  uint16_t fudge = 0;
  std::span<const uint8_t> mac;
  uint16_t original_id = 0;
  uint16_t error = 0;
  std::span<const uint8_t> other;
  size_t offset = 0;  ///< start of the TSIG RR in the message
};

/// What find_tsig found.
enum class TsigFind : uint8_t {
  none,     ///< the message has no TSIG RR
  found,    ///< one TSIG RR, last in the additional section, well formed
  formerr,  ///< a TSIG elsewhere, or malformed, or records that cannot be walked: FORMERR
};

/// find_tsig's answer: a status and, when found, the record.
struct TsigLookup {
  TsigFind status = TsigFind::none;
  TsigRecord record;  ///< meaningful when status == found
};

/// Walks every record of `msg` (bounds-checked) and returns its TSIG RR. RFC 8945 §5.2: the
/// TSIG must be the last record of the additional section, of class ANY and TTL 0, and the
/// message must end with it; anything else with TYPE 250 is formerr. Allocates nothing.
[[nodiscard]] TsigLookup find_tsig(std::span<const uint8_t> msg) noexcept;

/// Wire size of a TSIG RR with names of these wire lengths and a MAC and other data this long.
[[nodiscard]] constexpr size_t tsig_rr_size(size_t key_name_len, size_t algorithm_len, size_t mac_len,
                                            size_t other_len) noexcept {
  return key_name_len + algorithm_len + tsig_fixed_size + mac_len + other_len;
}

/// Appends `rec` (offset ignored) as a TSIG RR to the message in buf[0, len): owner and
/// algorithm names written uncompressed as given, class ANY, TTL 0, and ARCOUNT incremented.
/// Returns the new length, or 0 (the buffer untouched) when it does not fit, `len` is shorter
/// than a header, ARCOUNT is full, or a field is out of range.
[[nodiscard]] size_t append_tsig(std::span<uint8_t> buf, size_t len, const TsigRecord& rec) noexcept;

}  // namespace apexd::wire
