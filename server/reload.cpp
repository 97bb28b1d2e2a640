// Reload: per zone, reuse / load / keep-old-on-failure, logging each decision as key=value.
#include "server/reload.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include "zone/loader.hpp"

namespace apexd::server {

namespace {

bool unchanged(const zone::Zone& z, const ZoneConfig& zc) {
  if (z.source() != zc.file || !(z.options() == zc.options)) return false;
  for (const zone::FileStamp& f : z.files())
    if (!(zone::stamp_file(f.path) == f)) return false;
  return !z.files().empty();
}

}  // namespace

std::shared_ptr<const zone::ZoneSet> build_zone_set(const Config& cfg, const zone::ZoneSet* current,
                                                    ReloadReport& report) {
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  for (const ZoneConfig& zc : cfg.zones) {
    wire::NameView origin(reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size());
    std::shared_ptr<const zone::Zone> old;
    if (current) {
      for (const auto& z : current->zones())
        if (wire::name_equal(z->origin(), origin)) old = z;
    }
    if (old && unchanged(*old, zc)) {
      ++report.reused;
      spdlog::debug("event=zone_unchanged zone={} serial={}", zc.origin_text, old->serial());
      zones.push_back(std::move(old));
      continue;
    }
    try {
      auto z = zone::load_zone(zc.file, origin, zc.options);
      ++report.loaded;
      spdlog::info("event=zone_loaded zone={} serial={} records={} flattened={} proxied={} file={}", zc.origin_text,
                   z->serial(), z->record_count(), z->flattened_count(), z->proxied_count(), zc.file);
      zones.push_back(std::move(z));
    } catch (const std::exception& e) {
      ++report.failed;
      report.errors.push_back(e.what());
      if (old) {
        spdlog::error("event=zone_load_failed zone={} error=\"{}\" action=keep_old serial={}", zc.origin_text,
                      e.what(), old->serial());
        zones.push_back(std::move(old));
      } else {
        spdlog::error("event=zone_load_failed zone={} error=\"{}\" action=not_served", zc.origin_text, e.what());
      }
    }
  }
  if (current) {
    // Removed = zones of the current set whose origin is no longer configured.
    report.removed = 0;
    for (const auto& z : current->zones()) {
      bool still = false;
      for (const ZoneConfig& zc : cfg.zones)
        still = still || wire::name_equal(z->origin(), {reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size()});
      if (!still) {
        ++report.removed;
        spdlog::info("event=zone_removed zone={}", z->origin_text());
      }
    }
  }
  // Loading churns through many short-lived allocations; give the freed pages back to the system.
  ::malloc_trim(0);
  return std::make_shared<const zone::ZoneSet>(std::move(zones));
}

}  // namespace apexd::server
