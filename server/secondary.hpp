// Secondary zones: SOA refresh/retry/expire (RFC 1034 §4.3.5), NOTIFY in (RFC 1996), IXFR/AXFR in, the kept copy.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/tsig.hpp"
#include "server/config.hpp"
#include "server/snapshot.hpp"
#include "server/zone_counters.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// Who may NOTIFY each secondary zone (by lowercase wire origin): read by the workers.
struct NotifyTable {
  std::unordered_map<std::string, std::vector<zone::AccessEntry>> allow;
};

/// One secondary zone as /zones and /metrics show it.
struct SecondaryStatus {
  std::string origin_text;
  std::string state;  ///< "ok", "pending" (never transferred), "expired", "retrying" (last refresh failed)
  bool has_copy = false;
  uint32_t serial = 0;
  std::vector<std::string> primaries;
  int64_t expires_in = -1;        ///< seconds before the copy expires; -1 without a copy
  int64_t last_refresh = 0;       ///< unix seconds of the last successful refresh; 0 = none yet
  std::string last_error;
};

inline constexpr std::chrono::seconds pending_retry_min{2};   // a zone never transferred: first retries
inline constexpr std::chrono::seconds pending_retry_max{60};
inline constexpr uint32_t timer_floor = 1;                    // SOA refresh/retry below this are raised to it

/// Keeps every secondary zone (`primaries` set) in step with its primaries. Each zone has a
/// loop on `io` (the reload executor, so that a transfer and a reload never publish over each
/// other): an SOA query every `refresh` seconds of the zone's SOA (`retry` after a failure, at
/// once after an allowed NOTIFY); a newer serial is fetched by IXFR (AXFR when there is no
/// copy, or when IXFR fails), validated and compiled like a loaded file, written to `file`
/// atomically, and published by the usual swap. Past `expire` without a successful refresh,
/// the zone is answered SERVFAIL until one succeeds. A failed transfer changes nothing.
class Secondaries {
 public:
  using OnVersion = std::function<void(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after)>;

  Secondaries(boost::asio::io_context& io, SnapshotCell<zone::ZoneSet>& zones,
              const std::atomic<const std::vector<crypto::TsigKey>*>& keys, OnVersion on_version);
  ~Secondaries();

  /// Takes the configured zones (at start-up and after every reload); starts, updates or
  /// stops each secondary's loop. Call on `io`.
  void configure(const std::vector<ZoneConfig>& zones);
  /// The set a reload built, with expired zones kept SERVFAIL. Call on `io`, before publishing.
  std::shared_ptr<const zone::ZoneSet> adjust(std::shared_ptr<const zone::ZoneSet> set);
  /// An allowed NOTIFY for `origin` (lowercase wire) arrived: check the SOA now. Any thread.
  void notified(const std::string& origin);
  /// Stops every loop (their timers are cancelled). Call on `io`.
  void stop();

  const SnapshotCell<NotifyTable>& notify_table() const { return notify_table_; }
  std::vector<SecondaryStatus> status() const;
  /// Whether any zone is expired (for /healthz), with their names.
  std::vector<std::string> expired() const;

  std::atomic<uint64_t> transfers_ok{0}, transfers_failed{0}, transfers_up_to_date{0}, notifies_received{0};
  ZoneCounters* counters = nullptr;  ///< per-zone counts too (set before the first configure())

 private:
  struct State;
  boost::asio::awaitable<void> run_zone(std::shared_ptr<State> st);
  boost::asio::awaitable<bool> refresh(State& st);
  bool install(State& st, std::shared_ptr<const zone::Zone> current, std::vector<zone::Record> records,
               uint32_t serial, const std::string& primary, const char* type, std::string& error,
               const std::function<void()>& before_publish);
  void publish_failed(const State& st, const std::string& why);
  void publish_status(const State& st);
  std::shared_ptr<const zone::Zone> current(const State& st) const;
  void count(const State& st, ZoneCounters::Kind k) const;

  boost::asio::io_context& io_;
  SnapshotCell<zone::ZoneSet>& zones_;
  const std::atomic<const std::vector<crypto::TsigKey>*>& keys_;  ///< see WorkerContext::tsig_keys
  OnVersion on_version_;
  std::unordered_map<std::string, std::shared_ptr<State>> states_;  ///< by origin; touched on io_ only
  SnapshotCell<NotifyTable> notify_table_{std::make_shared<const NotifyTable>()};
  mutable std::mutex status_mutex_;
  std::unordered_map<std::string, SecondaryStatus> status_;  ///< by origin, for other threads
};

}  // namespace apexd::server
