// Tests for crypto/hmac, zone/wire/tsig and crypto/tsig: base64 and HMAC vectors, the TSIG RR
// codec, requests signed by kdig and dig, and signatures compared with dnspython's.
#include "crypto/tsig.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto/hmac.hpp"
#include "support/dns_test.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using crypto::TsigStatus;
using Bytes = std::vector<uint8_t>;


namespace {

Bytes from_hex(std::string_view hex) {
  auto nibble = [](char c) { return uint8_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); };
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(uint8_t(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

std::string to_hex(std::span<const uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ---- Captured with a throwaway UDP listener on 127.0.0.1 (keys from tsig-keygen):
//   kdig -y hmac-sha256:xfr-key:<secret> @127.0.0.1 -p PORT example.com SOA
//   dig -y hmac-sha512:xfr-key-512:<secret> ...   dig -y hmac-sha1:XFR-Key-1:<secret> ...
// (dig lowercases the key name it sends.) Time signed: T, T+1, T+2.
constexpr uint64_t T = 1796296092;
const std::string req_kdig_sha256 =
    "e63301200001000000000001076578616d706c6503636f6d0000060001077866722d6b65790000fa00ff00000000003d"
    "0b686d61632d7368613235360000006b114d9c012c0020e5720735dcd56a3fe6442f8468c130bc5b3e225044058c7166"
    "5186cb6fd5f97ae63300000000";
const std::string req_dig_sha512 =
    "881a01200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c000a0008ce120068"
    "90f7ed5a0b7866722d6b65792d3531320000fa00ff00000000005d0b686d61632d7368613531320000006b114d9d012c"
    "004048d1bc113acaf98f55843d16ce4a528df6ae943b6893af140ac916c893813f8d9fdb639adef7b1e3196730a3b454"
    "1929a6584a9f40c43aae63e7a61d271e03ba881a00000000";
const std::string req_dig_sha1 =
    "8fd901200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c000a00081f88ed49"
    "0681a80f097866722d6b65792d310000fa00ff00000000002f09686d61632d736861310000006b114d9e012c00146b1d"
    "da882e2025b28cecb697c26bbc76d90ffd728fd900000000";
const std::string req_py_sha224 =
    "123401000001000000000001074578616d706c6503434f4d00000100010b5846522d4b65792d3232340000fa00ff0000"

// ---- Made by dnspython 2.3 (dns.message / dns.tsig), with time.time() fixed:
// requests signed with hmac-sha224 (key name "XFR-Key-224.", mixed case) and hmac-sha384 at T;
// the response to kdig's request at T+1 (make_response, so request_mac = the request's MAC);
// a BADTIME response (time signed T = the request's, other data T+1000); a two-message stream
// (to_wire(multi=True), tsig_ctx chained) at T+2, T+3; a three-message stream whose middle
// message goes unsigned and is fed to the context (tsig_ctx.update(wire)), at T+2 and T+4.
    "000000390b686d61632d7368613232340000006b114d9c012c001c2463b06b2094ed7c89f2aabe971b10590633f78179"
    "fee7b428d94677123400000000";
const std::string req_py_sha384 =
    "43210100000100000000000103777777076578616d706c6503636f6d0000010001066b6579333834076578616d706c65"
    "0000fa00ff00000000004d0b686d61632d7368613338340000006b114d9c012c0030f3dcec269ebb89e3d701e031f4ac"
    "9318aa4853f257f327433cbfde92593ac9f6e394d8d9aaeb78667869ce27019d21c7432100000000";
const std::string resp_unsigned =
    "e63385000001000100000000076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012c";
const std::string resp_signed =
    "e63385000001000100000001076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012c077866722d6b65790000fa00ff000000"
    "00003d0b686d61632d7368613235360000006b114d9d012c00204c377487c954455166b4a3f37fc579dc6ce0107c5e93"
    "dbe89dda40047f371ce7e63300000000";
const std::string badtime_unsigned =
    "e63381090001000000000000076578616d706c6503636f6d0000060001";
const std::string badtime_signed =
    "e63381090001000000000001076578616d706c6503636f6d0000060001077866722d6b65790000fa00ff000000000043"
    "0b686d61632d7368613235360000006b114d9c012c0020b0bec62fd84287cd28eb5e0eda0163812a919464604d714678"
    "3cf488a17ed535e6330012000600006b115184";
const std::string stream1_unsigned =
    "e63385000001000200000000076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012cc00c0002000100000e100002c029";
const std::string stream1_signed =
    "e63385000001000200000001076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012cc00c0002000100000e100002c0290778"
    "66722d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b114d9e012c0020f033dd38fcbd40c9"
    "19258add025627aae65689a2f6919ac5fbf3643c5d2bc07de63300000000";
const std::string stream2_unsigned =
    "e63385000001000200000000076578616d706c6503636f6d000006000103777777c00c000100010000012c0004c00002"
    "01c00c0006000100000e100027036e7331c00c0a686f73746d6173746572c00c78a3f17500001c2000000e1000127500"
    "0000012c";
const std::string stream2_signed =
    "e63385000001000200000001076578616d706c6503636f6d000006000103777777c00c000100010000012c0004c00002"
    "01c00c0006000100000e100027036e7331c00c0a686f73746d6173746572c00c78a3f17500001c2000000e1000127500"
    "0000012c077866722d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b114d9f012c00206a96"
    "0ca95f079720711853d1d503ffe089c8e5f99261bde717b7361902993cabe63300000000";
const std::string gap1_signed =
    "e63385000001000100000001076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012c077866722d6b65790000fa00ff000000"
    "00003d0b686d61632d7368613235360000006b114d9e012c00208f898254caa430a5c4c4dce277581bf2e571791b0635"
    "e24cad65c22948b7327ce63300000000";
const std::string gap2_plain =
    "e63385000001000100000000076578616d706c6503636f6d000006000103777777c00c000100010000012c0004c00002"
    "01";
const std::string gap3_unsigned =
    "e63385000001000100000000076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012c";
const std::string gap3_signed =
    "e63385000001000100000001076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331c00c0a"
    "686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012c077866722d6b65790000fa00ff000000"
    "00003d0b686d61632d7368613235360000006b114da0012c0020e895bfbb1e0ed4754651c9ae9d84e933da1071751970"
    "e236b0e3c10885e99a32e63300000000";

const crypto::TsigKey key256 = crypto::make_tsig_key("xfr-key", "hmac-sha256", "8lTHEyfehvGJR/aoMiTEq1n0m+VlPizRnz1pmCuKghA=");
const crypto::TsigKey key512 = crypto::make_tsig_key(
    "xfr-key-512.", "hmac-sha512",
    "Fc7XDJ/Fkjdc0+wYdiUR9MopUIbOc3DOAKNwD7Qox2G3e97SYGxcytCCTWDKWxsugx+uNnZyPxp7d3bK5cOTow==");
const crypto::TsigKey key1 = crypto::make_tsig_key("xfr-key-1.", "hmac-sha1", "rbGsrl5v/MH837XHX/zQCwepWNU=");
const crypto::TsigKey key224 =
    crypto::make_tsig_key("xfr-key-224", "HMAC-SHA224.", "c2VjcmV0LWtleS0yMjQtZm9yLWFwZXhkLXRlc3Rz");
const crypto::TsigKey key384 =
    crypto::make_tsig_key("key384.example.", "hmac-sha384", "c2VjcmV0LWtleS0zODQtZm9yLWFwZXhkLXRlc3RzLTAxMjM0NTY3");
const std::vector<crypto::TsigKey> all_keys = {key1, key224, key256, key384, key512};

wire::TsigRecord tsig_of(const Bytes& msg) {
  wire::TsigLookup l = wire::find_tsig(msg);
  REQUIRE(l.status == wire::TsigFind::found);
  return l.record;
}

// The message as it was before its TSIG was added.
Bytes strip_tsig(const Bytes& msg) {
  Bytes out(msg.begin(), msg.begin() + ptrdiff_t(tsig_of(msg).offset));
  out[11] = uint8_t(out[11] - 1);
  return out;
}

// Rewrites the TSIG RR of `msg` after `edit` changed its fields (the spans stay in `msg`).
Bytes retsig(const Bytes& msg, const std::function<void(wire::TsigRecord&)>& edit) {
  wire::TsigRecord t = tsig_of(msg);
  edit(t);
  Bytes out = strip_tsig(msg);
  out.resize(out.size() + 512);
  size_t n = wire::append_tsig(out, out.size() - 512, t);
  REQUIRE(n != 0);
  out.resize(n);
  return out;
}

Bytes flipped(Bytes msg, size_t pos) {
  msg.at(pos) ^= 0x01;
  return msg;
}

TsigStatus verify(const Bytes& msg, uint64_t now, std::span<const crypto::TsigKey> keys = all_keys) {
  wire::TsigLookup l = wire::find_tsig(msg);
  if (l.status != wire::TsigFind::found) return TsigStatus::formerr;
  return crypto::verify_request(msg, l.record, keys, now).status;
}

// Signs `msg` with `signer` into a buffer with room for the TSIG; empty when sign() fails.
Bytes sign(crypto::TsigSigner& signer, const crypto::TsigKey& key, Bytes msg, uint64_t now) {
  size_t len = msg.size();
  msg.resize(len + crypto::tsig_max_rr_size(key));
  size_t n = signer.sign(msg, len, now);
  msg.resize(n);
  return msg;
}

}  // namespace

TEST_CASE("base64_decode: RFC 4648 §10 vectors, padding and invalid input") {
  struct Case {
    std::string_view text;
    std::optional<std::string_view> decoded;
  };
  const Case cases[] = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {"+/+/", "\xfb\xff\xbf"},
      {"Zg", std::nullopt},          // padding missing
      {"Zg=", std::nullopt},         // not a multiple of 4
      {"Z===", std::nullopt},        // three padding characters
      {"====", std::nullopt},
      {"Zg==Zg==", std::nullopt},    // padding in the middle
      {"Zm=v", std::nullopt},
      {"Zm9v\n", std::nullopt},      // no whitespace
      {" Zm9v", std::nullopt},
      {"Zm9v YmFy", std::nullopt},
      {"Zm9v----", std::nullopt},    // OpenSSL would strip trailing '-'
      {"Zm_v", std::nullopt},        // URL-safe alphabet
      {"Zm9-", std::nullopt},
      {std::string_view("Zm\0v", 4), std::nullopt},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto got = crypto::base64_decode(c.text);
    REQUIRE(got.has_value() == c.decoded.has_value());
    if (!got) continue;
    CHECK(*got == bytes(*c.decoded));
    CHECK(crypto::base64_encode(*got) == c.text);
  }
}

TEST_CASE("base64_encode: every length round-trips through base64_decode") {
  Bytes data;
  for (int i = 0; i < 70; ++i) {
    std::string text = crypto::base64_encode(data);
    CHECK(text.size() == (data.size() + 2) / 3 * 4);
    auto back = crypto::base64_decode(text);
    REQUIRE(back);
    CHECK(*back == data);
    data.push_back(uint8_t(i * 37 + 11));
  }
}

TEST_CASE("hmac: RFC 2202 / RFC 4231 test case 2 for every hash, incremental and reset") {
  struct Case {
    crypto::HashAlgorithm alg;
    std::string_view mac;
  };
  const Case cases[] = {
      {crypto::HashAlgorithm::sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {crypto::HashAlgorithm::sha224, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"},
      {crypto::HashAlgorithm::sha256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {crypto::HashAlgorithm::sha384,
       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
      {crypto::HashAlgorithm::sha512,
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
  };
  const Bytes key = bytes("Jefe");
  const Bytes data = bytes("what do ya want for nothing?");
  for (const Case& c : cases) {
    CAPTURE(c.mac);
    std::array<uint8_t, crypto::max_digest_size> out{};
    size_t n = crypto::hmac(c.alg, key, data, out);
    REQUIRE(n == crypto::digest_size(c.alg));
    CHECK(to_hex(std::span(out.data(), n)) == c.mac);

    crypto::Hmac h(c.alg, key);
    REQUIRE(h.ok());
    for (uint8_t b : data) h.update(std::span(&b, 1));
    CHECK(to_hex(std::span(out.data(), h.finish(out))) == c.mac);
    CHECK(h.finish(out) == 0);  // finished: no second MAC without reset()
    REQUIRE(h.reset());
    h.update(std::span(data).first(5));
    h.update(std::span(data).subspan(5));
    CHECK(to_hex(std::span(out.data(), h.finish(out))) == c.mac);
  }
}

TEST_CASE("hmac: a key longer than the block, an empty key, a too-small output") {
  std::array<uint8_t, crypto::max_digest_size> out{};
  const Bytes long_key(131, 0xaa);  // RFC 4231 test case 6
  size_t n = crypto::hmac(crypto::HashAlgorithm::sha256, long_key,
                          bytes("Test Using Larger Than Block-Size Key - Hash Key First"), out);
  CHECK(to_hex(std::span(out.data(), n)) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  n = crypto::hmac(crypto::HashAlgorithm::sha256, {}, {}, out);
  CHECK(to_hex(std::span(out.data(), n)) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  CHECK(crypto::hmac(crypto::HashAlgorithm::sha256, long_key, {}, std::span(out.data(), 31)) == 0);
  crypto::Hmac empty;
  CHECK(!empty.ok());
  CHECK(empty.finish(out) == 0);
  crypto::Hmac moved(crypto::HashAlgorithm::sha1, long_key);
  crypto::Hmac to = std::move(moved);
  CHECK(to.ok());
  CHECK(!moved.ok());
}

TEST_CASE("hmac: constant_time_equal compares whole MACs") {
  const Bytes a = from_hex("00112233445566778899");
  CHECK(crypto::constant_time_equal(a, a));
  CHECK(crypto::constant_time_equal(a, Bytes(a)));
  CHECK(!crypto::constant_time_equal(a, flipped(a, 9)));
  CHECK(!crypto::constant_time_equal(a, flipped(a, 0)));
  CHECK(!crypto::constant_time_equal(a, std::span(a).first(9)));
  CHECK(crypto::constant_time_equal({}, {}));
}

TEST_CASE("TSIG algorithms: config text, wire names, MAC sizes") {
  struct Case {
    std::string_view text;
    std::optional<crypto::TsigAlgorithm> alg;
  };
  using A = crypto::TsigAlgorithm;
  const Case cases[] = {
      {"hmac-sha1", A::hmac_sha1},     {"hmac-sha224", A::hmac_sha224}, {"hmac-sha256", A::hmac_sha256},
      {"hmac-sha384", A::hmac_sha384}, {"hmac-sha512", A::hmac_sha512}, {"hmac-sha256.", A::hmac_sha256},
      {"HMAC-SHA512", A::hmac_sha512}, {"hmac-md5", A::hmac_md5},       {"hmac-sha256..", std::nullopt},
      {"", std::nullopt},              {".", std::nullopt},             {"sha256", std::nullopt},
      {"hmac-sha256 ", std::nullopt},  {"gss-tsig", std::nullopt},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(crypto::tsig_algorithm_from_text(c.text) == c.alg);
  }
  const std::pair<A, size_t> sizes[] = {{A::hmac_sha1, 20}, {A::hmac_sha224, 28}, {A::hmac_sha256, 32},
                                        {A::hmac_sha384, 48}, {A::hmac_sha512, 64}};
  for (auto [alg, size] : sizes) {
    CHECK(crypto::tsig_mac_size(alg) == size);
    std::string text(crypto::tsig_algorithm_text(alg));
    CHECK(crypto::tsig_algorithm_from_text(text) == alg);
    CHECK(crypto::tsig_algorithm_from_wire(crypto::tsig_algorithm_wire_name(alg)) == alg);
    CHECK(wire::name_to_text(crypto::tsig_algorithm_wire_name(alg)) == text + ".");
  }
  std::string upper = test::wire_name("HMAC-Sha256.");
  CHECK(crypto::tsig_algorithm_from_wire(test::view(upper)) == A::hmac_sha256);
  // hmac-md5 (for certbot's and cert-manager's rfc2136 defaults) has the long wire name (RFC 8945 §6).
  std::string md5 = test::wire_name("hmac-md5.sig-alg.reg.int.");
  CHECK(crypto::tsig_algorithm_from_wire(test::view(md5)) == A::hmac_md5);
  CHECK(crypto::tsig_mac_size(A::hmac_md5) == 16);
  CHECK(wire::name_to_text(crypto::tsig_algorithm_wire_name(A::hmac_md5)) == "hmac-md5.sig-alg.reg.int.");
  CHECK(!crypto::tsig_algorithm_from_wire(test::view(test::wire_name("hmac-md5."))));
  std::string below = test::wire_name("hmac-sha256.example.");
  CHECK(!crypto::tsig_algorithm_from_wire(test::view(below)));
}

TEST_CASE("make_tsig_key: names lowercased and absolute; errors say which field") {
  crypto::TsigKey k = crypto::make_tsig_key("Xfr-Key.Example", "hmac-sha256.", "c2VjcmV0");
  CHECK(k.name == test::wire_name("xfr-key.example."));
  CHECK(k.name_text == "xfr-key.example.");
  CHECK(k.algorithm == crypto::TsigAlgorithm::hmac_sha256);
  CHECK(k.secret == bytes("secret"));
  CHECK(key224.name_text == "xfr-key-224.");

  struct Case {
    std::string_view name, algorithm, secret, error;
  };
  const Case cases[] = {
      {"a..b", "hmac-sha256", "c2VjcmV0", "TSIG key \"a..b\": not a valid domain name"},
      {"", "hmac-sha256", "c2VjcmV0", "TSIG key \"\": not a valid domain name"},
      {"k", "hmac-sha3-256", "c2VjcmV0",
       "TSIG key \"k\": unknown algorithm \"hmac-sha3-256\" (expected hmac-sha256, hmac-sha512, hmac-sha384, "
       "hmac-sha224, hmac-sha1 or hmac-md5)"},
      {"k", "hmac-sha256", "c2VjcmV0=", "TSIG key \"k\": the secret is not valid base64"},
      {"k", "hmac-sha256", "c2Vj cmV0", "TSIG key \"k\": the secret is not valid base64"},
      {"k", "hmac-sha256", "", "TSIG key \"k\": the secret is empty"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::string error = "(no error)";
    try {
      (void)crypto::make_tsig_key(c.name, c.algorithm, c.secret);
    } catch (const std::invalid_argument& e) {
      error = e.what();
    }
    CHECK(error == c.error);
  }
}

TEST_CASE("find_tsig: the fields of kdig's TSIG") {
  const Bytes msg = from_hex(req_kdig_sha256);
  wire::TsigRecord t = tsig_of(msg);
  CHECK(wire::name_to_text(t.key_name.view()) == "xfr-key.");
  CHECK(wire::name_to_text(t.algorithm.view()) == "hmac-sha256.");
  CHECK(t.time_signed == T);
  CHECK(t.fudge == 300);
  CHECK(to_hex(t.mac) == "e5720735dcd56a3fe6442f8468c130bc5b3e225044058c71665186cb6fd5f97a");
  CHECK(t.original_id == 0xe633);
  CHECK(t.error == 0);
  CHECK(t.other.empty());
  CHECK(t.offset == 12 + 17);  // header, example.com SOA IN
  CHECK(wire::find_tsig(from_hex(resp_unsigned)).status == wire::TsigFind::none);
  CHECK(wire::find_tsig(test::make_query("example.com.", 6, {.edns = true})).status == wire::TsigFind::none);
}

TEST_CASE("find_tsig: a TSIG anywhere but last, or malformed, is formerr") {
  const Bytes req = from_hex(req_kdig_sha256);
  const size_t at = 29;                  // the TSIG RR
  const size_t rdata = at + 9 + 10;      // past owner "xfr-key." and TYPE..RDLENGTH
  const Bytes a_rr = from_hex("c00c000100010000012c0004c0000201");  // example.com A 192.0.2.1
  auto edit = [&](const std::function<void(Bytes&)>& f) {
    Bytes m = req;
    f(m);
    return m;
  };
  struct Case {
    const char* what;
    Bytes msg;
    wire::TsigFind expected;
  };
  const Case cases[] = {
      {"as it came", req, wire::TsigFind::found},
      {"shorter than a header", Bytes(req.begin(), req.begin() + 11), wire::TsigFind::formerr},
      {"in the answer section", edit([](Bytes& m) { m[7] = 1, m[11] = 0; }), wire::TsigFind::formerr},
      {"in the authority section", edit([](Bytes& m) { m[9] = 1, m[11] = 0; }), wire::TsigFind::formerr},
      {"followed by another record", edit([&](Bytes& m) { m.insert(m.end(), a_rr.begin(), a_rr.end()); m[11] = 2; }),
       wire::TsigFind::formerr},
      {"trailing bytes", edit([](Bytes& m) { m.push_back(0); }), wire::TsigFind::formerr},
      {"class IN", edit([&](Bytes& m) { m[at + 9 + 3] = 1; }), wire::TsigFind::formerr},
      {"TTL 1", edit([&](Bytes& m) { m[at + 9 + 7] = 1; }), wire::TsigFind::formerr},
      {"RDLENGTH one short", edit([&](Bytes& m) { m[rdata - 1] -= 1; }), wire::TsigFind::formerr},
      {"RDLENGTH one long", edit([&](Bytes& m) { m[rdata - 1] += 1; }), wire::TsigFind::formerr},
      {"MAC size past RDATA", edit([&](Bytes& m) { m[rdata + 13 + 9] = 0x21; }), wire::TsigFind::formerr},
      {"other len past RDATA", edit([&](Bytes& m) { m.back() = 1; }), wire::TsigFind::formerr},
      {"cut inside the MAC", Bytes(req.begin(), req.end() - 10), wire::TsigFind::formerr},
      {"ARCOUNT one too many", edit([](Bytes& m) { m[11] = 2; }), wire::TsigFind::formerr},
      {"ARCOUNT zero: not walked to", edit([](Bytes& m) { m[11] = 0; }), wire::TsigFind::none},
      {"algorithm name with a bad label", edit([&](Bytes& m) { m[rdata] = 0x40; }), wire::TsigFind::formerr},
      {"question cut", Bytes(req.begin(), req.begin() + 20), wire::TsigFind::formerr},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.what));
    CHECK(wire::find_tsig(c.msg).status == c.expected);
  }
}

TEST_CASE("append_tsig: writes what find_tsig reads, or nothing when it does not fit") {
  Bytes msg = test::make_query("example.com.", 6, {.id = 0x0102, .edns = true});
  const size_t len = msg.size();
  const Bytes mac = from_hex("000102030405060708090a0b0c0d0e0f");
  const Bytes other = from_hex("00006b115184");
  wire::TsigRecord rec;
  std::string name = test::wire_name("Key.Example.");
  rec.key_name.assign(test::view(name));
  rec.algorithm.assign(crypto::tsig_algorithm_wire_name(crypto::TsigAlgorithm::hmac_sha1));
  rec.time_signed = 0x123456789abc;
  rec.fudge = 17;
  rec.mac = mac;
  rec.original_id = 0xbeef;
  rec.error = wire::tsig_error::BADTIME;
  rec.other = other;
  const size_t size = wire::tsig_rr_size(rec.key_name.len, rec.algorithm.len, mac.size(), other.size());

  msg.resize(len + size - 1);
  CHECK(wire::append_tsig(msg, len, rec) == 0);
  CHECK(msg[11] == 1);
  msg.resize(len + size);
  REQUIRE(wire::append_tsig(msg, len, rec) == len + size);
  CHECK(msg[11] == 2);
  wire::TsigRecord got = tsig_of(msg);
  CHECK(wire::name_to_text(got.key_name.view()) == "Key.Example.");
  CHECK(got.algorithm.view().size() == rec.algorithm.len);
  CHECK(got.time_signed == rec.time_signed);
  CHECK(got.fudge == 17);
  CHECK(to_hex(got.mac) == to_hex(mac));
  CHECK(got.original_id == 0xbeef);
  CHECK(got.error == wire::tsig_error::BADTIME);
  CHECK(to_hex(got.other) == to_hex(other));
  CHECK(got.offset == len);

  Bytes fresh = test::make_query("example.com.", 6);
  const size_t fresh_len = fresh.size();
  fresh.resize(fresh_len + size);
  CHECK(wire::append_tsig(fresh, 11, rec) == 0);                // shorter than a header
  CHECK(wire::append_tsig(fresh, fresh.size() + 1, rec) == 0);  // past the buffer
  rec.time_signed = uint64_t(1) << 48;                          // does not fit in 48 bits
  CHECK(wire::append_tsig(fresh, fresh_len, rec) == 0);
  rec.time_signed = 1;
  fresh[10] = fresh[11] = 0xff;                                 // ARCOUNT full
  CHECK(wire::append_tsig(fresh, fresh_len, rec) == 0);
  fresh[10] = fresh[11] = 0;
  CHECK(wire::append_tsig(fresh, fresh_len, rec) == fresh.size());
}

TEST_CASE("TSIG verify_request: requests signed by kdig, dig and dnspython") {
  struct Case {
    const char* what;
    const std::string& hex;
    uint64_t time_signed;
    const crypto::TsigKey& key;
  };
  const Case cases[] = {
      {"kdig hmac-sha256", req_kdig_sha256, T, key256},
      {"dig hmac-sha512 (EDNS, cookie)", req_dig_sha512, T + 1, key512},
      {"dig hmac-sha1", req_dig_sha1, T + 2, key1},
      {"dnspython hmac-sha224, mixed-case key name", req_py_sha224, T, key224},
      {"dnspython hmac-sha384", req_py_sha384, T, key384},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.what));
    const Bytes msg = from_hex(c.hex);
    const wire::TsigRecord t = tsig_of(msg);
    crypto::TsigVerifyResult r = crypto::verify_request(msg, t, all_keys, c.time_signed);
    CHECK(r.status == TsigStatus::ok);
    CHECK(r.key != nullptr);
    CHECK(r.key->name == c.key.name);
    CHECK(r.key->algorithm == c.key.algorithm);
    CHECK(to_hex(r.request_mac.view()) == to_hex(t.mac));
    CHECK(r.time_signed == c.time_signed);
    CHECK(r.error() == 0);
    CHECK(r.rcode() == wire::rcode::NOERROR);
    CHECK(r.sign_response());

    // Inside the fudge either way; BADTIME one second past it.
    CHECK(verify(msg, c.time_signed + 300) == TsigStatus::ok);
    CHECK(verify(msg, c.time_signed - 300) == TsigStatus::ok);
    CHECK(verify(msg, c.time_signed + 301) == TsigStatus::badtime);
    CHECK(verify(msg, c.time_signed - 301) == TsigStatus::badtime);
    CHECK(verify(msg, 0) == TsigStatus::badtime);
    // One bit of the MAC, of the question, of the TSIG variables, or the Original ID.
    CHECK(verify(flipped(msg, msg.size() - 7), c.time_signed) == TsigStatus::badsig);
    CHECK(verify(flipped(msg, 14), c.time_signed) == TsigStatus::badsig);
    CHECK(verify(flipped(msg, 2), c.time_signed) == TsigStatus::badsig);  // RD flag
    CHECK(verify(retsig(msg, [](wire::TsigRecord& x) { x.fudge = 301; }), c.time_signed) == TsigStatus::badsig);
    CHECK(verify(retsig(msg, [](wire::TsigRecord& x) { x.original_id ^= 1; }), c.time_signed) ==
          TsigStatus::badsig);
    // The MAC is checked first (§5.2): a forged request far off in time is BADSIG, not BADTIME.
    CHECK(verify(flipped(msg, msg.size() - 7), 0) == TsigStatus::badsig);
    // The ID itself is not covered (Original ID is): a forwarder may renumber a request.
    Bytes renumbered = msg;
    renumbered[0] ^= 0xff;
    CHECK(verify(renumbered, c.time_signed) == TsigStatus::ok);

    // Unknown key, another algorithm under the same name, another secret.
    std::vector<crypto::TsigKey> others;
    for (const auto& k : all_keys)
      if (k.name != c.key.name) others.push_back(k);
    crypto::TsigVerifyResult unknown = crypto::verify_request(msg, t, others, c.time_signed);
    CHECK(unknown.status == TsigStatus::badkey);
    CHECK(unknown.key == nullptr);
    CHECK(unknown.error() == wire::tsig_error::BADKEY);
    CHECK(unknown.rcode() == wire::rcode::NOTAUTH);
    CHECK(!unknown.sign_response());
    crypto::TsigKey other_alg = c.key;
    other_alg.algorithm = c.key.algorithm == crypto::TsigAlgorithm::hmac_sha1 ? crypto::TsigAlgorithm::hmac_sha256
                                                                              : crypto::TsigAlgorithm::hmac_sha1;
    CHECK(verify(msg, c.time_signed, std::span(&other_alg, 1)) == TsigStatus::badkey);
    crypto::TsigKey other_secret = c.key;
    other_secret.secret.back() ^= 1;
    CHECK(verify(msg, c.time_signed, std::span(&other_secret, 1)) == TsigStatus::badsig);
  }
}

TEST_CASE("TSIG verify_request: truncated MACs (RFC 8945 §5.2.2.1, §5.2.4)") {
  struct Case {
    const std::string& hex;
    uint64_t time_signed;
    size_t mac_size;
    TsigStatus expected;
  };
  const Case cases[] = {
      {req_kdig_sha256, T, 32, TsigStatus::ok},
      {req_kdig_sha256, T, 31, TsigStatus::badtrunc},
      {req_kdig_sha256, T, 16, TsigStatus::badtrunc},  // half of SHA-256: allowed, not by us
      {req_kdig_sha256, T, 15, TsigStatus::formerr},
      {req_kdig_sha256, T, 0, TsigStatus::formerr},
      {req_dig_sha1, T + 2, 10, TsigStatus::badtrunc},  // max(10, 20 / 2)
      {req_dig_sha1, T + 2, 9, TsigStatus::formerr},
      {req_dig_sha512, T + 1, 32, TsigStatus::badtrunc},
      {req_dig_sha512, T + 1, 31, TsigStatus::formerr},
  };
  for (const Case& c : cases) {
    CAPTURE(c.mac_size);
    const Bytes msg = retsig(from_hex(c.hex), [&](wire::TsigRecord& t) { t.mac = t.mac.first(c.mac_size); });
    CHECK(verify(msg, c.time_signed) == c.expected);
    if (c.expected == TsigStatus::badtrunc) {
      // A truncated MAC that is wrong is BADSIG; one out of time is BADTIME (checked before).
      CHECK(verify(flipped(msg, msg.size() - 7), c.time_signed) == TsigStatus::badsig);
      CHECK(verify(msg, c.time_signed + 1000) == TsigStatus::badtime);
      crypto::TsigVerifyResult r = crypto::verify_request(msg, tsig_of(msg), all_keys, c.time_signed);
      CHECK(r.request_mac.len == c.mac_size);  // the response is signed over the truncated MAC
      CHECK(r.sign_response());
      CHECK(r.error() == wire::tsig_error::BADTRUNC);
    }
  }
  // Longer than the hash: FORMERR.
  Bytes longer = from_hex(req_kdig_sha256);
  Bytes mac33(33, 0);
  CHECK(verify(retsig(longer, [&](wire::TsigRecord& t) { t.mac = mac33; }), T) == TsigStatus::formerr);
}

TEST_CASE("TsigSigner: reproduces kdig's and dig's requests") {
  struct Case {
    const std::string& hex;
    uint64_t time_signed;
    const crypto::TsigKey& key;
  };
  const Case cases[] = {{req_kdig_sha256, T, key256},
                        {req_dig_sha512, T + 1, key512},
                        {req_dig_sha1, T + 2, key1},
                        {req_py_sha384, T, key384}};
  for (const Case& c : cases) {
    const Bytes msg = from_hex(c.hex);
    crypto::TsigSigner signer(c.key, {});
    Bytes got = sign(signer, c.key, strip_tsig(msg), c.time_signed);
    CHECK(to_hex(got) == c.hex);
    CHECK(to_hex(signer.last_mac().view()) == to_hex(tsig_of(msg).mac));
  }
}

TEST_CASE("TsigSigner: a response and a stream, byte for byte as dnspython signs them") {
  const Bytes request = from_hex(req_kdig_sha256);
  const wire::TsigRecord rt = tsig_of(request);
  crypto::TsigVerifyResult vr = crypto::verify_request(request, rt, all_keys, T);
  REQUIRE(vr.status == TsigStatus::ok);

  SUBCASE("one response; no room is 0 and leaves the signer usable") {
    crypto::TsigSigner signer(*vr.key, vr.request_mac.view());
    Bytes msg = from_hex(resp_unsigned);
    const size_t len = msg.size();
    const size_t rr = from_hex(resp_signed).size() - len;
    CHECK(rr <= crypto::tsig_max_rr_size(key256));
    msg.resize(len + rr - 1);
    CHECK(signer.sign(msg, len, T + 1) == 0);
    msg.resize(len + rr);
    CHECK(signer.sign(msg, len, T + 1) == len + rr);
    CHECK(to_hex(msg) == resp_signed);
  }
  SUBCASE("two messages: the second covers the prior MAC and the timers only") {
    crypto::TsigSigner signer(key256, rt.mac);
    CHECK(to_hex(sign(signer, key256, from_hex(stream1_unsigned), T + 2)) == stream1_signed);
    CHECK(to_hex(sign(signer, key256, from_hex(stream2_unsigned), T + 3)) == stream2_signed);
  }
  SUBCASE("three messages, the middle one unsigned") {
    crypto::TsigSigner signer(key256, rt.mac);
    CHECK(!signer.add_unsigned(from_hex(gap2_plain)));  // the first message is signed
    CHECK(to_hex(sign(signer, key256, strip_tsig(from_hex(gap1_signed)), T + 2)) == gap1_signed);
    CHECK(signer.add_unsigned(from_hex(gap2_plain)));
    CHECK(to_hex(sign(signer, key256, from_hex(gap3_unsigned), T + 4)) == gap3_signed);
  }
  SUBCASE("BADTIME: time signed is the request's, other data our clock") {
    crypto::TsigSigner signer(key256, rt.mac);
    Bytes msg = from_hex(badtime_unsigned);
    const size_t len = msg.size();
    msg.resize(len + crypto::tsig_max_rr_size(key256));
    size_t n = signer.sign_badtime(msg, len, T + 1000, vr.time_signed);
    CHECK(n == msg.size());  // the bound is exact for a BADTIME answer
    msg.resize(n);
    CHECK(to_hex(msg) == badtime_signed);
  }
}

TEST_CASE("append_unsigned_tsig: BADKEY and BADSIG answers carry an empty MAC") {
  const Bytes request = from_hex(req_dig_sha1);
  const wire::TsigRecord rt = tsig_of(request);
  for (uint16_t error : {wire::tsig_error::BADKEY, wire::tsig_error::BADSIG}) {
    Bytes msg = from_hex(badtime_unsigned);
    msg[0] = 0x77, msg[1] = 0x88;
    const size_t len = msg.size();
    msg.resize(len + 100);
    size_t n = crypto::append_unsigned_tsig(msg, len, rt, error);
    REQUIRE(n != 0);
    msg.resize(n);
    wire::TsigRecord t = tsig_of(msg);
    CHECK(t.mac.empty());
    CHECK(t.other.empty());
    CHECK(t.error == error);
    CHECK(t.original_id == 0x7788);
    CHECK(wire::name_equal(t.key_name.view(), rt.key_name.view()));
    CHECK(wire::name_equal(t.algorithm.view(), rt.algorithm.view()));
    CHECK(t.time_signed == rt.time_signed);
    CHECK(crypto::append_unsigned_tsig(msg, 5, rt, error) == 0);
  }
}

TEST_CASE("TsigVerifier: dnspython's response and streams") {
  const Bytes request = from_hex(req_kdig_sha256);
  const wire::TsigRecord rt = tsig_of(request);
  struct Case {
    const char* what;
    std::vector<std::string> messages;
    uint64_t now;
    std::vector<TsigStatus> each;
    TsigStatus finish;
  };
  const auto ok = TsigStatus::ok;
  const Case cases[] = {
      {"one response", {resp_signed}, T + 1, {ok}, ok},
      {"two signed messages", {stream1_signed, stream2_signed}, T + 3, {ok, ok}, ok},
      {"signed, unsigned, signed", {gap1_signed, gap2_plain, gap3_signed}, T + 3, {ok, ok, ok}, ok},
      {"the last one unsigned", {gap1_signed, gap2_plain}, T + 3, {ok, ok}, TsigStatus::unsigned_},
      {"the first one unsigned", {gap2_plain, gap3_signed}, T + 3, {TsigStatus::unsigned_, TsigStatus::unsigned_},
       TsigStatus::unsigned_},
      {"out of order", {stream2_signed, stream1_signed}, T + 3, {TsigStatus::badsig, TsigStatus::badsig},
       TsigStatus::badsig},
      {"the unsigned message left out", {gap1_signed, gap3_signed}, T + 3, {ok, TsigStatus::badsig}, TsigStatus::badsig},
      {"a message replayed", {stream1_signed, stream1_signed}, T + 3, {ok, TsigStatus::badsig}, TsigStatus::badsig},
      {"clock far off", {resp_signed}, T + 1000, {TsigStatus::badtime}, TsigStatus::badtime},
      {"the BADTIME answer", {badtime_signed}, T, {TsigStatus::peer_error}, TsigStatus::peer_error},
      {"a request is not a response", {req_kdig_sha256}, T, {TsigStatus::badsig}, TsigStatus::badsig},
      {"nothing received", {}, T, {}, TsigStatus::unsigned_},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.what));
    crypto::TsigVerifier v(key256, rt.mac);
    for (size_t i = 0; i < c.messages.size(); ++i) {
      CAPTURE(i);
      CHECK(v.verify(from_hex(c.messages[i]), c.now) == c.each[i]);
    }
    CHECK(v.finish() == c.finish);
  }
  crypto::TsigVerifier v(key256, rt.mac);
  CHECK(v.verify(from_hex(badtime_signed), T) == TsigStatus::peer_error);
  CHECK(v.peer_error() == wire::tsig_error::BADTIME);
  crypto::TsigVerifier wrong_key(key512, rt.mac);
  CHECK(wrong_key.verify(from_hex(resp_signed), T + 1) == TsigStatus::badkey);
  crypto::TsigVerifier wrong_mac(key256, tsig_of(from_hex(req_dig_sha1)).mac);
  CHECK(wrong_mac.verify(from_hex(resp_signed), T + 1) == TsigStatus::badsig);
}

TEST_CASE("TsigVerifier: an unsigned BADKEY answer, a truncated MAC, a malformed TSIG") {
  const Bytes request = from_hex(req_kdig_sha256);
  const wire::TsigRecord rt = tsig_of(request);
  Bytes badkey = from_hex(badtime_unsigned);
  const size_t len = badkey.size();
  badkey.resize(len + 100);
  badkey.resize(crypto::append_unsigned_tsig(badkey, len, rt, wire::tsig_error::BADKEY));
  crypto::TsigVerifier v(key256, rt.mac);
  CHECK(v.verify(badkey, T) == TsigStatus::peer_error);
  CHECK(v.peer_error() == wire::tsig_error::BADKEY);
  CHECK(v.verify(from_hex(resp_signed), T + 1) == TsigStatus::peer_error);  // a failure is final

  const Bytes truncated = retsig(from_hex(resp_signed), [](wire::TsigRecord& t) { t.mac = t.mac.first(16); });
  crypto::TsigVerifier vt(key256, rt.mac);
  CHECK(vt.verify(truncated, T + 1) == TsigStatus::badtrunc);
  const Bytes too_short = retsig(from_hex(resp_signed), [](wire::TsigRecord& t) { t.mac = t.mac.first(15); });
  crypto::TsigVerifier vs(key256, rt.mac);
  CHECK(vs.verify(too_short, T + 1) == TsigStatus::formerr);
  Bytes misplaced = from_hex(resp_signed);
  misplaced.push_back(0);
  crypto::TsigVerifier vm(key256, rt.mac);
  CHECK(vm.verify(misplaced, T + 1) == TsigStatus::formerr);
}

TEST_CASE("TSIG round trip for every algorithm: request, response stream with 99 unsigned") {
  for (const crypto::TsigKey& key : all_keys) {
    CAPTURE(key.name_text);
    const uint64_t now = 1700000000;
    crypto::TsigSigner client(key, {});
    const Bytes query = sign(client, key, test::make_query("example.com.", 252, {.id = 0x5151}), now);
    REQUIRE(!query.empty());
    crypto::TsigVerifyResult vr = crypto::verify_request(query, tsig_of(query), all_keys, now + 5);
    REQUIRE(vr.status == TsigStatus::ok);
    CHECK(vr.key->name == key.name);
    CHECK(to_hex(vr.request_mac.view()) == to_hex(client.last_mac().view()));

    Bytes body = from_hex(resp_unsigned);
    body[0] = 0x51, body[1] = 0x51;
    crypto::TsigSigner server(*vr.key, vr.request_mac.view());
    crypto::TsigVerifier verifier(key, client.last_mac().view());
    Bytes first = sign(server, key, body, now + 6);
    REQUIRE(first.size() <= body.size() + crypto::tsig_max_rr_size(key));
    CHECK(verifier.verify(first, now + 7) == TsigStatus::ok);
    for (unsigned i = 0; i < crypto::tsig_max_unsigned_run; ++i) {
      CHECK(server.add_unsigned(body));
      CHECK(verifier.verify(body, now + 7) == TsigStatus::ok);
    }
    CHECK(!server.add_unsigned(body));  // a 100th in a row is refused
    CHECK(verifier.finish() == TsigStatus::unsigned_);
    CHECK(verifier.verify(sign(server, key, body, now + 8), now + 9) == TsigStatus::ok);
    CHECK(verifier.verify(sign(server, key, body, now + 8), now + 9) == TsigStatus::ok);
    CHECK(verifier.finish() == TsigStatus::ok);
    CHECK(to_hex(verifier.last_mac().view()) == to_hex(server.last_mac().view()));

    // A 100th unsigned message in a row fails the stream.
    crypto::TsigSigner server2(*vr.key, vr.request_mac.view());
    crypto::TsigVerifier verifier2(key, client.last_mac().view());
    CHECK(verifier2.verify(sign(server2, key, body, now), now) == TsigStatus::ok);
    for (unsigned i = 0; i < crypto::tsig_max_unsigned_run; ++i) CHECK(verifier2.verify(body, now) == TsigStatus::ok);
    CHECK(verifier2.verify(body, now) == TsigStatus::unsigned_);
  }
}

TEST_CASE("find_tsig and verify_request on every truncation and every one-byte change") {
  // Hostile input: nothing may crash or read out of bounds (run under ASan in the test build).
  for (const std::string* hex : {&req_kdig_sha256, &req_dig_sha512, &resp_signed}) {
    const Bytes msg = from_hex(*hex);
    for (size_t n = 0; n < msg.size(); ++n) {
      Bytes cut(msg.begin(), msg.begin() + ptrdiff_t(n));
      CHECK(verify(cut, T) != TsigStatus::ok);
    }
    size_t accepted = 0;
    for (size_t i = 0; i < msg.size(); ++i) {
      for (int v : {0x00, 0x3f, 0xc0, 0xff}) {
        Bytes m = msg;
        if (m[i] == uint8_t(v)) continue;
        m[i] = uint8_t(v);
        if (verify(m, T) == TsigStatus::ok) ++accepted;
      }
    }
    // Only the two ID bytes are outside the MAC (Original ID stands in for them).
    CHECK(accepted <= 8);
  }
}
