// Tests for zone/wire/packet_writer: compression, rollback, limits, OPT room, flags — every packet
// produced is decoded by ldns to prove it is well-formed.
#include "zone/wire/packet_writer.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using apexd::test::view;
using apexd::test::wire_name;
using wire::PacketWriter;
using wire::Section;
namespace rrtype = wire::rrtype;

namespace {

using Bytes = std::vector<uint8_t>;

std::span<const uint8_t> bytes(const std::string& s) { return view(s); }

Bytes tail(const PacketWriter& w, size_t from) { return Bytes(w.data().begin() + long(from), w.data().end()); }

// Big-endian u16 at `off` of the packet.
uint16_t at16(const PacketWriter& w, size_t off) { return uint16_t(w.data()[off] << 8 | w.data()[off + 1]); }

wire::Header query_header() {
  wire::Header h;
  h.id = 0xbeef;
  h.rd = true;
  h.cd = true;
  h.opcode = 0;
  return h;
}

std::string a_rdata(uint8_t last) { return std::string{char(192), char(0), char(2), char(last)}; }

// Starts a response with question `qname` A IN.
void start(PacketWriter& w, const char* qname) {
  w.begin_response(query_header());
  std::string q = wire_name(qname);
  REQUIRE(w.put_question(view(q), rrtype::A, wire::rrclass::IN));
}

test::Decoded decoded(const PacketWriter& w) {
  test::Decoded d = test::decode(w.data());
  REQUIRE(d.ok);
  return d;
}

}  // namespace

TEST_CASE("begin_response copies ID, opcode, RD and CD and sets QR") {
  std::array<uint8_t, 512> buf{};
  buf.fill(0xff);  // stale bytes must not leak into the header
  PacketWriter w(buf, buf.size());
  wire::Header h = query_header();
  h.opcode = 5;
  w.begin_response(h);
  CHECK(w.size() == wire::header_size);
  CHECK(at16(w, 0) == 0xbeef);
  CHECK(buf[2] == (0x80 | 5 << 3 | 0x01));
  CHECK(buf[3] == 0x10);
  for (size_t i = 4; i < 12; ++i) CHECK(buf[i] == 0);
  CHECK_FALSE(w.tc());
}

TEST_CASE("compression: a repeated name becomes a pointer, a shared suffix a label plus pointer") {
  std::array<uint8_t, 512> buf{};
  PacketWriter w(buf, buf.size());
  start(w, "www.example.com.");  // question name at offset 12; "example.com." at 16, "com." at 24
  const size_t after_question = w.size();
  CHECK(after_question == 12 + 17 + 4);

  struct Case {
    std::string owner;
    Bytes owner_wire;  // expected encoding of the owner
  };
  const std::vector<Case> cases = {
      {"www.example.com.", {0xc0, 12}},
      {"WWW.EXAMPLE.COM.", {0xc0, 12}},  // RFC 1035 §4.1.4 compares case-insensitively
      {"mail.example.com.", {4, 'm', 'a', 'i', 'l', 0xc0, 16}},
      {"com.", {0xc0, 24}},
      {"example.org.", {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0}},
      {".", {0}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.owner);
    size_t before = w.size();
    std::string owner = wire_name(c.owner);
    REQUIRE(w.put_rr(Section::answer, view(owner), rrtype::A, wire::rrclass::IN, 300, bytes(a_rdata(1))));
    Bytes got = tail(w, before);
    REQUIRE(got.size() >= c.owner_wire.size());
    CHECK(Bytes(got.begin(), got.begin() + long(c.owner_wire.size())) == c.owner_wire);
  }
  // A name written after a suffix match is itself a target: mail.example.com. now points back.
  size_t before = w.size();
  std::string mail = wire_name("mail.example.com.");
  REQUIRE(w.put_rr(Section::answer, view(mail), rrtype::A, wire::rrclass::IN, 300, bytes(a_rdata(2))));
  CHECK(tail(w, before)[0] == 0xc0);

  test::Decoded d = decoded(w);
  CHECK(d.answer.size() == cases.size() + 1);
  CHECK(d.qname == "www.example.com.");
}

