// Building the next ZoneSet for a reload: unchanged zones reused, failed zones keep their old data.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "server/config.hpp"
#include "server/file_watch.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// What a (re)load did, zone by zone.
struct ReloadReport {
  size_t loaded = 0;    ///< read and compiled (new or changed)
  size_t reused = 0;    ///< files and options unchanged: the old compiled zone kept
  size_t failed = 0;    ///< could not be loaded (old data kept when there was some)
  size_t removed = 0;   ///< no longer in the config
  std::vector<std::string> errors;  ///< "file:line: reason" for each failure
  std::vector<std::string> warnings;  ///< "file:line: …" of what loading skipped (records outside the origin)
  /// Zones read and compiled by this reload (new or changed): their change logs are replayed
  /// (updates.hpp), and those with secondaries whose serial moved are journaled and NOTIFYed.
  std::vector<std::shared_ptr<const zone::Zone>> loaded_zones;
};

/// Builds the ZoneSet for `cfg`. With `current`, zones whose origin, options and every file
/// stamp are unchanged are reused, and a zone that fails to load keeps its current data.
/// A zone that fails with no data to keep (at start-up, or never loaded) is listed in the set's
/// failed() zones, answered SERVFAIL, and retried by the next reload.
/// With `watch` (one per server, used by one reload at a time), files its folder watches saw
/// nothing happen to are not stat'ed.
std::shared_ptr<const zone::ZoneSet> build_zone_set(const Config& cfg, const zone::ZoneSet* current,
                                                    ReloadReport& report, FileWatch* watch = nullptr);

}  // namespace apexd::server
