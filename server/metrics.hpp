// Counters for /metrics: per-thread, written without atomic read-modify-write, summed on read.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "server/counter.hpp"
#include "server/query_handler.hpp"

namespace apexd::server {

inline constexpr size_t qtype_slots = 20;
inline constexpr size_t rcode_slots = 24;  // RCODEs 0..23; larger ones land in the last slot

/// The slot of a query type in QueryCounters (common types by name, the rest as "other").
size_t qtype_slot(uint16_t qtype);
const char* qtype_slot_name(size_t slot);

/// Queries by transport, type and rcode, plus packet-level events, for one worker thread.
struct WorkerCounters {
  std::array<std::array<std::array<Counter, rcode_slots>, qtype_slots>, 2> queries;
  Counter truncated, dropped, malformed, tcp_connections, tcp_refused, resolutions_waited, resolutions_shed;
  Counter rrl_dropped, rrl_slipped, answer_cache_hits;
  Counter transfers_out, transfers_refused, transfers_failed;

  uint64_t total_queries() const {
    uint64_t n = 0;
    for (const auto& by_type : queries)
      for (const auto& by_rcode : by_type)
        for (const Counter& c : by_rcode) n += c.get();
    return n;
  }

  void count_query(Transport t, uint16_t qtype, uint16_t rcode) {
    queries[size_t(t)][qtype_slot(qtype)][rcode < rcode_slots ? rcode : rcode_slots - 1].add();
  }
};

/// Appends the Prometheus text exposition of `name` with HELP and TYPE lines.
void prom_header(std::string& out, const char* name, const char* type, const char* help);
void prom_value(std::string& out, const char* name, const std::string& labels, double value);

/// Renders the per-worker counters, summed over `workers`.
void render_worker_metrics(std::string& out, const std::vector<const WorkerCounters*>& workers);

}  // namespace apexd::server
