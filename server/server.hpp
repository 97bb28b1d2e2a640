// The running server: loads zones, starts one worker per thread, stops on SIGINT/SIGTERM.
#pragma once
#include <memory>
#include <string>

#include "server/config.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// Loads every configured zone; throws zone::ZoneError (file:line) on the first bad one.
std::shared_ptr<const zone::ZoneSet> load_zones(const Config& cfg);

/// Number of proxied names across `zones` (for `apexd check` warnings).
size_t count_proxied(const zone::ZoneSet& zones);

/// Binds every listen address on every worker and serves until SIGINT or SIGTERM.
/// Returns the process exit code.
int run_server(const Config& cfg);

}  // namespace apexd::server
