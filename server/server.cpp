// Server lifecycle: start-up, worker threads, SIGHUP/HTTP reload, metrics, readiness, shutdown.
#include "server/server.hpp"

#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "server/api_zones.hpp"
#include "server/durable_file.hpp"
#include "xfr/catalog.hpp"
#include "server/control.hpp"
#include "server/flattener.hpp"
#include "server/metrics.hpp"
#include "server/process.hpp"
#include "server/journals.hpp"
#include "server/secondary.hpp"
#include "server/updates.hpp"
#include "server/worker.hpp"
#include "server/zone_keys.hpp"
#include "server/zone_versions.hpp"
#include "xfr/notify_out.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

namespace asio = boost::asio;

std::shared_ptr<const zone::ZoneSet> load_zones(const Config& cfg, std::vector<std::string>* warnings) {
  ReloadReport report;
  auto set = build_zone_set(cfg, nullptr, report);
  if (warnings) *warnings = std::move(report.warnings);
  if (report.failed) {
    std::string all;
    for (const std::string& e : report.errors) all += (all.empty() ? "" : "\nerror: ") + e;
    throw std::runtime_error(all);
  }
  return set;
}

size_t count_proxied(const zone::ZoneSet& zones) {
  size_t n = 0;
  for (const auto& z : zones.zones()) n += z->proxied_count();
  return n;
}

std::vector<std::string> serving_warnings(const Config& cfg, const zone::ZoneSet& zones) {
  std::vector<std::string> out = config_warnings(cfg, count_proxied(zones));
  if (cfg.resolver.upstreams.empty()) {
    for (const std::string& name : externally_flattened(zones))
      out.push_back(cfg.path + ": resolver.upstreams: empty, but the flattened CNAME at " + name +
                    " points outside our zones: its A/AAAA queries will get SERVFAIL");
  }
  return out;
}

namespace {

EdgeAddresses make_edges(const ProxyConfig& p) {
  EdgeAddresses e;
  e.ttl = p.ttl;
  for (const std::string& a : p.ipv4) {
    auto b = asio::ip::make_address_v4(a).to_bytes();
    e.ipv4.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  }
  for (const std::string& a : p.ipv6) {
    auto b = asio::ip::make_address_v6(a).to_bytes();
    e.ipv6.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return e;
}

resolver::UpstreamOptions make_upstream_options(const ResolverConfig& r) {
  resolver::UpstreamOptions o;
  for (const ListenAddress& a : r.upstreams) o.servers.emplace_back(asio::ip::make_address(a.host), a.port);
  o.try_timeout = r.timeout;
  o.deadline = r.deadline;
  o.max_inflight = r.max_inflight;
  return o;
}

resolver::CacheOptions make_cache_options(const ResolverConfig& r) {
  resolver::CacheOptions o;
  o.max_entries = r.cache_size;
  o.min_ttl = r.min_ttl;
  o.max_ttl = r.max_ttl;
  o.serve_stale = r.serve_stale;
  o.failure_recheck = r.failure_recheck;
  return o;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

double seconds_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::vector<crypto::TsigKey> make_tsig_keys(const Config& cfg) {
  std::vector<crypto::TsigKey> keys;
  for (const KeyConfig& k : cfg.keys) keys.push_back(crypto::make_tsig_key(k.name_text, k.algorithm, k.secret));
  return keys;  // validated by load_config already
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Server {
 public:
  Server(const Config& cfg, ConfigCache cache)
      : cfg_(cfg),
        config_cache_(std::move(cache)),
        zones_(std::make_shared<const zone::ZoneSet>()),
        edges_(make_edges(cfg.proxy)),
        upstream_(make_upstream_options(cfg.resolver)),
        resolver_(make_cache_options(cfg.resolver), upstream_),
        started_(std::chrono::system_clock::now()) {
    secondaries_.counters = &zone_counters_;
  }

  int run() {
    // A zone that fails to load does not stop the others (as with Knot and NSD): it is logged,
    // answered SERVFAIL, reported by /healthz and /zones, and retried by every reload.
    ReloadReport report;
    publish_signers(cfg_);  // a missing or broken key stops the start
    auto initial = build_zone_set(cfg_, nullptr, report, &file_watch_);
    zone_failures_.fetch_add(report.failed);
    initial = updates_.replay(initial, report.loaded_zones);
    initial = with_catalog(initial, cfg_.catalog);
    initial = journals_.startup(initial);
    if (catalog_) catalog_ = initial->shared_exact(catalog_->origin());  // as the journal numbered it
    zones_.publish(initial);
    asio::post(reload_io_, [this, initial] {
      secondaries_.configure(cfg_.zones);
      journals_.baseline(*initial);
      for (const auto& z : initial->zones())  // a kept catalog copy: its member list made current
        if (z->options().catalog_consumer) consume_catalog(*z);
    });
    for (const std::string& w : serving_warnings(cfg_, *initial)) spdlog::warn("event=config_warning {}", w);
    log_shadowed(cfg_);

    unsigned threads = cfg_.threads ? cfg_.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) {
      auto w = std::make_unique<WorkerContext>(zones_, cfg_);
      w->resolver = &resolver_;
      w->edges = &edges_;
      w->last_known = &last_known_;
      w->zone_counters = &zone_counters_;
      w->tcp_clients = &tcp_clients_;
      w->tsig_keys = &tsig_keys_;
      w->secondaries = &secondaries_;
      w->journals = &journals_;
      w->updates = &updates_;
      w->log_queries = cfg_.log_queries;
      if (rrl_.enabled()) w->rrl = &rrl_;
      if (cfg_.answer_cache) w->answer_cache = std::make_unique<AnswerCache>(cfg_.answer_cache);
      w->signers.emplace(signers_);
      w->signature_cache = &signature_cache_;
      w->signing_budget = SigningBudget(cfg_.dnssec.signing_budget);
      w->corrupt_signatures = cfg_.dnssec.test_corrupt_signatures;
      for (const ListenAddress& a : cfg_.listen) {
        try {
          start_udp(*w, a);
          start_tcp(*w, a);
        } catch (const boost::system::system_error& e) {
          spdlog::critical("event=listen_failed address={} error=\"{}\"", a.text(), e.code().message());
          return 1;
        }
      }
      workers_.push_back(std::move(w));
    }
    if (cfg_.control) {
      try {
        start_control(main_io_, *cfg_.control, handlers());
      } catch (const boost::system::system_error& e) {
        spdlog::critical("event=listen_failed address={} error=\"{}\"", cfg_.control->text(), e.code().message());
        return 1;
      }
    }
    if (!cfg_.user.empty()) {
      try {
        drop_privileges(cfg_.user);  // every socket is bound: ports below 1024 stay ours
        spdlog::info("event=privileges_dropped user={} uid={}", cfg_.user, ::getuid());
      } catch (const std::exception& e) {
        spdlog::critical("event=start_failed error=\"{}\"", e.what());
        return 1;
      }
    }
    for (const ListenAddress& a : cfg_.listen) spdlog::info("event=listening address={} transports=udp,tcp", a.text());
    spdlog::info("event=started version={} threads={} zones={}", APEXD_VERSION, threads, initial->zones().size());

    asio::signal_set stop_signals(main_io_, SIGINT, SIGTERM);
    stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("event=stopping signal={}", sig);
      notify_systemd("STOPPING=1");
      for (auto& w : workers_) w->io.stop();
      main_io_.stop();
    });
    // Reloads run on their own thread: the control endpoint and signals stay responsive.
    asio::signal_set hup(main_io_, SIGHUP);
    std::function<void()> wait_hup = [&] {
      hup.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        asio::post(reload_io_, [this] { reload("sighup"); });
        wait_hup();
      });
    };
    wait_hup();
    auto reload_guard = asio::make_work_guard(reload_io_);
    asio::co_spawn(reload_io_, versions_.run(), asio::detached);
    std::thread reloader([this] { reload_io_.run(); });

