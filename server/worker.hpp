// A worker: one thread, one io_context, its own UDP sockets and TCP acceptors (share-nothing).
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/tsig.hpp"
#include "resolver/alias_resolver.hpp"
#include "server/answer_cache.hpp"
#include "server/config.hpp"
#include "server/flattener.hpp"
#include "server/metrics.hpp"
#include "server/online_signer.hpp"
#include "server/rrl.hpp"
#include "server/journals.hpp"
#include "server/secondary.hpp"
#include "server/updates.hpp"
#include "server/zone_counters.hpp"
#include "server/query_handler.hpp"
#include "server/snapshot.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

inline constexpr unsigned max_pending_resolutions = 10000;  // per worker; beyond it, answered stale or SERVFAIL at once

/// TCP connections per client address, shared by the workers (the accept path, not the query path).
class TcpClients {
 public:
  explicit TcpClients(unsigned max_per_client) : max_(max_per_client) {}
  /// Counts a connection from `addr`; false (and nothing counted) when it already has the maximum.
  bool acquire(const std::string& addr);
  void release(const std::string& addr);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, unsigned> open_;
  unsigned max_;
};

struct WorkerContext {
  boost::asio::io_context io{1};
  boost::asio::any_io_executor executor{io.get_executor()};
  SnapshotCell<zone::ZoneSet>::Reader zones;
  const Config& config;
  resolver::AliasResolver* resolver = nullptr;  ///< shared by all workers; null: no flattening upstream
  const EdgeAddresses* edges = nullptr;
  LastKnownAddresses* last_known = nullptr;  ///< shared: what flattened names last transferred
  ZoneCounters* zone_counters = nullptr;     ///< shared: per-zone transfer and NOTIFY counts
  WorkerCounters stats;
  bool log_queries = false;
  RateLimiter* rrl = nullptr;  ///< response rate limiting of UDP answers, shared (null = off)
  TcpClients* tcp_clients = nullptr;  ///< shared per-address connection counts
  /// The config's [[key]]s as of the last reload. A published list is never freed (reloads that
  /// change keys are rare), so a span of it stays valid however long a query or transfer lasts.
  const std::atomic<const std::vector<crypto::TsigKey>*>* tsig_keys = nullptr;
  Secondaries* secondaries = nullptr;  ///< NOTIFY in goes there (null: answered NOTAUTH)
  const Journals* journals = nullptr;  ///< IXFR out reads the differences there (null: whole zones)
  Updates* updates = nullptr;          ///< RFC 2136 UPDATE goes there (null: NOTIMP)
  unsigned tcp_open = 0;           ///< connections open on this worker (touched only by its thread)
  unsigned pending_resolutions = 0;  ///< queries waiting for the resolver (touched only by its thread)
  std::unique_ptr<AnswerCache> answer_cache;  ///< UDP answers of this worker (null: [server] answer_cache off)
  /// Online signing: the keys of the signed zones (null: none), the shared signature cache,
  /// this worker's budget of fresh signatures for UDP answers and its counters.
  mutable std::optional<SnapshotCell<SignerTable>::Reader> signers;
  crypto::SignatureCache* signature_cache = nullptr;
  mutable SigningBudget signing_budget{0};
  mutable SigningStats signing_stats;
  bool corrupt_signatures = false;

  WorkerContext(const SnapshotCell<zone::ZoneSet>& cell, const Config& cfg) : zones(cell), config(cfg) {}

  /// What answers depend on besides the request: the zones and the signing keys (a key
  /// rollover changes signed answers without a new zone snapshot). For the AnswerCache.
  uint64_t answer_generation() const {
    return ctx_generation(zones.generation(), signers ? signers->generation() : 0);
  }
  static uint64_t ctx_generation(uint64_t zones_gen, uint64_t keys_gen) { return zones_gen + (keys_gen << 40); }

  HandlerOptions options(Transport t) const {
    HandlerOptions o;
    o.transport = t;
    o.max_udp_payload = config.udp_payload;
    o.alias.resolver = resolver;
    o.alias.edges = edges;
    o.alias.executor = &executor;
    if (tsig_keys) o.tsig_keys = *tsig_keys->load(std::memory_order_acquire);
    if (signers) {
      o.signing.table = &signers->get();
      o.signing.cache = signature_cache;
      o.signing.budget = t == Transport::udp ? &signing_budget : nullptr;
      o.signing.stats = &signing_stats;
      o.signing.corrupt = corrupt_signatures;
    }
    return o;
  }
};

/// "192.0.2.1:5353" or "[2001:db8::1]:53" of a sockaddr_storage; "-" for null.
std::string peer_text(const void* peer);

/// Counts an answered query (and logs it when [log] queries is on).
void account(WorkerContext& ctx, Transport t, const void* peer, std::span<const uint8_t> request,
             std::span<const uint8_t> response, const HandleResult& r, int64_t micros);

/// Applies RRL to a UDP answer in `response` (r.size bytes): send it, drop it, or cut it to a
/// truncated header+question (slip). Returns the size to send, 0 to drop.
size_t rate_limit(WorkerContext& ctx, const sockaddr_storage& peer, std::span<const uint8_t> request,
                  std::span<uint8_t> response, const HandleResult& r, uint64_t now_ms);

/// Finishes a query whose first pass needed the resolver: waits for the (coalesced) resolution,
/// then answers again with it. Returns the final result (size 0 = nothing to send).
boost::asio::awaitable<HandleResult> answer_after_resolution(WorkerContext& ctx, std::span<const uint8_t> request,
                                                            std::span<uint8_t> out, Transport t, HandleResult first);

/// Answers a NOTIFY (see notify_in.hpp) and, when it is accepted, tells the secondaries.
HandleResult handle_notify(WorkerContext& ctx, std::span<const uint8_t> request, std::span<uint8_t> out,
                           const sockaddr_storage& peer);

/// Answers an UPDATE (see updates.hpp); the HandleResult for counters and the query log.
boost::asio::awaitable<HandleResult> handle_update(WorkerContext& ctx, std::span<const uint8_t> request,
                                                  std::span<uint8_t> out, const sockaddr_storage& peer);

/// Opens a UDP socket bound with SO_REUSEPORT on `addr` and serves it on `ctx` until the io_context stops.
void start_udp(WorkerContext& ctx, const ListenAddress& addr);
/// The same for a TCP listener; each connection is a session with an idle deadline.
void start_tcp(WorkerContext& ctx, const ListenAddress& addr);

}  // namespace apexd::server
