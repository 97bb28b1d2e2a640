// Tests for xfr/xfr_in's TransferParser: AXFR and IXFR answers written by our own writers read
// back to what was sent, hand-built IXFR sequences, every refusal, and RDATA decompression.
#include "xfr/xfr_in.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "xfr/axfr_out.hpp"
#include "xfr/ixfr_out.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_records.hpp"

using namespace apexd;
using test::view;
using xfr::InboundTransfer;
using xfr::TransferParser;
using zone::JournalRR;
namespace rrtype = wire::rrtype;

namespace {

constexpr uint16_t id = 0x2a2a;
const std::string origin = test::wire_name("example.test.");

std::string lname(const std::string& text) { return wire::name_lower(view(test::wire_name(text))); }

void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char(uint8_t(v >> shift)));
}

std::string soa_rdata(uint32_t serial) {
  std::string r = lname("ns1.example.test.") + lname("hostmaster.example.test.");
  for (uint32_t v : {serial, 7200u, 3600u, 1209600u, 300u}) put_u32(r, v);
  return r;
}

JournalRR soa(uint32_t serial) { return {origin, rrtype::SOA, 3600, soa_rdata(serial)}; }
JournalRR a(const std::string& owner, uint8_t last, uint32_t ttl = 300) {
  return {lname(owner), rrtype::A, ttl, std::string{char(192), char(0), char(2), char(last)}};
}
JournalRR ns() { return {origin, rrtype::NS, 3600, lname("ns1.example.test.")}; }

// One answer record as raw bytes: the owner and RDATA exactly as given (pointers allowed).
struct RawRR {
  std::string owner;  // wire bytes, may hold compression pointers
  uint16_t type;
  uint32_t ttl = 300;
  std::string rdata;  // wire bytes, may hold compression pointers
  uint16_t rclass = wire::rrclass::IN;
  int rdlength = -1;  // -1: the RDATA's size
};
RawRR raw(const JournalRR& rr) { return {rr.owner, rr.type, rr.ttl, rr.rdata}; }

struct MsgOptions {
  uint16_t id = ::id;
  bool qr = true;
  uint8_t opcode = 0;
  uint8_t rcode = 0;
  bool tc = false;
  bool question = true;
  std::string qname = origin;
  uint16_t qtype = rrtype::AXFR;
  uint16_t qclass = wire::rrclass::IN;
};

void put16(std::vector<uint8_t>& p, uint16_t v) { test::put_u16(p, v); }

// A response message: header, the question (at offset 12, so that 0xC00C points to its name),
// then the records as given.
std::vector<uint8_t> message(const std::vector<RawRR>& rrs, const MsgOptions& o = {}) {
  std::vector<uint8_t> p;
  put16(p, o.id);
  p.push_back(uint8_t((o.qr ? 0x80 : 0) | (o.opcode & 0x0F) << 3 | 0x04 | (o.tc ? 0x02 : 0)));
  p.push_back(o.rcode & 0x0F);
  put16(p, o.question ? 1 : 0);
  put16(p, uint16_t(rrs.size()));
  put16(p, 0);
  put16(p, 0);
  if (o.question) {
    p.insert(p.end(), o.qname.begin(), o.qname.end());
    put16(p, o.qtype);
    put16(p, o.qclass);
  }
  for (const RawRR& rr : rrs) {
    p.insert(p.end(), rr.owner.begin(), rr.owner.end());
    put16(p, rr.type);
    put16(p, rr.rclass);
    put16(p, uint16_t(rr.ttl >> 16));
    put16(p, uint16_t(rr.ttl));
    put16(p, uint16_t(rr.rdlength < 0 ? rr.rdata.size() : size_t(rr.rdlength)));
    p.insert(p.end(), rr.rdata.begin(), rr.rdata.end());
  }
  return p;
}

std::vector<RawRR> raws(const std::vector<JournalRR>& rrs) {
  std::vector<RawRR> out;
  for (const JournalRR& rr : rrs) out.push_back(raw(rr));
  return out;
}

struct Parsed {
  TransferParser::Status status;
  InboundTransfer result;
  size_t skipped = 0;
};

