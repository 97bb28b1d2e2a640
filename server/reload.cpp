// Reload: per zone, reuse / load / keep-old-on-failure, logging each decision as key=value.
#include "server/reload.hpp"

#include <unistd.h>

#include <cerrno>

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ranges>
#include <ranges>
#include <string_view>
#include <thread>

#include "zone/loader.hpp"

namespace apexd::server {

namespace {

constexpr size_t parallel_stat_min = 2000;     // fewer zones: one thread stats them faster than it starts others
constexpr size_t trim_after_records = 50000;  // bench/README.md: trimming after a 1M-record load saves 126 MiB

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A file is unchanged when its folder's watch saw nothing happen to it (no system call), or
// else when a stat() gives the stamp it had when read.
bool unchanged(const zone::Zone& z, const ZoneConfig& zc, const FileWatch* watch, FileWatch::Recent& recent) {
  if (z.source() != zc.file || !(z.options() == zc.options)) return false;
  for (const zone::FileStamp& f : z.files())
    if (!(f.watchable && watch && watch->quiet(f.path, recent)) && !(zone::stamp_file(f.path) == f)) return false;
  return !z.files().empty();
}

// The current zone of each configured origin and whether its files are unchanged. Without
// watches, one stat() per file is most of an unchanged reload's cost with 100,000 zones; the
// cores share it.
struct Previous {
  std::shared_ptr<const zone::Zone> zone;
  size_t at = zone::ZoneSet::npos;  ///< its position in the current set's zones()
  bool unchanged = false;
};

// The current zone of config entry i. Zones are kept in config order, so the entry at i plus the
// offset of the previous match is tried before the hash index: a reload of a zone list that
// changed in one place walks the old list in order instead of looking up every origin.
class PreviousFinder {
 public:
  explicit PreviousFinder(const zone::ZoneSet& current) : zones_(current.zones()), current_(current) {}
  size_t operator()(size_t i, const ZoneConfig& zc) {
    wire::NameView origin(reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size());
    size_t guess = i + offset_;
    if (guess < zones_.size() && std::ranges::equal(zones_[guess]->origin(), origin)) return guess;
    size_t at = current_.index_of(origin);  // origins are lowercase (config.hpp)
    if (at != zone::ZoneSet::npos) offset_ = at - i;  // wraps below zero and back: unsigned arithmetic is modular
    return at;
  }

 private:
  const zone::ZoneList& zones_;
  const zone::ZoneSet& current_;
  size_t offset_ = 0;
};

std::vector<Previous> find_previous(const Config& cfg, const zone::ZoneSet* current, FileWatch* watch) {
  std::vector<Previous> out(cfg.zones.size());
  if (watch) {
    // Before anything is stat'ed or read, so that a change from here on is an event of the next
    // round. (Folders of $INCLUDEd files are watched after the zone is read: build_zone_set.)
    watch->begin_round();
    for (const ZoneConfig& zc : cfg.zones) watch->watch(zc.file);
  }
  if (!current) return out;
  auto work = [&](size_t from, size_t to) {
    PreviousFinder find(*current);
    FileWatch::Recent recent;
    for (size_t i = from; i < to; ++i) {
      out[i].at = find(i, cfg.zones[i]);
      if (out[i].at != zone::ZoneSet::npos) out[i].zone = current->zones()[out[i].at];
      out[i].unchanged = out[i].zone && unchanged(*out[i].zone, cfg.zones[i], watch, recent);
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
                                                    ReloadReport& report, FileWatch* watch) {
  // Every step is linear in the number of zones (hash look-ups by origin), and only new or
  // changed zones are read and compiled: adding one zone among 100,000 costs one zone's load
  // plus a stat() per unchanged file.
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  std::vector<zone::FailedZone> failed;
  size_t loaded_records = 0;
  zones.reserve(cfg.zones.size());
  size_t kept = 0;  // configured zones that were loaded before
  std::vector<Previous> previous = find_previous(cfg, current, watch);
  std::vector<bool> matched(current ? current->zones().size() : 0);  // current zones still configured
  for (const Previous& p : previous)
    if (p.at != zone::ZoneSet::npos) matched[p.at] = true;
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
    if (!old && zc.options.is_secondary() && ::access(zc.file.c_str(), F_OK) != 0 && errno == ENOENT) {
      // A secondary zone without a kept copy: SERVFAIL until its first transfer (not an error).
      spdlog::info("event=zone_pending zone={} file={} reason=\"no copy yet: waiting for the first transfer\"",
                   zc.origin_text, zc.file);
      failed.push_back({zc.origin, zc.origin_text, zc.file, "no copy yet: waiting for the first transfer from its primaries"});
      continue;
    }
    try {
      std::shared_ptr<const zone::Zone> z = zone::load_zone(zc.file, origin, zc.options);
      if (old && (zc.options.has_secondaries() || !zc.options.allow_update.empty()) && !zc.options.is_secondary() &&
          !zone::serial_greater(z->serial(), old->serial())) {
        // Secondaries compare serials: new data under a serial that did not grow would never
        // reach them (nor would data under one that went back, RFC 1982).
        uint32_t next = zone::next_serial(old->serial(), zc.options.serial, unix_seconds());
        spdlog::warn("event=zone_serial_raised zone={} file_serial={} served_serial={} serial={} "
                     "reason=\"the zone changed but its serial did not grow\"",
                     zc.origin_text, z->serial(), old->serial(), next);
        z = z->with_serial(next);
      }
      ++report.loaded;
      loaded_records += z->record_count();
      spdlog::info("event=zone_loaded zone={} serial={} records={} flattened={} proxied={} file={}", zc.origin_text,
                   z->serial(), z->record_count(), z->flattened_count(), z->proxied_count(), zc.file);
      if (watch)  // watched after being read: trusted once a round has stat'ed them (file_watch.hpp)
        for (size_t k = 1; k < z->files().size(); ++k) watch->watch(z->files()[k].path, FileWatch::after_read);
      for (const std::string& w : z->warnings()) {
        spdlog::warn("event=zone_warning zone={} warning=\"{}\"", zc.origin_text, w);
        report.warnings.push_back(w);
      }
      report.loaded_zones.push_back(z);
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
    // Removed = zones of the current set whose origin is no longer configured: those no config
    // entry matched (origins are unique, so counting those kept is enough).
    auto in_new = [&](std::string_view origin) {
      wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
      return set->find_exact(o) != nullptr || set->find_failed(o) != nullptr;
    };
    size_t kept_failed = 0;
    for (const zone::FailedZone& f : current->failed()) kept_failed += in_new(f.origin);
    report.removed = current->zones().size() - kept + current->failed().size() - kept_failed;
    if (report.removed) {
      for (size_t j = 0; j < matched.size(); ++j)
        if (!matched[j]) spdlog::info("event=zone_removed zone={}", current->zones()[j]->origin_text());
      for (const zone::FailedZone& f : current->failed())
        if (!in_new(f.origin)) spdlog::info("event=zone_removed zone={} was=failed", f.origin_text);
    }
  }
  return set;
}

}  // namespace apexd::server
