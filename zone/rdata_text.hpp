// The fast path of zone loading: RDATA of the common types encoded from presentation tokens
// without ldns (ldns remains the parser for every other type and any unusual spelling).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "zone/wire/name.hpp"

namespace apexd::zone {

/// Encodes the RDATA of A, AAAA, NS, CNAME, PTR, DNAME, MX, SRV, SOA or TXT into `out`.
/// Returns false — `out` unspecified — when the type is another one or a token is anything but
/// plain; the caller then parses the record with ldns, which also reports real errors.
bool encode_rdata_fast(uint16_t type, std::span<const std::string_view> tokens, wire::NameView origin,
                       std::string& out);

/// Parses a plain decimal number up to `max`.
bool parse_number(std::string_view t, uint32_t max, uint32_t& out);

}  // namespace apexd::zone