Parsed parse(const std::vector<std::vector<uint8_t>>& msgs, uint16_t qtype = rrtype::AXFR,
             std::optional<uint32_t> have = std::nullopt, uint64_t max_bytes = 0) {
  TransferParser p(view(origin), id, qtype, have, max_bytes);
  for (const auto& m : msgs) p.feed(m);
  Parsed out{p.status(), {}, p.skipped_out_of_zone()};
  out.result = p.take();
  return out;
}

std::vector<JournalRR> sorted(std::vector<JournalRR> v) {
  std::sort(v.begin(), v.end(), zone::canonical_less);
  return v;
}

std::vector<std::string> texts(const std::vector<JournalRR>& v) {
  std::vector<std::string> out;
  for (const JournalRR& rr : v) out.push_back(test::wire_rr_text(rr.owner, rr.type, 1, rr.ttl, rr.rdata));
  std::sort(out.begin(), out.end());
  return out;
}

wire::Query query_for(uint16_t qtype) {
  std::vector<uint8_t> request = test::make_query("example.test.", qtype, {.id = id});
  wire::Query q;
  REQUIRE(wire::parse_query(request, q) == wire::ParseStatus::ok);
  return q;
}

// Every message an AxfrWriter writes at `limit`.
template <class Writer>
std::vector<std::vector<uint8_t>> stream(Writer& w, size_t limit, uint16_t qtype) {
  wire::Query q = query_for(qtype);
  std::vector<uint8_t> buf(65535);
  std::vector<std::vector<uint8_t>> out;
  for (size_t len; (len = w.next(buf, limit, 0, q)) != 0;) out.emplace_back(buf.begin(), buf.begin() + ptrdiff_t(len));
  REQUIRE_FALSE(w.failed());
  return out;
}

std::string big_zone_text(bool replaced_names) {
  std::string t =
      "$ORIGIN example.test.\n$TTL 3600\n"
      "@ SOA ns1 hostmaster 77 7200 3600 1209600 300\n"
      "@ NS ns1\n@ MX 10 mail\nns1 A 192.0.2.1\nmail A 192.0.2.2\nmail AAAA 2001:db8::2\n"
      "*.wild TXT \"wild\"\nsub NS ns.sub\nns.sub A 192.0.2.53\n"
      "_sip._tcp SRV 0 5 5060 sip\nsip A 192.0.2.9\n";
  if (replaced_names) t += "@ CNAME app.platform.test.\nshop A 192.0.2.50 ; cf_tags=cf-proxied:true\nshop TXT \"kept\"\n";
  for (int i = 0; i < 3000; ++i) t += "t" + std::to_string(i) + " 600 TXT \"record number " + std::to_string(i) + "\"\n";
  return t;
}

std::shared_ptr<const zone::Zone> compile(const std::string& text) {
  return zone::compile_zone(view(origin), zone::load_zone_text(text, view(origin), "example.test.zone"), "example.test.zone");
}

}  // namespace

TEST_CASE("TransferParser: an AXFR written by AxfrWriter over many messages reads back as the zone") {
  auto z = compile(big_zone_text(false));
  xfr::AxfrWriter w(z, {});
  auto msgs = stream(w, 4096, rrtype::AXFR);
  REQUIRE(msgs.size() > 10);
  Parsed p = parse(msgs);
  CHECK(p.status == TransferParser::Status::done);
  CHECK(p.result.kind == InboundTransfer::Kind::full);
  CHECK(p.result.error.empty());
  CHECK(p.result.serial == 77);
  CHECK(p.result.messages == msgs.size());
  CHECK(p.result.rrs == w.records());
  CHECK(p.skipped == 0);
  REQUIRE_FALSE(p.result.records.empty());
  CHECK(p.result.records.front().type == rrtype::SOA);
  CHECK(p.result.records.size() == w.records() - 1);  // the closing SOA is not repeated
  CHECK(sorted(p.result.records) == sorted(zone::zone_rrs(*z)));
  uint64_t bytes = 0;
  for (const auto& m : msgs) bytes += m.size();
  CHECK(p.result.bytes > 0);
  CHECK(p.result.bytes < bytes);  // RR bytes only: no headers or questions
}

