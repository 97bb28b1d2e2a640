// Tests for TSIG (RFC 8945) on ordinary queries in server/query_handler: a signed request gets a
// signed answer the client can verify; a bad key, signature or time gets NOTAUTH with the error.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "crypto/tsig.hpp"
#include "server/query_handler.hpp"
#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;

namespace {

constexpr uint64_t now = 1796297000;

std::shared_ptr<const zone::ZoneSet> zones() {
  std::string origin = test::wire_name("example.test.");
  const char* text = "$TTL 300\n@ SOA ns1 hostmaster 7 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n";
  auto z = zone::compile_zone(test::view(origin), zone::load_zone_text(text, test::view(origin), "e.zone"), "e.zone");
  return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{z});
}

// A request for example.test. SOA signed with `key` at `when`; its MAC in `mac`.
std::vector<uint8_t> signed_request(const crypto::TsigKey& key, uint64_t when, crypto::TsigMac& mac) {
  std::vector<uint8_t> q = test::make_query("example.test.", wire::rrtype::SOA, {.edns = true});
  q.resize(q.size() + 512);
  crypto::TsigSigner signer(key, {});
  size_t n = signer.sign(q, q.size() - 512, when);
  REQUIRE(n > 0);
  q.resize(n);
  mac = signer.last_mac();
  return q;
}

struct Answer {
  server::HandleResult result;
  std::vector<uint8_t> bytes;
};

Answer ask(const std::vector<uint8_t>& request, std::span<const crypto::TsigKey> keys, server::Transport t) {
  auto set = zones();
  server::HandlerOptions opts;
  opts.transport = t;
  opts.tsig_keys = keys;
  opts.unix_now = now;
  std::vector<uint8_t> out(65535);
  Answer a;
  a.result = server::handle_query(*set, request, out, opts);
  a.bytes.assign(out.begin(), out.begin() + ptrdiff_t(a.result.size));
  return a;
}

}  // namespace

TEST_CASE("TSIG on queries: a signed request gets an answer signed with the same key") {
  const std::vector<crypto::TsigKey> keys = {
      crypto::make_tsig_key("xfr-key", "hmac-sha256", "Ym9ndXMgc2VjcmV0IGZvciB0ZXN0cyBvbmx5IQ=="),
      crypto::make_tsig_key("other", "hmac-sha512", "c2Vjb25kIHNlY3JldA==")};
  for (const crypto::TsigKey& key : keys) {
    for (server::Transport t : {server::Transport::udp, server::Transport::tcp}) {
      CAPTURE(key.name_text);
      crypto::TsigMac mac;
      Answer a = ask(signed_request(key, now, mac), keys, t);
      REQUIRE(a.result.size > 0);
      CHECK(a.result.rcode == wire::rcode::NOERROR);
      CHECK(a.result.reusable_until == resolver::TimePoint::min());  // never replayed from the answer cache
      crypto::TsigVerifier verifier(key, mac.view());
      CHECK(verifier.verify(a.bytes, now) == crypto::TsigStatus::ok);
      CHECK(verifier.finish() == crypto::TsigStatus::ok);
      test::Decoded d = test::decode(a.bytes);
      CHECK(d.answer.size() == 1);  // the SOA
    }
  }
}

TEST_CASE("TSIG on queries: bad key, bad signature and bad time are NOTAUTH with the TSIG error") {
  const std::vector<crypto::TsigKey> keys = {
      crypto::make_tsig_key("xfr-key", "hmac-sha256", "Ym9ndXMgc2VjcmV0IGZvciB0ZXN0cyBvbmx5IQ==")};
  crypto::TsigKey unknown = crypto::make_tsig_key("nobody", "hmac-sha256", "Ym9ndXMgc2VjcmV0IGZvciB0ZXN0cyBvbmx5IQ==");
  crypto::TsigKey wrong_secret = crypto::make_tsig_key("xfr-key", "hmac-sha256", "d3Jvbmc=");
  struct Case {
    const char* what;
    const crypto::TsigKey& key;
    uint64_t when;
    uint16_t error;
  } cases[] = {
      {"unknown key", unknown, now, wire::tsig_error::BADKEY},
      {"wrong secret", wrong_secret, now, wire::tsig_error::BADSIG},
      {"signed 1000 s ago", keys[0], now - 1000, wire::tsig_error::BADTIME},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    crypto::TsigMac mac;
    Answer a = ask(signed_request(c.key, c.when, mac), keys, server::Transport::udp);
    CHECK(a.result.rcode == wire::rcode::NOTAUTH);
    wire::TsigLookup t = wire::find_tsig(a.bytes);
    REQUIRE(t.status == wire::TsigFind::found);
    CHECK(t.record.error == c.error);
    if (c.error == wire::tsig_error::BADTIME) {
      crypto::TsigVerifier v(keys[0], mac.view());  // BADTIME answers are signed (RFC 8945 §5.2.3)
      CHECK(v.verify(a.bytes, c.when) == crypto::TsigStatus::peer_error);
    } else {
      CHECK(t.record.mac.empty());  // BADKEY and BADSIG: unsigned (§5.3.2)
    }
  }
}

TEST_CASE("TSIG on queries: a TSIG that is not the last record is FORMERR") {
  const std::vector<crypto::TsigKey> keys = {
      crypto::make_tsig_key("xfr-key", "hmac-sha256", "Ym9ndXMgc2VjcmV0IGZvciB0ZXN0cyBvbmx5IQ==")};
  crypto::TsigMac mac;
  std::vector<uint8_t> q = signed_request(keys[0], now, mac);
  // Append an OPT after the TSIG (and count it): the TSIG is no longer last.
  const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  q.insert(q.end(), std::begin(opt), std::end(opt));
  q[11] = uint8_t(q[11] + 1);
  Answer a = ask(q, keys, server::Transport::udp);
  CHECK(a.result.rcode == wire::rcode::FORMERR);
}