TEST_CASE("compression inside RDATA: RFC 1035 types only (RFC 3597 §4)") {
  std::array<uint8_t, 512> buf{};
  PacketWriter w(buf, buf.size());
  start(w, "example.com.");  // "example.com." at offset 12
  struct Case {
    std::string what;
    uint16_t type;
    std::string rdata;
    Bytes rdata_wire;  // expected RDATA on the wire
  };
  const std::string target = wire_name("mail.example.com.");
  const std::string srv_target = wire_name("sip.example.com.");
  const std::vector<Case> cases = {
      {"CNAME target compressed", rrtype::CNAME, target, {4, 'm', 'a', 'i', 'l', 0xc0, 12}},
      {"MX exchange compressed after the preference", rrtype::MX, std::string("\0\x0a", 2) + target,
       {0, 10, 0xc0, 41}},  // the CNAME's RDATA put mail.example.com. at offset 41
      {"SRV target never compressed (RFC 2782)", rrtype::SRV, std::string("\0\0\0\0\x13\xc4", 6) + srv_target,
       {0, 0, 0, 0, 0x13, 0xc4, 3, 's', 'i', 'p', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0}},
      {"SOA names compressed, counters kept", rrtype::SOA,
       wire_name("ns1.example.com.") + wire_name("hostmaster.example.com.") + std::string(20, '\x01'),
       Bytes{}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    size_t before = w.size();
    std::string owner = wire_name("example.com.");
    REQUIRE(w.put_rr(Section::answer, view(owner), c.type, wire::rrclass::IN, 60, bytes(c.rdata)));
    Bytes got = tail(w, before);
    // owner pointer (2) + type, class, TTL (8) + RDLENGTH (2), then RDATA.
    REQUIRE(got.size() >= 12);
    CHECK(got[0] == 0xc0);
    uint16_t rdlen = uint16_t(got[10] << 8 | got[11]);
    CHECK(rdlen == got.size() - 12);
    Bytes rdata(got.begin() + 12, got.end());
    if (!c.rdata_wire.empty()) CHECK(rdata == c.rdata_wire);
    if (c.type == rrtype::SOA) CHECK(rdata.size() < c.rdata.size());
  }
  test::Decoded d = decoded(w);
  CHECK(d.answer == test::normalize_rrs({
                        "example.com. 60 IN CNAME mail.example.com.",
                        "example.com. 60 IN MX 10 mail.example.com.",
                        "example.com. 60 IN SRV 0 0 5060 sip.example.com.",
                        "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 16843009 16843009 "
                        "16843009 16843009 16843009",
                    }));
}

TEST_CASE("rollback restores size, counts and the compression table") {
  std::array<uint8_t, 512> buf{};
  PacketWriter w(buf, buf.size());
  start(w, "example.com.");
  std::string www = wire_name("www.example.com.");
  REQUIRE(w.put_rr(Section::answer, view(www), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(1))));

  PacketWriter::Mark m = w.mark();
  const size_t size = w.size();
  const Bytes before(w.data().begin(), w.data().end());

  std::string other = wire_name("foo.example.org.");
  REQUIRE(w.put_rr(Section::answer, view(other), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(2))));
  REQUIRE(w.put_rr(Section::authority, view(other), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(3))));
  REQUIRE(w.put_rr(Section::additional, view(other), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(4))));
  CHECK(w.count(Section::answer) == 2);
  CHECK(w.count(Section::authority) == 1);
  CHECK(w.count(Section::additional) == 1);

  w.rollback(m);
  CHECK(w.size() == size);
  CHECK(w.count(Section::answer) == 1);
  CHECK(w.count(Section::authority) == 0);
  CHECK(w.count(Section::additional) == 0);
  CHECK(Bytes(w.data().begin(), w.data().end()) == before);  // header counts rewritten too

  // foo.example.org. was forgotten: writing it again must spell it out, not point past the end.
  size_t at = w.size();
  REQUIRE(w.put_rr(Section::answer, view(other), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(5))));
  CHECK(w.data()[at] == 3);
  test::Decoded d = decoded(w);
  CHECK(d.answer == test::normalize_rrs({"www.example.com. 1 IN A 192.0.2.1", "foo.example.org. 1 IN A 192.0.2.5"}));
  CHECK(d.authority.empty());
  CHECK(d.additional.empty());
}

TEST_CASE("a put that does not fit fails and leaves the packet unchanged") {
  std::array<uint8_t, 512> buf{};
  std::string owner = wire_name("a-long-owner-name.example.net.");
  struct Case {
    std::string what;
    size_t extra;  // bytes of room beyond the question
  };
  // Nothing to compress against: the RR needs 31 (owner) + 10 + 4 = 45 bytes.
  for (const Case& c : std::vector<Case>{{"no room", 0}, {"room for the owner only", 31}, {"one byte short", 44}}) {
    CAPTURE(c.what);
    PacketWriter probe(buf, buf.size());
    start(probe, "example.com.");
    const size_t limit = probe.size() + c.extra;
    PacketWriter w(buf, limit);
    start(w, "example.com.");
    const Bytes before(w.data().begin(), w.data().end());
    CHECK_FALSE(w.put_rr(Section::answer, view(owner), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(1))));
    CHECK(w.size() == before.size());
    CHECK(w.count(Section::answer) == 0);
    CHECK(Bytes(w.data().begin(), w.data().end()) == before);
    // The failed owner must not be left in the compression table.
    PacketWriter::Mark m = w.mark();
    CHECK(m.compress_entries == 2);  // example. and com. from the question
  }
  // Exactly enough room succeeds.
  PacketWriter probe(buf, buf.size());
  start(probe, "example.com.");
  PacketWriter w(buf, probe.size() + 45);
  start(w, "example.com.");
  CHECK(w.put_rr(Section::answer, view(owner), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(1))));
  CHECK(w.size() == probe.size() + 45);
  decoded(w);
}