TEST_CASE("TransferParser: an AXFR with flattened and proxied replacements reads back as transfer_rrs") {
  auto z = compile(big_zone_text(true));
  xfr::Replacements repl;
  for (uint32_t i = 0; i < z->nodes().size(); ++i) {
    const zone::Node& n = z->nodes()[i];
    if (n.flags & zone::node_flattened) repl[i] = {{rrtype::A, 300, {std::string("\xc6\x33\x64\x07", 4)}}};
    if (n.flags & zone::node_proxied) repl[i] = {{rrtype::A, 120, {std::string("\xcb\x00\x71\x0a", 4)}}};
  }
  REQUIRE(repl.size() == 2);
  for (size_t limit : {4096u, 512u}) {
    CAPTURE(limit);
    xfr::AxfrWriter w(z, repl);
    Parsed p = parse(stream(w, limit, rrtype::AXFR));
    REQUIRE(p.status == TransferParser::Status::done);
    CHECK(p.result.kind == InboundTransfer::Kind::full);
    auto expected = xfr::transfer_rrs(z, repl);
    CHECK(sorted(p.result.records) == sorted(expected));
    auto t = texts(p.result.records);
    CHECK(std::count(t.begin(), t.end(), "example.test.\t300\tIN\tA\t198.51.100.7") == 1);
    CHECK(std::count(t.begin(), t.end(), "shop.example.test.\t120\tIN\tA\t203.0.113.10") == 1);
    CHECK(std::none_of(t.begin(), t.end(), [](const std::string& s) { return s.find("CNAME") != std::string::npos; }));
    CHECK(std::none_of(t.begin(), t.end(), [](const std::string& s) { return s.find("192.0.2.50") != std::string::npos; }));
  }
  // Without replacements the flattened CNAME and the proxied address are left out, nothing else.
  auto unreplaced = xfr::transfer_rrs(z, {});
  CHECK(unreplaced.size() + 2 == zone::zone_rrs(*z).size());
}

TEST_CASE("TransferParser: an IXFR written by IxfrWriter reads back as the changeset") {
  zone::Changeset cs;
  cs.serial_from = 10;
  cs.serial_to = 11;
  cs.removed = {soa(10), a("old.example.test.", 1), a("www.example.test.", 2)};
  cs.added = {soa(11), a("new.example.test.", 3), a("www.example.test.", 4, 60)};
  for (int i = 0; i < 200; ++i) cs.added.push_back(a("h" + std::to_string(i) + ".example.test.", uint8_t(i)));
  for (size_t limit : {65535u, 512u}) {
    CAPTURE(limit);
    xfr::IxfrWriter w(cs);
    auto msgs = stream(w, limit, rrtype::IXFR);
    if (limit == 512) CHECK(msgs.size() > 1);
    CHECK(w.serial() == 11);
    Parsed p = parse(msgs, rrtype::IXFR, 10);
    CHECK(p.status == TransferParser::Status::done);
    CHECK(p.result.kind == InboundTransfer::Kind::incremental);
    CHECK(p.result.serial == 11);
    REQUIRE(p.result.changesets.size() == 1);
    CHECK(p.result.changesets[0] == cs);
    CHECK(p.result.records.empty());
    CHECK(p.result.rrs == w.records());
  }
}

TEST_CASE("TransferParser: IXFR with two chained difference sequences, split anywhere") {
  zone::Changeset first{10, 11, {soa(10), a("a.example.test.", 1)}, {soa(11), a("b.example.test.", 2)}};
  zone::Changeset second{11, 12, {soa(11), a("b.example.test.", 2)}, {soa(12), a("c.example.test.", 3), ns()}};
  std::vector<JournalRR> all = {soa(12)};
  for (const auto* cs : {&first, &second}) {
    all.insert(all.end(), cs->removed.begin(), cs->removed.end());
    all.insert(all.end(), cs->added.begin(), cs->added.end());
  }
  all.push_back(soa(12));
  for (size_t per_message : {all.size(), size_t(1), size_t(2), size_t(3)}) {
    CAPTURE(per_message);
    std::vector<std::vector<uint8_t>> msgs;
    for (size_t i = 0; i < all.size(); i += per_message) {
      std::vector<JournalRR> part(all.begin() + ptrdiff_t(i), all.begin() + ptrdiff_t(std::min(all.size(), i + per_message)));
      // RFC 5936 §2.2.1: the question in the first message; later ones without it.
      msgs.push_back(message(raws(part), {.question = i == 0, .qtype = rrtype::IXFR}));
    }
    Parsed p = parse(msgs, rrtype::IXFR, 10);
    CHECK(p.status == TransferParser::Status::done);
    CHECK(p.result.error == "");
    CHECK(p.result.kind == InboundTransfer::Kind::incremental);
    CHECK(p.result.serial == 12);
    REQUIRE(p.result.changesets.size() == 2);
    CHECK(p.result.changesets[0] == first);
    CHECK(p.result.changesets[1] == second);
  }
}

