// Reload: per zone, reuse / load / keep-old-on-failure, logging each decision as key=value.
#include "server/reload.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>
#include <thread>

#include "zone/loader.hpp"

namespace apexd::server {

namespace {

constexpr size_t parallel_stat_min = 2000;     // fewer zones: one thread stats them faster than it starts others
constexpr size_t trim_after_records = 50000;  // bench/README.md: trimming after a 1M-record load saves 126 MiB

bool unchanged(const zone::Zone& z, const ZoneConfig& zc) {
  if (z.source() != zc.file || !(z.options() == zc.options)) return false;
  for (const zone::FileStamp& f : z.files())
    if (!(zone::stamp_file(f.path) == f)) return false;
  return !z.files().empty();
}

// The current zone of each configured origin and whether its files are unchanged. One stat()
// per file is most of an unchanged reload's cost with 100,000 zones; the cores share it.
struct Previous {
  std::shared_ptr<const zone::Zone> zone;
  bool unchanged = false;
};

std::vector<Previous> find_previous(const Config& cfg, const zone::ZoneSet* current) {
  std::vector<Previous> out(cfg.zones.size());
  if (!current) return out;
  auto work = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      const ZoneConfig& zc = cfg.zones[i];  // origins are lowercase (config.hpp)
      out[i].zone = current->shared_exact({reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size()});
      out[i].unchanged = out[i].zone && unchanged(*out[i].zone, zc);
    }
  };
  size_t threads = cfg.zones.size() < parallel_stat_min ? 1 : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  std::vector<std::thread> pool;
  size_t chunk = (out.size() + threads - 1) / threads;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(work, std::min(out.size(), t * chunk), std::min(out.size(), (t + 1) * chunk));
  work(0, std::min(out.size(), chunk));
  for (std::thread& t : pool) t.join();
  return out;
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
  size_t kept = 0;  // configured zones that were loaded before
  std::vector<Previous> previous = find_previous(cfg, current);
  for (size_t i = 0; i < cfg.zones.size(); ++i) {
    const ZoneConfig& zc = cfg.zones[i];
    wire::NameView origin(reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size());
    std::shared_ptr<const zone::Zone> old = std::move(previous[i].zone);
    kept += old != nullptr;
    if (old && previous[i].unchanged) {
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
        failed.push_back({zc.origin, zc.origin_text, zc.file, e.what()});
      }
    }
  }
  // Loading a big zone churns through many short-lived allocations: give the freed pages back to
  // the system. Not after small loads: with 100,000 zones in memory the trim itself walks the
  // whole heap (hundreds of ms) and the next allocations fault the pages back in.
  if (loaded_records >= trim_after_records) ::malloc_trim(0);
  auto set = std::make_shared<const zone::ZoneSet>(std::move(zones), std::move(failed));
  if (current) {
    // Removed = zones of the current set whose origin is no longer configured. Origins are
    // unique, so counting those kept is enough; the removed are named only when there are some.
    auto in_new = [&](std::string_view origin) {
      wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
      return set->find_exact(o) != nullptr || set->find_failed(o) != nullptr;
    };
    size_t kept_failed = 0;
    for (const zone::FailedZone& f : current->failed()) kept_failed += in_new(f.origin);
    report.removed = current->zones().size() - kept + current->failed().size() - kept_failed;
    if (report.removed) {
      for (const auto& z : current->zones())
        if (!in_new({reinterpret_cast<const char*>(z->origin().data()), z->origin().size()}))
          spdlog::info("event=zone_removed zone={}", z->origin_text());
      for (const zone::FailedZone& f : current->failed())
        if (!in_new(f.origin)) spdlog::info("event=zone_removed zone={} was=failed", f.origin_text);
    }
  }
  return set;
}

}  // namespace apexd::server