TEST_CASE("reserve keeps room for the OPT record; put_opt writes RFC 6891 fields") {
  std::array<uint8_t, 512> buf{};
  PacketWriter w(buf, 200);
  start(w, "example.com.");
  w.reserve(11);
  std::string owner = wire_name("example.com.");
  int written = 0;
  while (w.put_rr(Section::answer, view(owner), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(uint8_t(written)))))
    ++written;
  CHECK(written > 0);
  CHECK(w.size() <= 200 - 11);
  CHECK(w.size() + 16 > 200 - 11);  // full up to the reservation
  REQUIRE(w.put_opt(1232, 1, 0, true));
  CHECK(w.size() <= 200);
  CHECK(w.count(Section::additional) == 1);

  test::Decoded d = decoded(w);
  CHECK(d.answer.size() == size_t(written));
  CHECK(d.edns);
  CHECK(d.edns_payload == 1232);
  CHECK(d.edns_ext_rcode == 1);
  CHECK(d.edns_version == 0);
  CHECK(d.edns_do);
  CHECK(d.additional.empty());  // the OPT is not an ordinary additional record

  // Without a reservation a fill leaves no room for the OPT (29 + 10 × 16 + 11 > 199).
  PacketWriter full(buf, 199);
  start(full, "example.com.");
  while (full.put_rr(Section::answer, view(owner), rrtype::A, wire::rrclass::IN, 1, bytes(a_rdata(0)))) {
  }
  const size_t size = full.size();
  REQUIRE(size + 11 > 199);
  CHECK_FALSE(full.put_opt(1232, 0, 0, false));
  CHECK(full.size() == size);
  CHECK(full.count(Section::additional) == 0);
}

TEST_CASE("put_opt_option extends the OPT just written (RFC 6891 §6.1.2)") {
  std::array<uint8_t, 512> buf{};
  PacketWriter w(buf, buf.size());
  start(w, "example.com.");
  const Bytes ede = {0, 20, 'n', 'o'};  // RFC 8914: info-code 20 and text
  CHECK_FALSE(w.put_opt_option(15, ede));  // no OPT yet
  REQUIRE(w.put_opt(1232, 0, 0, false));
  const size_t opt_end = w.size();
  REQUIRE(w.put_opt_option(15, ede));
  CHECK(w.size() == opt_end + 4 + ede.size());
  CHECK(at16(w, opt_end - 2) == 4 + ede.size());  // the OPT's RDLENGTH covers the option
  CHECK(w.count(Section::additional) == 1);
  test::Decoded d = decoded(w);
  CHECK(d.edns);
  CHECK(d.edns_payload == 1232);

  // An option that does not fit leaves the packet as it was.
  PacketWriter tight(buf, 29 + 11 + 3);
  start(tight, "example.com.");
  REQUIRE(tight.put_opt(1232, 0, 0, false));
  const Bytes before(tight.data().begin(), tight.data().end());
  CHECK_FALSE(tight.put_opt_option(15, ede));
  CHECK(Bytes(tight.data().begin(), tight.data().end()) == before);
}

TEST_CASE("flags: TC, AA and rcode") {
  std::array<uint8_t, 512> buf{};
  PacketWriter w(buf, buf.size());
  start(w, "example.com.");
  w.set_aa(true);
  w.set_rcode(wire::rcode::NXDOMAIN);
  w.set_tc();
  CHECK(w.tc());
  test::Decoded d = decoded(w);
  CHECK(d.qr);
  CHECK(d.aa);
  CHECK(d.tc);
  CHECK(d.rd);
  CHECK(d.cd);
  CHECK_FALSE(d.ra);
  CHECK(d.id == 0xbeef);
  CHECK(d.rcode == wire::rcode::NXDOMAIN);

  w.set_aa(false);
  w.set_rcode(wire::rcode::BADVERS);  // only the low 4 bits fit the header
  test::Decoded e = decoded(w);
  CHECK_FALSE(e.aa);
  CHECK(e.tc);
  CHECK(e.rcode == 0);
  CHECK(e.cd);  // set_rcode keeps the other bits of byte 3
}

TEST_CASE("a full TCP-sized packet stays decodable past the 14-bit pointer range") {
  std::vector<uint8_t> buf(65535);
  PacketWriter w(buf, buf.size());
  start(w, "example.com.");
  // Many distinct owners: the compression table fills up and offsets pass 0x3fff.
  int n = 0;
  for (;; ++n) {
    std::string owner = wire_name(("host-" + std::to_string(n) + ".zone" + std::to_string(n % 7) + ".example.com.").c_str());
    std::string txt = std::string(1, char(40)) + std::string(40, 't');
    if (!w.put_rr(Section::answer, view(owner), rrtype::TXT, wire::rrclass::IN, 1, bytes(txt))) break;
  }
  CHECK(w.size() > 0x4000);
  CHECK(w.size() <= 65535);
  test::Decoded d = decoded(w);
  CHECK(d.answer.size() == size_t(n));
  CHECK(w.count(Section::answer) == n);
}
