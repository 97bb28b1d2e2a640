// Zone transfers out (AXFR, RFC 5936; IXFR from the journal or in full, RFC 1995 §4) over a TCP session.
#include "server/transfer.hpp"

#include <netinet/in.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <algorithm>

#include "crypto/tsig.hpp"
#include "server/rrl.hpp"
#include "server/transfer_view.hpp"
#include "zone/wire/tsig.hpp"
#include "xfr/axfr_out.hpp"
#include "xfr/ixfr_out.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t transfer_message_limit = 65535;  // RFC 1035 §4.2.2: the TCP length field
// Messages are filled to 16 KiB: a compression pointer reaches only the first 16383 bytes of a
// message (RFC 1035 §4.1.4), so bigger messages repeat names in full (9 % more bytes for a
// million-record zone, bench/axfr.py). knotd's are about as big. A record over it alone gets a
// message of its own up to the TCP limit.
constexpr size_t transfer_message_fill = 16384;
std::atomic<unsigned> transfers_running{0};

uint64_t unix_now() {
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}


bool address_matches(const zone::AccessEntry& e, const sockaddr_storage& peer) {
  if (e.family == 0) return true;
  Prefix p;  // the RRL whitelist's matcher
  p.family = e.family == 4 ? AF_INET : AF_INET6;
  std::copy(e.address.begin(), e.address.end(), p.bytes);
  p.length = e.prefix_len;
  return p.contains(peer);
}

// The serial of the SOA a client puts in the authority section of an IXFR (RFC 1995 §3).
std::optional<uint32_t> ixfr_client_serial(std::span<const uint8_t> request, const wire::Query& q) {
  if (q.header.nscount < 1) return std::nullopt;
  wire::Reader r(request, q.question_end);
  wire::NameBuf owner, mname, rname;
  uint16_t type, cls, rdlen;
  uint32_t ttl, serial;
  if (!r.name(owner) || !r.u16(type) || !r.u16(cls) || !r.u32(ttl) || !r.u16(rdlen) || type != wire::rrtype::SOA)
    return std::nullopt;
  if (!r.name(mname) || !r.name(rname) || !r.u32(serial)) return std::nullopt;
  return serial;
}

// RFC 1982 §3.2: is `a` equal to or newer than `b`?
bool serial_at_least(uint32_t a, uint32_t b) { return a == b || int32_t(a - b) > 0; }

// A reply with no records: the header, the question, an rcode.
size_t error_reply(std::span<uint8_t> out, const wire::Query& q, uint16_t rcode) {
  wire::PacketWriter w(out, out.size());
  w.begin_response(q.header);
  (void)w.put_question(q.qname.view(), q.qtype, q.qclass);
  w.set_rcode(rcode);
  return w.size();
}

// Just the SOA: for an IXFR whose client is up to date (RFC 1995 §2).
size_t soa_reply(std::span<uint8_t> out, const wire::Query& q, const zone::Zone& z) {
  wire::PacketWriter w(out, out.size());
  w.begin_response(q.header);
  w.set_aa(true);
  (void)w.put_question(q.qname.view(), q.qtype, q.qclass);
  (void)w.put_rr(wire::Section::answer, z.origin(), wire::rrtype::SOA, wire::rrclass::IN, z.soa().ttl,
                 z.rdata(z.soa(), 0));
  return w.size();
}

asio::awaitable<bool> write_message(asio::ip::tcp::socket& s, std::vector<uint8_t>& buf, size_t len,
                                    std::chrono::milliseconds timeout) {
  buf[0] = uint8_t(len >> 8);
  buf[1] = uint8_t(len);
  asio::steady_timer timer(s.get_executor(), timeout);
  auto w = co_await (asio::async_write(s, asio::buffer(buf.data(), len + 2), use_tuple) || timer.async_wait(use_tuple));
  co_return w.index() == 0 && !std::get<0>(std::get<0>(w));
}

struct TransferSlot {  // one of max_transfers, released on every exit
  bool held = false;
  TransferSlot() {
    if (transfers_running.fetch_add(1) < max_transfers) held = true;
    else transfers_running.fetch_sub(1);
  }
  ~TransferSlot() {
    if (held) transfers_running.fetch_sub(1);
  }
};

}  // namespace

