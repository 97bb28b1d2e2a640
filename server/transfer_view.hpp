// What a transfer sends for flattened and proxied names, and a fingerprint to tell when it changed.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>

#include "resolver/alias_resolver.hpp"
#include "server/flattener.hpp"
#include "xfr/axfr_out.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// For each flattened and proxied node of `z`: what a client asking A and AAAA there is answered
/// now. External targets are resolved (the resolver's cache first, coalesced, stale data when the
/// upstream fails); a target that cannot be resolved at all is left out and logged.
boost::asio::awaitable<xfr::Replacements> transfer_replacements(resolver::AliasResolver* resolver,
                                                                const EdgeAddresses* edges,
                                                                const zone::ZoneSet& zones, const zone::Zone& z);

/// A hash of the addresses in `r` (node, type and address set; not the TTLs, which count down
/// without the zone changing): equal fingerprints, same transferred zone.
uint64_t replacements_fingerprint(const xfr::Replacements& r);

/// The smallest TTL in `r` (UINT32_MAX when empty): how soon its addresses may move.
uint32_t replacements_min_ttl(const xfr::Replacements& r);

/// Whether the zone has names a transfer sends other than as stored (flattened or proxied).
inline bool has_replaced_names(const zone::Zone& z) { return z.flattened_count() + z.proxied_count() > 0; }

}  // namespace apexd::server
