// Authoritative answers from one zone: Knot-style steps (answer → authority → additional).
#pragma once
#include <cstdint>

#include "server/flattener.hpp"
#include "server/online_signer.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

inline constexpr int max_cname_chain = 5;  // CNAME/DNAME links followed inside a zone (Knot's CNAME_CHAIN_MAX)

/// What the answer step concluded (Knot's KNOTD_IN_STATE_*).
enum class AnswerState { hit, miss, nodata, delegation, follow, truncated, needs_resolution, servfail };

inline constexpr uint16_t no_ede = UINT16_MAX;

struct AnswerResult {
  AnswerState state = AnswerState::hit;
  uint16_t rcode = 0;
  bool authoritative = false;
  bool wildcard = false;        ///< a wildcard was expanded on the way
  bool flattened = false;       ///< a flattened name was answered
  /// Until when the same query gets the same bytes: max() for answers from the zones alone (and
  /// proxied or flattened through our own zones), the next TTL tick for answers from the
  /// resolver's cache, min() for answers from a resolution or stale data (never reused).
  resolver::TimePoint reusable_until = resolver::TimePoint::max();
  uint16_t ede_code = no_ede;   ///< Extended DNS Error to attach (RFC 8914), or no_ede
  std::string_view ede_text;
  wire::NameBuf target;         ///< needs_resolution: the external name to resolve (lowercase)
  uint16_t target_type = 0;
  bool throttled = false;       ///< a signature was needed past the signing budget: nothing useful in `w`
  bool signing_failed = false;  ///< a signature could not be made: SERVFAIL, nothing useful in `w`
  /// Signed answers: until when (unix seconds) the signatures written stay the cached ones.
  uint64_t signatures_valid_until = UINT64_MAX;
};

/// DNSSEC for one answer: the zone's keys when it is signed (DNSKEY, CDS and CDNSKEY are
/// answered at its apex whatever the DO bit), and a signer when the answer is to be signed
/// (DO=1, RFC 4035 §3.2.1).
struct AnswerDnssec {
  const ZoneKeys* keys = nullptr;
  AnswerSigner* signer = nullptr;
};

/// Writes the answer, authority and additional sections for `q` from `zone` into `w`
/// (the question is already written). RFC 1034 §4.3.2 with RFC 2308 negative answers,
/// RFC 4592 wildcards, RFC 6672 DNAME and minimal responses. Never allocates.
/// Flattened and proxied names are answered through `alias`; when the answer needs the
/// resolver, the state is needs_resolution and nothing useful is in `w`.
/// With `dnssec.signer`, every authoritative RRset gets its RRSIGs (RFC 4035 §3.1) and denial
/// is compact (RFC 9824): NOERROR with an NSEC at the name instead of NXDOMAIN.
AnswerResult answer_from_zone(const zone::ZoneSet& zones, const zone::Zone& zone, const wire::Query& q,
                              wire::PacketWriter& w, const AliasContext& alias, const AnswerDnssec& dnssec = {}) noexcept;

}  // namespace apexd::server
