// Prometheus text format (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include "server/metrics.hpp"

#include <cstdio>

#include "zone/wire/types.hpp"

namespace apexd::server {

namespace rrtype = wire::rrtype;

namespace {
constexpr uint16_t slot_types[qtype_slots - 1] = {rrtype::A,     rrtype::AAAA, rrtype::CNAME, rrtype::MX,
                                                  rrtype::TXT,   rrtype::NS,   rrtype::SOA,   rrtype::PTR,
                                                  rrtype::SRV,   rrtype::CAA,  rrtype::DS,    rrtype::DNSKEY,
                                                  rrtype::HTTPS, rrtype::SVCB, rrtype::DNAME, rrtype::ANY,
                                                  rrtype::AXFR,  rrtype::IXFR, rrtype::NAPTR};
}  // namespace

size_t qtype_slot(uint16_t qtype) {
  for (size_t i = 0; i < qtype_slots - 1; ++i)
    if (slot_types[i] == qtype) return i;
  return qtype_slots - 1;
}

const char* qtype_slot_name(size_t slot) {
  static const std::array<std::string, qtype_slots> names = [] {
    std::array<std::string, qtype_slots> n;
    for (size_t i = 0; i < qtype_slots - 1; ++i) n[i] = wire::type_to_text(slot_types[i]);
    n[qtype_slots - 1] = "other";
    return n;
  }();
  return names[slot].c_str();
}

void prom_header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void prom_value(std::string& out, const char* name, const std::string& labels, double value) {
  char buf[64];
  if (value == double(uint64_t(value)))
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(value));
  else
    std::snprintf(buf, sizeof buf, "%.6f", value);
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += buf;
  out += '\n';
}

void render_worker_metrics(std::string& out, const std::vector<const WorkerCounters*>& workers) {
  prom_header(out, "apexd_queries_total", "counter", "Queries answered, by transport, query type and response code.");
  static const char* transports[2] = {"udp", "tcp"};
  for (size_t t = 0; t < 2; ++t)
    for (size_t q = 0; q < qtype_slots; ++q)
      for (size_t r = 0; r < rcode_slots; ++r) {
        uint64_t sum = 0;
        for (const WorkerCounters* w : workers) sum += w->queries[t][q][r].get();
        if (sum == 0) continue;
        std::string rc = r == rcode_slots - 1 ? "other" : wire::rcode_to_text(uint16_t(r));
        prom_value(out, "apexd_queries_total",
                   std::string("transport=\"") + transports[t] + "\",qtype=\"" + qtype_slot_name(q) + "\",rcode=\"" + rc + "\"",
                   double(sum));
      }
  struct Simple {
    const char* name;
    const char* help;
    const Counter WorkerCounters::*field;
  };
  static const Simple simple[] = {
      {"apexd_truncated_total", "Responses sent with TC=1.", &WorkerCounters::truncated},
      {"apexd_dropped_total", "Packets dropped without an answer (QR=1, too short, oversized, send buffer full).",
       &WorkerCounters::dropped},
      {"apexd_malformed_total", "Malformed queries (answered FORMERR or dropped).", &WorkerCounters::malformed},
      {"apexd_tcp_connections_total", "TCP connections accepted.", &WorkerCounters::tcp_connections},
      {"apexd_tcp_refused_total", "TCP connections closed at once because a limit was reached.",
       &WorkerCounters::tcp_refused},
      {"apexd_resolution_waits_total", "Queries that waited for the resolver.", &WorkerCounters::resolutions_waited},
      {"apexd_resolution_shed_total", "Queries answered at once (stale or SERVFAIL) because too many were waiting.",
       &WorkerCounters::resolutions_shed},
      {"apexd_rrl_dropped_total", "UDP answers dropped by response rate limiting.", &WorkerCounters::rrl_dropped},
      {"apexd_rrl_slipped_total", "Rate-limited UDP answers sent truncated (TC=1) instead.", &WorkerCounters::rrl_slipped},
      {"apexd_answer_cache_hits_total", "UDP queries answered by copying an identical earlier answer.",
       &WorkerCounters::answer_cache_hits},
      {"apexd_transfers_out_total", "Zone transfers (AXFR, IXFR) sent in full.", &WorkerCounters::transfers_out},
      {"apexd_transfers_refused_total", "Zone transfer requests refused (access, TSIG, unknown zone, limit).",
       &WorkerCounters::transfers_refused},
      {"apexd_transfers_failed_total", "Zone transfers cut off (the client stopped reading, a write timed out).",
       &WorkerCounters::transfers_failed},
  };
  for (const Simple& s : simple) {
    prom_header(out, s.name, "counter", s.help);
    uint64_t sum = 0;
    for (const WorkerCounters* w : workers) sum += (w->*s.field).get();
    prom_value(out, s.name, "", double(sum));
  }
}

}  // namespace apexd::server