TEST_CASE("TransferParser: IXFR answered with our SOA alone is up to date; with a whole zone, full") {
  auto ixfr = [](std::vector<JournalRR> rrs) { return message(raws(rrs), {.qtype = rrtype::IXFR}); };
  SUBCASE("our serial") {
    Parsed p = parse({ixfr({soa(12)})}, rrtype::IXFR, 12);
    CHECK(p.status == TransferParser::Status::done);
    CHECK(p.result.kind == InboundTransfer::Kind::up_to_date);
    CHECK(p.result.serial == 12);
  }
  SUBCASE("an older serial than ours") {
    Parsed p = parse({ixfr({soa(11)})}, rrtype::IXFR, 12);
    CHECK(p.status == TransferParser::Status::done);
    CHECK(p.result.kind == InboundTransfer::Kind::up_to_date);
  }
  SUBCASE("a newer serial alone waits for more (RFC 1995 §4), and stopping there is an error") {
    TransferParser parser(view(origin), id, rrtype::IXFR, 10, 0);
    CHECK(parser.feed(ixfr({soa(12)})) == TransferParser::Status::more);
    InboundTransfer t = parser.take();
    CHECK(t.kind == InboundTransfer::Kind::failed);
    CHECK(t.error.find("closing SOA") != std::string::npos);
  }
  SUBCASE("the whole zone") {
    Parsed p = parse({ixfr({soa(12), ns(), a("ns1.example.test.", 1)}), message(raws({a("www.example.test.", 2), soa(12)}), {.question = false})},
                     rrtype::IXFR, 10);
    CHECK(p.status == TransferParser::Status::done);
    CHECK(p.result.kind == InboundTransfer::Kind::full);
    CHECK(p.result.serial == 12);
    CHECK(p.result.records == std::vector<JournalRR>{soa(12), ns(), a("ns1.example.test.", 1), a("www.example.test.", 2)});
    CHECK(p.result.changesets.empty());
  }
  SUBCASE("an AXFR of a zone holding only its SOA") {
    Parsed p = parse({message(raws({soa(5), soa(5)}))});
    CHECK(p.status == TransferParser::Status::done);
    CHECK(p.result.kind == InboundTransfer::Kind::full);
    CHECK(p.result.records == std::vector<JournalRR>{soa(5)});
  }
}

namespace {

// A pointer to offset `at`.
std::string ptr(size_t at) { return std::string{char(0xC0 | (at >> 8)), char(at & 0xFF)}; }

// Where the answer section of message({...}) with the default question begins.
const size_t answer_at = 12 + origin.size() + 4;

struct ErrorCase {
  std::string what;
  std::vector<std::vector<uint8_t>> msgs;
  const char* error;  // a part of the message
  uint16_t qtype = rrtype::AXFR;
  std::optional<uint32_t> have = std::nullopt;
  uint64_t max_bytes = 0;
};

}  // namespace

