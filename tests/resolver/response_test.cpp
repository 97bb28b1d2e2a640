// Upstream response parsing: matching, CNAME chains, negative TTLs, and hostile answers.
#include "resolver/response.hpp"

#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "tests/resolver/fake_upstream.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using test::rview;
namespace rrtype = wire::rrtype;

namespace {

struct Rr {
  const char* owner;
  uint16_t type;
  uint32_t ttl;
  std::string rdata;  // wire
};

std::string a(uint8_t last) { return std::string("\xc0\x00\x02", 3) + char(last); }
std::string name(const char* t) { return test::rname(t); }
std::string soa(uint32_t minimum) {
  std::string r = name("ns.test.") + name("h.test.");
  for (uint32_t v : {1u, 3600u, 600u, 86400u, minimum}) {
    r += char(v >> 24);
    r += char(v >> 16);
    r += char(v >> 8);
    r += char(v);
  }
  return r;
}

std::vector<uint8_t> response(uint16_t id, const char* qname, uint16_t qtype, uint16_t rc, std::vector<Rr> answers,
                              std::vector<Rr> authority = {}, bool tc = false) {
  std::vector<uint8_t> buf(4096);
  wire::PacketWriter w(buf, buf.size());
  wire::Header h;
  h.id = id;
  h.rd = true;
  w.begin_response(h);
  std::string q = name(qname);
  REQUIRE(w.put_question(rview(q), qtype, wire::rrclass::IN));
  for (auto& r : answers) {
    std::string o = name(r.owner);
    REQUIRE(w.put_rr(wire::Section::answer, rview(o), r.type, 1, r.ttl,
                     {reinterpret_cast<const uint8_t*>(r.rdata.data()), r.rdata.size()}));
  }
  for (auto& r : authority) {
    std::string o = name(r.owner);
    REQUIRE(w.put_rr(wire::Section::authority, rview(o), r.type, 1, r.ttl,
                     {reinterpret_cast<const uint8_t*>(r.rdata.data()), r.rdata.size()}));
  }
  w.set_rcode(rc);
  if (tc) w.set_tc();
  buf.resize(w.size());
  return buf;
}

resolver::ParsedResponse parse(const std::vector<uint8_t>& pkt, uint16_t id = 77, const char* q = "app.test.",
                               uint16_t type = rrtype::A) {
  std::string qn = name(q);
  return resolver::parse_response(pkt, id, rview(qn), type);
}

}  // namespace

TEST_CASE("response: addresses at the queried name") {
  auto p = parse(response(77, "app.test.", rrtype::A, 0, {{"app.test.", rrtype::A, 60, a(1)}, {"app.test.", rrtype::A, 30, a(2)}}));
  REQUIRE(p.kind == resolver::ResponseKind::answered);
  CHECK(p.resolution.outcome == resolver::Outcome::addresses);
  CHECK(p.resolution.rdata.size() == 2);
  CHECK(p.resolution.ttl == 30);
}

TEST_CASE("response: a CNAME chain inside the answer is followed; TTL is the chain minimum") {
  auto p = parse(response(77, "app.test.", rrtype::A, 0,
                          {{"app.test.", rrtype::CNAME, 20, name("mid.test.")},
                           {"mid.test.", rrtype::CNAME, 300, name("end.other.")},
                           {"end.other.", rrtype::A, 600, a(9)},
                           {"unrelated.test.", rrtype::A, 1, a(8)}}));
  REQUIRE(p.kind == resolver::ResponseKind::answered);
  CHECK(p.resolution.outcome == resolver::Outcome::addresses);
  REQUIRE(p.resolution.rdata.size() == 1);
  CHECK(p.resolution.rdata[0] == a(9));
  CHECK(p.resolution.ttl == 20);
}

TEST_CASE("response: the question is matched case-insensitively") {
  auto p = parse(response(77, "APP.Test.", rrtype::A, 0, {{"app.TEST.", rrtype::A, 60, a(1)}}));
  CHECK(p.resolution.outcome == resolver::Outcome::addresses);
}

TEST_CASE("response: anything not answering our query is a mismatch (spoofing defence)") {
  auto good = response(77, "app.test.", rrtype::A, 0, {{"app.test.", rrtype::A, 60, a(1)}});
  CHECK(parse(good, 78).kind == resolver::ResponseKind::mismatch);                       // wrong ID
  CHECK(parse(good, 77, "other.test.").kind == resolver::ResponseKind::mismatch);       // wrong name
  CHECK(parse(good, 77, "app.test.", rrtype::AAAA).kind == resolver::ResponseKind::mismatch);  // wrong type
  auto query = good;
  query[2] &= 0x7F;  // QR=0
  CHECK(parse(query).kind == resolver::ResponseKind::mismatch);
  CHECK(parse(std::vector<uint8_t>(good.begin(), good.begin() + 11)).kind == resolver::ResponseKind::mismatch);
}

