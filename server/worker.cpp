// The part of a worker both transports share: finishing queries that waited for the resolver.
#include "server/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "server/notify_in.hpp"
#include "zone/wire/query.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

boost::asio::awaitable<HandleResult> handle_update(WorkerContext& ctx, std::span<const uint8_t> request,
                                                  std::span<uint8_t> out, const sockaddr_storage& peer) {
  HandleResult r;
  r.qtype = wire::rrtype::SOA;
  r.empty_answer = true;
  r.reusable_until = resolver::TimePoint::min();
  std::span<const crypto::TsigKey> keys;
  if (ctx.tsig_keys) keys = *ctx.tsig_keys->load(std::memory_order_acquire);
  r.size = co_await ctx.updates->answer(request, out, peer, keys);
  if (r.size >= wire::header_size) r.rcode = out[3] & 0x0F;
  co_return r;
}

HandleResult handle_notify(WorkerContext& ctx, std::span<const uint8_t> request, std::span<uint8_t> out,
                           const sockaddr_storage& peer) {
  static const NotifyTable none;
  std::shared_ptr<const NotifyTable> table;
  if (ctx.secondaries) table = ctx.secondaries->notify_table().load();
  std::span<const crypto::TsigKey> keys;
  if (ctx.tsig_keys) keys = *ctx.tsig_keys->load(std::memory_order_acquire);
  uint64_t now = uint64_t(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count());
  NotifyVerdict v = answer_notify(table ? *table : none, request, out, peer, keys, now);
  HandleResult r;
  r.size = v.size;
  r.rcode = v.rcode;
  r.qtype = wire::rrtype::SOA;
  r.empty_answer = true;
  r.reusable_until = resolver::TimePoint::min();
  std::string zone = v.origin.empty() ? "-" : wire::name_to_text({reinterpret_cast<const uint8_t*>(v.origin.data()), v.origin.size()});
  if (v.accepted) {
    spdlog::info("event=notify_received zone={} client={} serial={} key={}", zone, peer_text(&peer),
                 v.serial ? std::to_string(*v.serial) : "-",
                 v.key.empty() ? "-" : wire::name_to_text({reinterpret_cast<const uint8_t*>(v.key.data()), v.key.size()}));
    ctx.secondaries->notified(v.origin);
    if (ctx.zone_counters) ctx.zone_counters->add(zone, ZoneCounters::notify_received);
  } else if (v.size) {
    spdlog::info("event=notify_refused client={} rcode={}", peer_text(&peer), wire::rcode_to_text(v.rcode));
  }
  return r;
}

std::string peer_text(const void* peer) {
  if (!peer) return "-";
  const auto* ss = static_cast<const sockaddr_storage*>(peer);
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss->ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(ss);
  inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
  port = ntohs(a->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

namespace {

void log_query(Transport t, const void* peer, std::span<const uint8_t> request, std::span<const uint8_t> response,
               const HandleResult& r, int64_t micros) {
  wire::Query q;
  std::string qname = "-";
  if (wire::parse_query(request, q) != wire::ParseStatus::formerr_noq && q.qname.len) qname = wire::name_to_text(q.qname.view());
  std::string flags;
  if (response.size() >= wire::header_size) {
    if (response[2] & 0x04) flags += "aa,";
    if (response[2] & 0x02) flags += "tc,";
    if (response[2] & 0x01) flags += "rd,";
  }
  if (!flags.empty()) flags.pop_back();
  // Its own logger, at info whatever [log] level says: asking for a query log means wanting it.
  static std::shared_ptr<spdlog::logger> logger = spdlog::get("queries") ? spdlog::get("queries") : spdlog::default_logger();
  logger->info("event=query client={} transport={} qname={} qtype={} rcode={} flags={} size={} us={}", peer_text(peer),
               t == Transport::udp ? "udp" : "tcp", qname, wire::type_to_text(r.qtype), wire::rcode_to_text(r.rcode),
               flags.empty() ? "-" : flags, r.size, micros);
}

}  // namespace

void account(WorkerContext& ctx, Transport t, const void* peer, std::span<const uint8_t> request,
             std::span<const uint8_t> response, const HandleResult& r, int64_t micros) {
  if (r.malformed) ctx.stats.malformed.add();
  if (r.size == 0) {
    ctx.stats.dropped.add();
    return;
  }
  ctx.stats.count_query(t, r.qtype, r.rcode);
  if (r.truncated) ctx.stats.truncated.add();
  if (ctx.log_queries) log_query(t, peer, request, response.first(r.size), r, micros);
}

size_t rate_limit(WorkerContext& ctx, const sockaddr_storage& peer, std::span<const uint8_t> request,
                  std::span<uint8_t> response, const HandleResult& r, uint64_t now_ms) {
  if (!ctx.rrl || !ctx.rrl->enabled() || r.size == 0) return r.size;
  // NXDOMAIN, errors and wildcard answers are keyed by zone, so a flood of random names shares
  // one bucket (Knot's rrl_clsname does the same).
  wire::NameView name;
  if (r.rcode != wire::rcode::NOERROR || r.empty_answer || r.wildcard) {
    if (r.zone) name = r.zone->origin();
  } else if (r.question_end > wire::header_size + 4 && r.question_end <= request.size()) {
    name = request.subspan(wire::header_size, r.question_end - wire::header_size - 4);
  }
  switch (ctx.rrl->decide(peer, r.rcode, r.empty_answer, name, now_ms)) {
    case RrlAction::send:
      return r.size;
    case RrlAction::drop:
      ctx.stats.rrl_dropped.add();
      return 0;
    case RrlAction::slip:
      ctx.stats.rrl_slipped.add();
      // RFC 8906 style minimal answer: header and question, TC=1, so a real client retries over TCP.
      if (r.question_end < wire::header_size || r.question_end > r.size) return 0;
      response[2] |= 0x02;
      std::fill(response.begin() + 6, response.begin() + 12, uint8_t(0));
      return r.question_end;
  }
  return r.size;
}

bool TcpClients::acquire(const std::string& addr) {
  std::lock_guard lock(mutex_);
  unsigned& n = open_[addr];
  if (n >= max_) return false;
  ++n;
  return true;
}

void TcpClients::release(const std::string& addr) {
  std::lock_guard lock(mutex_);
  auto it = open_.find(addr);
  if (it != open_.end() && --it->second == 0) open_.erase(it);
}

boost::asio::awaitable<HandleResult> answer_after_resolution(WorkerContext& ctx, std::span<const uint8_t> request,
                                                            std::span<uint8_t> out, Transport t, HandleResult r) {
  // Two rounds at most: the second pass finds the answer unless the zones changed meanwhile.
  for (int round = 0; r.needs_resolution && ctx.resolver && round < 2; ++round) {
    resolver::Resolution res;
    if (ctx.pending_resolutions >= max_pending_resolutions) {
      // No unbounded queue: answer now, from stale data or with SERVFAIL and an EDE.
      ctx.stats.resolutions_shed.add();
      res.ede_code = resolver::ede::other;
      res.ede_text = "too many queries waiting for the resolver";
    } else {
      ctx.stats.resolutions_waited.add();
      ++ctx.pending_resolutions;
      res = co_await ctx.resolver->resolve(r.target.view(), r.target_type);
      --ctx.pending_resolutions;
    }
    ResolvedTarget resolved{r.target, r.target_type, &res};
    HandlerOptions o = ctx.options(t);
    o.alias.resolved = &resolved;
    r = handle_query(ctx.zones.get(), request, out, o);
  }
  if (r.needs_resolution) r = HandleResult{};
  co_return r;
}

}  // namespace apexd::server
