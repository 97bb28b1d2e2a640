// Catalog zones (RFC 9432, version 2): the zone that lists a server's member zones, so that
// consumers (knotd, BIND) add and drop those zones by themselves.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "zone/zone.hpp"

namespace apexd::xfr {

/// The member label of a zone in a catalog (RFC 9432 §4.4.1: unique and stable): 16 hex digits
/// of a 64-bit FNV-1a hash of the member's lowercase wire name, the same on every producer run.
std::string catalog_member_label(const std::string& member_origin);

/// The catalog zone `origin` (lowercase wire) listing `members` (lowercase wire origins): SOA
/// (RFC 9432 §4.1: `invalid.` names, the given serial), NS `invalid.`, `version` TXT "2", and
/// one `<label>.zones` PTR per member, all with TTL 0. Compiled with `options`.
std::shared_ptr<const zone::Zone> build_catalog(const std::string& origin, const std::vector<std::string>& members,
                                                uint32_t serial, const zone::ZoneOptions& options);

/// The member zones a catalog zone lists (RFC 9432 §4.4: PTRs at `<label>.zones.<catalog>`), as
/// lowercase wire origins, in the zone's order; empty when its `version` is not "2" (§4.3: a
/// consumer must not process another version) — `error` then says why.
std::vector<std::string> catalog_members(const zone::Zone& catalog, std::string& error);

}  // namespace apexd::xfr
