// The running server: zones, workers, resolver, signals, reload, control endpoint, readiness.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "server/config.hpp"
#include "server/reload.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// Loads every configured zone for `apexd check`; throws std::runtime_error listing every
/// zone that fails ("file:line: reason", one per line). `warnings` gets what loading skipped.
std::shared_ptr<const zone::ZoneSet> load_zones(const Config& cfg, std::vector<std::string>* warnings = nullptr);

/// Number of proxied names across `zones`.
size_t count_proxied(const zone::ZoneSet& zones);

/// Warnings about serving `zones` with `cfg` (proxied names without edge addresses, flattened
/// CNAMEs that need a resolver when none is configured), for `apexd check` and start-up.
std::vector<std::string> serving_warnings(const Config& cfg, const zone::ZoneSet& zones);

/// Binds every listen address on every worker and serves until SIGINT or SIGTERM; SIGHUP
/// reloads (`cache`: the included files `cfg` was read with, so a reload parses only changed ones).
/// Returns the process exit code.
int run_server(const Config& cfg, ConfigCache cache = {});

}  // namespace apexd::server
