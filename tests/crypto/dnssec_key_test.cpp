// Tests for crypto/dnssec_key: key tags and DS digests against the RFCs' examples and BIND's
// dnssec-keygen / dnssec-dsfromkey, key files both ways (BIND's read by us, ours by BIND and
// ldns), broken key files, and signatures that verify.
#include "crypto/dnssec_key.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/hmac.hpp"
#include "support/dns_test.hpp"

using namespace apexd;
using crypto::DnssecAlgorithm;
using Bytes = std::vector<uint8_t>;

namespace {

std::string to_hex(std::span<const uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Run {
  int rc = -1;
  std::string out;  ///< stdout only
};

// Runs a shell command; stderr goes to the test's stderr only when the command fails.
Run run(const std::string& cmd) {
  Run r;
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool have_tool(const std::string& name) { return run("command -v " + name).rc == 0; }

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// "tag alg 2 hex" of our DS RDATA, the way the tools print the RDATA (hex lowercased).
std::string ds_text(std::span<const uint8_t> ds) {
  REQUIRE(ds.size() == 4 + 32);
  return std::to_string(unsigned(ds[0] << 8 | ds[1])) + " " + std::to_string(ds[2]) + " " + std::to_string(ds[3]) +
         " " + to_hex(ds.subspan(4));
}

// The RDATA part of one DS line as printed by dnssec-dsfromkey or ldns-key2ds ("owner [ttl] IN DS
// tag alg digest-type HEX"), hex lowercased; "" when there is no DS line.
std::string ds_rdata_of_output(const std::string& out) {
  std::istringstream in(out);
  std::vector<std::string> t;
  for (std::string s; in >> s;) t.push_back(s);
  for (size_t i = 0; i + 4 < t.size(); ++i)
    if (t[i] == "DS") return t[i + 1] + " " + t[i + 2] + " " + t[i + 3] + " " + lower(t[i + 4]);
  return "";
}

// "Kexample.com.+013+37062" -> 37062.
uint16_t id_in_base(const std::string& base) {
  std::string file = std::filesystem::path(base).filename().string();
  return uint16_t(std::stoul(file.substr(file.rfind('+') + 1)));
}

// Runs BIND's dnssec-keygen in `dir`; returns the key's base path (dir/K...).
std::string bind_keygen(const std::string& dir, const std::string& args, const std::string& zone) {
  Run r = run("dnssec-keygen -q " + args + " -K " + shell_quote(dir) + " " + zone);
  REQUIRE_MESSAGE(r.rc == 0, "dnssec-keygen " << args << " failed");
  std::string base = r.out.substr(0, r.out.find_first_of("\r\n"));
  REQUIRE(!base.empty());
  return dir + "/" + base;
}

std::string origin_of(const char* text) { return test::wire_name(text); }

// RFC 4034 §3.1.8.1's signed data for a one-RR RRset, written out by hand (independent of
// crypto/rrsig): RRSIG RDATA without the signature, then owner | type | class | TTL | RDLENGTH | RDATA.
struct SignedFields {
  uint16_t type;
  uint8_t algorithm, labels;
  uint32_t ttl, expiration, inception;
  uint16_t tag;
  std::string signer, owner;  ///< wire form, lowercase
};

Bytes signed_data(const SignedFields& f, const Bytes& rdata) {
  Bytes out;
  auto put16 = [&](uint32_t v) {
    out.push_back(uint8_t(v >> 8));
    out.push_back(uint8_t(v));
  };
  auto put32 = [&](uint32_t v) {
    put16(v >> 16);
    put16(v & 0xFFFF);
  };
  put16(f.type);
  out.push_back(f.algorithm);
  out.push_back(f.labels);
  put32(f.ttl);
  put32(f.expiration);
  put32(f.inception);
  put16(f.tag);
  out.insert(out.end(), f.signer.begin(), f.signer.end());
  out.insert(out.end(), f.owner.begin(), f.owner.end());
  put16(f.type);
  put16(1);
  put32(f.ttl);
  put16(uint32_t(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
  return out;
}

}  // namespace

// ---- RFC examples ----------------------------------------------------------------------------

TEST_CASE("dnssec key_tag and ds_rdata: the RFCs' example keys") {
  // DNSKEY RDATA and DS from RFC 4034 §5.4 (algorithm 5; tag by Appendix B) with RFC 4509 §2.3's
  // SHA-256 digest, RFC 6605 §6.1 (ECDSAP256SHA256) and RFC 8080 §6.1 (ED25519). ldns-key2ds
  // prints the same DS for each.
  struct Case {
    const char* owner;
    uint16_t flags;
    uint8_t algorithm;
    const char* key_b64;
    uint16_t tag;
    const char* digest;
  } cases[] = {
      {"dskey.example.com.", 256, 5,
       "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+"
       "X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
       60485, "d4b7d520e7bb5f0f67674a0cceb1e3e0614b93c4f9e99b8383f6a1e4469da50a"},
      {"example.net.", 257, 13, "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
       55648, "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17"},
      {"example.com.", 257, 15, "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", 3613,
       "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b"},
      // The owner is digested in canonical form (RFC 4034 §5.1.4): letter case changes nothing.
      {"EXAMPLE.Net.", 257, 13, "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
       55648, "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17"},
  };
  for (const Case& c : cases) {
    INFO("c.owner := " << std::string(c.owner));
    CAPTURE(c.tag);
    auto key = crypto::base64_decode(c.key_b64);
    REQUIRE(key);
    Bytes rdata{uint8_t(c.flags >> 8), uint8_t(c.flags), 3, c.algorithm};
    rdata.insert(rdata.end(), key->begin(), key->end());
    CHECK(crypto::key_tag(rdata) == c.tag);
    std::string owner = origin_of(c.owner);
    Bytes ds = crypto::ds_rdata(test::view(owner), rdata);
    CHECK(ds_text(ds) == std::to_string(c.tag) + " " + std::to_string(c.algorithm) + " 2 " + c.digest);
  }
}

TEST_CASE("dnssec key_tag: RFC 4034 Appendix B on short and odd-length RDATA") {
  // Appendix B: even octets are the high byte, odd the low, carry folded once. Hand-computed.
  struct Case {
    Bytes rdata;
    uint16_t tag;
  } cases[] = {
      {{}, 0},
      {{0x01}, 0x0100},
      {{0x01, 0x02}, 0x0102},
      {{0x01, 0x02, 0x03}, 0x0402},
      {{0xFF, 0xFF, 0xFF, 0xFF}, 0xFFFF},  // 0x1FFFE: carry 1 folded back in
      {{0x80, 0x00, 0x80, 0x00}, 0x0001},  // 0x10000 -> 0x0000 + 1
  };
  for (const Case& c : cases) {
    CAPTURE(to_hex(c.rdata));
    CHECK(crypto::key_tag(c.rdata) == c.tag);
  }
}

TEST_CASE("dnssec algorithm names") {
  struct Case {
    const char* text;
    std::optional<DnssecAlgorithm> alg;
  } cases[] = {
      {"ECDSAP256SHA256", DnssecAlgorithm::ecdsap256sha256},
      {"ecdsap256sha256", DnssecAlgorithm::ecdsap256sha256},
      {"13", DnssecAlgorithm::ecdsap256sha256},
      {"ED25519", DnssecAlgorithm::ed25519},
      {"Ed25519", DnssecAlgorithm::ed25519},
      {"15", DnssecAlgorithm::ed25519},
      {"RSASHA256", std::nullopt},
      {"8", std::nullopt},
      {"ED448", std::nullopt},
      {"", std::nullopt},
  };
  for (const Case& c : cases) {
    INFO("c.text := " << std::string(c.text));
    CHECK(crypto::dnssec_algorithm_from_text(c.text) == c.alg);
  }
  CHECK(crypto::dnssec_algorithm_mnemonic(DnssecAlgorithm::ecdsap256sha256) == "ECDSAP256SHA256");
  CHECK(crypto::dnssec_algorithm_mnemonic(DnssecAlgorithm::ed25519) == "ED25519");
}

TEST_CASE("dnssec sha256: FIPS 180-2 vectors, repeatedly on one thread") {
  struct Case {
    std::string data;
    const char* digest;
  } cases[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  };
  for (int round = 0; round < 2; ++round) {
    for (const Case& c : cases) {
      CAPTURE(c.data);
      std::array<uint8_t, 32> out{};
      REQUIRE(crypto::sha256({reinterpret_cast<const uint8_t*>(c.data.data()), c.data.size()}, out));
      CHECK(to_hex(out) == c.digest);
    }
  }
}

TEST_CASE("dnssec RFC 8080 §6.1 key: read, its Ed25519 signature is the RFC's (deterministic)") {
  // The RFC's key pair and the RRSIG over "example.com. 3600 IN MX 10 mail.example.com.".
  test::TempDir dir;
  std::string base = (dir.path() / "Kexample.com.+015+03613").string();
  write_text(base + ".key", "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n");
  write_text(base + ".private",
             "Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\nPrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=\n");
  std::string origin = origin_of("example.com.");
  auto key = crypto::SigningKey::read(base, test::view(origin));
  CHECK(key->tag() == 3613);
  CHECK(key->sep());
  CHECK(key->algorithm() == DnssecAlgorithm::ed25519);

  std::string mail = origin_of("mail.example.com.");
  Bytes mx{0, 10};
  mx.insert(mx.end(), mail.begin(), mail.end());
  Bytes data = signed_data({.type = 15, .algorithm = 15, .labels = 2, .ttl = 3600, .expiration = 1440021600,
                            .inception = 1438207200, .tag = 3613, .signer = origin, .owner = origin},
                           mx);
  std::array<uint8_t, crypto::max_signature_size> sig{};
  size_t n = key->sign(data, sig);
  REQUIRE(n == 64);
  auto expected = crypto::base64_decode("oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==");
  REQUIRE(expected);
  CHECK(to_hex({sig.data(), n}) == to_hex(*expected));
  CHECK(crypto::verify_signature(key->dnskey_rdata(), data, *expected));
}

const char* rfc6605_key_line =
    "example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb "
    "krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==\n";
const char* rfc6605_private =
    "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=\n";

TEST_CASE("dnssec RFC 6605 §6.1 key: read, and the RFC's ECDSA signature verifies") {
  test::TempDir dir;
  std::string base = (dir.path() / "Kexample.net.+013+55648").string();
  write_text(base + ".key", rfc6605_key_line);
  write_text(base + ".private", rfc6605_private);
  std::string origin = origin_of("example.net.");
  auto key = crypto::SigningKey::read(base, test::view(origin));
  CHECK(key->tag() == 55648);

  // www.example.net. 3600 IN A 192.0.2.1, RRSIG A 13 3 3600 20100909100439 20100812100439 55648.
  Bytes data = signed_data({.type = 1, .algorithm = 13, .labels = 3, .ttl = 3600, .expiration = 1284026679,
                            .inception = 1281607479, .tag = 55648, .signer = origin,
                            .owner = origin_of("www.example.net.")},
                           {192, 0, 2, 1});
  auto sig = crypto::base64_decode("qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==");
  REQUIRE(sig);
  CHECK(crypto::verify_signature(key->dnskey_rdata(), data, *sig));
  Bytes other = data;
  other.back() = 2;  // 192.0.2.2: not what was signed
  CHECK_FALSE(crypto::verify_signature(key->dnskey_rdata(), other, *sig));
}

// Regression: the .key reader once took every token after the algorithm as base64, so the
// parentheses of zone-file syntax (RFC 1035 §5.1), which dnssec-dsfromkey and ldns-key2ds accept
// (single-line or split over lines, as the RFCs print keys), made it "not valid base64".
TEST_CASE("dnssec SigningKey::read: a .key file with the DNSKEY in parentheses, as BIND reads it") {
  const char* texts[] = {
      "example.net. 3600 IN DNSKEY 257 3 13 ( GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb "
      "krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA== )\n",
      "example.net. 3600 IN DNSKEY 257 3 13 ( GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb\n"
      "        krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA== )\n",
  };
  std::string origin = origin_of("example.net.");
  for (const char* text : texts) {
    INFO("text := " << std::string(text));
    test::TempDir dir;
    std::string base = (dir.path() / "Kexample.net.+013+55648").string();
    write_text(base + ".key", text);
    write_text(base + ".private", rfc6605_private);
    if (have_tool("dnssec-dsfromkey"))  // BIND reads it: the same DS as the RFC's
      CHECK(ds_rdata_of_output(run("dnssec-dsfromkey -2 " + shell_quote(base + ".key")).out) ==
            "55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17");
    std::string error;
    try {
      CHECK(crypto::SigningKey::read(base, test::view(origin))->tag() == 55648);
    } catch (const crypto::KeyError& e) {
      error = e.what();
    }
    CHECK(error == "");
  }
}

// ---- BIND's key files --------------------------------------------------------------------------

TEST_CASE("dnssec keys made by BIND's dnssec-keygen: our tag is its key id, our DS is dnssec-dsfromkey's") {
  REQUIRE_MESSAGE(have_tool("dnssec-keygen"), "BIND 9 tools (bind9-dnsutils / bind9) are needed");
  struct Case {
    const char* args;
    DnssecAlgorithm alg;
    uint16_t flags;
  } cases[] = {
      {"-a ECDSAP256SHA256 -f KSK", DnssecAlgorithm::ecdsap256sha256, 257},
      {"-a ECDSAP256SHA256", DnssecAlgorithm::ecdsap256sha256, 256},
      {"-a ED25519 -f KSK", DnssecAlgorithm::ed25519, 257},
      {"-a ED25519", DnssecAlgorithm::ed25519, 256},
  };
  std::string origin = origin_of("example.com.");
  for (const Case& c : cases) {
    INFO("c.args := " << std::string(c.args));
    test::TempDir dir;
    std::string base = bind_keygen(dir.path().string(), c.args, "example.com");
    auto key = crypto::SigningKey::read(base, test::view(origin));
    CHECK(key->algorithm() == c.alg);
    CHECK(key->flags() == c.flags);
    CHECK(key->sep() == (c.flags == 257));
    CHECK(key->tag() == id_in_base(base));
    CHECK(crypto::key_tag(key->dnskey_rdata()) == id_in_base(base));
    CHECK(key->file_base() == base);

    Run ds = run("dnssec-dsfromkey -2 " + shell_quote(base + ".key"));
    REQUIRE(ds.rc == 0);
    CHECK(ds_text(crypto::ds_rdata(test::view(origin), key->dnskey_rdata())) == ds_rdata_of_output(ds.out));

    // A BIND key signs, and the signature verifies with its DNSKEY.
    const uint8_t data[] = "signed data";
    std::array<uint8_t, crypto::max_signature_size> sig{};
    size_t n = key->sign(data, sig);
    REQUIRE(n == 64);
    CHECK(crypto::verify_signature(key->dnskey_rdata(), data, {sig.data(), n}));
  }
}

TEST_CASE("dnssec read_zone_keys: every key of the zone in the folder, sorted by tag, others ignored") {
  REQUIRE(have_tool("dnssec-keygen"));
  test::TempDir dir;
  std::string d = dir.path().string();
  std::string ksk = bind_keygen(d, "-a ECDSAP256SHA256 -f KSK", "example.com");
  std::string zsk = bind_keygen(d, "-a ED25519", "example.com");
  bind_keygen(d, "-a ECDSAP256SHA256", "example.net");      // another zone
  bind_keygen(d, "-a ECDSAP256SHA256", "sub.example.com");  // a zone below
  bind_keygen(d, "-a RSASHA256 -b 2048", "other.test");     // an algorithm we do not sign with, other zone
  dir.write("notes.private", "not a key");
  dir.write("Kexample.com.+013+00001.key", "; a .key without its .private is not a key pair\n");

  struct Case {
    const char* origin;
    size_t count;
  } cases[] = {{"example.com.", 2}, {"Example.COM.", 2}, {"example.net.", 1}, {"sub.example.com.", 1},
               {"example.org.", 0}};
  for (const Case& c : cases) {
    INFO("c.origin := " << std::string(c.origin));
    std::string origin = origin_of(c.origin);
    auto keys = crypto::read_zone_keys(d, test::view(origin));
    REQUIRE(keys.size() == c.count);
    // Non-decreasing, not strictly: a KSK (ECDSA) and a ZSK (Ed25519) may share a tag — BIND's
    // keygen only avoids clashes within one algorithm, and CI once drew 52376 for both.
    for (size_t i = 1; i < keys.size(); ++i) CHECK(keys[i - 1]->tag() <= keys[i]->tag());
  }
  std::string origin = origin_of("example.com.");
  auto keys = crypto::read_zone_keys(d, test::view(origin));
  std::vector<uint16_t> tags{keys[0]->tag(), keys[1]->tag()};
  std::vector<uint16_t> ids{id_in_base(ksk), id_in_base(zsk)};
  std::sort(ids.begin(), ids.end());
  CHECK(tags == ids);

  CHECK(crypto::read_zone_keys(d + "/missing", test::view(origin)).empty());
}

// Regression: CI drew a KSK (ECDSA) and a ZSK (Ed25519) with the same tag, and read_zone_keys'
// "sorted by tag" check failed. Tags are a 16-bit checksum (RFC 4034 appendix B), so draw keys of
// both algorithms until two share a tag (a birthday draw: a few hundred keys), then read the pair.
TEST_CASE("dnssec read_zone_keys: two keys of different algorithms with the same tag are both read, in a fixed order") {
  test::TempDir pool, pair;
  std::string origin = origin_of("example.com.");
  std::map<uint16_t, std::string> ecdsa, ed25519;
  std::optional<std::pair<std::string, std::string>> clash;
  for (int i = 0; i < 4000 && !clash; ++i) {
    bool ed = i % 2;
    std::string base = crypto::generate_key(pool.path().string(), test::view(origin),
                                            ed ? DnssecAlgorithm::ed25519 : DnssecAlgorithm::ecdsap256sha256,
                                            ed ? 256 : 257, 1700000000);
    uint16_t tag = id_in_base(base);
    (ed ? ed25519 : ecdsa)[tag] = base;
    auto& other = ed ? ecdsa : ed25519;
    if (auto it = other.find(tag); it != other.end()) clash = ed ? std::pair(it->second, base) : std::pair(base, it->second);
  }
  REQUIRE(clash);
  for (const std::string& base : {clash->first, clash->second})
    for (const char* ext : {".key", ".private"})
      std::filesystem::copy_file(pool.path() / (base + ext), pair.path() / (base + ext));
  auto keys = crypto::read_zone_keys(pair.path().string(), test::view(origin));
  REQUIRE(keys.size() == 2);
  CHECK(keys[0]->tag() == keys[1]->tag());
  CHECK(keys[0]->algorithm() == DnssecAlgorithm::ecdsap256sha256);  // 13 before 15
  CHECK(keys[1]->algorithm() == DnssecAlgorithm::ed25519);
  CHECK(keys[0]->sep());
  CHECK_FALSE(keys[1]->sep());
}

TEST_CASE("dnssec generate_key: files we write are read back by us, BIND and ldns") {
  REQUIRE(have_tool("dnssec-dsfromkey"));
  const bool ldns = have_tool("ldns-key2ds");
  const bool signzone = have_tool("dnssec-signzone");
  if (!ldns) MESSAGE("ldns-key2ds (ldnsutils) not installed: that check is skipped");
  struct Case {
    const char* origin;
    DnssecAlgorithm alg;
    uint16_t flags;
    const char* prefix;
  } cases[] = {
      {"example.com.", DnssecAlgorithm::ecdsap256sha256, 257, "Kexample.com.+013+"},
      {"example.com.", DnssecAlgorithm::ecdsap256sha256, 256, "Kexample.com.+013+"},
      {"example.com.", DnssecAlgorithm::ed25519, 257, "Kexample.com.+015+"},
      {"Example.COM.", DnssecAlgorithm::ed25519, 256, "Kexample.com.+015+"},  // file names in lowercase
  };
  const int64_t now = int64_t(std::time(nullptr)) - 3600;  // active already, for dnssec-signzone
  for (const Case& c : cases) {
    INFO("c.origin := " << std::string(c.origin));
    CAPTURE(c.flags);
    CAPTURE(int(c.alg));
    test::TempDir dir;
    std::string d = (dir.path() / "keys").string();  // created by generate_key
    std::string origin = origin_of(c.origin);
    std::string name = crypto::generate_key(d, test::view(origin), c.alg, c.flags, now);
    CHECK(name.rfind(c.prefix, 0) == 0);
    CHECK(name.size() == std::string(c.prefix).size() + 5);  // a 5-digit tag
    std::string base = d + "/" + name;

    struct stat st {};
    REQUIRE(::stat((base + ".private").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(read_text(base + ".private").rfind("Private-key-format: v1.3\n", 0) == 0);

    auto key = crypto::SigningKey::read(base, test::view(origin));
    CHECK(key->tag() == id_in_base(base));
    CHECK(key->flags() == c.flags);
    CHECK(key->algorithm() == c.alg);
    auto keys = crypto::read_zone_keys(d, test::view(origin));
    REQUIRE(keys.size() == 1);
    CHECK(keys[0]->tag() == key->tag());

    std::string ours = ds_text(crypto::ds_rdata(test::view(origin), key->dnskey_rdata()));
    Run bind = run("dnssec-dsfromkey -2 " + shell_quote(base + ".key"));
    REQUIRE(bind.rc == 0);
    CHECK(ds_rdata_of_output(bind.out) == ours);
    if (ldns) {
      Run l = run("cd " + shell_quote(d) + " && ldns-key2ds -f -n -2 " + shell_quote(name + ".key"));
      REQUIRE(l.rc == 0);
      CHECK(ds_rdata_of_output(l.out) == ours);
    }
    // BIND reads our .private too: dnssec-signzone signs a zone with the key and verifies it.
    if (signzone) {
      std::string zone = dir.write("z.zone",
                                   "$TTL 300\nexample.com. SOA ns1.example.com. h.example.com. 1 7200 3600 1209600 300\n"
                                   "example.com. NS ns1.example.com.\nns1.example.com. A 192.0.2.1\n");
      // -d: the dsset file goes to the temp folder, not the working directory.
      Run s = run("dnssec-signzone -S -z -d " + shell_quote(dir.path().string()) + " -K " + shell_quote(d) +
                  " -o example.com. -f " + shell_quote((dir.path() / "z.signed").string()) + " " + shell_quote(zone));
      CHECK(s.rc == 0);
      std::string signed_text = read_text((dir.path() / "z.signed").string());
      CHECK(signed_text.find("RRSIG") != std::string::npos);
      CHECK(signed_text.find(std::to_string(key->tag())) != std::string::npos);
    }
  }
}

TEST_CASE("dnssec generate_key: two keys of a zone get two files, neither overwritten") {
  test::TempDir dir;
  std::string d = dir.path().string();
  std::string origin = origin_of("example.com.");
  std::string a = crypto::generate_key(d, test::view(origin), DnssecAlgorithm::ecdsap256sha256, 257, 1700000000);
  std::string b = crypto::generate_key(d, test::view(origin), DnssecAlgorithm::ecdsap256sha256, 256, 1700000000);
  CHECK(a != b);
  auto keys = crypto::read_zone_keys(d, test::view(origin));
  REQUIRE(keys.size() == 2);
  CHECK(keys[0]->sep() != keys[1]->sep());
  std::string key_text = read_text(d + "/" + a + ".key");
  CHECK(key_text.find("key-signing key") != std::string::npos);
  CHECK(key_text.find("; Created: 20231114221320") != std::string::npos);
  CHECK(read_text(d + "/" + a + ".private").find("Created: 20231114221320\n") != std::string::npos);
}

TEST_CASE("dnssec SigningKey::read: broken key files are KeyError naming the file") {
  REQUIRE(have_tool("dnssec-keygen"));
  test::TempDir dir;
  std::string d = dir.path().string();
  std::string origin = origin_of("example.com.");
  std::string good = bind_keygen(d, "-a ECDSAP256SHA256 -f KSK", "example.com");
  std::string other = bind_keygen(d, "-a ECDSAP256SHA256", "example.com");  // another key of the zone
  std::string net = bind_keygen(d, "-a ECDSAP256SHA256", "example.net");
  std::string rsa = bind_keygen(d, "-a RSASHA256 -b 2048", "example.com");
  const std::string good_key = read_text(good + ".key");
  const std::string good_private = read_text(good + ".private");

  // Each case writes a key pair at dir/Kbroken.+013+00000 from the good one and a change.
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    size_t at = s.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    return s.replace(at, from.size(), to);
  };
  auto line_with = [](const std::string& text, const std::string& what) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
      if (l.find(what) != std::string::npos) return l;
    return std::string();
  };
  std::string dnskey_line = line_with(good_key, "DNSKEY");
  std::string pub_b64 = dnskey_line.substr(dnskey_line.find(" 13 ") + 4);
  std::string priv_line = line_with(good_private, "PrivateKey:");

  struct Case {
    const char* what;
    std::string key_text, private_text;
    const char* file;    ///< the file the message must name
    const char* reason;  ///< part of the message
  } cases[] = {
      {"wrong owner", read_text(net + ".key"), read_text(net + ".private"), ".key", "the key is for example.net."},
      {"private key of another key", good_key, read_text(other + ".private"), ": ", "the private key does not match"},
      {"unsupported algorithm 8", read_text(rsa + ".key"), read_text(rsa + ".private"), ".key",
       "algorithm 8 is not supported"},
      {"bad base64 public key", replace(good_key, pub_b64, "!!!" + pub_b64), good_private, ".key:", "not valid base64"},
      {"bad base64 private key", good_key, replace(good_private, priv_line, "PrivateKey: abc*def="), ".private:",
       "PrivateKey is not valid base64"},
      {"public key cut short", replace(good_key, pub_b64, pub_b64.substr(0, 44)), good_private, ".key",
       "wrong length"},
      {"no Private-key-format", good_key, replace(good_private, "Private-key-format: v1.3", "Format: v1.3"),
       ".private", "Private-key-format"},
      {"private algorithm differs", good_key, replace(good_private, "Algorithm: 13", "Algorithm: 15"), ".private:",
       "algorithm differs"},
      {"no PrivateKey", good_key, replace(good_private, priv_line, ""), ".private", "no PrivateKey"},
      {"Zone Key flag unset", replace(good_key, "DNSKEY 257", "DNSKEY 1"), good_private, ".key:", "Zone Key"},
      {"protocol not 3", replace(good_key, "DNSKEY 257 3", "DNSKEY 257 4"), good_private, ".key:", "protocol"},
      {"no DNSKEY record", "; only a comment\n", good_private, ".key", "no DNSKEY"},
      {"not a DNSKEY", "example.com. IN A 192.0.2.1\n", good_private, ".key:", "expected a DNSKEY"},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    std::string base = d + "/Kbroken.+013+00000";
    write_text(base + ".key", c.key_text);
    write_text(base + ".private", c.private_text);
    std::string message;
    try {
      (void)crypto::SigningKey::read(base, test::view(origin));
    } catch (const crypto::KeyError& e) {
      message = e.what();
    }
    CAPTURE(message);
    CHECK(message.find(base) != std::string::npos);
    CHECK(message.find(std::string("Kbroken.+013+00000") + c.file) != std::string::npos);
    CHECK(message.find(c.reason) != std::string::npos);
  }

  // read_zone_keys throws for a broken key of the zone (the broken pair above is not one:
  // "Kbroken." names no zone of ours).
  std::filesystem::remove(d + "/Kbroken.+013+00000.private");
  std::filesystem::remove(rsa + ".private");
  write_text(other + ".private", good_private);
  CHECK_THROWS_WITH_AS((void)crypto::read_zone_keys(d, test::view(origin)),
                       doctest::Contains((other + ": the private key does not match").c_str()), crypto::KeyError);
  // A missing .private.
  std::filesystem::remove(good + ".private");
  CHECK_THROWS_WITH_AS((void)crypto::SigningKey::read(good, test::view(origin)),
                       doctest::Contains((good + ".private: cannot read").c_str()), crypto::KeyError);
}

TEST_CASE("dnssec sign and verify_signature: round trip, and what must not verify") {
  test::TempDir dir;
  std::string origin = origin_of("example.com.");
  for (DnssecAlgorithm alg : {DnssecAlgorithm::ecdsap256sha256, DnssecAlgorithm::ed25519}) {
    CAPTURE(int(alg));
    std::string d = (dir.path() / std::to_string(int(alg))).string();
    auto a = crypto::SigningKey::read(d + "/" + crypto::generate_key(d, test::view(origin), alg, 257, 1700000000),
                                      test::view(origin));
    auto b = crypto::SigningKey::read(d + "/" + crypto::generate_key(d, test::view(origin), alg, 256, 1700000000),
                                      test::view(origin));
    Bytes data(1000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
    std::array<uint8_t, crypto::max_signature_size> sig{};
    size_t n = a->sign(data, sig);
    REQUIRE(n == 64);
    std::span<const uint8_t> s(sig.data(), n);
    CHECK(crypto::verify_signature(a->dnskey_rdata(), data, s));
    CHECK(crypto::verify_signature(a->dnskey_rdata(), {}, s) == false);
    CHECK_FALSE(crypto::verify_signature(b->dnskey_rdata(), data, s));  // another key
    Bytes flipped = data;
    flipped[500] ^= 1;
    CHECK_FALSE(crypto::verify_signature(a->dnskey_rdata(), flipped, s));
    std::array<uint8_t, 64> bad_sig = sig;
    bad_sig[10] ^= 0x80;
    CHECK_FALSE(crypto::verify_signature(a->dnskey_rdata(), data, bad_sig));
    CHECK_FALSE(crypto::verify_signature(a->dnskey_rdata(), data, s.first(63)));
    CHECK_FALSE(crypto::verify_signature(a->dnskey_rdata().first(3), data, s));  // no algorithm/key
    Bytes rsa_key(a->dnskey_rdata().begin(), a->dnskey_rdata().end());
    rsa_key[3] = 8;
    CHECK_FALSE(crypto::verify_signature(rsa_key, data, s));

    std::array<uint8_t, 63> small{};
    CHECK(a->sign(data, small) == 0);  // needs max_signature_size bytes
    // Empty data signs and verifies too.
    n = a->sign({}, sig);
    REQUIRE(n == 64);
    CHECK(crypto::verify_signature(a->dnskey_rdata(), {}, {sig.data(), n}));
  }
}

TEST_CASE("dnssec key timing: BIND times, relative times, published and active") {
  using apexd::crypto::parse_key_time;
  CHECK(parse_key_time("20261203195720", 0) == int64_t(1796327840));
  CHECK(parse_key_time("19700101000000", 0) == int64_t(0));
  CHECK(parse_key_time("+90", 1000) == int64_t(1090));
  CHECK(parse_key_time("+2h", 1000) == int64_t(1000 + 7200));
  CHECK(parse_key_time("+1d", 0) == int64_t(86400));
  CHECK(parse_key_time("+1w", 0) == int64_t(604800));
  for (const char* bad : {"", "+", "+1x", "+1hh", "2026120319572", "20261303195720", "2026120319572a", "now"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_key_time(bad, 0).has_value());
  }
  // generate_key writes Publish/Activate; read() takes them back, and published/active follow.
  char dir[] = "/tmp/apexd-keytiming-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string o = *apexd::wire::name_from_text("timing.test.");
  apexd::wire::NameView origin(reinterpret_cast<const uint8_t*>(o.data()), o.size());
  std::string base = apexd::crypto::generate_key(dir, origin, apexd::crypto::DnssecAlgorithm::ecdsap256sha256, 256,
                                                 1000000, int64_t(1000100), int64_t(1000200));
  auto key = apexd::crypto::SigningKey::read(std::string(dir) + "/" + base, origin);
  CHECK(key->timing().publish == int64_t(1000100));
  CHECK(key->timing().activate == int64_t(1000200));
  CHECK_FALSE(key->published(1000099));
  CHECK(key->published(1000100));
  CHECK_FALSE(key->active(1000199));
  CHECK(key->active(1000200));
  CHECK(key->next_event(1000000) == int64_t(1000100));
  CHECK(key->next_event(1000100) == int64_t(1000200));
  CHECK_FALSE(key->next_event(1000200).has_value());
  std::filesystem::remove_all(dir);
}
