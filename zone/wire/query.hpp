// Parsing an incoming query: header, exactly one question, and the EDNS(0) OPT record.
#pragma once
#include <cstdint>
#include <span>

#include "zone/wire/name.hpp"

namespace apexd::wire {

inline constexpr size_t header_size = 12;
inline constexpr uint16_t min_udp_payload = 512;  // RFC 1035 §4.2.1, RFC 6891 §6.2.5

/// Header fields of a query that the response needs.
struct Header {
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool qr = false, rd = false, cd = false;
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
};

/// EDNS(0) from the query's OPT record (RFC 6891).
struct Edns {
  bool present = false;
  uint16_t payload = 0;   ///< requestor's UDP payload size, as sent
  uint8_t version = 0;
  bool dnssec_ok = false; ///< DO bit, RFC 3225
};

/// A parsed query. `qname` keeps the client's letter case; `qname_lower` is for lookups.
struct Query {
  Header header;
  NameBuf qname;
  NameBuf qname_lower;
  uint16_t qtype = 0, qclass = 0;
  Edns edns;
  size_t question_end = 0;  ///< offset just past the question
  bool has_tsig = false;    ///< some record is a TSIG (RFC 8945): find_tsig() checks where and what
};

enum class ParseStatus {
  ok,
  drop,           ///< shorter than a header, or QR=1: no answer at all
  formerr,        ///< answer FORMERR (header fields in `Query::header` are valid)
  formerr_noq,    ///< FORMERR, the question could not be decoded: answer without it
};

/// Parses `pkt` as a query. Never reads outside `pkt`; never allocates.
[[nodiscard]] ParseStatus parse_query(std::span<const uint8_t> pkt, Query& q) noexcept;

/// Reads the 12-byte header (caller guarantees pkt.size() >= 12).
Header parse_header(std::span<const uint8_t> pkt) noexcept;

}  // namespace apexd::wire
