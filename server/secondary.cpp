// Secondary zones: SOA refresh/retry/expire (RFC 1034 §4.3.5), NOTIFY in (RFC 1996), IXFR/AXFR in, the kept copy.
#include "server/secondary.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "server/durable_file.hpp"
#include "xfr/xfr_in.hpp"
#include "zone/loader.hpp"
#include "zone/zone_records.hpp"

namespace apexd::server {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Secondaries::State {
  explicit State(asio::io_context& io) : timer(io) {}
  ZoneConfig cfg;
  asio::steady_timer timer;
  bool stopped = false;
  bool poked = false;
  bool expired = false;
  Clock::time_point last_success = Clock::now();  ///< a copy loaded at start counts from start-up
  int64_t last_refresh_unix = 0;
  std::shared_ptr<const zone::Zone> copy;  ///< while expired: the data to serve again after a refresh
  std::string last_error;
  std::chrono::seconds pending_wait = pending_retry_min;
  std::vector<xfr::Primary> primaries() const {
    std::vector<xfr::Primary> out;
    for (const zone::NotifyTarget& p : cfg.options.primaries) out.push_back({p.host, p.port});
    return out;
  }
  wire::NameView origin() const { return {reinterpret_cast<const uint8_t*>(cfg.origin.data()), cfg.origin.size()}; }
};

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct SoaTimers {
  uint32_t refresh = 3600, retry = 600, expire = 604800;
};

// RFC 1035 §3.3.13: REFRESH, RETRY and EXPIRE follow the serial.
SoaTimers soa_timers(const zone::Zone& z) {
  std::span<const uint8_t> soa = z.rdata(z.soa(), 0);
  size_t m = wire::name_wire_length(soa);
  size_t at = m + wire::name_wire_length(soa.subspan(m)) + 4;
  auto u32 = [&](size_t i) {
    const uint8_t* p = soa.data() + at + i;
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
  };
  SoaTimers t;
  if (soa.size() >= at + 12) {
    t.refresh = std::max(u32(0), timer_floor);
    t.retry = std::max(u32(4), timer_floor);
    t.expire = std::max(u32(8), t.refresh);
  }
  return t;
}


}  // namespace

Secondaries::Secondaries(asio::io_context& io, SnapshotCell<zone::ZoneSet>& zones,
                         const std::atomic<const std::vector<crypto::TsigKey>*>& keys, OnVersion on_version)
    : io_(io), zones_(zones), keys_(keys), on_version_(std::move(on_version)) {}

Secondaries::~Secondaries() = default;

void Secondaries::configure(const std::vector<ZoneConfig>& zones) {
  auto table = std::make_shared<NotifyTable>();
  std::unordered_map<std::string, std::shared_ptr<State>> next;
  for (const ZoneConfig& zc : zones) {
    if (!zc.options.is_secondary()) continue;
    table->allow[zc.origin] = zc.options.allow_notify;
    auto it = states_.find(zc.origin);
    if (it != states_.end()) {
      std::shared_ptr<State> st = it->second;
      bool changed = !(st->cfg.options == zc.options) || st->cfg.file != zc.file;
      st->cfg = zc;
      if (changed) {
        st->poked = true;
        st->timer.cancel();
      }
      next.emplace(zc.origin, std::move(st));
      continue;
    }
    auto st = std::make_shared<State>(io_);
    st->cfg = zc;
    next.emplace(zc.origin, st);
    publish_status(*st);
    asio::co_spawn(io_, run_zone(st), asio::detached);
  }
  for (auto& [origin, st] : states_) {
    if (next.count(origin)) continue;
    st->stopped = true;
    st->timer.cancel();
    std::lock_guard lock(status_mutex_);
    status_.erase(origin);
  }
  states_ = std::move(next);
  notify_table_.publish(std::move(table));
}

void Secondaries::stop() {
  for (auto& [origin, st] : states_) {
    st->stopped = true;
    st->timer.cancel();
  }
  states_.clear();
}

void Secondaries::notified(const std::string& origin) {
  notifies_received.fetch_add(1);
  asio::post(io_, [this, origin] {
    auto it = states_.find(origin);
    if (it == states_.end()) return;
    it->second->poked = true;
    it->second->timer.cancel();
  });
}

