// The fast path of zone loading: RDATA of the common types encoded from presentation tokens
// without ldns (ldns remains the parser for every other type and any unusual spelling).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "zone/wire/name.hpp"

namespace apexd::zone {

/// Encodes the RDATA of A, AAAA, NS, CNAME, PTR, DNAME, MX, SRV, SOA, TXT, SPF (and the
/// encoded_only_here types) into `out`
/// (character-strings over 255 bytes split into 255-byte pieces, as knotd does).
/// Returns false — `out` unspecified — when the type is another one or a token is anything but
/// plain; the caller then parses the record with ldns, which also reports real errors.
bool encode_rdata_fast(uint16_t type, std::span<const std::string_view> tokens, wire::NameView origin,
                       std::string& out);

/// Lowercases the domain names in `rdata` (uncompressed wire form) of the types whose names
/// knotd lowercases when it loads a zone: RFC 4034 §6.2's canonical-form list less NSEC (RFC
/// 6840 §5.1) and HINFO (no names) — checked against knotd in tests/integration/zone_compat.py.
void lowercase_rdata_names(uint16_t type, std::string& rdata);

/// Types whose presentation form ldns 1.8 misreads (NSAP-PTR, ATMA) or refuses (A6, NXT):
/// encode_rdata_fast is their only encoder, and its refusal is an error in the zone.
bool encoded_only_here(uint16_t type);

/// Encodes RFC 3597 §5 generic RDATA (`\# <length> <hex>...`, tokens from `\#` on) strictly:
/// a decimal length, hex digits only, an even count, and exactly `length` bytes. Returns the
/// reason on failure (ldns accepts non-hex digits there and serves garbage).
std::optional<std::string> encode_generic_rdata(std::span<const std::string_view> tokens, std::string& out);

/// Parses a plain decimal number up to `max`.
bool parse_number(std::string_view t, uint32_t max, uint32_t& out);

}  // namespace apexd::zone
