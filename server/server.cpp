// Server lifecycle: zone loading, worker threads, signals.
#include "server/server.hpp"

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
    auto z = zone::load_zone(zc.file, origin);
    spdlog::info("event=zone_loaded zone={} serial={} records={} file={}", zc.origin_text, z->serial(),
                 z->record_count(), zc.file);
    zones.push_back(std::move(z));
  }
  return std::make_shared<const zone::ZoneSet>(std::move(zones));
}

int run_server(const Config& cfg) {
  SnapshotCell<zone::ZoneSet> cell(load_zones(cfg));
  unsigned threads = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());

  std::vector<std::unique_ptr<WorkerContext>> workers;
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<WorkerContext>(cell, cfg);
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
