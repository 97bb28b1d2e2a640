// Authoritative answers from one zone: Knot-style steps (answer → authority → additional).
#pragma once
#include <cstdint>

#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

inline constexpr int max_cname_chain = 5;  // CNAME/DNAME links followed inside a zone (Knot's CNAME_CHAIN_MAX)

/// What the answer step concluded (Knot's KNOTD_IN_STATE_*).
enum class AnswerState { hit, miss, nodata, delegation, follow, truncated };

struct AnswerResult {
  AnswerState state;
  uint16_t rcode;
  bool authoritative;
};

/// Writes the answer, authority and additional sections for `q` from `zone` into `w`
/// (the question is already written). RFC 1034 §4.3.2 with RFC 2308 negative answers,
/// RFC 4592 wildcards, RFC 6672 DNAME and minimal responses. Never allocates.
AnswerResult answer_from_zone(const zone::Zone& zone, const wire::Query& q, wire::PacketWriter& w) noexcept;

}  // namespace apexd::server
