// UDP serving: wait for readability through Asio, then drain the socket in recvmmsg/sendmmsg batches.
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <vector>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "server/worker.hpp"
#include "server/notify_in.hpp"

namespace apexd::server {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

constexpr unsigned udp_batch = 64;           // datagrams per recvmmsg call
constexpr size_t udp_max_request = 4096;     // larger queries are not queries: dropped
constexpr unsigned udp_rounds_per_wakeup = 8;  // then yield to the other sockets of this worker
constexpr int udp_socket_buffer = 4 << 20;     // bytes, each direction

struct UdpBuffers {
  std::array<std::array<uint8_t, udp_max_request>, udp_batch> in;
  std::array<std::array<uint8_t, 4096>, udp_batch> out;
  std::array<sockaddr_storage, udp_batch> peers;
  std::array<iovec, udp_batch> in_iov, out_iov;
  std::array<mmsghdr, udp_batch> in_msgs, out_msgs;
};

// A query that waits for the resolver: it keeps a copy of its bytes and its peer.
struct Deferred {
  std::vector<uint8_t> request;
  sockaddr_storage peer;
  socklen_t peer_len;
  std::array<uint8_t, 4096> out;
};

void defer(WorkerContext& ctx, int fd, const uint8_t* req, size_t len, const sockaddr_storage& peer,
           socklen_t peer_len, const HandleResult& first) {
  auto d = std::make_unique<Deferred>();
  d->request.assign(req, req + len);
  d->peer = peer;
  d->peer_len = peer_len;
  asio::co_spawn(
      ctx.io,
      [&ctx, fd, d = std::move(d), first]() -> asio::awaitable<void> {
        auto start = std::chrono::steady_clock::now();
        HandleResult r = co_await answer_after_resolution(ctx, d->request, d->out, Transport::udp, first);
        auto now = std::chrono::steady_clock::now();
        account(ctx, Transport::udp, &d->peer, d->request, d->out, r,
                std::chrono::duration_cast<std::chrono::microseconds>(now - start).count());
        size_t size = rate_limit(ctx, d->peer, d->request, d->out, r,
                                 uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()));
        if (size == 0) co_return;
        ::sendto(fd, d->out.data(), size, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&d->peer), d->peer_len);
      },
      asio::detached);
}

void defer_update(WorkerContext& ctx, int fd, const uint8_t* req, size_t len, const sockaddr_storage& peer,
                  socklen_t peer_len) {
  auto d = std::make_unique<Deferred>();
  d->request.assign(req, req + len);
  d->peer = peer;
  d->peer_len = peer_len;
  asio::co_spawn(
      ctx.io,
      [&ctx, fd, d = std::move(d)]() -> asio::awaitable<void> {
        auto start = std::chrono::steady_clock::now();
        HandleResult r = co_await handle_update(ctx, d->request, d->out, d->peer);
        account(ctx, Transport::udp, &d->peer, d->request, d->out, r,
                std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
        if (r.size == 0) co_return;
        ::sendto(fd, d->out.data(), r.size, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&d->peer), d->peer_len);
      },
      asio::detached);
}

