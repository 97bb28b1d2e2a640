// ForwardUpstream against scripted servers on loopback: spoofed answers ignored, deadlines,
// failover to the next server, TCP after TC=1.
#include "resolver/upstream.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <vector>

#include "tests/resolver/fake_upstream.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

enum class Reply { good, wrong_id, wrong_name, truncated, servfail, silent };

// Answers a query with A 192.0.2.1 for its own question, altered as `how` says.
std::vector<uint8_t> make_reply(const std::vector<uint8_t>& query, Reply how) {
  wire::Query q;
  REQUIRE(wire::parse_query(query, q) == wire::ParseStatus::ok);
  std::vector<uint8_t> buf(512);
  wire::PacketWriter w(buf, buf.size());
  wire::Header h = q.header;
  if (how == Reply::wrong_id) h.id ^= 0x5555;
  w.begin_response(h);
  std::string other = test::rname("evil.test.");
  REQUIRE(w.put_question(how == Reply::wrong_name ? test::rview(other) : q.qname.view(), q.qtype, q.qclass));
  if (how == Reply::truncated) {
    w.set_tc();
  } else if (how == Reply::servfail) {
    w.set_rcode(wire::rcode::SERVFAIL);
  } else {
    const uint8_t evil[4] = {6, 6, 6, 6}, good[4] = {192, 0, 2, 1};
    REQUIRE(w.put_rr(wire::Section::answer, q.qname.view(), q.qtype, 1, 60,
                     how == Reply::good ? std::span<const uint8_t>(good) : std::span<const uint8_t>(evil)));
  }
  buf.resize(w.size());
  return buf;
}

// A UDP server that answers each query with the replies `script` gives (in order), and an
// optional TCP server that answers properly.
struct FakeServer {
  udp::socket sock;
  tcp::acceptor acceptor;
  std::function<std::vector<Reply>(int n)> script;
  bool spoof_from_other_port = false;
  int queries = 0;

  FakeServer(asio::io_context& io, bool with_tcp)
      : sock(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), acceptor(io) {
    if (with_tcp) {
      acceptor.open(tcp::v4());
      acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), sock.local_endpoint().port()));
      acceptor.listen();
      asio::co_spawn(io, serve_tcp(), asio::detached);
    }
    asio::co_spawn(io, serve_udp(), asio::detached);
  }
  udp::endpoint endpoint() const { return sock.local_endpoint(); }

  asio::awaitable<void> serve_udp() {
    std::vector<uint8_t> buf(512);
    for (;;) {
      udp::endpoint from;
      size_t n = co_await sock.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
      std::vector<uint8_t> query(buf.begin(), buf.begin() + n);
      for (Reply r : script(queries++)) {
        if (r == Reply::silent) continue;
        auto reply = make_reply(query, r);
        if (spoof_from_other_port) {
          udp::socket other(sock.get_executor(), udp::endpoint(udp::v4(), 0));
          other.send_to(asio::buffer(reply), from);
        } else {
          sock.send_to(asio::buffer(reply), from);
        }
      }
    }
  }

  asio::awaitable<void> serve_tcp() {
    for (;;) {
      tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
      uint8_t len[2];
      co_await asio::async_read(s, asio::buffer(len), asio::use_awaitable);
      const size_t qlen = size_t(len[0]) << 8 | len[1];
      std::vector<uint8_t> query(qlen);
      co_await asio::async_read(s, asio::buffer(query), asio::use_awaitable);
      auto reply = make_reply(query, Reply::good);
      uint8_t out_len[2] = {uint8_t(reply.size() >> 8), uint8_t(reply.size())};
      co_await asio::async_write(s, asio::buffer(out_len), asio::use_awaitable);
      co_await asio::async_write(s, asio::buffer(reply), asio::use_awaitable);
    }
  }
};

struct Outcome {
  resolver::Resolution res;
  std::chrono::milliseconds elapsed{0};
};

Outcome run(asio::io_context& io, resolver::ForwardUpstream& up, const char* name = "app.test.") {
  Outcome out;
  std::string n = test::rname(name);
  auto start = std::chrono::steady_clock::now();
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    out.res = co_await up.resolve(test::rview(n), wire::rrtype::A);
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    done = true;
  }, asio::detached);
  while (!done && io.run_one_for(5s)) {
  }
  REQUIRE(done);
  return out;
}

resolver::UpstreamOptions options(std::vector<udp::endpoint> servers) {
  resolver::UpstreamOptions o;
  o.servers = std::move(servers);
  o.try_timeout = 300ms;
  o.deadline = 800ms;
  return o;
}

bool is_good(const resolver::Resolution& r) {
  return r.outcome == resolver::Outcome::addresses && r.rdata.size() == 1 && r.rdata[0] == std::string("\xc0\x00\x02\x01", 4);
}

}  // namespace

TEST_CASE("upstream: forged answers (wrong ID, wrong question) are ignored; the real one is used") {
  asio::io_context io;
  FakeServer s(io, false);
  s.script = [](int) { return std::vector<Reply>{Reply::wrong_id, Reply::wrong_name, Reply::good}; };
  resolver::ForwardUpstream up(options({s.endpoint()}));
  Outcome o = run(io, up);
  CHECK(is_good(o.res));
  CHECK(up.stats().mismatched.load() == 2);
}

TEST_CASE("upstream: answers from another source port never arrive (connected socket)") {
  asio::io_context io;
  FakeServer s(io, false);
  s.spoof_from_other_port = true;
  s.script = [](int) { return std::vector<Reply>{Reply::good}; };
  resolver::ForwardUpstream up(options({s.endpoint()}));
  Outcome o = run(io, up);
  CHECK(o.res.outcome == resolver::Outcome::failure);
}

TEST_CASE("upstream: a silent server fails within the deadline") {
  asio::io_context io;
  FakeServer s(io, false);
  s.script = [](int) { return std::vector<Reply>{Reply::silent}; };
  resolver::ForwardUpstream up(options({s.endpoint()}));
  Outcome o = run(io, up);
  CHECK(o.res.outcome == resolver::Outcome::failure);
  CHECK(o.res.ede_code == resolver::ede::no_reachable_authority);
  CHECK(o.elapsed <= 800ms + 200ms);
  CHECK(s.queries >= 1);
}

TEST_CASE("upstream: after a timeout or SERVFAIL the next server is asked") {
  for (Reply first : {Reply::silent, Reply::servfail}) {
    asio::io_context io;
    FakeServer bad(io, false), good(io, false);
    bad.script = [first](int) { return std::vector<Reply>{first}; };
    good.script = [](int) { return std::vector<Reply>{Reply::good}; };
    resolver::ForwardUpstream up(options({bad.endpoint(), good.endpoint()}));
    Outcome o = run(io, up);
    CHECK(is_good(o.res));
    CHECK(bad.queries + good.queries >= 1);
  }
}

TEST_CASE("upstream: TC=1 over UDP is retried over TCP") {
  asio::io_context io;
  FakeServer s(io, true);
  s.script = [](int) { return std::vector<Reply>{Reply::truncated}; };
  resolver::ForwardUpstream up(options({s.endpoint()}));
  Outcome o = run(io, up);
  CHECK(is_good(o.res));
  CHECK(up.stats().tcp_retries.load() == 1);
}

TEST_CASE("upstream: with no servers configured it fails at once") {
  asio::io_context io;
  resolver::ForwardUpstream up(options({}));
  Outcome o = run(io, up);
  CHECK(o.res.outcome == resolver::Outcome::failure);
  CHECK(o.elapsed < 100ms);
}