TEST_CASE("TransferParser: every malformed or hostile answer is an error saying why") {
  const std::vector<JournalRR> zone = {soa(7), ns(), a("ns1.example.test.", 1)};
  auto zone_plus = [&](std::vector<RawRR> extra, bool closing = true) {
    std::vector<RawRR> rrs = raws(zone);
    rrs.insert(rrs.end(), extra.begin(), extra.end());
    if (closing) rrs.push_back(raw(soa(7)));
    return rrs;
  };
  std::string other_soa_rdata = soa_rdata(7);
  std::string cname_self;  // a CNAME whose RDATA points at itself
  {
    std::vector<uint8_t> m = message(raws(zone));
    size_t rdata_at = m.size() + origin.size() + 10;  // owner written in full, then type..rdlength
    cname_self = ptr(rdata_at);
  }
  std::vector<uint8_t> zone_msg = message(raws(zone));
  const size_t next_rr_at = zone_msg.size();
  std::vector<uint8_t> two_questions = message(zone_plus({}));
  two_questions[5] = 2;  // qdcount 2 (only one is there: malformed either way)

  std::vector<ErrorCase> cases = {
      {"wrong ID", {message(zone_plus({}), {.id = uint16_t(id + 1)})}, "another ID"},
      {"QR=0", {message(zone_plus({}), {.qr = false})}, "not a response"},
      {"opcode NOTIFY", {message(zone_plus({}), {.opcode = 4})}, "opcode 4"},
      {"REFUSED", {message({}, {.rcode = wire::rcode::REFUSED})}, "REFUSED"},
      {"NOTIMP", {message({}, {.rcode = wire::rcode::NOTIMP})}, "NOTIMP"},
      {"NOTAUTH", {message({}, {.rcode = wire::rcode::NOTAUTH})}, "NOTAUTH"},
      {"TC set", {message(zone_plus({}), {.tc = true})}, "truncated"},
      {"a message shorter than a header", {std::vector<uint8_t>{0x2a, 0x2a, 0x84}}, "shorter"},
      {"no question in the first message", {message(zone_plus({}), {.question = false})}, "question count"},
      {"two questions", {two_questions}, "question count"},
      {"question for another name", {message(zone_plus({}), {.qname = test::wire_name("other.test.")})},
       "question other than"},
      {"question for another type", {message(zone_plus({}), {.qtype = rrtype::IXFR})}, "question other than"},
      {"question of class CH", {message(zone_plus({}), {.qclass = wire::rrclass::CH})}, "question other than"},
      {"first record not SOA", {message(raws({ns(), soa(7), soa(7)}))}, "first record"},
      {"SOA of another zone first",
       {message({{test::wire_name("other.test."), rrtype::SOA, 3600, soa_rdata(7)}, raw(soa(7))})},
       "another zone"},
      {"SOA of a child zone inside",
       {message(zone_plus({{test::wire_name("sub.example.test."), rrtype::SOA, 3600, soa_rdata(7)}}))},
       "another zone"},
      {"closing SOA serial differs", {message(zone_plus({raw(soa(8))}, false))}, "serial differs"},
      {"closing SOA serial differs, zone of SOA only", {message(raws({soa(7), soa(8)}))}, "serial differs"},
      {"class CH record", {message(zone_plus({{lname("www.example.test."), rrtype::A, 300, "\x01\x02\x03\x04", 3}}))},
       "class 3"},
      {"records after the closing SOA",
       {message(zone_plus({raw(soa(7)), raw(a("late.example.test.", 9))}, false))},
       "after the closing SOA"},
      {"max_bytes exceeded", {message(zone_plus({}))}, "max_zone_size", rrtype::AXFR, std::nullopt, 60},
      {"rdlength past the end",
       {message({raw(soa(7)), {lname("www.example.test."), rrtype::A, 300, "\x01\x02\x03\x04", wire::rrclass::IN, 100}})},
       "malformed record"},
      {"RDATA shorter than its type needs (MX)",
       {message(zone_plus({{lname("mx.example.test."), rrtype::MX, 300, std::string(1, '\0')}}))},
       "malformed RDATA"},
      {"RDATA longer than its names (CNAME)",
       {message(zone_plus({{lname("c.example.test."), rrtype::CNAME, 300, lname("x.example.test.") + "zz"}}))},
       "malformed RDATA"},
      {"SOA RDATA too short", {message({{origin, rrtype::SOA, 300, lname("a.") + lname("b.") + std::string("\0\0\0\1", 4)}})}, "SOA"},
      {"owner pointer loop", {message(zone_plus({{ptr(next_rr_at), rrtype::A, 300, "\x01\x02\x03\x04"}}, false))},
       "malformed record"},
      {"owner forward pointer",
       {message(zone_plus({{ptr(next_rr_at + 2), rrtype::A, 300, "\x01\x02\x03\x04"}}, false))}, "malformed record"},
      {"RDATA pointer loop", {message(zone_plus({{origin, rrtype::CNAME, 300, cname_self}}, false))}, "malformed RDATA"},
      {"TSIG in the answer section", {message(zone_plus({{origin, 250, 0, std::string(20, '\0')}}))}, "TSIG"},
      {"OPT in the answer section", {message(zone_plus({{std::string(1, '\0'), rrtype::OPT, 0, ""}}))}, "OPT"},
      {"difference sequences that do not chain",
       {message(raws({soa(12), soa(10), a("a.example.test.", 1), soa(11), a("b.example.test.", 2), soa(9),
                      a("c.example.test.", 3), soa(12), soa(12)}),
                {.qtype = rrtype::IXFR})},
       "do not chain",
       rrtype::IXFR,
       10},
      {"a difference sequence that does not move forward",
       {message(raws({soa(12), soa(10), a("a.example.test.", 1), soa(10), soa(12)}), {.qtype = rrtype::IXFR})},
       "forward",
       rrtype::IXFR,
       10},
  };
  for (const ErrorCase& c : cases) {
    CAPTURE(c.what);
    Parsed p = parse(c.msgs, c.qtype, c.have, c.max_bytes);
    CHECK(p.status == TransferParser::Status::error);
    CHECK(p.result.kind == InboundTransfer::Kind::failed);
    CHECK_MESSAGE(p.result.error.find(c.error) != std::string::npos, p.result.error);
  }
}