TEST_CASE("response: TC=1 asks for TCP") {
  CHECK(parse(response(77, "app.test.", rrtype::A, 0, {}, {}, true)).kind == resolver::ResponseKind::truncated);
}

TEST_CASE("response: negative answers carry min(SOA TTL, MINIMUM) (RFC 2308 §5)") {
  auto nx = parse(response(77, "app.test.", rrtype::A, wire::rcode::NXDOMAIN, {}, {{"test.", rrtype::SOA, 900, soa(120)}}));
  CHECK(nx.resolution.outcome == resolver::Outcome::nxdomain);
  CHECK(nx.resolution.ttl == 120);
  auto nodata = parse(response(77, "app.test.", rrtype::A, 0, {}, {{"test.", rrtype::SOA, 60, soa(120)}}));
  CHECK(nodata.resolution.outcome == resolver::Outcome::nodata);
  CHECK(nodata.resolution.ttl == 60);
  auto chain_nx = parse(response(77, "app.test.", rrtype::A, wire::rcode::NXDOMAIN,
                                 {{"app.test.", rrtype::CNAME, 10, name("gone.test.")}}, {{"test.", rrtype::SOA, 60, soa(120)}}));
  CHECK(chain_nx.resolution.outcome == resolver::Outcome::nxdomain);
  CHECK(chain_nx.resolution.ttl == 10);
}

TEST_CASE("response: SERVFAIL and REFUSED are failures; a CNAME loop is a failure") {
  for (uint16_t rc : {wire::rcode::SERVFAIL, wire::rcode::REFUSED, wire::rcode::NOTIMP}) {
    auto p = parse(response(77, "app.test.", rrtype::A, rc, {}));
    CHECK(p.kind == resolver::ResponseKind::answered);
    CHECK(p.resolution.outcome == resolver::Outcome::failure);
  }
  auto loop = parse(response(77, "app.test.", rrtype::A, 0,
                             {{"app.test.", rrtype::CNAME, 10, name("b.test.")}, {"b.test.", rrtype::CNAME, 10, name("app.test.")}}));
  CHECK(loop.resolution.outcome == resolver::Outcome::failure);
  auto ring = parse(response(77, "app.test.", rrtype::A, 0,
                             {{"app.test.", rrtype::CNAME, 10, name("b.test.")}, {"b.test.", rrtype::CNAME, 10, name("c.test.")},
                              {"c.test.", rrtype::CNAME, 10, name("b.test.")}}));
  CHECK(ring.resolution.outcome == resolver::Outcome::failure);
}

TEST_CASE("response: a chain that leaves the answer without a SOA is followed by another query") {
  auto p = parse(response(77, "app.test.", rrtype::A, 0, {{"app.test.", rrtype::CNAME, 40, name("Next.Other.")}}));
  REQUIRE(p.kind == resolver::ResponseKind::follow);
  CHECK(wire::name_to_text(p.next.view()) == "next.other.");
  CHECK(p.chain_ttl == 40);
}

TEST_CASE("response: malformed records are invalid data, never a crash") {
  auto bad_len = response(77, "app.test.", rrtype::A, 0, {{"app.test.", rrtype::A, 60, "\x01\x02\x03"}});
  CHECK(parse(bad_len).resolution.outcome == resolver::Outcome::failure);
  auto good = response(77, "app.test.", rrtype::A, 0, {{"app.test.", rrtype::A, 60, a(1)}});
  for (size_t cut = 12; cut < good.size(); ++cut) {
    auto p = parse(std::vector<uint8_t>(good.begin(), good.begin() + cut));
    CHECK(p.resolution.outcome != resolver::Outcome::addresses);
  }
}

TEST_CASE("response: build_query makes a recursive query with EDNS") {
  std::array<uint8_t, 512> buf;
  std::string q = name("app.test.");
  size_t n = resolver::build_query(buf, 0x1234, rview(q), rrtype::AAAA);
  REQUIRE(n == 12 + q.size() + 4 + 11);
  CHECK(buf[0] == 0x12);
  CHECK(buf[1] == 0x34);
  CHECK((buf[2] & 0x80) == 0);  // QR=0
  CHECK((buf[2] & 0x01) == 1);  // RD=1
  CHECK(buf[11] == 1);          // ARCOUNT: the OPT
}