std::shared_ptr<const zone::ZoneSet> Secondaries::adjust(std::shared_ptr<const zone::ZoneSet> set) {
  bool any = false;
  for (auto& [origin, st] : states_) any |= st->expired;
  if (!any) return set;
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  std::vector<zone::FailedZone> failed = set->failed();
  for (const auto& z : set->zones()) {
    std::string origin(reinterpret_cast<const char*>(z->origin().data()), z->origin().size());
    auto it = states_.find(origin);
    if (it == states_.end() || !it->second->expired) {
      zones.push_back(z);
      continue;
    }
    it->second->copy = z;  // the reload's version of it (options may have changed) is what comes back
    failed.push_back({origin, z->origin_text(), it->second->cfg.file, it->second->last_error});
  }
  return std::make_shared<const zone::ZoneSet>(std::move(zones), std::move(failed));
}

void Secondaries::count(const State& st, ZoneCounters::Kind k) const {
  if (counters) counters->add(st.cfg.origin_text, k);
}

std::shared_ptr<const zone::Zone> Secondaries::current(const State& st) const {
  if (st.expired) return st.copy;
  return zones_.load()->shared_exact(st.origin());
}

void Secondaries::publish_failed(const State& st, const std::string& why) {
  auto cur = zones_.load();
  std::vector<std::shared_ptr<const zone::Zone>> zones = cur->zones();
  std::vector<zone::FailedZone> failed = cur->failed();
  std::erase_if(zones, [&](const auto& z) { return wire::name_equal(z->origin(), st.origin()); });
  std::erase_if(failed, [&](const zone::FailedZone& f) { return f.origin == st.cfg.origin; });
  failed.push_back({st.cfg.origin, st.cfg.origin_text, st.cfg.file, why});
  zones_.publish(std::make_shared<const zone::ZoneSet>(std::move(zones), std::move(failed)));
}

void Secondaries::publish_status(const State& st) {
  SecondaryStatus s;
  s.origin_text = st.cfg.origin_text;
  for (const xfr::Primary& p : st.primaries()) s.primaries.push_back(p.text());
  std::shared_ptr<const zone::Zone> z = current(st);
  s.has_copy = z != nullptr;
  if (z) {
    s.serial = z->serial();
    auto left = std::chrono::seconds(soa_timers(*z).expire) -
                std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - st.last_success);
    s.expires_in = std::max<int64_t>(0, left.count());
  }
  s.last_refresh = st.last_refresh_unix;
  s.last_error = st.last_error;
  s.state = st.expired ? "expired" : !z ? "pending" : st.last_error.empty() ? "ok" : "retrying";
  std::lock_guard lock(status_mutex_);
  status_[st.cfg.origin] = std::move(s);
}

std::vector<SecondaryStatus> Secondaries::status() const {
  std::lock_guard lock(status_mutex_);
  std::vector<SecondaryStatus> out;
  out.reserve(status_.size());
  for (const auto& [origin, s] : status_) out.push_back(s);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.origin_text < b.origin_text; });
  return out;
}

std::vector<std::string> Secondaries::expired() const {
  std::vector<std::string> out;
  for (const SecondaryStatus& s : status())
    if (s.state == "expired") out.push_back(s.origin_text);
  return out;
}

