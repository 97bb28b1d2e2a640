// TCP serving (RFC 7766): 2-byte length framing, several queries per connection, an idle deadline.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>
#include <cstring>
#include <vector>

#include "server/transfer.hpp"
#include "server/notify_in.hpp"
#include "server/worker.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds tcp_query_timeout{2000};  // length prefix to full query

// Reads exactly buf.size() bytes or gives up at the deadline; false on timeout, EOF or error.
asio::awaitable<bool> read_with_deadline(tcp::socket& s, asio::mutable_buffer buf, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(s.get_executor(), timeout);
  auto result = co_await (asio::async_read(s, buf, use_tuple) || timer.async_wait(use_tuple));
  if (result.index() != 0) co_return false;
  auto [ec, n] = std::get<0>(result);
  co_return !ec;
}

// Under pressure (most connection slots taken) idle connections get a much shorter leash, so a
// flood of idle or slow connections cannot keep well-behaved clients out for long.
std::chrono::milliseconds idle_timeout(const WorkerContext& ctx) {
  auto normal = ctx.config.tcp_idle_timeout;
  if (ctx.tcp_open * 4 < ctx.config.tcp_max_connections * 3) return normal;
  return std::max(std::chrono::milliseconds(500), normal / 10);
}

asio::awaitable<void> session(WorkerContext& ctx, tcp::socket s, std::string client) {
  ++ctx.tcp_open;
  ctx.stats.tcp_connections.add();
  boost::system::error_code peer_ec;
  auto peer_ep = s.remote_endpoint(peer_ec);
  sockaddr_storage peer{};
  std::memcpy(&peer, peer_ep.data(), std::min<size_t>(peer_ep.size(), sizeof peer));
  std::vector<uint8_t> in(max_message_size), out(2 + max_message_size);
  HandlerOptions opts = ctx.options(Transport::tcp);
  for (;;) {
    uint8_t len_bytes[2];
    if (!co_await read_with_deadline(s, asio::buffer(len_bytes), idle_timeout(ctx))) break;
    size_t len = size_t(len_bytes[0]) << 8 | len_bytes[1];
    if (len == 0) break;
    // The query itself must follow its length promptly: a slow-drip sender is cut off.
    if (!co_await read_with_deadline(s, asio::buffer(in.data(), len), tcp_query_timeout)) break;
    std::span<uint8_t> answer(out.data() + 2, max_message_size);
    std::span<const uint8_t> request(in.data(), len);
    wire::Query xfr;
    if (wire::parse_query(request, xfr) == wire::ParseStatus::ok && xfr.header.opcode == wire::opcode::QUERY &&
        (xfr.qtype == wire::rrtype::AXFR || xfr.qtype == wire::rrtype::IXFR)) {
      if (!co_await serve_transfer(ctx, s, request, xfr, peer)) break;
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    // Plain ifs: g++ 12 evaluates a co_await inside ?: wrongly (every query went the NOTIFY way).
    HandleResult r;
    if (ctx.updates && is_update(request)) r = co_await handle_update(ctx, request, answer, peer);
    else if (is_notify(request)) r = handle_notify(ctx, request, answer, peer);
    else r = handle_query(ctx.zones.get(), request, answer, opts);
    if (r.needs_resolution) r = co_await answer_after_resolution(ctx, request, answer, Transport::tcp, r);
    account(ctx, Transport::tcp, &peer, request, answer, r,
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    if (r.size == 0) break;  // a dropped query closes the connection: the stream has no other way to say it
    out[0] = uint8_t(r.size >> 8);
    out[1] = uint8_t(r.size);
    asio::steady_timer timer(s.get_executor(), ctx.config.tcp_idle_timeout);
    auto w = co_await (asio::async_write(s, asio::buffer(out.data(), r.size + 2), use_tuple) ||
                       timer.async_wait(use_tuple));
    if (w.index() != 0 || std::get<0>(std::get<0>(w))) break;
  }
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
  --ctx.tcp_open;
  if (ctx.tcp_clients) ctx.tcp_clients->release(client);
}

asio::awaitable<void> accept_loop(WorkerContext& ctx, std::shared_ptr<tcp::acceptor> acceptor) {
  for (;;) {
    auto [ec, s] = co_await acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("event=tcp_accept_error error=\"{}\"", ec.message());
      continue;
    }
    boost::system::error_code pec;
    std::string client = s.remote_endpoint(pec).address().to_string();
    bool slot = !pec && ctx.tcp_open < ctx.config.tcp_max_connections;
    if (slot && ctx.tcp_clients && !ctx.tcp_clients->acquire(client)) slot = false;
    if (!slot) {
      ctx.stats.tcp_refused.add();
      boost::system::error_code ignored;
      s.close(ignored);  // over a limit: refuse rather than queue
      continue;
    }
    asio::co_spawn(ctx.io, session(ctx, std::move(s), std::move(client)), asio::detached);
  }
}

}  // namespace

void start_tcp(WorkerContext& ctx, const ListenAddress& addr) {
  auto acceptor = std::make_shared<tcp::acceptor>(ctx.io);
  tcp::endpoint ep(asio::ip::make_address(addr.host), addr.port);
  acceptor->open(ep.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  int one = 1;
  ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true));
  acceptor->bind(ep);
  acceptor->listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(ctx.io, accept_loop(ctx, acceptor), asio::detached);
}

}  // namespace apexd::server
