// New versions of zones whose flattened targets moved: what secondaries transfer follows what clients are answered.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "resolver/alias_resolver.hpp"
#include "server/flattener.hpp"
#include "server/snapshot.hpp"
#include "server/transfer_view.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

inline constexpr std::chrono::seconds version_check_max{30};    // re-check at least this often
inline constexpr std::chrono::seconds version_check_min{1};

/// Watches the zones that have secondaries (`allow_transfer` or `notify`) and flattened or
/// proxied names. Each round resolves their targets as a transfer would (which also refreshes
/// the resolver's cache before the addresses expire, whether or not a client asks); when the
/// addresses a zone transfers changed since its last version, the zone gets a new version: the
/// SOA serial moves by the zone's `serial` policy, the new zone is published by the usual swap,
/// and `on_version` is told (it sends the NOTIFYs). A TTL counting down is not a change; changes
/// closer together than the zone's notify_min_interval are merged into one version.
///
/// Runs on one executor, the one reloads run on, so that a new version and a reload never
/// publish over each other.
class ZoneVersions {
 public:
  using OnVersion = std::function<void(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after)>;

  ZoneVersions(SnapshotCell<zone::ZoneSet>& zones, resolver::AliasResolver* resolver, const EdgeAddresses* edges,
               OnVersion on_version, LastKnownAddresses* last_known = nullptr)
      : zones_(zones), resolver_(resolver), edges_(edges), last_known_(last_known), on_version_(std::move(on_version)) {}

  /// One round over the zones; returns how long to wait before the next (half the smallest
  /// TTL of what they transfer, within [version_check_min, version_check_max]).
  boost::asio::awaitable<std::chrono::seconds> round();
  /// Rounds until the executor stops.
  boost::asio::awaitable<void> run();
  /// Starts the next round now (after a reload: a target in our own zones may have moved).
  /// Call on run()'s executor.
  void poke();

  size_t versions_made() const { return versions_made_; }

 private:
  struct State {
    uint64_t fingerprint = 0;
    std::weak_ptr<const zone::Zone> zone;  ///< the version the fingerprint is of
    std::chrono::steady_clock::time_point last_version{};
  };

  SnapshotCell<zone::ZoneSet>& zones_;
  resolver::AliasResolver* resolver_;
  const EdgeAddresses* edges_;
  LastKnownAddresses* last_known_;
  OnVersion on_version_;
  std::unordered_map<std::string, State> states_;  ///< by origin (lowercase wire)
  size_t versions_made_ = 0;
  boost::asio::steady_timer* timer_ = nullptr;  ///< run()'s, while it waits
  bool poked_ = false;
};

}  // namespace apexd::server