asio::awaitable<void> Secondaries::run_zone(std::shared_ptr<State> st) {
  while (!st->stopped) {
    st->poked = false;
    bool ok = false;
    try {
      ok = co_await refresh(*st);
    } catch (const std::exception& e) {
      st->last_error = e.what();
      spdlog::error("event=transfer_in_failed zone={} reason=\"{}\"", st->cfg.origin_text, e.what());
    }
    if (st->stopped) break;
    std::shared_ptr<const zone::Zone> z = current(*st);
    std::chrono::seconds wait;
    if (!z) {
      wait = ok ? pending_retry_min : st->pending_wait;
      if (!ok) st->pending_wait = std::min(st->pending_wait * 2, std::chrono::seconds(pending_retry_max));
    } else {
      SoaTimers t = soa_timers(*z);
      wait = std::chrono::seconds(ok ? t.refresh : t.retry);
      auto since = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - st->last_success);
      auto left = std::chrono::seconds(t.expire) - since;
      if (!st->expired && left <= std::chrono::seconds(0)) {
        // RFC 1034 §4.3.5: past EXPIRE without a refresh the data is no longer authoritative.
        st->expired = true;
        st->copy = z;
        st->last_error = "expired: no successful refresh from the primaries for " + std::to_string(since.count()) +
                         " s (SOA expire " + std::to_string(t.expire) + ")" +
                         (st->last_error.empty() ? "" : "; last error: " + st->last_error);
        publish_failed(*st, st->last_error);
        spdlog::error("event=zone_expired zone={} serial={} seconds_since_refresh={}", st->cfg.origin_text, z->serial(),
                      since.count());
      } else if (!st->expired) {
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::seconds>(left));
      }
    }
    publish_status(*st);
    if (st->poked || st->stopped) continue;
    st->timer.expires_after(std::max(wait, std::chrono::seconds(1)));
    co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<bool> Secondaries::refresh(State& st) {
  const crypto::TsigKey* key = nullptr;
  if (!st.cfg.options.primary_key.empty())
    for (const crypto::TsigKey& k : *keys_.load(std::memory_order_acquire))
      if (k.name == st.cfg.options.primary_key) key = &k;
  std::string errors;
  for (const xfr::Primary& p : st.primaries()) {
    if (st.stopped) co_return false;
    std::shared_ptr<const zone::Zone> z = current(st);
    std::string who = p.text();
    auto note_failure = [&](const std::string& why) {
      errors += (errors.empty() ? "" : "; ") + who + ": " + why;
    };
    xfr::SoaAnswer soa = co_await xfr::query_soa(p, st.origin(), key);
    if (!soa.ok) {
      // A refresh that failed at its first step: counted and logged like a failed transfer.
      transfers_failed.fetch_add(1);
    count(st, ZoneCounters::transfer_in_failed);
      spdlog::error("event=transfer_in_failed zone={} primary={} type=SOA reason=\"SOA query: {}\" action={}",
                    st.cfg.origin_text, who, soa.error, z ? "keep_old" : "servfail");
      note_failure("SOA query: " + soa.error);
      continue;
    }
    if (z && !zone::serial_greater(soa.serial, z->serial())) {
      if (soa.serial != z->serial())
        spdlog::warn("event=primary_serial_behind zone={} primary={} primary_serial={} serial={} "
                     "action=keep (RFC 1982: a serial never goes back)",
                     st.cfg.origin_text, who, soa.serial, z->serial());
      spdlog::debug("event=zone_up_to_date zone={} primary={} serial={}", st.cfg.origin_text, who, z->serial());
      transfers_up_to_date.fetch_add(1);
      count(st, ZoneCounters::transfer_in_up_to_date);
      st.last_success = Clock::now();
      st.last_refresh_unix = unix_now();
      st.last_error.clear();
      if (st.expired) {
        st.expired = false;
        zones_.publish(zones_.load()->with_zone(st.copy));
        st.copy.reset();
        spdlog::info("event=zone_unexpired zone={} serial={}", st.cfg.origin_text, z->serial());
      }
      co_return true;
    }
    auto started = Clock::now();
    std::optional<std::string> have;
    if (z) {
      std::span<const uint8_t> rd = z->rdata(z->soa(), 0);
      have = std::string(reinterpret_cast<const char*>(rd.data()), rd.size());
    }
    xfr::InboundTransfer t = co_await xfr::fetch_zone(p, st.origin(), key, have, st.cfg.options.max_zone_size);
    const char* type = have ? "IXFR" : "AXFR";
    std::vector<zone::JournalRR> rrs;
    std::string error;
    if (t.kind == xfr::InboundTransfer::Kind::incremental && z) {
      std::optional<std::vector<zone::JournalRR>> v = zone::zone_rrs(*z);
      for (const zone::Changeset& cs : t.changesets) {
        v = zone::apply_changeset(std::move(*v), cs);
        if (!v) break;
      }
      if (v) rrs = std::move(*v);
      else error = "the IXFR differences do not apply to our copy";
    } else if (t.kind == xfr::InboundTransfer::Kind::full) {
      type = have ? "AXFR requested=IXFR" : "AXFR";  // RFC 1995 §4: a primary may answer IXFR with the whole zone
      rrs = std::move(t.records);
    } else if (t.kind == xfr::InboundTransfer::Kind::up_to_date) {
      error = "the primary's IXFR says we are current, but its SOA said serial " + std::to_string(soa.serial);
    } else {
      error = t.error;
    }
    if (!error.empty() && have) {
      // RFC 1995 §4: IXFR may fail where AXFR works (no journal, an old server): ask for all of it.
      spdlog::info("event=ixfr_fallback zone={} primary={} reason=\"{}\"", st.cfg.origin_text, who, error);
      error.clear();
      type = "AXFR";
      t = co_await xfr::fetch_zone(p, st.origin(), key, std::nullopt, st.cfg.options.max_zone_size);
      if (t.kind == xfr::InboundTransfer::Kind::full) rrs = std::move(t.records);
      else error = t.error.empty() ? "no zone in the AXFR answer" : t.error;
    }
    if (error.empty() && z && !zone::serial_greater(t.serial, z->serial()))
      error = "the transferred serial " + std::to_string(t.serial) + " is not newer than ours (" +
              std::to_string(z->serial()) + ")";
    if (error.empty()) {
      // Named in validation errors: the data came from the primary, not from the file.
      auto file = std::make_shared<const std::string>(std::string(type) + " from " + who);
      std::vector<zone::Record> records = zone::to_records(std::move(rrs), file);
      auto logged = [&] {  // just before the publish: whoever sees the new data finds the line
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
        spdlog::info("event=transfer_in zone={} primary={} type={} serial={} records={} messages={} bytes={} ms={}",
                     st.cfg.origin_text, who, type, t.serial, t.rrs, t.messages, t.bytes, ms);
      };
      if (install(st, z, std::move(records), t.serial, who, type, error, logged)) {
        transfers_ok.fetch_add(1);
        count(st, ZoneCounters::transfer_in_ok);
        co_return true;
      }
    }
    transfers_failed.fetch_add(1);
    count(st, ZoneCounters::transfer_in_failed);
    spdlog::error("event=transfer_in_failed zone={} primary={} type={} serial={} reason=\"{}\" action={}",
                  st.cfg.origin_text, who, type, soa.serial, error, z ? "keep_old" : "servfail");
    note_failure(error);
  }
  st.last_error = errors.empty() ? "no primary answered" : errors;
  co_return false;
}

