// NOTIFY out (RFC 1996): tell a zone's secondaries that it changed, retried until they answer.
#include "xfr/notify_out.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <random>

#include "zone/wire/packet_writer.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

namespace apexd::xfr {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

size_t build_notify(std::span<uint8_t> out, uint16_t id, const zone::Zone& zone) {
  wire::PacketWriter w(out, out.size());
  wire::Header h;
  h.id = id;
  h.opcode = wire::opcode::NOTIFY;
  w.begin_response(h);
  out[2] &= 0x7F;  // a query: QR=0 (begin_response sets it)
  w.set_aa(true);  // RFC 1996 §3.7
  if (!w.put_question(zone.origin(), wire::rrtype::SOA, wire::rrclass::IN)) return 0;
  if (!w.put_rr(wire::Section::answer, zone.origin(), wire::rrtype::SOA, wire::rrclass::IN, zone.soa().ttl,
                zone.rdata(zone.soa(), 0)))
    return 0;
  return w.size();
}

bool is_notify_reply(std::span<const uint8_t> reply, uint16_t id, std::span<const uint8_t> origin, uint16_t& rcode) {
  if (reply.size() < wire::header_size) return false;
  wire::Header h = wire::parse_header(reply);
  if (!h.qr || h.id != id || h.opcode != wire::opcode::NOTIFY) return false;
  rcode = reply[3] & 0x0F;
  if (h.qdcount == 0) return rcode != 0;  // some servers drop the question from an error
  wire::Reader r(reply, wire::header_size);
  wire::NameBuf qname;
  uint16_t qtype, qclass;
  if (!r.name(qname) || !r.u16(qtype) || !r.u16(qclass)) return false;
  return qtype == wire::rrtype::SOA && wire::name_equal(qname.view(), origin);
}

namespace {

uint64_t unix_seconds() {
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint16_t random_id() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return uint16_t(rng());
}

std::string target_text(const zone::NotifyTarget& t) {
  return (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
}

// A reply that answers our NOTIFY, and verifies when the NOTIFY was signed.
bool accepted(std::span<const uint8_t> reply, uint16_t id, const zone::Zone& zone, const crypto::TsigKey* key,
              const crypto::TsigMac& mac, uint16_t& rcode) {
  if (!is_notify_reply(reply, id, zone.origin(), rcode)) return false;
  if (!key) return true;
  crypto::TsigVerifier verifier(*key, mac.view());
  return verifier.verify(reply, unix_seconds()) == crypto::TsigStatus::ok;
}

}  // namespace

asio::awaitable<NotifyOutcome> send_notify(std::shared_ptr<const zone::Zone> zone, zone::NotifyTarget target,
                                           const crypto::TsigKey* key) {
  NotifyOutcome out;
  out.target = target_text(target);
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  asio::ip::udp::endpoint to(asio::ip::make_address(target.host, ec), target.port);
  if (ec) co_return out;
  asio::ip::udp::socket sock(ex);
  sock.open(to.protocol(), ec);
  if (ec) co_return out;
  std::array<uint8_t, 1024> query{}, reply{};
  uint16_t id = random_id();
  size_t len = build_notify(query, id, *zone);
  crypto::TsigMac mac;
  if (len && key) {  // RFC 8945: signed as a request
    crypto::TsigSigner signer(*key, {});
    len = signer.sign(query, len, unix_seconds());
    mac = signer.last_mac();
  }
  if (len == 0) co_return out;
  auto timeout = notify_first_timeout;
  for (out.attempts = 1; out.attempts <= notify_attempts; ++out.attempts, timeout *= 2) {
    co_await sock.async_send_to(asio::buffer(query.data(), len), to, asio::as_tuple(asio::use_awaitable));
    asio::steady_timer timer(ex, timeout);
    for (;;) {  // answers from elsewhere, to another ID or unsigned are ignored until the timer fires
      asio::ip::udp::endpoint from;
      auto r = co_await (sock.async_receive_from(asio::buffer(reply), from, asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (r.index() != 0) break;
      auto [rec, n] = std::get<0>(r);
      if (rec) {  // the socket cannot receive: wait the try out rather than spin
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        break;
      }
      uint16_t rcode = 0;
      if (from != to || !accepted({reply.data(), n}, id, *zone, key, mac, rcode)) continue;
      out.acknowledged = rcode == wire::rcode::NOERROR;
      out.rcode = rcode;
      co_return out;
    }
  }
  out.attempts = notify_attempts;
  co_return out;
}

}  // namespace apexd::xfr
