// RFC 2136 dynamic updates: prerequisites, permissions and the update section applied to one zone.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zone/journal.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

/// What evaluate_update decided.
struct UpdateResult {
  uint16_t rcode = 0;      ///< NOERROR, FORMERR, NOTZONE, NXDOMAIN, YXDOMAIN, NXRRSET, YXRRSET, REFUSED, SERVFAIL
  std::string why;         ///< for the log, when not NOERROR
  /// The zone's RRs after the update, when it changed anything (the SOA serial moved by the
  /// zone's policy unless the update set a larger one itself), with the tag RRs of the names
  /// that keep a cf_tags tag (zone::carried_tags). nullopt: nothing to change.
  std::optional<std::vector<zone::JournalRR>> after;
  size_t added = 0, removed = 0;
};

/// RFC 2136 rcodes past RFC 1035's.
namespace update_rcode {
inline constexpr uint16_t YXDOMAIN = 6, YXRRSET = 7, NXRRSET = 8, NOTAUTH = 9, NOTZONE = 10;
}

/// Whether `grant` lets its key change `type` at `name` (lowercase wire) of the zone `origin`.
/// Name patterns are relative to the origin: "@" is the apex, "*" matches any run of labels
/// ("_acme-challenge.*" matches _acme-challenge at the apex and below any name).
bool grant_allows(const zone::UpdateGrant& grant, wire::NameView origin, wire::NameView name, uint16_t type);

/// Processes the UPDATE `request` (already TSIG-verified with `key`, its zone section naming
/// `z`) as RFC 2136 §3 says: the prerequisites (§3.2) against the zone as it is, the zone's
/// `allow_update` grants for `key` (§3.3: any RR outside them → REFUSED), the update section's
/// prescan (§3.4.1) and then its records in order (§3.4.2, with the apex SOA and NS rules of
/// §3.4.2.3–4 and the CNAME rules), the serial moved last (§3.6). `now` is for the serial policy.
/// Pure: nothing is published here.
UpdateResult evaluate_update(std::span<const uint8_t> request, const zone::Zone& z, std::string_view key, int64_t now);

/// Recompiles `z` with `rrs` (a change's result, in zone::tagged_zone_rrs form: the tag RRs
/// say which names are proxied or flattened by a tag of their own): same source, files and
/// options. Throws ZoneError when the result does not validate.
std::shared_ptr<const zone::Zone> recompile_zone(const zone::Zone& z, std::vector<zone::JournalRR> rrs);

}  // namespace apexd::server