    std::vector<std::thread> pool;
    for (auto& w : workers_) pool.emplace_back([&io = w->io] { io.run(); });
    notify_systemd("READY=1\nSTATUS=serving " + std::to_string(initial->zones().size()) + " zones");
    main_io_.run();
    for (auto& w : workers_) w->io.stop();
    for (auto& t : pool) t.join();
    reload_guard.reset();
    reload_io_.stop();
    reloader.join();
    spdlog::info("event=stopped");
    return 0;
  }

 private:
  // Re-reads the config's zone list and every changed zone file, off the serving threads,
  // and publishes the result in one swap. Returns what happened.
  ReloadReport reload(const char* trigger) {
    notify_systemd(reloading_notification());
    ReloadReport report;
    auto started = std::chrono::steady_clock::now();
    int64_t config_ms = 0;
    try {
      Config next = load_config(cfg_.path, &config_cache_);
      config_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
      auto previous = zones_.load();
      // Keys first: a zone's new keys (a rollover, a new signed zone) are in place when its
      // data is; a broken key file fails the whole reload, and the old keys keep signing.
      publish_signers(next);
      update_keys(next);
      catalog_cfg_ = next.catalog;
      api_zones_.set_defaults(next.api.zone_defaults);
      log_shadowed(next);
      auto set = build_zone_set(next, previous.get(), report, &file_watch_);
      set = secondaries_.adjust(updates_.replay(set, report.loaded_zones));
      for (auto& z : report.loaded_zones)  // the versions published: with their change logs replayed
        if (auto published = set->shared_exact(z->origin())) z = published;
      std::shared_ptr<const zone::Zone> catalog_before = catalog_;
      set = with_catalog(set, next.catalog);
      zones_.publish(set);
      if (catalog_ != catalog_before) new_version(catalog_before, catalog_);
      secondaries_.configure(next.zones);
      announce(*previous, report.loaded_zones);
      versions_.poke();
    } catch (const std::exception& e) {
      ++report.failed;
      report.errors.push_back(e.what());
      spdlog::error("event=reload_failed trigger={} error=\"{}\" action=keep_all", trigger, e.what());
    }
    (report.failed ? reload_failures_ : reload_successes_).fetch_add(1);
    zone_failures_.fetch_add(report.failed);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("event=reload trigger={} loaded={} unchanged={} failed={} removed={} ms={} config_ms={}", trigger,
                 report.loaded, report.reused, report.failed, report.removed, ms, config_ms);
    notify_systemd("READY=1");
    return report;
  }

  // Reads every signed zone's keys and publishes them; when a key's timing (Publish, Activate,
  // Inactive, Delete) has an event ahead, the keys are read again then (on reload_io_).
  void publish_signers(const Config& c) {
    std::optional<int64_t> next;
    signers_.publish(load_signer_table(c, true, unix_now(), &next));
    key_cfg_ = std::make_shared<Config>();
    key_cfg_->path = c.path;
    key_cfg_->state_dir = c.state_dir;
    for (const ZoneConfig& z : c.zones)
      if (z.options.dnssec) key_cfg_->zones.push_back(z);
    asio::post(reload_io_, [this, next] {
      key_timer_.cancel();
      if (!next) return;
      key_timer_.expires_after(std::chrono::seconds(std::max<int64_t>(1, *next - unix_now())));
      key_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        try {
          spdlog::info("event=key_timing zones={}", key_cfg_->zones.size());
          std::shared_ptr<Config> cfg = key_cfg_;  // publish_signers replaces key_cfg_
          publish_signers(*cfg);
        } catch (const std::exception& e) {
          spdlog::error("event=key_timing_failed error=\"{}\" action=keep_keys", e.what());
        }
      });
    });
  }

  static void log_shadowed(const Config& c) {
    for (const std::string& z : c.api_shadowed)
      spdlog::warn("event=zone_shadowed zone={} reason=\"API-created or a catalog member, and configured (or "
                   "API-created, or in an earlier catalog) too: that one is served\"", z);
  }

  // A reload takes the config's [[key]]s too (added, removed or rotated secrets): published as a
  // new list; the old ones stay alive for whoever still uses them.
  void update_keys(const Config& next) {
    auto same = [](const KeyConfig& a, const KeyConfig& b) {
      return a.name == b.name && a.algorithm == b.algorithm && a.secret == b.secret;
    };
    if (std::equal(next.keys.begin(), next.keys.end(), key_configs_.begin(), key_configs_.end(), same)) return;
    key_lists_.push_back(make_tsig_keys(next));
    tsig_keys_.store(&key_lists_.back(), std::memory_order_release);
    key_configs_ = next.keys;
    spdlog::info("event=keys_reloaded keys={}", next.keys.size());
  }

  // The catalog zone (RFC 9432) of `catalog` (none: no catalog) in `set`: every primary zone of
  // the set is a member (secondary zones are their primary's to list). A new version, with a
  // serial past the last (unixtime policy: it never goes back across restarts), only when the
  // members changed. On reload_io_ (or before it runs).
  std::shared_ptr<const zone::ZoneSet> with_catalog(std::shared_ptr<const zone::ZoneSet> set,
                                                    const std::optional<ZoneConfig>& catalog) {
    if (!catalog) {
      catalog_.reset();
      catalog_members_.clear();
      return set;
    }
    wire::NameView origin(reinterpret_cast<const uint8_t*>(catalog->origin.data()), catalog->origin.size());
    std::vector<std::string> members;
    for (const auto& z : set->zones())
      if (!z->options().is_secondary() && !wire::name_equal(z->origin(), origin))
        members.emplace_back(reinterpret_cast<const char*>(z->origin().data()), z->origin().size());
    std::sort(members.begin(), members.end());
    bool same = catalog_ && members == catalog_members_ && wire::name_equal(catalog_->origin(), origin) &&
                catalog_->options() == catalog->options;
    if (!same) {
      int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      uint32_t serial = zone::next_serial(catalog_ ? catalog_->serial() : 0, zone::SerialPolicy::unixtime, now);
      catalog_ = xfr::build_catalog(catalog->origin, members, serial, catalog->options);
      spdlog::info("event=catalog_version zone={} serial={} members={}", catalog_->origin_text(), serial, members.size());
      catalog_members_ = std::move(members);
    }
    return set->with_zone(catalog_);
  }

  // A consumed catalog (RFC 9432 §5) got a new version: its members become secondary zones from
  // the catalog's own primaries (with its primary_key), their [[zone]] tables written to
  // state_dir/catalogs/CATALOG.toml and their copies kept in state_dir/catalogs/CATALOG/, then
  // a reload serves them (and drops the members that left). Nothing happens when the member
  // list is what the file already says. On reload_io_.
  void consume_catalog(const zone::Zone& catalog) {
    std::string error;
    std::vector<std::string> members = xfr::catalog_members(catalog, error);
    if (!error.empty()) {
      spdlog::error("event=catalog_refused zone={} error=\"{}\" action=\"members kept as they were\"", catalog.origin_text(),
                    error);
      return;
    }
    std::string dir = catalog_member_dir(cfg_);
    std::string name = zone_state_name(catalog.origin_text());
    toml::array tables;
    for (const std::string& m : members) {
      wire::NameView mv(reinterpret_cast<const uint8_t*>(m.data()), m.size());
      if (wire::name_equal(mv, catalog.origin())) continue;
      toml::table t;
      t.insert("origin", wire::name_to_text(mv));
      t.insert("file", name + "/" + zone_state_name(wire::name_to_text(mv)) + "zone");
      toml::array primaries;
      for (const zone::NotifyTarget& p : catalog.options().primaries)
        primaries.push_back(ListenAddress{p.host, p.port}.text());
      t.insert("primaries", std::move(primaries));
      const std::string& key = catalog.options().primary_key;
      if (!key.empty()) t.insert("primary_key", wire::name_to_text({reinterpret_cast<const uint8_t*>(key.data()), key.size()}));
      tables.push_back(std::move(t));
    }
    toml::table root;
    root.insert("zone", std::move(tables));
    std::ostringstream text;
    text << "# The member zones of the catalog " << catalog.origin_text() << " (RFC 9432), copied from its primaries.\n"
         << "# Written by apexd at each new version of the catalog: do not edit.\n"
         << toml::toml_formatter(root) << "\n";
    std::string path = dir + "/" + name + "toml";
    std::ifstream in(path);
    std::stringstream old;
    old << in.rdbuf();
    if (in && old.str() == text.str()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir + "/" + name, ec);
    if (ec || !write_file_atomically(path, text.str(), error)) {
      spdlog::error("event=catalog_failed zone={} error=\"{}\"", catalog.origin_text(), ec ? ec.message() : error);
      return;
    }
    spdlog::info("event=catalog_members zone={} serial={} members={} file={}", catalog.origin_text(), catalog.serial(),
                 members.size(), path);
    asio::post(reload_io_, [this] { reload("catalog"); });
  }

  // After a zone was created or deleted (not by a reload): the catalog follows. On reload_io_.
  void refresh_catalog() {
    std::shared_ptr<const zone::Zone> before = catalog_;
    auto set = with_catalog(zones_.load(), catalog_cfg_);
    if (catalog_ == before) return;
    zones_.publish(set);
    new_version(before, catalog_);
  }

  // NOTIFY (RFC 1996) for every reloaded zone whose serial moved, to each of its targets; sent
  // and retried on the main thread, which only waits for signals otherwise.
  void announce(const zone::ZoneSet& previous, const std::vector<std::shared_ptr<const zone::Zone>>& loaded) {
    for (const auto& z : loaded) {
      std::shared_ptr<const zone::Zone> before = previous.shared_exact(z->origin());
      if (!before || before->serial() != z->serial()) new_version(std::move(before), z);
    }
  }

  // A new version of a zone was published (reload, flattened addresses moved, transfer in):
  // its difference goes into the journal, then NOTIFY to its secondaries. On reload_io_.
  void new_version(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after) {
    if (after && after->options().catalog_consumer) consume_catalog(*after);
    journals_.record(std::move(before), after, [this, after] {
      if (!after->options().notify.empty()) asio::post(main_io_, [this, after] { notify_all(after); });
    });
  }

  void notify_all(const std::shared_ptr<const zone::Zone>& z) {
    const crypto::TsigKey* key = nullptr;
    for (const crypto::TsigKey& k : *tsig_keys_.load(std::memory_order_acquire))
      if (k.name == z->options().notify_key) key = &k;
    for (const zone::NotifyTarget& t : z->options().notify)
      asio::co_spawn(main_io_, notify_one(z, t, key), asio::detached);
  }

  asio::awaitable<void> notify_one(std::shared_ptr<const zone::Zone> z, zone::NotifyTarget t,
                                          const crypto::TsigKey* key) {
    xfr::NotifyOutcome o = co_await xfr::send_notify(z, t, key);
    (o.acknowledged ? notify_acked_ : notify_unacked_).fetch_add(1);
    zone_counters_.add(z->origin_text(), o.acknowledged ? ZoneCounters::notify_sent : ZoneCounters::notify_failed);
    if (o.acknowledged)
      spdlog::info("event=notify_sent zone={} serial={} target={} attempts={}", z->origin_text(), z->serial(), o.target,
                   o.attempts);
    else
      spdlog::warn("event=notify_failed zone={} serial={} target={} attempts={} rcode={}", z->origin_text(), z->serial(),
                   o.target, o.attempts, o.rcode);
  }

  // The PowerDNS-compatible API's view of the server: every change through updates_ (the one
  // change path), zone creation and deletion through api_zones_, both on reload_io_.
  control::ApiBackend make_api_backend() {
    control::ApiBackend b;
    b.zones = [this] { return zones_.load(); };
    b.edit = [this](std::string origin, zone::MakeEdit edit) -> asio::awaitable<std::pair<uint16_t, std::string>> {
      std::string who = "api";
      Updates::Outcome o = co_await updates_.change(std::move(origin), std::move(who), std::move(edit));
      co_return std::pair<uint16_t, std::string>{o.rcode, o.why};
    };
    b.create = [this](std::string origin_text, std::string text) -> asio::awaitable<std::pair<unsigned, std::string>> {
      ApiZones::Result r;
      std::function<void()> job = [&] {  // named: see pdns_api.cpp
        r = api_zones_.create(origin_text, text);
        refresh_catalog();
      };
      co_await updates_.run(std::move(job));
      co_return std::pair<unsigned, std::string>{r.status, r.error};
    };
    b.remove = [this](std::string origin) -> asio::awaitable<std::pair<unsigned, std::string>> {
      ApiZones::Result r{404, "Not Found"};
      std::function<void()> job = [&] {
        wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
        if (auto z = zones_.load()->shared_exact(o)) r = api_zones_.remove(*z);
        refresh_catalog();
      };
      co_await updates_.run(std::move(job));
      co_return std::pair<unsigned, std::string>{r.status, r.error};
    };
    b.notify = [this](std::shared_ptr<const zone::Zone> z) { notify_all(z); };  // on main_io_, as the API
    b.now = [] {
      return int64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    };
    return b;
  }

  ControlHandlers handlers() {
    ControlHandlers h;
    h.api_key = cfg_.api.key;
    h.api = [this](const control::ApiRequest& r) -> asio::awaitable<control::ApiResponse> {
      co_return co_await control::handle_api(r, api_backend_);
    };
    h.metrics = [this] { return metrics(); };
    h.zones = [this] { return zones_json(); };
    h.health = [this] { return health(); };
    h.reload = [this]() -> asio::awaitable<std::pair<bool, std::string>> {
      co_return co_await asio::co_spawn(
          reload_io_,
          [this]() -> asio::awaitable<std::pair<bool, std::string>> {
            ReloadReport r = reload("http");
            std::string body = "{\"loaded\":" + std::to_string(r.loaded) + ",\"unchanged\":" + std::to_string(r.reused) +
                               ",\"failed\":" + std::to_string(r.failed) + ",\"removed\":" + std::to_string(r.removed) +
                               ",\"errors\":[";
            for (size_t i = 0; i < r.errors.size(); ++i) body += (i ? ",\"" : "\"") + json_escape(r.errors[i]) + "\"";
            co_return std::pair<bool, std::string>{r.failed == 0, body + "]}\n"};
          },
          asio::use_awaitable);
    };
    return h;
  }

  std::string health() {
    auto set = zones_.load();
    if (set->failed().empty()) return "ok\n";
    std::string out = "degraded: " + std::to_string(set->failed().size()) + " zone(s) not loaded, answered SERVFAIL:";
    for (const zone::FailedZone& f : set->failed()) out += "\n  " + f.origin_text + " " + f.error;
    return out + "\n";
  }

  // ,"role":… and, for a secondary, its state (see SecondaryStatus).
  std::string secondary_json(const std::string& origin_text, bool with_serial = false) {
    auto it = secondary_status_.find(origin_text);
    if (it == secondary_status_.end()) return ",\"role\":\"primary\"";
    const SecondaryStatus& s = it->second;
    std::string primaries = "[";
    for (size_t i = 0; i < s.primaries.size(); ++i) primaries += (i ? ",\"" : "\"") + json_escape(s.primaries[i]) + "\"";
    return ",\"role\":\"secondary\",\"state\":\"" + s.state + "\"" +
           (with_serial ? ",\"serial\":" + std::to_string(s.serial) : std::string()) + ",\"primaries\":" + primaries + "],\"expires_in\":" + std::to_string(s.expires_in) +
           ",\"last_refresh\":" + std::to_string(s.last_refresh) + ",\"last_error\":\"" + json_escape(s.last_error) + "\"";
  }

  std::string zones_json() {
    secondary_status_.clear();
    for (SecondaryStatus& s : secondaries_.status()) secondary_status_.emplace(s.origin_text, std::move(s));
    auto set = zones_.load();
    std::string out = "[";
    bool first = true;
    for (const zone::FailedZone& f : set->failed()) {
      out += first ? "\n" : ",\n";
      first = false;
      out += "  {\"origin\":\"" + json_escape(f.origin_text) + "\",\"status\":\"failed\",\"error\":\"" +
             json_escape(f.error) + "\",\"file\":\"" + json_escape(f.file) + "\"" + secondary_json(f.origin_text, true) + "}";
    }
    for (const auto& z : set->zones()) {
      auto names = [&](uint16_t flag) {
        std::string list = "[";
        bool f = true;
        for (const zone::Node& n : z->nodes()) {
          if (!(n.flags & flag) || (flag == zone::node_flattened && (n.flags & zone::node_proxied))) continue;
          list += (f ? "\"" : ",\"") + json_escape(wire::name_to_text(z->name(n))) + "\"";
          f = false;
        }
        return list + "]";
      };
      out += first ? "\n" : ",\n";
      first = false;
      out += "  {\"origin\":\"" + json_escape(z->origin_text()) + "\",\"status\":\"loaded\",\"serial\":" + std::to_string(z->serial()) +
             ",\"records\":" + std::to_string(z->record_count()) + ",\"flattened\":" + names(zone::node_flattened) +
             ",\"proxied\":" + names(zone::node_proxied) + ",\"file\":\"" + json_escape(z->source()) +
             "\",\"loaded_at\":" + std::to_string(int64_t(seconds_since_epoch(z->loaded_at()))) +
             secondary_json(z->origin_text()) + "}";
    }
    return out + "\n]\n";
  }

  std::string metrics() {
    std::string out;
    std::vector<const WorkerCounters*> counters;
    for (const auto& w : workers_) counters.push_back(&w->stats);
    render_worker_metrics(out, counters);
    {
      struct {
        const char* name;
        const char* help;
        Counter SigningStats::*field;
      } const signing[] = {
          {"apexd_signatures_made_total", "RRSIG signatures made (signature cache misses that were signed).", &SigningStats::made},
          {"apexd_signature_cache_hits_total", "RRSIGs written from the signature cache.", &SigningStats::cache_hits},
          {"apexd_signature_cache_misses_total", "RRSIGs not in the signature cache (or due for re-signing).",
           &SigningStats::cache_misses},
          {"apexd_signing_throttled_total", "UDP answers sent truncated (TC=1) because they needed a signature past the signing budget.",
           &SigningStats::throttled},
      };
      for (const auto& m : signing) {
        uint64_t sum = 0;
        for (const auto& w : workers_) sum += (w->signing_stats.*m.field).get();
        prom_header(out, m.name, "counter", m.help);
        prom_value(out, m.name, "", double(sum));
      }
      prom_header(out, "apexd_signature_cache_entries", "gauge", "Signatures held by the signature cache.");
      prom_value(out, "apexd_signature_cache_entries", "", double(signature_cache_.size()));
    }
    prom_header(out, "apexd_worker_queries_total", "counter", "Queries answered by each worker thread.");
    for (size_t i = 0; i < counters.size(); ++i)
      prom_value(out, "apexd_worker_queries_total", "worker=\"" + std::to_string(i) + "\"", double(counters[i]->total_queries()));

    const resolver::ResolverStats& rs = resolver_.stats();
    const resolver::UpstreamStats& us = upstream_.stats();
    struct Item {
      const char* name;
      const char* help;
      uint64_t value;
    };
    const Item items[] = {
        {"apexd_cache_hits_total", "Flattening look-ups answered from a fresh cache entry.", rs.hits.load()},
        {"apexd_cache_misses_total", "Flattening look-ups that queried an upstream.", rs.misses.load()},
        {"apexd_cache_stale_total", "Stale answers served after an upstream failure (RFC 8767).", rs.stale.load()},
        {"apexd_cache_prefetches_total", "Background refreshes of entries near expiry.", rs.prefetches.load()},
        {"apexd_cache_coalesced_total", "Look-ups that waited for an identical one already in flight.", rs.coalesced.load()},
        {"apexd_resolver_failures_held_total",
         "Look-ups answered from a recent failure without asking upstream (failure_recheck).", rs.held_failures.load()},
        {"apexd_cache_evictions_total", "Cache entries evicted to stay within cache_size.", resolver_.cache().evictions()},
        {"apexd_upstream_queries_total", "Queries sent to upstream resolvers.", us.queries.load()},
        {"apexd_upstream_timeouts_total", "Upstream queries that got no matching answer in time.", us.timeouts.load()},
        {"apexd_upstream_mismatched_total", "Upstream datagrams ignored as not matching the query (spoofing defence).",
         us.mismatched.load()},
        {"apexd_upstream_failures_total", "Resolutions that failed on every upstream.", us.failures.load()},
        {"apexd_upstream_overloaded_total", "Resolutions refused at once because resolver.max_inflight were in flight.",
         us.overloaded.load()},
        {"apexd_zone_load_failures_total", "Zone loads that failed, at start-up or on a reload.",
         zone_failures_.load()},
        {"apexd_notify_received_total", "NOTIFY messages accepted for secondary zones.",
         secondaries_.notifies_received.load()},
        {"apexd_notify_sent_total", "NOTIFY messages a secondary acknowledged.", notify_acked_.load()},
        {"apexd_notify_failed_total", "NOTIFY messages never acknowledged after every retry, or refused.",
         notify_unacked_.load()},
        {"apexd_journal_entries_written_total", "Differences written to IXFR journals.", journals_.entries_written()},
        {"apexd_updates_applied_total", "RFC 2136 updates applied (written to the change log, then published).",
         updates_.applied.load()},
        {"apexd_updates_unchanged_total", "RFC 2136 updates accepted that changed nothing.", updates_.unchanged.load()},
        {"apexd_updates_refused_total", "RFC 2136 updates refused: unsigned, no grant, prerequisite or format errors.",
         updates_.refused.load()},
        {"apexd_updates_failed_total", "RFC 2136 updates that could not be written to the change log (SERVFAIL).",
         updates_.failed.load()},
    };
    for (const Item& i : items) {
      prom_header(out, i.name, "counter", i.help);
      prom_value(out, i.name, "", double(i.value));
    }
    prom_header(out, "apexd_reloads_total", "counter", "Reloads (SIGHUP or POST /reload) by result.");
    prom_value(out, "apexd_reloads_total", "result=\"success\"", double(reload_successes_.load()));
    prom_value(out, "apexd_reloads_total", "result=\"failure\"", double(reload_failures_.load()));
    prom_header(out, "apexd_transfers_in_total", "counter",
                "Refreshes of secondary zones by result: a transfer applied, one that failed, or the copy already current.");
    prom_value(out, "apexd_transfers_in_total", "result=\"ok\"", double(secondaries_.transfers_ok.load()));
    prom_value(out, "apexd_transfers_in_total", "result=\"failed\"", double(secondaries_.transfers_failed.load()));
    prom_value(out, "apexd_transfers_in_total", "result=\"up_to_date\"", double(secondaries_.transfers_up_to_date.load()));
    {
      std::vector<SecondaryStatus> sec = secondaries_.status();
      prom_header(out, "apexd_zone_expire_seconds", "gauge",
                  "Seconds before each secondary zone expires without a refresh (0: expired or never transferred).");
      for (const SecondaryStatus& z : sec)
        prom_value(out, "apexd_zone_expire_seconds", "zone=\"" + json_escape(z.origin_text) + "\"",
                   double(std::max<int64_t>(0, z.expires_in)));
      prom_header(out, "apexd_zone_last_refresh_timestamp_seconds", "gauge",
                  "When each secondary zone was last refreshed from a primary (0: never).");
      for (const SecondaryStatus& z : sec)
        prom_value(out, "apexd_zone_last_refresh_timestamp_seconds", "zone=\"" + json_escape(z.origin_text) + "\"",
                   double(z.last_refresh));
    }
    {
      // Per zone, for zones that transferred or notified at all. A zone no longer configured
      // (neither served nor failed) is dropped from the table here.
      auto now_set = zones_.load();
      std::unordered_set<std::string> secondary_origins;
      for (const SecondaryStatus& s : secondaries_.status()) secondary_origins.insert(s.origin_text);
      auto per_zone = zone_counters_.list([&](const std::string& origin_text) {
        auto text = wire::name_from_text(origin_text);
        if (!text) return false;
        std::string lower = wire::name_lower({reinterpret_cast<const uint8_t*>(text->data()), text->size()});
        wire::NameView v(reinterpret_cast<const uint8_t*>(lower.data()), lower.size());
        return secondary_origins.count(origin_text) || now_set->find_exact(v) || now_set->find_failed(v);
      });
      struct Family {
        const char* name;
        const char* help;
        std::vector<std::pair<const char*, ZoneCounters::Kind>> results;
      };
      const Family families[] = {
          {"apexd_zone_transfers_out_total", "AXFR/IXFR answered per zone, by result.",
           {{"ok", ZoneCounters::transfer_out_ok},
            {"up_to_date", ZoneCounters::transfer_out_up_to_date},
            {"refused", ZoneCounters::transfer_out_refused},
            {"failed", ZoneCounters::transfer_out_failed}}},
          {"apexd_zone_transfers_in_total", "Refreshes of each secondary zone, by result.",
           {{"ok", ZoneCounters::transfer_in_ok},
            {"up_to_date", ZoneCounters::transfer_in_up_to_date},
            {"failed", ZoneCounters::transfer_in_failed}}},
          {"apexd_zone_notify_sent_total", "NOTIFYs sent per zone: acknowledged, or failed after every try.",
           {{"acknowledged", ZoneCounters::notify_sent}, {"failed", ZoneCounters::notify_failed}}},
          {"apexd_zone_notify_received_total", "Allowed NOTIFYs received per secondary zone.",
           {{"", ZoneCounters::notify_received}}},
      };
      for (const Family& f : families) {
        prom_header(out, f.name, "counter", f.help);
        for (const auto& [origin_text, counts] : per_zone) {
          bool any = false;
          for (const auto& [result, kind] : f.results) any |= counts[kind] != 0;
          if (!any) continue;
          for (const auto& [result, kind] : f.results) {
            std::string labels = "zone=\"" + json_escape(origin_text) + "\"";
            if (*result) labels += std::string(",result=\"") + result + "\"";
            prom_value(out, f.name, labels, double(counts[kind]));
          }
        }
      }
    }
    prom_header(out, "apexd_cache_entries", "gauge", "Entries in the flattening cache.");
    prom_value(out, "apexd_cache_entries", "", double(resolver_.cache().size()));
    prom_header(out, "apexd_upstream_response_seconds", "summary", "Upstream response time.");
    prom_value(out, "apexd_upstream_response_seconds_sum", "", double(us.response_us_total.load()) / 1e6);
    prom_value(out, "apexd_upstream_response_seconds_count", "", double(us.responses.load()));

    auto set = zones_.load();
    prom_header(out, "apexd_zones_loaded", "gauge", "Zones being served.");
    prom_value(out, "apexd_zones_loaded", "", double(set->zones().size()));
    prom_header(out, "apexd_zones_failed", "gauge", "Configured zones not served (failed to load, no earlier data): SERVFAIL.");
    prom_value(out, "apexd_zones_failed", "", double(set->failed().size()));
    prom_header(out, "apexd_zone_load_failed", "gauge", "1 for each configured zone that is not loaded.");
    for (const zone::FailedZone& f : set->failed())
      prom_value(out, "apexd_zone_load_failed", "zone=\"" + json_escape(f.origin_text) + "\"", 1);
    prom_header(out, "apexd_zone_serial", "gauge", "SOA serial of each served zone.");
    for (const auto& z : set->zones())
      prom_value(out, "apexd_zone_serial", "zone=\"" + json_escape(z->origin_text()) + "\"", double(z->serial()));
    prom_header(out, "apexd_zone_records", "gauge", "Records in each served zone.");
    for (const auto& z : set->zones())
      prom_value(out, "apexd_zone_records", "zone=\"" + json_escape(z->origin_text()) + "\"", double(z->record_count()));
    prom_header(out, "apexd_process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
    prom_value(out, "apexd_process_start_time_seconds", "", double(int64_t(seconds_since_epoch(started_))));
    return out;
  }

  const Config& cfg_;
  ConfigCache config_cache_;  ///< included zone lists, touched only by reloads (one at a time)
  FileWatch file_watch_;      ///< zone-file folders, likewise
  std::vector<KeyConfig> key_configs_ = cfg_.keys;  ///< what tsig_keys_ was made from (reload thread)
  std::deque<std::vector<crypto::TsigKey>> key_lists_{make_tsig_keys(cfg_)};  ///< every list published, kept
  std::atomic<const std::vector<crypto::TsigKey>*> tsig_keys_{&key_lists_.back()};
  SnapshotCell<zone::ZoneSet> zones_;
  SnapshotCell<SignerTable> signers_{std::make_shared<const SignerTable>()};  ///< keys of the signed zones
  std::shared_ptr<Config> key_cfg_;  ///< the signed zones of the config last loaded (for key timing events)
  crypto::SignatureCache signature_cache_{cfg_.dnssec.signature_cache};
  EdgeAddresses edges_;
  resolver::ForwardUpstream upstream_;
  resolver::AliasResolver resolver_;
  TcpClients tcp_clients_{cfg_.tcp_max_per_client};
  RateLimiter rrl_{cfg_.rrl};
  std::vector<std::unique_ptr<WorkerContext>> workers_;
  asio::io_context main_io_{1};
  asio::io_context reload_io_{1};  ///< reloads, one at a time, off the serving and control threads
  asio::steady_timer key_timer_{reload_io_};  ///< the next key timing event (reload_io_)
  /// New zone versions when flattened addresses move; runs on reload_io_ (never beside a reload).
  /// IXFR journals, state_dir/journal; versions journaled on reload_io_.
  LastKnownAddresses last_known_;
  ZoneCounters zone_counters_;
  Journals journals_{cfg_.state_dir + "/journal", reload_io_, zones_, &resolver_, &edges_, &last_known_};
  ZoneVersions versions_{zones_, &resolver_, &edges_, [this](auto before, auto after) { new_version(before, after); },
                         &last_known_};
  /// Secondary zones: refreshed from their primaries on reload_io_ (never beside a reload).
  Secondaries secondaries_{reload_io_, zones_, tsig_keys_, [this](auto before, auto after) { new_version(before, after); }};
  /// RFC 2136 updates, applied on reload_io_ (one at a time, never beside a reload); change logs in state_dir/changes.
  Updates updates_{cfg_.state_dir + "/changes", reload_io_, zones_, [this](auto before, auto after) { new_version(before, after); }};
  /// Zones created through the HTTP API (state_dir/zones), created and deleted on reload_io_.
  ApiZones api_zones_{api_zone_dir(cfg_), cfg_.api.zone_defaults, updates_};
  control::ApiBackend api_backend_ = make_api_backend();
  std::atomic<uint64_t> reload_successes_{0}, reload_failures_{0}, zone_failures_{0};
  std::atomic<uint64_t> notify_acked_{0}, notify_unacked_{0};
  std::chrono::system_clock::time_point started_;
  std::optional<ZoneConfig> catalog_cfg_ = cfg_.catalog;  ///< [catalog] as last loaded (reload_io_)
  std::shared_ptr<const zone::Zone> catalog_;      ///< the catalog zone published (reload_io_)
  std::vector<std::string> catalog_members_;       ///< its members, sorted (reload_io_)
  std::unordered_map<std::string, SecondaryStatus> secondary_status_;  ///< scratch of zones_json (control thread)
};

}  // namespace

int run_server(const Config& cfg, ConfigCache cache) { return Server(cfg, std::move(cache)).run(); }

}  // namespace apexd::server
