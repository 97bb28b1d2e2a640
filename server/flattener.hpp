// Flattened and proxied names: answers A/AAAA under the queried name from the CNAME's target
// (our own zones first, then the resolver's cache) or from the edge addresses.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/alias_resolver.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

inline constexpr int max_flatten_chain = 8;     // CNAME links followed through our own zones (loop guard)
inline constexpr uint32_t stale_answer_ttl = 30;  // RFC 8767 §4: TTL of a stale answer

/// The operator's edge (reverse-proxy) fleet that proxied names answer with.
struct EdgeAddresses {
  std::vector<std::string> ipv4;  ///< 4-byte RDATA each
  std::vector<std::string> ipv6;  ///< 16-byte RDATA each
  uint32_t ttl = 300;
};

/// The result of a resolution the transport waited for, handed back for the second pass.
struct ResolvedTarget {
  wire::NameBuf name;  ///< lowercase
  uint16_t type = 0;
  const resolver::Resolution* resolution = nullptr;
};

/// What flattening and proxying need besides the zones. Every member may be null.
struct AliasContext {
  resolver::AliasResolver* resolver = nullptr;
  const EdgeAddresses* edges = nullptr;
  const boost::asio::any_io_executor* executor = nullptr;  ///< where prefetches run
  const ResolvedTarget* resolved = nullptr;
};

enum class AliasStatus : uint8_t { written, nodata, needs_resolution, servfail, truncated };

struct AliasOutcome {
  AliasOutcome() = default;
  AliasOutcome(AliasStatus s) : status(s) {}  // NOLINT: implicit by design, `return {AliasStatus::nodata};`

  AliasStatus status = AliasStatus::nodata;
  bool stale = false;          ///< served from an expired cache entry (RFC 8767)
  uint16_t ede_code = 0;       ///< for servfail (and stale: 3)
  std::string_view ede_text;   ///< static, or owned by the AliasContext's resolution
  wire::NameBuf target;        ///< for needs_resolution: the external name (lowercase)
  /// Written from the resolver's cache (a fresh entry): the bytes stay the same up to and
  /// including this instant (then the TTL counts down). Default (max): nothing time-dependent.
  resolver::TimePoint same_until = resolver::TimePoint::max();
  bool from_resolution = false;  ///< written from a resolution handed in, or stale: never reusable
  /// The largest TTL these addresses are ever written with under this name (the CNAME chain's
  /// TTL; the edge TTL): the RRSIG's original TTL, so a TTL counting down in the resolver's
  /// cache never changes what is signed (RFC 4035 §5.3.3).
  uint32_t ttl_bound = 0;
};

/// Writes the edge addresses of `qtype` (A or AAAA) under `owner`.
AliasOutcome answer_proxied(const AliasContext& ctx, wire::NameView owner, uint16_t qtype, wire::PacketWriter& w);

/// Where the CNAME chain of a flattened `node` ends, through our own zones (at most
/// max_flatten_chain links): at a node of ours, at a proxied node, at a name we do not
/// serve (the resolver's job), at nothing, or nowhere (a loop).
struct ChainEnd {
  enum Kind : uint8_t { local, proxied, external, missing, too_long } kind = too_long;
  const zone::Zone* zone = nullptr;  ///< local, proxied: where the chain ended
  const zone::Node* node = nullptr;
  wire::NameBuf target;              ///< external: the first name outside our data (lowercase)
  uint32_t ttl = 0;                  ///< minimum TTL over the links followed
};
ChainEnd follow_flattened_chain(const zone::ZoneSet& zones, const zone::Zone& zone, const zone::Node& node) noexcept;

/// Names of flattened nodes whose chain leaves our zones (they need `[resolver] upstreams`).
std::vector<std::string> externally_flattened(const zone::ZoneSet& zones);

/// Writes the flattened A/AAAA RRset of `node` (which has a CNAME) under `owner`.
/// TTL = min over the CNAME and every link of the chain (DESIGN.md).
AliasOutcome answer_flattened(const AliasContext& ctx, const zone::ZoneSet& zones, const zone::Zone& zone,
                              const zone::Node& node, wire::NameView owner, uint16_t qtype, wire::PacketWriter& w);

}  // namespace apexd::server
