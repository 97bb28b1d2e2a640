// Per-zone counts of transfers and NOTIFYs, for the apexd_zone_* metrics.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace apexd::server {

/// Transfers and NOTIFYs are rare beside queries, so one mutex guards the table. Only zones we
/// serve or copy are counted (the callers have the zone), so the table is bounded by the zones
/// configured; entries of zones no longer configured are dropped when the table is listed.
class ZoneCounters {
 public:
  enum Kind : uint8_t {
    transfer_out_ok,          ///< an AXFR or IXFR stream sent in full
    transfer_out_up_to_date,  ///< an IXFR from the current serial: the SOA alone
    transfer_out_refused,     ///< access, TSIG, signed zone, too many at once
    transfer_out_failed,      ///< cut off: a write failed or timed out, signing failed
    transfer_in_ok,           ///< a transfer applied to our copy
    transfer_in_up_to_date,   ///< the primary's SOA says our copy is current
    transfer_in_failed,       ///< a refresh or transfer that failed (the old copy kept)
    notify_sent,              ///< a NOTIFY a secondary acknowledged
    notify_failed,            ///< a NOTIFY never acknowledged after every try, or refused
    notify_received,          ///< an allowed NOTIFY for a secondary zone
    kinds
  };
  using Counts = std::array<uint64_t, kinds>;

  /// Counts one `kind` for the zone named `origin_text` (its presentation form).
  void add(const std::string& origin_text, Kind kind) {
    std::lock_guard lock(mutex_);
    ++zones_[origin_text][kind];
  }

  /// Every zone's counts, sorted by name, dropping zones `configured` says are gone.
  std::vector<std::pair<std::string, Counts>> list(const std::function<bool(const std::string&)>& configured) {
    std::lock_guard lock(mutex_);
    std::erase_if(zones_, [&](const auto& e) { return !configured(e.first); });
    std::vector<std::pair<std::string, Counts>> out(zones_.begin(), zones_.end());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, Counts> zones_;
};

}  // namespace apexd::server
