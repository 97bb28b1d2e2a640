// Tests for zone/wire/query (and the Reader under it): hostile packets map to drop / FORMERR / ok.
#include "zone/wire/query.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using wire::ParseStatus;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes header(uint16_t qd, uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0, uint8_t flags_hi = 0x01,
             uint8_t flags_lo = 0) {
  Bytes p = {0xab, 0xcd, flags_hi, flags_lo};
  for (uint16_t v : {qd, an, ns, ar}) test::put_u16(p, v);
  return p;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes name(const char* text) {
  std::string n = test::wire_name(text);
  return Bytes(n.begin(), n.end());
}

Bytes drop_tail(Bytes p, size_t n) {
  p.resize(p.size() - n);
  return p;
}

// Type A, class IN.
const Bytes a_in = {0, 1, 0, 1};
const Bytes root = {0};

// An OPT RR with the given owner bytes: payload, extended rcode, version, flags, no options.
Bytes opt(Bytes owner = root, uint16_t payload = 1232, uint8_t version = 0, bool dnssec_ok = false) {
  Bytes p = owner;
  test::put_u16(p, 41);
  test::put_u16(p, payload);
  p.push_back(0);
  p.push_back(version);
  test::put_u16(p, dnssec_ok ? 0x8000 : 0);
  test::put_u16(p, 0);
  return p;
}

// An OPT RR at the root whose RDATA is `rdata` (RFC 6891 §6.1.2 options).
Bytes opt_with(Bytes rdata) {
  Bytes p = drop_tail(opt(), 2);
  test::put_u16(p, uint16_t(rdata.size()));
  p.insert(p.end(), rdata.begin(), rdata.end());
  return p;
}

// A record owned by `owner`, type A, class IN, TTL 0, with `rdlen` bytes of RDATA.
Bytes rr(Bytes owner, uint16_t rdlen = 4) {
  Bytes p = owner;
  for (uint16_t v : {uint16_t(1), uint16_t(1), uint16_t(0), uint16_t(0), rdlen}) test::put_u16(p, v);
  p.insert(p.end(), rdlen, 0x7f);
  return p;
}

// `labels63` labels of 63 bytes, then one of `last` bytes (none when 0), then the root.
Bytes long_name(size_t labels63, size_t last) {
  Bytes p;
  for (size_t i = 0; i < labels63; ++i) {
    p.push_back(63);
    p.insert(p.end(), 63, 'x');
  }
  if (last) {
    p.push_back(uint8_t(last));
    p.insert(p.end(), last, 'y');
  }
  p.push_back(0);
  return p;
}

// A query whose additional section holds `n` A records, each owner a pointer to the previous
// record's owner (the first points to the qname): the n-th owner takes n pointer hops.
Bytes pointer_chain(int n) {
  Bytes p = cat({header(1, 0, 0, uint16_t(n)), name("a."), a_in});
  size_t previous = 12;
  for (int i = 0; i < n; ++i) {
    size_t here = p.size();
    p.push_back(uint8_t(0xc0 | previous >> 8));
    p.push_back(uint8_t(previous));
    for (uint16_t v : {uint16_t(1), uint16_t(1), uint16_t(0), uint16_t(0), uint16_t(0)}) test::put_u16(p, v);
    previous = here;
  }
  return p;
}

struct Case {
  std::string what;
  Bytes packet;
  ParseStatus expected;
};

}  // namespace

