// Building upstream queries and reading upstream responses (untrusted input) into Resolutions.
#pragma once
#include <cstdint>
#include <span>

#include "resolver/resolution.hpp"
#include "zone/wire/name.hpp"

namespace apexd::resolver {

inline constexpr size_t max_chain_links = 8;  // CNAME links followed for one target (loop guard)

/// Writes a recursive query (RD=1, EDNS payload 1232) for `name`/`type` with `id` into `out`.
/// Returns its size, or 0 when `out` is too small.
size_t build_query(std::span<uint8_t> out, uint16_t id, wire::NameView name, uint16_t type);

enum class ResponseKind : uint8_t {
  mismatch,   ///< not an answer to our query (ID, question or QR wrong): ignore it, keep waiting
  truncated,  ///< TC=1: ask again over TCP
  answered,   ///< `resolution` is final (addresses, nodata, nxdomain or failure)
  follow,     ///< the chain ends at `next` with nothing more in this answer: query it
};

struct ParsedResponse {
  ResponseKind kind = ResponseKind::mismatch;
  Resolution resolution;
  wire::NameBuf next;  ///< for `follow`: the name to query next (lowercase)
  uint32_t chain_ttl = UINT32_MAX;  ///< for `follow`: min TTL of the CNAMEs seen so far
};

/// Checks that `pkt` answers (id, name, type) and extracts the target's addresses, following
/// the CNAME chain inside the answer section (RFC 1034 §3.6.2). Negative TTLs per RFC 2308 §5.
ParsedResponse parse_response(std::span<const uint8_t> pkt, uint16_t id, wire::NameView name, uint16_t type);

}  // namespace apexd::resolver
