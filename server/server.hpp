// The running server: zones, workers, resolver, signals, reload, control endpoint, readiness.
#pragma once
#include <memory>
#include <string>

#include "server/config.hpp"
#include "server/reload.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// Loads every configured zone for `apexd check`; throws std::runtime_error listing every
/// zone that fails ("file:line: reason", one per line).
std::shared_ptr<const zone::ZoneSet> load_zones(const Config& cfg);

/// Number of proxied names across `zones` (for `apexd check` warnings).
size_t count_proxied(const zone::ZoneSet& zones);

/// Binds every listen address on every worker and serves until SIGINT or SIGTERM; SIGHUP
/// reloads. Returns the process exit code.
int run_server(const Config& cfg);

}  // namespace apexd::server
