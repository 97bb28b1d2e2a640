// Server lifecycle: zone loading, worker threads, signals.
#include "server/server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>
#include <thread>

#include "server/worker.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

std::shared_ptr<const zone::ZoneSet> load_zones(const Config& cfg) {
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  for (const ZoneConfig& zc : cfg.zones) {
    auto origin = wire::NameView(reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size());
    auto z = zone::load_zone(zc.file, origin, zc.options);
    spdlog::info("event=zone_loaded zone={} serial={} records={} flattened={} proxied={} file={}", zc.origin_text,
                 z->serial(), z->record_count(), z->flattened_count(), z->proxied_count(), zc.file);
    zones.push_back(std::move(z));
  }
  return std::make_shared<const zone::ZoneSet>(std::move(zones));
}

EdgeAddresses make_edges(const ProxyConfig& p) {
  EdgeAddresses e;
  e.ttl = p.ttl;
  for (const std::string& a : p.ipv4) e.ipv4.push_back(std::string(reinterpret_cast<const char*>(
      boost::asio::ip::make_address_v4(a).to_bytes().data()), 4));
  for (const std::string& a : p.ipv6) e.ipv6.push_back(std::string(reinterpret_cast<const char*>(
      boost::asio::ip::make_address_v6(a).to_bytes().data()), 16));
  return e;
}

resolver::UpstreamOptions make_upstream_options(const ResolverConfig& r) {
  resolver::UpstreamOptions o;
  for (const ListenAddress& a : r.upstreams)
    o.servers.emplace_back(boost::asio::ip::make_address(a.host), a.port);
  o.try_timeout = r.timeout;
  o.deadline = r.deadline;
  return o;
}

resolver::CacheOptions make_cache_options(const ResolverConfig& r) {
  resolver::CacheOptions o;
  o.max_entries = r.cache_size;
  o.min_ttl = r.min_ttl;
  o.max_ttl = r.max_ttl;
  o.serve_stale = r.serve_stale;
  return o;
}

size_t count_proxied(const zone::ZoneSet& zones) {
  size_t n = 0;
  for (const auto& z : zones.zones()) n += z->proxied_count();
  return n;
}

int run_server(const Config& cfg) {
  SnapshotCell<zone::ZoneSet> cell(load_zones(cfg));
  for (const std::string& w : config_warnings(cfg, count_proxied(*cell.load()))) spdlog::warn("event=config_warning {}", w);
  unsigned threads = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  EdgeAddresses edges = make_edges(cfg.proxy);
  resolver::ForwardUpstream upstream(make_upstream_options(cfg.resolver));
  resolver::AliasResolver alias_resolver(make_cache_options(cfg.resolver), upstream);

  std::vector<std::unique_ptr<WorkerContext>> workers;
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<WorkerContext>(cell, cfg);
    w->resolver = &alias_resolver;
    w->edges = &edges;
    for (const ListenAddress& a : cfg.listen) {
      try {
        start_udp(*w, a);
        start_tcp(*w, a);
      } catch (const boost::system::system_error& e) {
        spdlog::critical("event=listen_failed address={} error=\"{}\"", a.text(), e.code().message());
        return 1;
      }
    }
    workers.push_back(std::move(w));
  }
  for (const ListenAddress& a : cfg.listen) spdlog::info("event=listening address={} transports=udp,tcp", a.text());
  spdlog::info("event=started threads={} zones={}", threads, cfg.zones.size());

  boost::asio::io_context main_io;
  boost::asio::signal_set signals(main_io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("event=stopping signal={}", sig);
    for (auto& w : workers) w->io.stop();
  });

  std::vector<std::thread> pool;
  for (auto& w : workers) pool.emplace_back([&io = w->io] { io.run(); });
  main_io.run();
  for (auto& t : pool) t.join();
  spdlog::info("event=stopped");
  return 0;
}

}  // namespace apexd::server
