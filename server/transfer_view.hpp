// What a transfer sends for flattened and proxied names, and a fingerprint to tell when it changed.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "resolver/alias_resolver.hpp"
#include "server/flattener.hpp"
#include "xfr/axfr_out.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// The addresses each flattened name of a zone last transferred, per type. A target that cannot
/// be resolved when a transfer is built (the upstream fails and the resolver has no stale data
/// left) keeps them: a broken target never empties a name that was answered before. Shared by
/// transfers (on the workers), new versions and the journal; a mutex suffices (not the query
/// path). Memory only: after a restart, the resolver's stale data is all there is.
class LastKnownAddresses {
 public:
  /// Records `rdata` as what `name` (absolute wire, lowercase) of zone `origin` sent for `type`;
  /// empty `rdata` (the target has none, a definite answer) forgets it.
  void remember(wire::NameView origin, wire::NameView name, uint16_t type, const std::vector<std::string>& rdata);
  /// What was last recorded for them, if anything.
  std::optional<std::vector<std::string>> recall(wire::NameView origin, wire::NameView name, uint16_t type) const;
  /// Forgets the zones `zones` no longer holds.
  void retain(const zone::ZoneSet& zones);
  size_t size() const;

 private:
  static std::string key(wire::NameView name, uint16_t type);
  mutable std::mutex mutex_;
  /// by origin (wire), then by name + type
  std::unordered_map<std::string, std::unordered_map<std::string, std::vector<std::string>>> zones_;
};

/// For each flattened and proxied node of `z`: what a client asking A and AAAA there is answered
/// now. External targets are resolved (the resolver's cache first, coalesced, stale data when the
/// upstream fails); a target that cannot be resolved at all keeps the addresses `last_known`
/// has for it, and without any is left out; both are logged.
boost::asio::awaitable<xfr::Replacements> transfer_replacements(resolver::AliasResolver* resolver,
                                                                const EdgeAddresses* edges,
                                                                const zone::ZoneSet& zones, const zone::Zone& z,
                                                                LastKnownAddresses* last_known = nullptr);

/// A hash of the addresses in `r` (node, type and address set; not the TTLs, which count down
/// without the zone changing): equal fingerprints, same transferred zone.
uint64_t replacements_fingerprint(const xfr::Replacements& r);

/// The smallest TTL in `r` (UINT32_MAX when empty): how soon its addresses may move.
uint32_t replacements_min_ttl(const xfr::Replacements& r);

/// Whether the zone has names a transfer sends other than as stored (flattened or proxied).
inline bool has_replaced_names(const zone::Zone& z) { return z.flattened_count() + z.proxied_count() > 0; }

}  // namespace apexd::server