TEST_CASE("TransferParser: after an error or the end, nothing more is taken") {
  TransferParser p(view(origin), id, rrtype::AXFR, std::nullopt, 0);
  CHECK(p.feed(message(raws({soa(7), ns()}), {.id = 1})) == TransferParser::Status::error);
  CHECK(p.feed(message(raws({soa(7), ns(), soa(7)}))) == TransferParser::Status::error);
  CHECK(p.take().kind == InboundTransfer::Kind::failed);

  TransferParser q(view(origin), id, rrtype::AXFR, std::nullopt, 0);
  CHECK(q.feed(message(raws({soa(7), ns(), soa(7)}))) == TransferParser::Status::done);
  CHECK(q.feed(message(raws({a("x.example.test.", 1)}), {.question = false})) == TransferParser::Status::done);
  InboundTransfer t = q.take();
  CHECK(t.kind == InboundTransfer::Kind::full);
  CHECK(t.records.size() == 2);
}

TEST_CASE("TransferParser: take() on an unfinished stream is an error") {
  TransferParser p(view(origin), id, rrtype::AXFR, std::nullopt, 0);
  CHECK(p.feed(message(raws({soa(7), ns(), a("ns1.example.test.", 1)}))) == TransferParser::Status::more);
  CHECK(p.feed(message(raws({a("www.example.test.", 2)}), {.question = false})) == TransferParser::Status::more);
  InboundTransfer t = p.take();
  CHECK(t.kind == InboundTransfer::Kind::failed);
  CHECK(t.error == "the transfer ended before its closing SOA");

  TransferParser nothing(view(origin), id, rrtype::AXFR, std::nullopt, 0);
  CHECK(nothing.take().kind == InboundTransfer::Kind::failed);
}

TEST_CASE("TransferParser: the byte budget counts RR bytes and allows exactly max_bytes") {
  std::vector<uint8_t> m = message(raws({soa(7), ns(), soa(7)}));
  uint64_t rr_bytes = m.size() - answer_at;
  CHECK(parse({m}, rrtype::AXFR, std::nullopt, rr_bytes).status == TransferParser::Status::done);
  CHECK(parse({m}, rrtype::AXFR, std::nullopt, rr_bytes).result.bytes == rr_bytes);
  CHECK(parse({m}, rrtype::AXFR, std::nullopt, rr_bytes - 1).status == TransferParser::Status::error);
}

