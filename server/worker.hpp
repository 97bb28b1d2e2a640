// A worker: one thread, one io_context, its own UDP sockets and TCP acceptors (share-nothing).
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "server/config.hpp"
#include "server/query_handler.hpp"
#include "server/snapshot.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// Per-thread counters, summed on read.
struct WorkerStats {
  std::atomic<uint64_t> udp_queries{0}, tcp_queries{0}, dropped{0}, malformed{0}, truncated{0};
  std::atomic<uint64_t> tcp_connections{0};
};

struct WorkerContext {
  boost::asio::io_context io{1};
  SnapshotCell<zone::ZoneSet>::Reader zones;
  const Config& config;
  WorkerStats stats;
  unsigned tcp_open = 0;  ///< connections open on this worker (touched only by its thread)

  WorkerContext(const SnapshotCell<zone::ZoneSet>& cell, const Config& cfg) : zones(cell), config(cfg) {}
};

/// Opens a UDP socket bound with SO_REUSEPORT on `addr` and serves it on `ctx` until the io_context stops.
void start_udp(WorkerContext& ctx, const ListenAddress& addr);
/// The same for a TCP listener; each connection is a session with an idle deadline.
void start_tcp(WorkerContext& ctx, const ListenAddress& addr);

}  // namespace apexd::server
