// Tests for server/notify_in: NOTIFY (RFC 1996) for our secondary zones accepted from the
// allowed sources and keys, refused otherwise; signed NOTIFYs get signed replies (RFC 8945).
#include "server/notify_in.hpp"

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

#include "crypto/tsig.hpp"
#include "server/config.hpp"
#include "support/dns_test.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
namespace rrtype = wire::rrtype;

namespace {

constexpr uint64_t now = 1796297000;
const char* secret = "Ym9ndXMgc2VjcmV0IGZvciB0ZXN0cyBvbmx5IQ==";

// example.test. takes NOTIFY from its primary's address (the default); signed.test. from
// anyone signed with xfr-key.
server::NotifyTable table() {
  server::Config c = server::parse_config(
      std::string("[[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"") + secret + "\"\n"
      "[[zone]]\norigin = \"example.test.\"\nfile = \"a.zone\"\nprimaries = [\"192.0.2.1\"]\n"
      "[[zone]]\norigin = \"signed.test.\"\nfile = \"b.zone\"\nprimaries = [\"192.0.2.1\"]\nallow_notify = [\"key:xfr-key\"]\n",
      "/etc/apexd/apexd.toml");
  server::NotifyTable t;
  for (const server::ZoneConfig& z : c.zones) t.allow[z.origin] = z.options.allow_notify;
  return t;
}

sockaddr_storage peer(const char* v4) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(53000);
  REQUIRE(inet_pton(AF_INET, v4, &sin->sin_addr) == 1);
  return ss;
}

void put_u32(std::vector<uint8_t>& p, uint32_t v) {
  test::put_u16(p, uint16_t(v >> 16));
  test::put_u16(p, uint16_t(v));
}

struct NotifyOptions {
  uint16_t qtype = rrtype::SOA;
  std::optional<uint32_t> serial = 2024010101;  ///< an SOA in the answer section
  std::string soa_owner = "";                   ///< "" = the question's name (a pointer to it)
};

// A NOTIFY as a primary sends it: opcode 4, AA, the question, the new SOA in the answer section.
std::vector<uint8_t> notify(const std::string& qname, const NotifyOptions& o = {}) {
  std::vector<uint8_t> p = test::make_query(qname, o.qtype, {.id = 0x4e4e, .opcode = wire::opcode::NOTIFY});
  p[2] |= 0x04;  // AA (RFC 1996 §3.7)
  if (!o.serial) return p;
  p[7] = 1;  // ancount
  if (o.soa_owner.empty()) {
    p.push_back(0xC0);
    p.push_back(12);
  } else {
    std::string n = test::wire_name(o.soa_owner);
    p.insert(p.end(), n.begin(), n.end());
  }
  test::put_u16(p, rrtype::SOA);
  test::put_u16(p, wire::rrclass::IN);
  put_u32(p, 3600);
  std::string names = test::wire_name("ns1.example.test.") + test::wire_name("hostmaster.example.test.");
  test::put_u16(p, uint16_t(names.size() + 20));
  p.insert(p.end(), names.begin(), names.end());
  for (uint32_t v : {*o.serial, 7200u, 3600u, 1209600u, 300u}) put_u32(p, v);
  return p;
}

std::vector<uint8_t> sign(std::vector<uint8_t> msg, const crypto::TsigKey& key, crypto::TsigMac& mac) {
  size_t len = msg.size();
  msg.resize(len + 512);
  crypto::TsigSigner signer(key, {});
  size_t n = signer.sign(msg, len, now);
  REQUIRE(n > 0);
  msg.resize(n);
  mac = signer.last_mac();
  return msg;
}

struct Reply {
  server::NotifyVerdict v;
  std::vector<uint8_t> bytes;
  test::Decoded d;
};

Reply answer(const std::vector<uint8_t>& request, const char* from = "192.0.2.1",
             std::span<const crypto::TsigKey> keys = {}) {
  static const server::NotifyTable t = table();
  std::vector<uint8_t> out(65535);
  Reply r;
  r.v = server::answer_notify(t, request, out, peer(from), keys, now);
  r.bytes.assign(out.begin(), out.begin() + ptrdiff_t(r.v.size));
  r.d = test::decode(r.bytes);
  return r;
}

const std::vector<crypto::TsigKey> keys = {crypto::make_tsig_key("xfr-key", "hmac-sha256", secret)};

}  // namespace

