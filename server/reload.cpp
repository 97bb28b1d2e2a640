// Reload: per zone, reuse / load / keep-old-on-failure, logging each decision as key=value.
#include "server/reload.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <string_view>
#include <unordered_set>

#include "zone/loader.hpp"

namespace apexd::server {

namespace {

constexpr size_t trim_after_records = 50000;  // bench/README.md: trimming after a 1M-record load saves 126 MiB

bool unchanged(const zone::Zone& z, const ZoneConfig& zc) {
  if (z.source() != zc.file || !(z.options() == zc.options)) return false;
  for (const zone::FileStamp& f : z.files())
    if (!(zone::stamp_file(f.path) == f)) return false;
  return !z.files().empty();
}

}  // namespace

std::shared_ptr<const zone::ZoneSet> build_zone_set(const Config& cfg, const zone::ZoneSet* current,
                                                    ReloadReport& report) {
  // Every step is linear in the number of zones (hash look-ups by origin), and only new or
  // changed zones are read and compiled: adding one zone among 100,000 costs one zone's load
  // plus a stat() per unchanged file.
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  std::vector<zone::FailedZone> failed;
  size_t loaded_records = 0;
  zones.reserve(cfg.zones.size());
  std::unordered_set<std::string_view> configured;
  configured.reserve(cfg.zones.size());
  for (const ZoneConfig& zc : cfg.zones) {
    wire::NameView origin(reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size());
    std::string lower = wire::name_lower(origin);
    std::shared_ptr<const zone::Zone> old =
        current ? current->shared_exact({reinterpret_cast<const uint8_t*>(lower.data()), lower.size()}) : nullptr;
    if (old && unchanged(*old, zc)) {
      ++report.reused;
      spdlog::debug("event=zone_unchanged zone={} serial={}", zc.origin_text, old->serial());
      zones.push_back(std::move(old));
      continue;
    }
    try {
      auto z = zone::load_zone(zc.file, origin, zc.options);
      ++report.loaded;
      loaded_records += z->record_count();
      spdlog::info("event=zone_loaded zone={} serial={} records={} flattened={} proxied={} file={}", zc.origin_text,
                   z->serial(), z->record_count(), z->flattened_count(), z->proxied_count(), zc.file);
      for (const std::string& w : z->warnings()) {
        spdlog::warn("event=zone_warning zone={} warning=\"{}\"", zc.origin_text, w);
        report.warnings.push_back(w);
      }
      zones.push_back(std::move(z));
    } catch (const std::exception& e) {
      ++report.failed;
      report.errors.push_back(e.what());
      if (old) {
        spdlog::error("event=zone_load_failed zone={} error=\"{}\" action=keep_old serial={}", zc.origin_text,
                      e.what(), old->serial());
        zones.push_back(std::move(old));
      } else {
        // Knot and NSD start without it and serve the other zones; its names get SERVFAIL.
        spdlog::error("event=zone_load_failed zone={} error=\"{}\" action=servfail", zc.origin_text, e.what());
        failed.push_back({std::move(lower), zc.origin_text, zc.file, e.what()});
      }
    }
  }
  if (current) {
    // Removed = zones of the current set whose origin is no longer configured.
    for (const auto& z : zones) configured.emplace(reinterpret_cast<const char*>(z->origin().data()), z->origin().size());
    for (const zone::FailedZone& f : failed) configured.emplace(f.origin);
    report.removed = 0;
    for (const auto& z : current->zones()) {
      if (configured.count(std::string_view(reinterpret_cast<const char*>(z->origin().data()), z->origin().size())))
        continue;
      ++report.removed;
      spdlog::info("event=zone_removed zone={}", z->origin_text());
    }
    for (const zone::FailedZone& f : current->failed()) {
      if (configured.count(f.origin)) continue;
      ++report.removed;
      spdlog::info("event=zone_removed zone={} was=failed", f.origin_text);
    }
  }
  // Loading a big zone churns through many short-lived allocations: give the freed pages back to
  // the system. Not after small loads: with 100,000 zones in memory the trim itself walks the
  // whole heap (hundreds of ms) and the next allocations fault the pages back in.
  if (loaded_records >= trim_after_records) ::malloc_trim(0);
  return std::make_shared<const zone::ZoneSet>(std::move(zones), std::move(failed));
}

}  // namespace apexd::server
