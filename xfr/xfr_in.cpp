// Incoming transfers (a secondary's side): SOA queries, AXFR (RFC 5936) and IXFR (RFC 1995) from a primary.
#include "xfr/xfr_in.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <random>

#include "zone/loader.hpp"
#include "zone/rdata_text.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"

namespace apexd::xfr {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
namespace rrtype = wire::rrtype;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

uint64_t unix_seconds() {
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint16_t random_id() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return uint16_t(rng());
}

bool read_name(wire::Reader& r, std::string& out) {
  wire::NameBuf n;
  if (!r.name(n)) return false;
  out.append(reinterpret_cast<const char*>(n.data.data()), n.len);
  return true;
}

bool copy_bytes(wire::Reader& r, size_t n, std::string& out) {
  if (r.remaining() < n) return false;
  out.append(reinterpret_cast<const char*>(r.data() + r.pos()), n);
  return r.skip(n);
}

// RDATA with its names decompressed: RFC 3597 §4 lists the types whose names a receiver must
// decompress (RFC 1035's, and RP, AFSDB, RT, PX, NAPTR, SRV, KX that some senders compress).
// Names elsewhere are never compressed and are copied as bytes. False when the RDATA does not
// end exactly at `end`.
bool decompress_rdata(std::span<const uint8_t> msg, size_t begin, size_t end, uint16_t type, std::string& out) {
  wire::Reader r(msg.first(end), begin);
  auto fixed = [&](size_t n) { return copy_bytes(r, n, out); };
  auto name = [&] { return read_name(r, out); };
  bool ok = true;
  switch (type) {
    case rrtype::NS: case rrtype::MD: case rrtype::MF: case rrtype::CNAME: case rrtype::MB: case rrtype::MG:
    case rrtype::MR: case rrtype::PTR: case rrtype::DNAME:
      ok = name();
      break;
    case rrtype::MX: case rrtype::AFSDB: case rrtype::RT: case rrtype::KX:
      ok = fixed(2) && name();
      break;
    case rrtype::SOA:
      ok = name() && name() && fixed(20);
      break;
    case rrtype::MINFO: case rrtype::RP:
      ok = name() && name();
      break;
    case rrtype::PX:
      ok = fixed(2) && name() && name();
      break;
    case rrtype::SRV:
      ok = fixed(6) && name();
      break;
    case rrtype::NAPTR: {
      ok = fixed(4);
      for (int i = 0; ok && i < 3; ++i) {
        uint8_t len = 0;
        ok = r.remaining() >= 1 && (len = r.data()[r.pos()], fixed(1u + len));
      }
      ok = ok && name();
      break;
    }
    default:
      ok = fixed(end - begin);
  }
  return ok && r.pos() == end;
}

bool serial_at_least(uint32_t a, uint32_t b) { return a == b || int32_t(a - b) > 0; }

}  // namespace

bool read_message_rr(std::span<const uint8_t> msg, wire::Reader& r, MessageRR& out) {
  uint16_t rdlen;
  if (!r.name(out.owner) || !r.u16(out.type) || !r.u16(out.rclass) || !r.u32(out.ttl) || !r.u16(rdlen) ||
      r.remaining() < rdlen)
    return false;
  out.rdata.clear();
  size_t begin = r.pos();
  if (rdlen && !decompress_rdata(msg, begin, begin + rdlen, out.type, out.rdata)) return false;
  return r.skip(rdlen);
}