bool transfer_allowed(const std::vector<zone::AccessEntry>& acl, const sockaddr_storage& peer, std::string_view key) {
  for (const zone::AccessEntry& e : acl)
    if (address_matches(e, peer) && (e.key.empty() || e.key == key)) return true;
  return false;
}

asio::awaitable<bool> serve_transfer(WorkerContext& ctx, asio::ip::tcp::socket& socket, std::span<const uint8_t> request,
                                     const wire::Query& q, const sockaddr_storage& peer) {
  std::vector<uint8_t> buf(2 + transfer_message_limit);
  std::span<uint8_t> out(buf.data() + 2, transfer_message_limit);
  auto started = std::chrono::steady_clock::now();
  const char* kind = q.qtype == wire::rrtype::AXFR ? "AXFR" : "IXFR";
  auto zones = ctx.zones.shared();
  std::shared_ptr<const zone::Zone> z = zones->shared_exact(q.qname_lower.view());
  std::string client = peer_text(&peer);

  // RFC 8945 §5.2: a signed request is verified before anything else, and every answer to it
  // (errors included) is signed with the same key; failures are NOTAUTH with the TSIG error.
  std::optional<crypto::TsigSigner> signer;
  const crypto::TsigKey* key = nullptr;  // the request's, when signed
  auto sign = [&](size_t len) { return signer && len ? signer->sign(out, len, unix_now()) : len; };
  auto count = [&](ZoneCounters::Kind k) {
    if (z && ctx.zone_counters) ctx.zone_counters->add(z->origin_text(), k);
  };
  // An error answer; a refusal unless `refused` is false (the transfer failed, counted already).
  auto reply = [&](uint16_t rcode, const char* why, bool refused = true) -> asio::awaitable<bool> {
    spdlog::info("event=transfer_refused type={} zone={} client={} rcode={} reason=\"{}\"", kind,
                 wire::name_to_text(q.qname_lower.view()), client, rcode, why);
    if (refused) {
      ctx.stats.transfers_refused.add();
      count(ZoneCounters::transfer_out_refused);
    }
    co_return co_await write_message(socket, buf, sign(error_reply(out, q, rcode)), ctx.config.tcp_idle_timeout);
  };
  wire::TsigLookup tsig = wire::find_tsig(request);
  if (tsig.status == wire::TsigFind::formerr) co_return co_await reply(wire::rcode::FORMERR, "malformed or misplaced TSIG");
  if (tsig.status == wire::TsigFind::found) {
    std::span<const crypto::TsigKey> keys;
    if (ctx.tsig_keys) keys = *ctx.tsig_keys->load(std::memory_order_acquire);
    uint64_t now = unix_now();
    crypto::TsigVerifyResult v = crypto::verify_request(request, tsig.record, keys, now);
    if (v.status != crypto::TsigStatus::ok) {
      size_t len = crypto::append_error_tsig(out, error_reply(out, q, v.rcode()), tsig.record, v, now);
      spdlog::info("event=transfer_refused type={} zone={} client={} rcode={} reason=\"TSIG error {} (key {})\"", kind,
                   wire::name_to_text(q.qname_lower.view()), client, v.rcode(), v.error(),
                   wire::name_to_text(tsig.record.key_name.view()));
      ctx.stats.transfers_refused.add();
      count(ZoneCounters::transfer_out_refused);
      co_return co_await write_message(socket, buf, len, ctx.config.tcp_idle_timeout);
    }
    signer.emplace(*v.key, v.request_mac.view());
    key = v.key;
  }
  if (q.qclass != wire::rrclass::IN) co_return co_await reply(wire::rcode::REFUSED, "class");
  if (!z) {
    // RFC 5936 §2.2.1: not authoritative for the zone named.
    if (zones->find_failed(q.qname_lower.view())) co_return co_await reply(wire::rcode::SERVFAIL, "zone not loaded");
    co_return co_await reply(wire::rcode::NOTAUTH, "not a zone of ours");
  }
  if (!transfer_allowed(z->options().allow_transfer, peer, key ? std::string_view(key->name) : std::string_view()))
    co_return co_await reply(wire::rcode::REFUSED, key ? "allow_transfer" : "allow_transfer (unsigned)");
  // A zone signed online is signed at answer time only: a transfer carries it unsigned (no
  // RRSIG, NSEC or DNSKEY), which a secondary would serve as an insecure zone under a parent
  // with a DS, breaking validation. apexd secondaries sign it themselves with the same keys; for
  // others the operator has to say that the unsigned copy is what they want.
  if (z->options().dnssec && !z->options().transfer_unsigned)
    co_return co_await reply(wire::rcode::REFUSED, "signed online (set transfer_unsigned = true to allow it)");
  TransferSlot slot;
  if (!slot.held) co_return co_await reply(wire::rcode::REFUSED, "too many transfers at once");

  std::optional<xfr::IxfrWriter> ixfr;
  if (q.qtype == wire::rrtype::IXFR) {
    std::optional<uint32_t> have = ixfr_client_serial(request, q);
    if (!have) co_return co_await reply(wire::rcode::FORMERR, "IXFR without an SOA in the authority section");
    if (serial_at_least(*have, z->serial())) {
      spdlog::info("event=transfer type=IXFR zone={} client={} serial={} result=up_to_date", z->origin_text(), client,
                   z->serial());
      count(ZoneCounters::transfer_out_up_to_date);
      co_return co_await write_message(socket, buf, sign(soa_reply(out, q, *z)), ctx.config.tcp_idle_timeout);
    }
    // From the journal when it reaches back to the client's serial; else the whole zone,
    // AXFR-style, which RFC 1995 §4 allows.
    std::string origin(reinterpret_cast<const char*>(z->origin().data()), z->origin().size());
    if (ctx.journals)
      if (std::optional<zone::Changeset> diff = ctx.journals->since(origin, *have, z->serial())) ixfr.emplace(std::move(*diff));
    if (!ixfr)
      spdlog::info("event=ixfr_as_axfr zone={} client={} client_serial={} serial={} reason=\"the journal does not reach back\"",
                   z->origin_text(), client, *have, z->serial());
  }

  // RFC 8945 §5.3.1: every message of the stream signed, each MAC chained to the one before.
  size_t reserve = key ? crypto::tsig_max_rr_size(*key) : 0;
  auto stream = [&](auto& writer) -> asio::awaitable<bool> {
    for (;;) {
      size_t len = writer.next(out, transfer_message_fill, reserve, q);
      if (len == 0) break;
      if ((len = sign(len)) == 0) {
        spdlog::error("event=transfer_failed type={} zone={} client={} reason=\"TSIG signing failed\"", kind,
                      z->origin_text(), client);
        ctx.stats.transfers_failed.add();
        count(ZoneCounters::transfer_out_failed);
        co_return false;
      }
      if (!co_await write_message(socket, buf, len, ctx.config.tcp_idle_timeout)) {
        spdlog::warn("event=transfer_aborted type={} zone={} client={} records={} reason=\"write failed or timed out\"",
                     kind, z->origin_text(), client, writer.records());
        ctx.stats.transfers_failed.add();
        count(ZoneCounters::transfer_out_failed);
        co_return false;
      }
    }
    if (writer.failed()) {
      spdlog::error("event=transfer_failed type={} zone={} client={} reason=\"a record does not fit in a message\"", kind,
                    z->origin_text(), client);
      ctx.stats.transfers_failed.add();
      count(ZoneCounters::transfer_out_failed);
      co_return co_await reply(wire::rcode::SERVFAIL, "record too large", false);
    }
    ctx.stats.transfers_out.add();
    count(ZoneCounters::transfer_out_ok);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("event=transfer type={} zone={} client={} serial={} records={} messages={} ms={}{}", kind,
                 z->origin_text(), client, z->serial(), writer.records(), writer.messages(), ms,
                 q.qtype == wire::rrtype::IXFR ? (ixfr ? " answer=incremental" : " answer=full") : "");
    co_return true;
  };
  if (ixfr) co_return co_await stream(*ixfr);
  xfr::AxfrWriter writer(z, co_await transfer_replacements(ctx.resolver, ctx.edges, *zones, *z, ctx.last_known));
  co_return co_await stream(writer);
}

}  // namespace apexd::server