void serve_batch(WorkerContext& ctx, int fd, UdpBuffers& b, unsigned n) {
  const zone::ZoneSet& zones = ctx.zones.get();
  HandlerOptions opts = ctx.options(Transport::udp);
  const uint64_t now_ms = ctx.rrl && ctx.rrl->enabled()
      ? uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count())
      : 0;
  unsigned nout = 0;
  for (unsigned i = 0; i < n; ++i) {
    const mmsghdr& m = b.in_msgs[i];
    if (m.msg_hdr.msg_flags & MSG_TRUNC) {
      ctx.stats.dropped.add();
      continue;
    }
    std::span<const uint8_t> request(b.in[i].data(), m.msg_len);
    if (ctx.updates && is_update(request)) {  // RFC 2136: applied off this thread, answered when done
      defer_update(ctx, fd, b.in[i].data(), m.msg_len, b.peers[i], m.msg_hdr.msg_namelen);
      continue;
    }
    auto start = ctx.log_queries ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    HandleResult r = is_notify(request) ? handle_notify(ctx, request, b.out[nout], b.peers[i])
        : ctx.answer_cache ? ctx.answer_cache->answer(zones, ctx.answer_generation(), request, b.out[nout], opts)
        : handle_query(zones, request, b.out[nout], opts);
    if (r.from_cache) ctx.stats.answer_cache_hits.add();
    if (r.needs_resolution) {
      defer(ctx, fd, b.in[i].data(), m.msg_len, b.peers[i], m.msg_hdr.msg_namelen, r);
      continue;
    }
    int64_t micros = ctx.log_queries
        ? std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count() : 0;
    account(ctx, Transport::udp, &b.peers[i], request, b.out[nout], r, micros);
    size_t size = rate_limit(ctx, b.peers[i], request, b.out[nout], r, now_ms);
    if (size == 0) continue;
    b.out_iov[nout] = {b.out[nout].data(), size};
    mmsghdr& o = b.out_msgs[nout];
    o = {};
    o.msg_hdr.msg_name = &b.peers[i];
    o.msg_hdr.msg_namelen = m.msg_hdr.msg_namelen;
    o.msg_hdr.msg_iov = &b.out_iov[nout];
    o.msg_hdr.msg_iovlen = 1;
    ++nout;
  }
  unsigned sent = 0;
  while (sent < nout) {
    int s = sendmmsg(fd, b.out_msgs.data() + sent, nout - sent, MSG_DONTWAIT);
    if (s > 0) {
      sent += unsigned(s);
      continue;
    }
    const int err = errno;
    if (s < 0 && err == EINTR) continue;
    if (s == 0 || err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      ctx.stats.dropped.add(nout - sent);  // full send buffer: drop, never block
      return;
    }
    // This answer alone failed (an unreachable or invalid peer address, …): the others still go.
    ctx.stats.dropped.add();
    ++sent;
  }
}

asio::awaitable<void> udp_loop(WorkerContext& ctx, std::shared_ptr<udp::socket> sock) {
  auto b = std::make_unique<UdpBuffers>();
  int fd = sock->native_handle();
  for (;;) {
    auto [ec] = co_await sock->async_wait(udp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    for (unsigned round = 0; round < udp_rounds_per_wakeup; ++round) {
      for (unsigned i = 0; i < udp_batch; ++i) {
        b->in_iov[i] = {b->in[i].data(), b->in[i].size()};
        mmsghdr& m = b->in_msgs[i];
        m = {};
        m.msg_hdr.msg_name = &b->peers[i];
        m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        m.msg_hdr.msg_iov = &b->in_iov[i];
        m.msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(fd, b->in_msgs.data(), udp_batch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      serve_batch(ctx, fd, *b, unsigned(n));
      // No break on a short batch: packets that arrived meanwhile are served without going back
      // to epoll; the next recvmmsg returns EAGAIN when the socket is really empty.
    }
  }
}

}  // namespace

void start_udp(WorkerContext& ctx, const ListenAddress& addr) {
  auto sock = std::make_shared<udp::socket>(ctx.io);
  udp::endpoint ep(asio::ip::make_address(addr.host), addr.port);
  sock->open(ep.protocol());
  int one = 1;
  ::setsockopt(sock->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Room for bursts (e.g. thousands of clients resumed at once after a resolution): as root the
  // FORCE variants pass net.core.[rw]mem_max; otherwise the plain ones are capped by it.
  int bytes = udp_socket_buffer;
  if (::setsockopt(sock->native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(sock->native_handle(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  if (::setsockopt(sock->native_handle(), SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(sock->native_handle(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  if (ep.address().is_v6()) sock->set_option(asio::ip::v6_only(true));
  sock->bind(ep);
  sock->non_blocking(true);
  asio::co_spawn(ctx.io, udp_loop(ctx, sock), asio::detached);
}

}  // namespace apexd::server