uint32_t soa_rdata_serial(std::span<const uint8_t> rdata) {
  size_t m = wire::name_wire_length(rdata);
  if (!m) return 0;
  size_t r = wire::name_wire_length(rdata.subspan(m));
  if (!r || rdata.size() < m + r + 4) return 0;
  const uint8_t* p = rdata.data() + m + r;
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// ---- the parser ----

TransferParser::TransferParser(wire::NameView origin, uint16_t id, uint16_t qtype, std::optional<uint32_t> have_serial,
                               uint64_t max_bytes)
    : origin_(wire::name_lower(origin)), id_(id), qtype_(qtype), have_(have_serial), max_bytes_(max_bytes) {}

TransferParser::Status TransferParser::fail(std::string why) {
  result_.kind = InboundTransfer::Kind::failed;
  result_.error = std::move(why);
  return status_ = Status::error;
}

InboundTransfer TransferParser::take() {
  if (status_ != Status::done && result_.error.empty()) fail("the transfer ended before its closing SOA");
  return std::move(result_);
}

TransferParser::Status TransferParser::take_rr(zone::JournalRR rr, bool is_soa, uint32_t serial) {
  using Kind = InboundTransfer::Kind;
  switch (phase_) {
    case Phase::first_soa:
      if (!is_soa) return fail("the first record is not the zone's SOA");
      result_.serial = serial;
      first_soa_ = std::move(rr);
      phase_ = Phase::second;
      return status_;
    case Phase::second:
      if (is_soa && qtype_ == rrtype::IXFR && have_ && serial == *have_ && serial != result_.serial) {
        // RFC 1995 §4: a difference sequence begins with the old SOA.
        result_.kind = Kind::incremental;
        zone::Changeset cs;
        cs.serial_from = serial;
        cs.removed.push_back(std::move(rr));
        result_.changesets.push_back(std::move(cs));
        phase_ = Phase::ixfr_deleted;
        return status_;
      }
      if (is_soa) {
        if (serial != result_.serial) return fail("the closing SOA's serial differs from the first");
        // An AXFR of a zone that holds only its SOA (it fails validation later: no NS).
        result_.kind = Kind::full;
        result_.records.push_back(std::move(first_soa_));
        phase_ = Phase::done;
        return status_ = Status::done;
      }
      result_.kind = Kind::full;
      result_.records.push_back(std::move(first_soa_));
      result_.records.push_back(std::move(rr));
      phase_ = Phase::full;
      return status_;
    case Phase::full:
      if (is_soa) {
        if (serial != result_.serial) return fail("the closing SOA's serial differs from the first");
        phase_ = Phase::done;
        return status_ = Status::done;
      }
      result_.records.push_back(std::move(rr));
      return status_;
    case Phase::ixfr_deleted: {
      zone::Changeset& cs = result_.changesets.back();
      if (is_soa) {
        if (!serial_at_least(serial, cs.serial_from) || serial == cs.serial_from)
          return fail("a difference sequence does not move the serial forward");
        cs.serial_to = serial;
        cs.added.push_back(std::move(rr));
        phase_ = Phase::ixfr_added;
        return status_;
      }
      cs.removed.push_back(std::move(rr));
      return status_;
    }
    case Phase::ixfr_added: {
      zone::Changeset& cs = result_.changesets.back();
      if (!is_soa) {
        cs.added.push_back(std::move(rr));
        return status_;
      }
      if (serial == result_.serial && cs.serial_to == result_.serial) {
        phase_ = Phase::done;
        return status_ = Status::done;
      }
      if (serial != cs.serial_to) return fail("difference sequences do not chain (serial " + std::to_string(serial) +
                                              " after one ending at " + std::to_string(cs.serial_to) + ")");
      zone::Changeset next;
      next.serial_from = serial;
      next.removed.push_back(std::move(rr));
      result_.changesets.push_back(std::move(next));
      phase_ = Phase::ixfr_deleted;
      return status_;
    }
    case Phase::done:
      return fail("records after the closing SOA");
  }
  return fail("internal state");
}

TransferParser::Status TransferParser::feed(std::span<const uint8_t> msg) {
  if (status_ != Status::more) return status_;
  ++result_.messages;
  if (msg.size() < wire::header_size) return fail("a message shorter than a DNS header");
  wire::Header h = wire::parse_header(msg);
  if (!h.qr) return fail("a message that is not a response");
  if (h.id != id_) return fail("a message with another ID (" + std::to_string(h.id) + ")");
  if (h.opcode != wire::opcode::QUERY) return fail("a response with opcode " + std::to_string(h.opcode));
  uint16_t rc = msg[3] & 0x0F;
  if (rc != wire::rcode::NOERROR) return fail("the primary answered " + wire::rcode_to_text(rc));
  if (msg[2] & 0x02) return fail("a truncated (TC) message");
  wire::Reader r(msg, wire::header_size);
  // RFC 5936 §2.2.1: the first message repeats the question; later ones may or may not.
  if (h.qdcount > 1 || (result_.messages == 1 && h.qdcount != 1)) return fail("a message with a wrong question count");
  if (h.qdcount == 1) {
    wire::NameBuf qname;
    uint16_t qtype, qclass;
    if (!r.name(qname) || !r.u16(qtype) || !r.u16(qclass)) return fail("a malformed question");
    wire::NameView o(reinterpret_cast<const uint8_t*>(origin_.data()), origin_.size());
    if (!wire::name_equal(qname.view(), o) || qtype != qtype_ || qclass != wire::rrclass::IN)
      return fail("a question other than the one asked");
  }
  wire::NameView origin(reinterpret_cast<const uint8_t*>(origin_.data()), origin_.size());
  for (uint16_t i = 0; i < h.ancount; ++i) {
    zone::JournalRR rr;
    wire::NameBuf owner;
    uint16_t type, cls, rdlen;
    uint32_t ttl;
    size_t start = r.pos();
    if (!r.name(owner) || !r.u16(type) || !r.u16(cls) || !r.u32(ttl) || !r.u16(rdlen) || r.remaining() < rdlen)
      return fail("a malformed record in message " + std::to_string(result_.messages));
    size_t rbegin = r.pos();
    if (!decompress_rdata(msg, rbegin, rbegin + rdlen, type, rr.rdata))
      return fail("malformed RDATA of a " + wire::type_to_text(type) + " record");
    (void)r.skip(rdlen);
    if (cls != wire::rrclass::IN) return fail("a record of class " + std::to_string(cls));
    if (auto bad = zone::check_rdata(type, rr.rdata))  // as a loaded file's (found by fuzz_xfr_in)
      return fail("malformed RDATA of a " + wire::type_to_text(type) + " record: " + *bad);
    if (type == rrtype::OPT || type == rrtype::TSIG || type == rrtype::AXFR || type == rrtype::IXFR ||
        type == rrtype::ANY)
      return fail("a " + wire::type_to_text(type) + " record in the answer section");
    result_.bytes += r.pos() - start;
    ++result_.rrs;
    if (max_bytes_ && result_.bytes > max_bytes_)
      return fail("the zone is larger than max_zone_size (" + std::to_string(max_bytes_) + " bytes)");
    bool at_origin = wire::name_equal(owner.view(), origin);
    bool is_soa = type == rrtype::SOA;
    if (is_soa && !at_origin) return fail("an SOA record for another zone (" + wire::name_to_text(owner.view()) + ")");
    if (phase_ == Phase::first_soa && !is_soa) return fail("the first record is not the zone's SOA");
    if (!wire::name_is_subdomain(owner.view(), origin)) {
      ++out_of_zone_;  // RFC 5936 §3.3: not part of the zone; dropped as a loaded file's would be
      continue;
    }
    // As the loader refuses in a file (with BIND and Knot): a '"' in an owner name.
    if (std::find(owner.data.begin(), owner.data.begin() + owner.len, uint8_t('"')) != owner.data.begin() + owner.len)
      return fail("an owner name holding '\"' (" + wire::name_to_text(owner.view()) + "), which no zone file can hold");
    rr.owner = wire::name_lower(owner.view());
    rr.type = type;
    rr.ttl = ttl;
    zone::lowercase_rdata_names(type, rr.rdata);
    uint32_t serial = 0;
    if (is_soa) {
      if (rr.rdata.size() < 22) return fail("a malformed SOA");
      serial = soa_rdata_serial({reinterpret_cast<const uint8_t*>(rr.rdata.data()), rr.rdata.size()});
    }
    if (take_rr(std::move(rr), is_soa, serial) == Status::error) return status_;
    if (status_ == Status::done && i + 1 < h.ancount) return fail("records after the closing SOA");
  }
  // RFC 1995 §4: an IXFR answer holding our serial's SOA alone (one message, one record) says
  // that we are up to date; a newer serial alone means "ask again over TCP" (we are on TCP).
  if (status_ == Status::more && phase_ == Phase::second && qtype_ == rrtype::IXFR && have_ &&
      serial_at_least(*have_, result_.serial)) {
    result_.kind = InboundTransfer::Kind::up_to_date;
    phase_ = Phase::done;
    return status_ = Status::done;
  }
  return status_;
}

// ---- the network side ----

namespace {

// The SOA query or transfer request for `origin`; IXFR carries our SOA in the authority section.
size_t build_request(std::span<uint8_t> out, uint16_t id, wire::NameView origin, uint16_t qtype,
                     const std::optional<std::string>& have_soa) {
  wire::PacketWriter w(out, out.size());
  wire::Header h;
  h.id = id;
  w.begin_response(h);
  out[2] &= 0x7F;  // a query: QR=0
  if (!w.put_question(origin, qtype, wire::rrclass::IN)) return 0;
  if (have_soa && !w.put_rr(wire::Section::authority, origin, rrtype::SOA, wire::rrclass::IN, 0,
                            {reinterpret_cast<const uint8_t*>(have_soa->data()), have_soa->size()}))
    return 0;
  return w.size();
}

struct SignedRequest {
  std::array<uint8_t, 1024> bytes{};
  size_t len = 0;
  crypto::TsigMac mac;
};

SignedRequest make_request(uint16_t id, wire::NameView origin, uint16_t qtype, const std::optional<std::string>& have_soa,
                           const crypto::TsigKey* key) {
  SignedRequest req;
  req.len = build_request(req.bytes, id, origin, qtype, have_soa);
  if (req.len && key) {
    crypto::TsigSigner signer(*key, {});
    req.len = signer.sign(req.bytes, req.len, unix_seconds());
    req.mac = signer.last_mac();
  }
  return req;
}

std::string tsig_failure(crypto::TsigStatus s, uint16_t peer_error) {
  switch (s) {
    case crypto::TsigStatus::unsigned_: return "an unsigned answer where the key requires a signed one";
    case crypto::TsigStatus::badsig: return "an answer whose TSIG does not verify (BADSIG)";
    case crypto::TsigStatus::badkey: return "an answer signed with another key (BADKEY)";
    case crypto::TsigStatus::badtime: return "an answer signed outside the time fudge (BADTIME)";
    case crypto::TsigStatus::peer_error: return "the primary reports TSIG error " + std::to_string(peer_error);
    default: return "an answer with a malformed TSIG";
  }
}

// Reads one length-prefixed message within the deadline; empty on EOF, error or timeout.
asio::awaitable<std::vector<uint8_t>> read_message(asio::ip::tcp::socket& s, std::chrono::steady_clock::time_point total) {
  auto deadline = std::min(total, std::chrono::steady_clock::now() + xfr_read_timeout);
  asio::steady_timer timer(s.get_executor(), deadline);
  std::array<uint8_t, 2> len_bytes{};
  auto a = co_await (asio::async_read(s, asio::buffer(len_bytes), use_tuple) || timer.async_wait(use_tuple));
  if (a.index() != 0 || std::get<0>(std::get<0>(a))) co_return std::vector<uint8_t>{};
  const size_t len = size_t(len_bytes[0]) << 8 | len_bytes[1];
  std::vector<uint8_t> msg(len);
  if (msg.empty()) co_return msg;
  auto b = co_await (asio::async_read(s, asio::buffer(msg), use_tuple) || timer.async_wait(use_tuple));
  if (b.index() != 0 || std::get<0>(std::get<0>(b))) co_return std::vector<uint8_t>{};
  co_return msg;
}

}  // namespace

asio::awaitable<SoaAnswer> query_soa(const Primary& primary, wire::NameView origin, const crypto::TsigKey* key) {
  SoaAnswer out;
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(primary.host, ec);
  if (ec) {
    out.error = "not an address";
    co_return out;
  }
  auto check = [&](std::span<const uint8_t> reply, uint16_t id, const crypto::TsigMac& mac) -> bool {
    if (reply.size() < wire::header_size) return false;
    wire::Header h = wire::parse_header(reply);
    if (!h.qr || h.id != id) return false;  // not ours: keep waiting
    if (key) {
      crypto::TsigVerifier v(*key, mac.view());
      crypto::TsigStatus st = v.verify(reply, unix_seconds());
      if (st != crypto::TsigStatus::ok) {
        out.error = tsig_failure(st, v.peer_error());
        return true;
      }
    }
    uint16_t rc = reply[3] & 0x0F;
    if (rc != wire::rcode::NOERROR) {
      out.error = "the primary answered " + wire::rcode_to_text(rc);
      return true;
    }
    if (!(reply[2] & 0x04)) {
      out.error = "the primary's answer is not authoritative";
      return true;
    }
    wire::Reader r(reply, wire::header_size);
    wire::NameBuf n;
    uint16_t t, c, rdlen;
    uint32_t ttl;
    if (h.qdcount != 1 || !r.name(n) || !r.u16(t) || !r.u16(c) || !wire::name_equal(n.view(), origin) ||
        t != rrtype::SOA) {
      out.error = "an answer to another question";
      return true;
    }
    for (uint16_t i = 0; i < h.ancount; ++i) {
      if (!r.name(n) || !r.u16(t) || !r.u16(c) || !r.u32(ttl) || !r.u16(rdlen) || r.remaining() < rdlen) break;
      std::string rdata;
      if (t == rrtype::SOA && wire::name_equal(n.view(), origin) &&
          decompress_rdata(reply, r.pos(), r.pos() + rdlen, t, rdata)) {
        out.serial = soa_rdata_serial({reinterpret_cast<const uint8_t*>(rdata.data()), rdata.size()});
        out.ok = true;
        return true;
      }
      (void)r.skip(rdlen);
    }
    out.error = "an answer without the zone's SOA";
    return true;
  };

  for (int attempt = 0; attempt < 2 && !out.ok; ++attempt) {
    uint16_t id = random_id();
    SignedRequest req = make_request(id, origin, rrtype::SOA, std::nullopt, key);
    if (!req.len) {
      out.error = "cannot build the query";
      co_return out;
    }
    asio::ip::udp::socket sock(ex);
    sock.open(addr.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
    if (ec) {
      out.error = ec.message();
      co_return out;
    }
    asio::ip::udp::endpoint to(addr, primary.port);
    co_await sock.async_send_to(asio::buffer(req.bytes.data(), req.len), to, use_tuple);
    asio::steady_timer timer(ex, soa_query_timeout);
    std::array<uint8_t, 65535> reply;
    bool truncated = false;
    for (;;) {
      asio::ip::udp::endpoint from;
      auto r = co_await (sock.async_receive_from(asio::buffer(reply), from, use_tuple) || timer.async_wait(use_tuple));
      if (r.index() != 0) {
        out.error = "no answer in " + std::to_string(soa_query_timeout.count()) + " s";
        break;
      }
      auto [rec, n] = std::get<0>(r);
      if (rec) continue;
      if (from != to) continue;
      if (n >= wire::header_size && (reply[2] & 0x80) && wire::parse_header({reply.data(), n}).id == id &&
          ((reply[2] & 0x02) || (reply[3] & 0x0F) == wire::rcode::REFUSED)) {
        // Truncated; or REFUSED, as knotd answers every UDP query for a catalog zone it
        // produces (RFC 9432 catalogs are for transfers): it answers the same over TCP.
        truncated = true;
        break;
      }
      if (check({reply.data(), n}, id, req.mac)) co_return out;
    }
    if (!truncated) continue;
    // RFC 1035 §4.2.1: truncated (or refused) over UDP, asked again over TCP.
    asio::ip::tcp::socket tcp(ex);
    asio::steady_timer t2(ex, soa_query_timeout);
    auto c = co_await (tcp.async_connect({addr, primary.port}, use_tuple) || t2.async_wait(use_tuple));
    if (c.index() != 0 || std::get<0>(std::get<0>(c))) {
      out.error = "TCP connect failed";
      continue;
    }
    std::array<uint8_t, 2> len{uint8_t(req.len >> 8), uint8_t(req.len)};
    std::array<asio::const_buffer, 2> bufs{asio::buffer(len), asio::buffer(req.bytes.data(), req.len)};
    co_await asio::async_write(tcp, bufs, use_tuple);
    std::vector<uint8_t> msg = co_await read_message(tcp, std::chrono::steady_clock::now() + soa_query_timeout);
    if (!msg.empty() && check(msg, id, req.mac)) co_return out;
    if (out.error.empty()) out.error = "no answer over TCP";
  }
  co_return out;
}

asio::awaitable<InboundTransfer> fetch_zone(const Primary& primary, wire::NameView origin, const crypto::TsigKey* key,
                                            std::optional<std::string> have_soa, uint64_t max_bytes) {
  InboundTransfer failed;
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(primary.host, ec);
  if (ec) {
    failed.error = "not an address";
    co_return failed;
  }
  uint16_t qtype = have_soa ? rrtype::IXFR : rrtype::AXFR;
  uint16_t id = random_id();
  SignedRequest req = make_request(id, origin, qtype, have_soa, key);
  if (!req.len) {
    failed.error = "cannot build the request";
    co_return failed;
  }
  auto total = std::chrono::steady_clock::now() + xfr_total_timeout;
  asio::ip::tcp::socket s(ex);
  {
    asio::steady_timer timer(ex, xfr_read_timeout);
    auto c = co_await (s.async_connect({addr, primary.port}, use_tuple) || timer.async_wait(use_tuple));
    if (c.index() != 0) {
      failed.error = "TCP connect timed out";
      co_return failed;
    }
    if (auto e = std::get<0>(std::get<0>(c))) {
      failed.error = "TCP connect failed: " + e.message();
      co_return failed;
    }
    std::array<uint8_t, 2> len{uint8_t(req.len >> 8), uint8_t(req.len)};
    std::array<asio::const_buffer, 2> bufs{asio::buffer(len), asio::buffer(req.bytes.data(), req.len)};
    asio::steady_timer wt(ex, xfr_read_timeout);
    auto w = co_await (asio::async_write(s, bufs, use_tuple) || wt.async_wait(use_tuple));
    if (w.index() != 0 || std::get<0>(std::get<0>(w))) {
      failed.error = "sending the request failed";
      co_return failed;
    }
  }
  std::optional<uint32_t> have;
  if (have_soa) have = soa_rdata_serial({reinterpret_cast<const uint8_t*>(have_soa->data()), have_soa->size()});
  TransferParser parser(origin, id, qtype, have, max_bytes);
  std::optional<crypto::TsigVerifier> verifier;
  if (key) verifier.emplace(*key, req.mac.view());
  while (parser.status() == TransferParser::Status::more) {
    std::vector<uint8_t> msg = co_await read_message(s, total);
    if (msg.empty()) {
      InboundTransfer r = parser.take();
      r.kind = InboundTransfer::Kind::failed;
      r.error = std::chrono::steady_clock::now() >= total
                    ? "the transfer took longer than " + std::to_string(xfr_total_timeout.count()) + " min"
                    : "the connection closed or stalled before the closing SOA (message " +
                          std::to_string(r.messages + 1) + ")";
      co_return r;
    }
    if (verifier) {
      crypto::TsigStatus st = verifier->verify(msg, unix_seconds());
      if (st != crypto::TsigStatus::ok) {
        InboundTransfer r;
        r.error = tsig_failure(st, verifier->peer_error());
        co_return r;
      }
    }
    parser.feed(msg);
  }
  if (parser.status() == TransferParser::Status::done && verifier) {
    crypto::TsigStatus st = verifier->finish();
    if (st != crypto::TsigStatus::ok) {  // RFC 8945 §5.3.1: the last message must be signed
      InboundTransfer r;
      r.error = tsig_failure(st, verifier->peer_error());
      co_return r;
    }
  }
  boost::system::error_code ignored;
  s.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  co_return parser.take();
}

}  // namespace apexd::xfr