TEST_CASE("parse_query: hostile packets") {
  const Bytes q = name("www.example.com.");
  const std::vector<Case> cases = {
      // RFC 1035 §4.1.1: too short for a header, or not a query at all → silence.
      {"empty packet", {}, ParseStatus::drop},
      {"11 bytes", Bytes(11, 0), ParseStatus::drop},
      {"QR=1 (a response)", cat({header(1, 0, 0, 0, 0x81), q, a_in}), ParseStatus::drop},
      {"QR=1 and garbage", cat({header(7, 0, 0, 0, 0x80), {0xff, 0xff}}), ParseStatus::drop},
      // The question cannot be decoded → FORMERR without a question.
      {"header only, qdcount 0", header(0), ParseStatus::formerr_noq},
      {"qdcount 0 with a question after it", cat({header(0), q, a_in}), ParseStatus::formerr_noq},
      {"qdcount 2", cat({header(2), q, a_in, q, a_in}), ParseStatus::formerr_noq},
      {"qdcount 1, nothing after the header", header(1), ParseStatus::formerr_noq},
      {"pointer to itself", cat({header(1), {0xc0, 12}, a_in}), ParseStatus::formerr_noq},
      {"pointer loop through a label", cat({header(1), {1, 'a', 0xc0, 12}, a_in}), ParseStatus::formerr_noq},
      {"forward pointer", cat({header(1), {0xc0, 18}, a_in, {1, 'a', 0}}), ParseStatus::formerr_noq},
      {"pointer past the end", cat({header(1), {0xc0, 0xff}, a_in}), ParseStatus::formerr_noq},
      {"pointer missing its second byte", cat({header(1), {1, 'a', 0xc0}}), ParseStatus::formerr_noq},
      {"label of 64 (0x40 label type)", cat({header(1), {0x40}, Bytes(64, 'a'), {0}, a_in}),
       ParseStatus::formerr_noq},
      {"0x80 label type", cat({header(1), {0x80, 0}, a_in}), ParseStatus::formerr_noq},
      {"name of 256 bytes", cat({header(1), long_name(3, 62), a_in}), ParseStatus::formerr_noq},
      {"name of 320 bytes", cat({header(1), long_name(4, 62), a_in}), ParseStatus::formerr_noq},
      {"label runs past the end", cat({header(1), {10, 'a', 'b'}}), ParseStatus::formerr_noq},
      {"name without its root label", cat({header(1), {3, 'c', 'o', 'm'}}), ParseStatus::formerr_noq},
      {"question without qclass", cat({header(1), q, {0, 1}}), ParseStatus::formerr_noq},
      {"question with half a qtype", cat({header(1), q, {0}}), ParseStatus::formerr_noq},
      // The question is fine but the rest is not → FORMERR with the question.
      {"trailing garbage", cat({header(1), q, a_in, {0xde}}), ParseStatus::formerr},
      {"trailing garbage after OPT", cat({header(1, 0, 0, 1), q, a_in, opt(), {0, 0}}), ParseStatus::formerr},
      {"ancount 1 but no answer", cat({header(1, 1), q, a_in}), ParseStatus::formerr},
      {"record RDATA cut short", cat({header(1, 0, 0, 1), q, a_in, drop_tail(rr(root), 1)}), ParseStatus::formerr},
      {"record with a forward-pointer owner", cat({header(1, 0, 0, 1), q, a_in, rr({0xc0, 0xf0})}),
       ParseStatus::formerr},
      {"two OPT records", cat({header(1, 0, 0, 2), q, a_in, opt(), opt()}), ParseStatus::formerr},
      {"OPT with a non-root owner", cat({header(1, 0, 0, 1), q, a_in, opt(name("example."))}), ParseStatus::formerr},
      {"OPT owner compressed to the qname", cat({header(1, 0, 0, 1), q, a_in, opt({0xc0, 12})}),
       ParseStatus::formerr},
      {"OPT in the answer section", cat({header(1, 1), q, a_in, opt()}), ParseStatus::formerr},
      {"OPT in the authority section", cat({header(1, 0, 1), q, a_in, opt()}), ParseStatus::formerr},
      {"truncated OPT (no RDLENGTH)", cat({header(1, 0, 0, 1), q, a_in, drop_tail(opt(), 2)}), ParseStatus::formerr},
      {"truncated OPT (half a TTL)", cat({header(1, 0, 0, 1), q, a_in, drop_tail(opt(), 5)}), ParseStatus::formerr},
      {"17 pointer hops in a record owner", pointer_chain(17), ParseStatus::formerr},
      {"OPT option longer than the RDATA", cat({header(1, 0, 0, 1), q, a_in, opt_with({0, 10, 0, 8, 1, 2})}),
       ParseStatus::formerr},
      {"OPT option cut inside its header", cat({header(1, 0, 0, 1), q, a_in, opt_with({0, 10, 0})}),
       ParseStatus::formerr},
      // Well-formed.
      {"plain query", cat({header(1), q, a_in}), ParseStatus::ok},
      {"query with OPT", cat({header(1, 0, 0, 1), q, a_in, opt()}), ParseStatus::ok},
      {"OPT with a cookie option", cat({header(1, 0, 0, 1), q, a_in, opt_with({0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})}),
       ParseStatus::ok},
      {"OPT with two options, one empty",
       cat({header(1, 0, 0, 1), q, a_in, opt_with({0, 12, 0, 0, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})}), ParseStatus::ok},
      {"name of exactly 255 bytes", cat({header(1), long_name(3, 61), a_in}), ParseStatus::ok},
      {"root qname", cat({header(1), root, a_in}), ParseStatus::ok},
      {"16 pointer hops in a record owner", pointer_chain(16), ParseStatus::ok},
      {"an A record beside the OPT", cat({header(1, 0, 0, 2), q, a_in, rr({0xc0, 12}), opt()}), ParseStatus::ok},
      {"records in answer and authority", cat({header(1, 1, 1), q, a_in, rr({0xc0, 12}), rr(root, 0)}),
       ParseStatus::ok},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    wire::Query parsed;
    CHECK(wire::parse_query(c.packet, parsed) == c.expected);
  }
}