TEST_CASE("answer_notify: an allowed NOTIFY is NOERROR with AA and the question echoed, and accepted") {
  Reply r = answer(notify("example.test."));
  REQUIRE(r.v.size > 0);
  REQUIRE(r.d.ok);
  CHECK(r.v.rcode == wire::rcode::NOERROR);
  CHECK(r.d.rcode == wire::rcode::NOERROR);
  CHECK(r.d.id == 0x4e4e);
  CHECK(r.d.qr);
  CHECK(r.d.aa);
  CHECK(r.d.opcode == wire::opcode::NOTIFY);
  CHECK(r.d.qdcount == 1);
  CHECK(r.d.qname == "example.test.");
  CHECK(r.d.qtype == rrtype::SOA);
  CHECK(r.d.answer.empty());
  CHECK(r.v.accepted);
  CHECK(r.v.origin == test::wire_name("example.test."));
  CHECK(r.v.serial == std::optional<uint32_t>(2024010101));
  CHECK(r.v.key.empty());

  SUBCASE("the question's letter case is echoed; the origin is lowercase") {
    Reply u = answer(notify("EXAMPLE.Test."));
    CHECK(u.v.accepted);
    CHECK(u.d.qname == "EXAMPLE.Test.");
    CHECK(u.v.origin == test::wire_name("example.test."));
    CHECK(u.v.serial == std::optional<uint32_t>(2024010101));
  }
  SUBCASE("without an SOA in the answer section: accepted, no serial") {
    Reply n = answer(notify("example.test.", {.serial = std::nullopt}));
    CHECK(n.v.accepted);
    CHECK(n.v.rcode == wire::rcode::NOERROR);
    CHECK_FALSE(n.v.serial.has_value());
  }
  SUBCASE("an SOA of another name in the answer section is no serial") {
    Reply n = answer(notify("example.test.", {.soa_owner = "other.test."}));
    CHECK(n.v.accepted);
    CHECK_FALSE(n.v.serial.has_value());
  }
  SUBCASE("a serial that wrapped is read as it is") {
    Reply n = answer(notify("example.test.", {.serial = 0xFFFFFFFFu}));
    CHECK(n.v.serial == std::optional<uint32_t>(0xFFFFFFFFu));
  }
}

TEST_CASE("answer_notify: REFUSED, NOTAUTH and FORMERR, never accepted") {
  struct Case {
    std::string what;
    std::vector<uint8_t> request;
    const char* from;
    uint16_t rcode;
  } cases[] = {
      {"a source not in allow_notify", notify("example.test."), "198.51.100.1", wire::rcode::REFUSED},
      {"a zone not in the table", notify("other.test."), "192.0.2.1", wire::rcode::NOTAUTH},
      {"a name below a secondary zone", notify("www.example.test."), "192.0.2.1", wire::rcode::NOTAUTH},
      {"qtype A", notify("example.test.", {.qtype = rrtype::A}), "192.0.2.1", wire::rcode::FORMERR},
      {"an unsigned NOTIFY where a key is required", notify("signed.test."), "192.0.2.1", wire::rcode::REFUSED},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Reply r = answer(c.request, c.from, keys);
    REQUIRE(r.v.size > 0);
    REQUIRE(r.d.ok);
    CHECK(r.v.rcode == c.rcode);
    CHECK(r.d.rcode == c.rcode);
    CHECK(r.d.qr);
    CHECK_FALSE(r.d.aa);
    CHECK(r.d.opcode == wire::opcode::NOTIFY);
    CHECK_FALSE(r.v.accepted);
    CHECK(r.v.origin.empty());
  }
}

TEST_CASE("answer_notify: a response, or no room for a reply, is dropped") {
  std::vector<uint8_t> response = notify("example.test.");
  response[2] |= 0x80;
  CHECK(answer(response).v.size == 0);
  CHECK(answer(std::vector<uint8_t>(5, 0)).v.size == 0);
  static const server::NotifyTable t = table();
  std::vector<uint8_t> small(100);
  server::NotifyVerdict v = server::answer_notify(t, notify("example.test."), small, peer("192.0.2.1"), {}, now);
  CHECK(v.size == 0);
  CHECK_FALSE(v.accepted);
}

