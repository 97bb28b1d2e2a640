// The forwarder: each exchange uses a fresh socket (random source port) and a random ID,
// accepts only a matching answer from the server it asked, and is bounded by deadlines.
#include "resolver/upstream.hpp"

#include <sys/random.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "resolver/response.hpp"
#include "zone/wire/types.hpp"

namespace apexd::resolver {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t max_udp_response = 4096;

uint16_t random_id() {
  uint16_t id = 0;
  if (getrandom(&id, sizeof id, 0) != sizeof id) id = uint16_t(std::chrono::steady_clock::now().time_since_epoch().count());
  return id;
}

Resolution failure(uint16_t code, std::string text) {
  Resolution r;
  r.ede_code = code;
  r.ede_text = std::move(text);
  return r;
}

// One UDP exchange: waits for a matching answer until `until`, ignoring anything else.
asio::awaitable<ParsedResponse> exchange_udp(const udp::endpoint& server, wire::NameView name, uint16_t type,
                                             TimePoint until, UpstreamStats& stats) {
  auto ex = co_await asio::this_coro::executor;
  udp::socket sock(ex);
  boost::system::error_code ec;
  sock.open(server.protocol(), ec);
  // connect() makes the kernel drop datagrams from any other address or port.
  if (!ec) sock.connect(server, ec);
  if (ec) co_return ParsedResponse{};
  std::array<uint8_t, 512> query;
  uint16_t id = random_id();
  size_t qlen = build_query(query, id, name, type);
  auto [sec, sent] = co_await sock.async_send(asio::buffer(query.data(), qlen), use_tuple);
  if (sec) co_return ParsedResponse{};
  std::array<uint8_t, max_udp_response> buf;
  asio::steady_timer timer(ex, until);
  for (;;) {
    auto res = co_await (sock.async_receive(asio::buffer(buf), use_tuple) || timer.async_wait(use_tuple));
    if (res.index() != 0) co_return ParsedResponse{};  // timed out
    auto [rec, n] = std::get<0>(res);
    if (rec) {
      if (rec == asio::error::connection_refused) co_return ParsedResponse{};
      continue;
    }
    ParsedResponse p = parse_response({buf.data(), n}, id, name, type);
    if (p.kind != ResponseKind::mismatch) co_return p;
    stats.mismatched.fetch_add(1, std::memory_order_relaxed);
  }
}

// One TCP exchange (after TC=1), bounded by `until`.
asio::awaitable<ParsedResponse> exchange_tcp(const udp::endpoint& server, wire::NameView name, uint16_t type,
                                             TimePoint until) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket sock(ex);
  asio::steady_timer timer(ex, until);
  auto conn = co_await (sock.async_connect(tcp::endpoint(server.address(), server.port()), use_tuple) ||
                        timer.async_wait(use_tuple));
  if (conn.index() != 0 || std::get<0>(std::get<0>(conn))) co_return ParsedResponse{};
  std::array<uint8_t, 514> query;
  uint16_t id = random_id();
  size_t qlen = build_query({query.data() + 2, 512}, id, name, type);
  query[0] = uint8_t(qlen >> 8);
  query[1] = uint8_t(qlen);
  auto w = co_await (asio::async_write(sock, asio::buffer(query.data(), qlen + 2), use_tuple) || timer.async_wait(use_tuple));
  if (w.index() != 0 || std::get<0>(std::get<0>(w))) co_return ParsedResponse{};
  std::array<uint8_t, 2> len_bytes{};
  auto l = co_await (asio::async_read(sock, asio::buffer(len_bytes), use_tuple) || timer.async_wait(use_tuple));
  if (l.index() != 0 || std::get<0>(std::get<0>(l))) co_return ParsedResponse{};
  const size_t len = size_t(len_bytes[0]) << 8 | len_bytes[1];
  std::vector<uint8_t> buf(len);
  auto b = co_await (asio::async_read(sock, asio::buffer(buf), use_tuple) || timer.async_wait(use_tuple));
  if (b.index() != 0 || std::get<0>(std::get<0>(b))) co_return ParsedResponse{};
  ParsedResponse p = parse_response(buf, id, name, type);
  if (p.kind == ResponseKind::truncated) p.kind = ResponseKind::mismatch;  // TC over TCP: unusable
  co_return p;
}

}  // namespace

asio::awaitable<Resolution> ForwardUpstream::resolve(wire::NameView lower_name, uint16_t type) {
  if (opts_.servers.empty()) co_return failure(ede::no_reachable_authority, "no upstream resolver configured");
  if (inflight_.fetch_add(1, std::memory_order_relaxed) >= opts_.max_inflight) {
    inflight_.fetch_sub(1, std::memory_order_relaxed);
    stats_.overloaded.fetch_add(1, std::memory_order_relaxed);
    co_return failure(ede::other, "too many upstream queries in flight");
  }
  struct Release {
    std::atomic<unsigned>& n;
    ~Release() { n.fetch_sub(1, std::memory_order_relaxed); }
  } release{inflight_};
  TimePoint deadline = Clock::now() + opts_.deadline;
  wire::NameBuf cur;
  cur.assign(lower_name);
  uint32_t chain_ttl = UINT32_MAX;
  Resolution last = failure(ede::no_reachable_authority, "no upstream answered in time");
  for (size_t link = 0; link <= max_chain_links; ++link) {
    bool followed = false;
    unsigned first = next_server_.fetch_add(1, std::memory_order_relaxed);
    for (size_t attempt = 0; attempt < opts_.servers.size() && Clock::now() < deadline; ++attempt) {
      const udp::endpoint& server = opts_.servers[(first + attempt) % opts_.servers.size()];
      TimePoint until = std::min(deadline, Clock::now() + opts_.try_timeout);
      TimePoint started = Clock::now();
      stats_.queries.fetch_add(1, std::memory_order_relaxed);
      ParsedResponse p = co_await exchange_udp(server, cur.view(), type, until, stats_);
      if (p.kind == ResponseKind::truncated) {
        stats_.tcp_retries.fetch_add(1, std::memory_order_relaxed);
        p = co_await exchange_tcp(server, cur.view(), type, std::min(deadline, Clock::now() + opts_.try_timeout));
      }
      if (p.kind == ResponseKind::mismatch) {
        stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      stats_.responses.fetch_add(1, std::memory_order_relaxed);
      stats_.response_us_total.fetch_add(
          uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()),
          std::memory_order_relaxed);
      if (p.kind == ResponseKind::follow) {
        chain_ttl = std::min(chain_ttl, p.chain_ttl);
        if (wire::name_equal(p.next.view(), lower_name)) co_return failure(ede::other, "CNAME loop");
        cur = p.next;
        followed = true;
        break;
      }
      if (p.resolution.outcome == Outcome::failure) {  // SERVFAIL, REFUSED, garbage: try the next one
        last = std::move(p.resolution);
        continue;
      }
      p.resolution.ttl = std::min(p.resolution.ttl, chain_ttl);
      co_return std::move(p.resolution);
    }
    if (!followed) break;
    if (link == max_chain_links) last = failure(ede::other, "CNAME chain too long");
  }
  stats_.failures.fetch_add(1, std::memory_order_relaxed);
  co_return last;
}

}  // namespace apexd::resolver