TEST_CASE("parse_query: header, question and EDNS fields are decoded") {
  const Bytes q = name("WwW.ExAmple.COM.");
  struct Case {
    std::string what;
    Bytes packet;
    bool edns;
    uint16_t payload;
    uint8_t version;
    bool dnssec_ok;
  };
  const std::vector<Case> cases = {
      {"no EDNS", cat({header(1), q, {0, 28, 0, 1}}), false, 0, 0, false},
      {"EDNS 1232", cat({header(1, 0, 0, 1), q, {0, 28, 0, 1}, opt(root, 1232)}), true, 1232, 0, false},
      {"EDNS 4096 + DO", cat({header(1, 0, 0, 1), q, {0, 28, 0, 1}, opt(root, 4096, 0, true)}), true, 4096, 0, true},
      {"EDNS version 1", cat({header(1, 0, 0, 1), q, {0, 28, 0, 1}, opt(root, 512, 1)}), true, 512, 1, false},
      {"EDNS payload 100", cat({header(1, 0, 0, 1), q, {0, 28, 0, 1}, opt(root, 100)}), true, 100, 0, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    wire::Query parsed;
    REQUIRE(wire::parse_query(c.packet, parsed) == ParseStatus::ok);
    CHECK(parsed.header.id == 0xabcd);
    CHECK(parsed.header.rd);
    CHECK_FALSE(parsed.header.qr);
    CHECK(parsed.header.opcode == 0);
    CHECK(parsed.qtype == wire::rrtype::AAAA);
    CHECK(parsed.qclass == wire::rrclass::IN);
    CHECK(wire::name_to_text(parsed.qname.view()) == "WwW.ExAmple.COM.");
    CHECK(wire::name_to_text(parsed.qname_lower.view()) == "www.example.com.");
    CHECK(parsed.question_end == 12 + q.size() + 4);
    CHECK(parsed.edns.present == c.edns);
    CHECK(parsed.edns.payload == c.payload);
    CHECK(parsed.edns.version == c.version);
    CHECK(parsed.edns.dnssec_ok == c.dnssec_ok);
  }
}

TEST_CASE("parse_header: every flag and count") {
  const Bytes h = {0x12, 0x34, 0x7d, 0x10, 0, 1, 0, 2, 0, 3, 0x01, 0x04};
  // 0x7d = 0 1111 1 0 1: QR=0, opcode 15, AA, RD; 0x10: CD.
  wire::Header got = wire::parse_header(h);
  CHECK(got.id == 0x1234);
  CHECK_FALSE(got.qr);
  CHECK(got.opcode == 15);
  CHECK(got.rd);
  CHECK(got.cd);
  CHECK(got.qdcount == 1);
  CHECK(got.ancount == 2);
  CHECK(got.nscount == 3);
  CHECK(got.arcount == 0x0104);

  wire::Header plain = wire::parse_header(Bytes{0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(plain.qr);
  CHECK_FALSE(plain.rd);
  CHECK_FALSE(plain.cd);
  CHECK(plain.opcode == 0);
}

TEST_CASE("parse_query: opcode and a compressed name into the header are reported as read") {
  // Opcode 2 (STATUS) parses fine; refusing it is the handler's job.
  Bytes status = cat({header(1, 0, 0, 0, 0x10), name("example."), a_in});
  wire::Query parsed;
  REQUIRE(wire::parse_query(status, parsed) == ParseStatus::ok);
  CHECK(parsed.header.opcode == 2);
}

TEST_CASE("Reader: integers and names never read past the end") {
  const Bytes p = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
  wire::Reader r(p);
  uint8_t b = 0;
  uint16_t s = 0;
  uint32_t l = 0;
  CHECK(r.u8(b));
  CHECK(b == 0x01);
  CHECK(r.u16(s));
  CHECK(s == 0x0203);
  CHECK(r.u32(l));
  CHECK(l == 0x04050607);
  CHECK(r.at_end());
  CHECK_FALSE(r.u8(b));
  CHECK_FALSE(r.u16(s));
  CHECK_FALSE(r.u32(l));
  CHECK_FALSE(r.skip(1));
  CHECK(r.skip(0));

  // A compressed name leaves the reader just past the pointer.
  Bytes pkt = cat({Bytes(12, 0), name("example.com."), {3, 'w', 'w', 'w', 0xc0, 12, 0xee}});
  wire::Reader names(pkt, 12);
  wire::NameBuf n;
  REQUIRE(names.name(n));
  CHECK(names.pos() == 12 + 13);
  REQUIRE(names.name(n));
  CHECK(wire::name_to_text(n.view()) == "www.example.com.");
  CHECK(names.pos() == pkt.size() - 1);
  CHECK(names.remaining() == 1);
}