TEST_CASE("answer_notify: a NOTIFY signed with the key allow_notify names is accepted, its reply signed") {
  crypto::TsigMac mac;
  std::vector<uint8_t> request = sign(notify("signed.test."), keys[0], mac);
  for (const char* from : {"192.0.2.1", "203.0.113.7"}) {  // `key:` alone: any address
    CAPTURE(from);
    Reply r = answer(request, from, keys);
    REQUIRE(r.v.size > 0);
    CHECK(r.v.rcode == wire::rcode::NOERROR);
    CHECK(r.v.accepted);
    CHECK(r.v.origin == test::wire_name("signed.test."));
    CHECK(r.v.key == keys[0].name);
    CHECK(r.v.serial == std::optional<uint32_t>(2024010101));
    CHECK(r.d.aa);
    crypto::TsigVerifier verifier(keys[0], mac.view());
    CHECK(verifier.verify(r.bytes, now) == crypto::TsigStatus::ok);
    CHECK(verifier.finish() == crypto::TsigStatus::ok);
  }
  SUBCASE("a signed NOTIFY for an address-only entry: accepted, reply signed") {
    crypto::TsigMac m;
    Reply r = answer(sign(notify("example.test."), keys[0], m), "192.0.2.1", keys);
    CHECK(r.v.accepted);
    crypto::TsigVerifier verifier(keys[0], m.view());
    CHECK(verifier.verify(r.bytes, now) == crypto::TsigStatus::ok);
  }
  SUBCASE("signed but refused: the REFUSED is signed too") {
    crypto::TsigMac m;
    Reply r = answer(sign(notify("example.test."), keys[0], m), "198.51.100.1", keys);
    CHECK(r.v.rcode == wire::rcode::REFUSED);
    CHECK_FALSE(r.v.accepted);
    crypto::TsigVerifier verifier(keys[0], m.view());
    CHECK(verifier.verify(r.bytes, now) == crypto::TsigStatus::ok);
  }
  SUBCASE("signed for a zone we do not have: NOTAUTH, signed") {
    crypto::TsigMac m;
    Reply r = answer(sign(notify("other.test."), keys[0], m), "192.0.2.1", keys);
    CHECK(r.v.rcode == wire::rcode::NOTAUTH);
    crypto::TsigVerifier verifier(keys[0], m.view());
    CHECK(verifier.verify(r.bytes, now) == crypto::TsigStatus::ok);
  }
}

TEST_CASE("answer_notify: TSIG failures are NOTAUTH with the TSIG error") {
  crypto::TsigKey unknown = crypto::make_tsig_key("nobody", "hmac-sha256", secret);
  crypto::TsigKey wrong_secret = crypto::make_tsig_key("xfr-key", "hmac-sha256", "d3Jvbmc=");
  struct Case {
    std::string what;
    const crypto::TsigKey& key;
    uint16_t error;
  } cases[] = {
      {"an unknown key", unknown, wire::tsig_error::BADKEY},
      {"a wrong secret", wrong_secret, wire::tsig_error::BADSIG},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    crypto::TsigMac mac;
    Reply r = answer(sign(notify("signed.test."), c.key, mac), "192.0.2.1", keys);
    REQUIRE(r.v.size > 0);
    CHECK(r.v.rcode == wire::rcode::NOTAUTH);
    CHECK(r.d.rcode == wire::rcode::NOTAUTH);
    CHECK_FALSE(r.v.accepted);
    wire::TsigLookup t = wire::find_tsig(r.bytes);
    REQUIRE(t.status == wire::TsigFind::found);
    CHECK(t.record.error == c.error);
    CHECK(t.record.mac.empty());  // RFC 8945 §5.3.2: unsigned
  }
}

TEST_CASE("is_notify") {
  CHECK(server::is_notify(notify("example.test.")));
  CHECK(server::is_notify(notify("example.test.", {.serial = std::nullopt})));
  CHECK_FALSE(server::is_notify(test::make_query("example.test.", rrtype::SOA)));
  CHECK_FALSE(server::is_notify(test::make_query("example.test.", rrtype::SOA, {.opcode = wire::opcode::UPDATE})));
  std::vector<uint8_t> response = notify("example.test.");
  response[2] |= 0x80;
  CHECK_FALSE(server::is_notify(response));
  std::vector<uint8_t> header_only = notify("example.test.");
  header_only.resize(12);
  CHECK(server::is_notify(header_only));
  header_only.resize(11);
  CHECK_FALSE(server::is_notify(header_only));
  CHECK_FALSE(server::is_notify({}));
}