bool Secondaries::install(State& st, std::shared_ptr<const zone::Zone> before, std::vector<zone::Record> records,
                          uint32_t serial, const std::string& primary, const char* type, std::string& error,
                          const std::function<void()>& before_publish) {
  // Written to a temporary file first: its stamp goes into the zone (so a reload sees an
  // unchanged file), and it replaces the copy only once the zone has compiled.
  std::string header = "Secondary copy of " + st.cfg.origin_text + " serial " + std::to_string(serial) +
                       ", transferred (" + type + ") from " + primary + " by apexd " + APEXD_VERSION +
                       ".\nRewritten at every transfer: edit the zone on the primary.";
  std::string text = zone::records_to_text(records, header);
  std::string tmp = write_temp(st.cfg.file, text, error);
  if (tmp.empty()) {
    error = "cannot write the copy: " + error;
    return false;
  }
  zone::FileStamp stamp = zone::stamp_file(tmp);
  stamp.path = st.cfg.file;
  std::shared_ptr<const zone::Zone> z;
  try {
    z = zone::compile_zone(st.origin(), std::move(records), st.cfg.file, st.cfg.options, {stamp});
  } catch (const std::exception& e) {
    ::unlink(tmp.c_str());
    error = std::string("the zone fails validation: ") + e.what();
    return false;
  }
  if (::rename(tmp.c_str(), st.cfg.file.c_str()) != 0) {
    error = "cannot replace " + st.cfg.file + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  fsync_folder(st.cfg.file);
  st.last_success = Clock::now();
  st.last_refresh_unix = unix_now();
  st.last_error.clear();
  st.expired = false;
  st.copy.reset();
  st.pending_wait = pending_retry_min;
  before_publish();
  zones_.publish(zones_.load()->with_zone(z));
  if (on_version_) on_version_(std::move(before), z);
  return true;
}

}  // namespace apexd::server