TEST_CASE("TransferParser: RDATA names compressed with pointers are decompressed and lowercased") {
  // The question name is "Example.TEST." at offset 12: 0xC00C is the origin, in capitals.
  const std::string qname = "\x07" "Example" "\x04" "TEST" + std::string(1, '\0');
  const std::string o = ptr(12);
  std::string soa_compressed = "\x03" "NS1" + o + "\x0a" "HostMaster" + o;
  for (uint32_t v : {42u, 7200u, 3600u, 1209600u, 300u}) put_u32(soa_compressed, v);
  std::string naptr = std::string("\x00\x0a\x00\x64", 4) + "\x01" "U" + "\x07" "E2U+sip" + "\x04" "!A!B" + "\x03" "Nap" + o;
  std::string unknown = ptr(12) + "\x03" "ABC";  // TYPE65280: bytes, never a name
  std::vector<RawRR> rrs = {
      {o, rrtype::SOA, 3600, soa_compressed},
      {o, rrtype::NS, 3600, "\x03" "NS2" + o},
      {"\x04" "Mail" + o, rrtype::MX, 300, std::string("\x00\x0a", 2) + "\x02" "MX" + o},
      {"\x04" "_sip" "\x04" "_tcp" + o, rrtype::SRV, 300, std::string("\x00\x01\x00\x02\x13\xc4", 6) + "\x03" "SIP" + o},
      {o, rrtype::NAPTR, 300, naptr},
      {"\x03" "Www" + o, rrtype::CNAME, 300, "\x04" "Host" + o},
      {"\x03" "txt" + o, rrtype::TXT, 300, "\x05" "HeLLo"},
      {o, 65280, 300, unknown},
      {test::wire_name("other.test."), rrtype::A, 300, "\x01\x02\x03\x04"},  // outside the zone
      {o, rrtype::SOA, 3600, soa_compressed},
  };
  Parsed p = parse({message(rrs, {.qname = qname})});
  REQUIRE(p.status == TransferParser::Status::done);
  CHECK(p.skipped == 1);
  std::string soa_plain = lname("ns1.example.test.") + lname("hostmaster.example.test.");
  for (uint32_t v : {42u, 7200u, 3600u, 1209600u, 300u}) put_u32(soa_plain, v);
  std::vector<JournalRR> expected = {
      {origin, rrtype::SOA, 3600, soa_plain},
      {origin, rrtype::NS, 3600, lname("ns2.example.test.")},
      {lname("mail.example.test."), rrtype::MX, 300, std::string("\x00\x0a", 2) + lname("mx.example.test.")},
      {lname("_sip._tcp.example.test."), rrtype::SRV, 300, std::string("\x00\x01\x00\x02\x13\xc4", 6) + lname("sip.example.test.")},
      {origin, rrtype::NAPTR, 300,
       std::string("\x00\x0a\x00\x64", 4) + "\x01" "U" + "\x07" "E2U+sip" + "\x04" "!A!B" + lname("nap.example.test.")},
      {lname("www.example.test."), rrtype::CNAME, 300, lname("host.example.test.")},
      {lname("txt.example.test."), rrtype::TXT, 300, "\x05" "HeLLo"},  // byte for byte, letter case kept
      {origin, 65280, 300, unknown},                                   // the "pointer" kept as bytes
  };
  CHECK(p.result.records == expected);
  CHECK(p.result.serial == 42);
}

TEST_CASE("soa_rdata_serial") {
  auto bytes = [](const std::string& s) { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  std::string good = soa_rdata(2024010101);
  CHECK(xfr::soa_rdata_serial(bytes(good)) == 2024010101);
  std::string r = soa_rdata(0xFFFFFFFF);
  CHECK(xfr::soa_rdata_serial(bytes(r)) == 0xFFFFFFFF);
  std::string just_serial = lname("a.") + lname("b.");
  put_u32(just_serial, 99);
  CHECK(xfr::soa_rdata_serial(bytes(just_serial)) == 99);  // the serial is there; the rest need not be
  CHECK(xfr::soa_rdata_serial(bytes(just_serial.substr(0, just_serial.size() - 1))) == 0);
  CHECK(xfr::soa_rdata_serial(bytes(lname("a."))) == 0);
  CHECK(xfr::soa_rdata_serial(bytes("")) == 0);
  CHECK(xfr::soa_rdata_serial(bytes("\x05" "ab")) == 0);  // a label running past the end
}
