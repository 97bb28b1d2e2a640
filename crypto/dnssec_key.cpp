// DNSSEC keys through OpenSSL 3: EVP_PKEY from BIND's raw key material, EVP_DigestSign, and
// the key file formats of BIND's dnssec-keygen (Private-key-format v1.3).
#include "crypto/dnssec_key.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/hmac.hpp"

namespace apexd::crypto {

namespace {

constexpr size_t p256_scalar = 32;
constexpr size_t ed25519_key = 32;

EVP_PKEY* as_pkey(void* p) { return static_cast<EVP_PKEY*>(p); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t public_key_size(DnssecAlgorithm alg) { return alg == DnssecAlgorithm::ed25519 ? ed25519_key : 2 * p256_scalar; }

struct PkeyCtx {
  EVP_PKEY_CTX* p = nullptr;
  ~PkeyCtx() { EVP_PKEY_CTX_free(p); }
};

// An EC P-256 key from the public point x||y (64 bytes) and, when given, the private scalar.
EVP_PKEY* p256_from_raw(std::span<const uint8_t> pub, std::span<const uint8_t> priv) {
  std::array<uint8_t, 1 + 2 * p256_scalar> point{0x04};  // SEC 1 uncompressed point
  std::copy(pub.begin(), pub.end(), point.begin() + 1);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  BIGNUM* d = priv.empty() ? nullptr : BN_bin2bn(priv.data(), int(priv.size()), nullptr);
  EVP_PKEY* pkey = nullptr;
  if (bld && (priv.empty() || d) && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) &&
      (!d || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))) {
    if (OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld)) {
      PkeyCtx ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
      if (ctx.p && EVP_PKEY_fromdata_init(ctx.p) > 0)
        (void)EVP_PKEY_fromdata(ctx.p, &pkey, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
      OSSL_PARAM_free(params);
    }
  }
  BN_clear_free(d);
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

EVP_PKEY* public_key(std::span<const uint8_t> dnskey_rdata) {
  if (dnskey_rdata.size() < 4) return nullptr;
  auto pub = dnskey_rdata.subspan(4);
  switch (dnskey_rdata[3]) {
    case uint8_t(DnssecAlgorithm::ecdsap256sha256):
      return pub.size() == 2 * p256_scalar ? p256_from_raw(pub, {}) : nullptr;
    case uint8_t(DnssecAlgorithm::ed25519):
      return pub.size() == ed25519_key ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size())
                                       : nullptr;
    default:
      return nullptr;
  }
}

const EVP_MD* digest_of(DnssecAlgorithm alg) { return alg == DnssecAlgorithm::ed25519 ? nullptr : EVP_sha256(); }

struct MdCtx {
  EVP_MD_CTX* p = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(p); }
};

// DER ECDSA-Sig-Value (what OpenSSL signs and verifies) <-> r||s (RFC 6605 §4).
bool der_to_raw(const uint8_t* der, size_t len, std::span<uint8_t> out) {
  const uint8_t* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, long(len));
  if (!sig) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  bool ok = BN_bn2binpad(r, out.data(), p256_scalar) == int(p256_scalar) &&
            BN_bn2binpad(s, out.data() + p256_scalar, p256_scalar) == int(p256_scalar);
  ECDSA_SIG_free(sig);
  return ok;
}

std::vector<uint8_t> raw_to_der(std::span<const uint8_t> raw) {
  std::vector<uint8_t> out;
  if (raw.size() != 2 * p256_scalar) return out;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), p256_scalar, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + p256_scalar, p256_scalar, nullptr);
  if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
    r = s = nullptr;  // owned by sig now
    int n = i2d_ECDSA_SIG(sig, nullptr);
    if (n > 0) {
      out.resize(size_t(n));
      uint8_t* p = out.data();
      i2d_ECDSA_SIG(sig, &p);
    }
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return out;
}

size_t sign_with(EVP_PKEY* pkey, DnssecAlgorithm alg, std::span<const uint8_t> data, std::span<uint8_t> out) noexcept {
  if (out.size() < max_signature_size) return 0;
  MdCtx ctx;
  if (!ctx.p || EVP_DigestSignInit(ctx.p, nullptr, digest_of(alg), nullptr, pkey) <= 0) return 0;
  std::array<uint8_t, 80> buf;  // a DER P-256 signature is at most 72 bytes
  size_t len = buf.size();
  if (EVP_DigestSign(ctx.p, buf.data(), &len, data.data(), data.size()) <= 0) return 0;
  if (alg == DnssecAlgorithm::ed25519) {
    if (len != max_signature_size) return 0;
    std::memcpy(out.data(), buf.data(), len);
    return len;
  }
  return der_to_raw(buf.data(), len, out) ? 2 * p256_scalar : 0;
}

// --- key files ---------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> tokens(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

struct PublicPart {
  uint16_t flags = 0;
  uint8_t algorithm = 0;
  std::vector<uint8_t> key;
};

// The .key file: comments (;) and the one DNSKEY record, "owner [ttl] [class] DNSKEY f p a key…",
// on one line or, in parentheses, over several (RFC 1035 §5.1; as the RFCs print keys).
PublicPart parse_key_file(const std::string& path, wire::NameView origin) {
  std::istringstream in(read_file(path));
  int lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (auto semi = line.find(';'); semi != std::string::npos) line.resize(semi);
    if (line.find('(') != std::string::npos) {
      // Join the lines up to the closing parenthesis; the parentheses themselves are blanks.
      for (std::string more; line.find(')') == std::string::npos && std::getline(in, more);) {
        if (auto semi = more.find(';'); semi != std::string::npos) more.resize(semi);
        line += " " + more;
      }
      if (line.find(')') == std::string::npos) throw KeyError(path + ":" + std::to_string(lineno) + ": '(' is never closed");
      std::replace(line.begin(), line.end(), '(', ' ');
      std::replace(line.begin(), line.end(), ')', ' ');
    }
    auto t = tokens(line);
    if (t.empty()) continue;
    std::string where = path + ":" + std::to_string(lineno);
    auto it = std::find_if(t.begin(), t.end(), [](const std::string& s) { return lower(s) == "dnskey"; });
    if (it == t.end()) throw KeyError(where + ": expected a DNSKEY record");
    auto owner = wire::name_from_text(t[0]);
    if (!owner || !wire::name_equal({reinterpret_cast<const uint8_t*>(owner->data()), owner->size()}, origin))
      throw KeyError(where + ": the key is for " + t[0] + ", not " + wire::name_to_text(origin));
    if (t.end() - it < 5) throw KeyError(where + ": DNSKEY needs flags, protocol, algorithm and key");
    PublicPart p;
    try {
      unsigned long flags = std::stoul(it[1]), proto = std::stoul(it[2]), alg = std::stoul(it[3]);
      if (flags > 0xFFFF || proto != 3 || alg > 255) throw std::invalid_argument("range");
      p.flags = uint16_t(flags);
      p.algorithm = uint8_t(alg);
    } catch (const std::exception&) {
      throw KeyError(where + ": bad DNSKEY flags, protocol (must be 3) or algorithm");
    }
    std::string b64;
    for (auto k = it + 4; k != t.end(); ++k) b64 += *k;
    auto key = base64_decode(b64);
    if (!key) throw KeyError(where + ": the public key is not valid base64");
    p.key = std::move(*key);
    if (!(p.flags & dnskey_flag_zone)) throw KeyError(where + ": the Zone Key flag (256) is not set");
    return p;
  }
  throw KeyError(path + ": no DNSKEY record");
}

// The .private file: "Field: value" lines; we need Algorithm and PrivateKey, and read BIND's
// timing fields (Publish, Activate, Inactive, Delete).
std::vector<uint8_t> parse_private_file(const std::string& path, uint8_t algorithm, SigningKey::Timing& timing) {
  std::istringstream in(read_file(path));
  int lineno = 0;
  bool format_seen = false;
  std::optional<std::vector<uint8_t>> key;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    std::string where = path + ":" + std::to_string(lineno);
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string field = line.substr(0, colon);
    auto t = tokens(std::string_view(line).substr(colon + 1));
    if (field == "Private-key-format") {
      format_seen = true;
      if (t.empty() || t[0].rfind("v1.", 0) != 0) throw KeyError(where + ": unsupported Private-key-format");
    } else if (field == "Algorithm") {
      if (t.empty() || t[0] != std::to_string(algorithm))
        throw KeyError(where + ": algorithm differs from the .key file's (" + std::to_string(algorithm) + ")");
    } else if (field == "Publish" || field == "Activate" || field == "Inactive" || field == "Delete") {
      std::optional<int64_t> at = t.empty() ? std::nullopt : parse_key_time(t[0], 0);
      if (!at || t[0][0] == '+') throw KeyError(where + ": " + field + " is not a YYYYMMDDHHMMSS time");
      (field == "Publish" ? timing.publish : field == "Activate" ? timing.activate
                                             : field == "Inactive" ? timing.inactive : timing.remove) = at;
    } else if (field == "PrivateKey") {
      key = t.empty() ? std::nullopt : base64_decode(t[0]);
      if (!key) throw KeyError(where + ": PrivateKey is not valid base64");
    }
  }
  if (!format_seen) throw KeyError(path + ": not a BIND private key file (no Private-key-format)");
  if (!key) throw KeyError(path + ": no PrivateKey field");
  return *key;
}

std::string stamp(int64_t now) {
  std::time_t t = std::time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::string stamp_long(int64_t now) {
  std::time_t t = std::time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S (%a %b %e %H:%M:%S %Y)", &tm);
  return buf;
}

std::string base_name(wire::NameView origin, DnssecAlgorithm alg, uint16_t tag) {
  char tail[16];
  std::snprintf(tail, sizeof tail, "+%03u+%05u", unsigned(alg), unsigned(tag));
  std::string text = wire::name_to_text(origin);
  return "K" + lower(text) + tail;
}

void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw KeyError(path + ": cannot create: " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    throw KeyError(path + ": cannot write: " + std::strerror(err));
  }
}

}  // namespace

std::optional<DnssecAlgorithm> dnssec_algorithm_from_text(std::string_view text) noexcept {
  std::string t = lower(text);
  if (t == "ecdsap256sha256" || t == "ecdsa256" || t == "13") return DnssecAlgorithm::ecdsap256sha256;
  if (t == "ed25519" || t == "15") return DnssecAlgorithm::ed25519;
  return std::nullopt;
}

std::string_view dnssec_algorithm_mnemonic(DnssecAlgorithm alg) noexcept {
  return alg == DnssecAlgorithm::ed25519 ? "ED25519" : "ECDSAP256SHA256";
}

uint16_t key_tag(std::span<const uint8_t> rdata) noexcept {
  uint32_t ac = 0;
  for (size_t i = 0; i < rdata.size(); ++i) ac += (i & 1) ? rdata[i] : uint32_t(rdata[i]) << 8;
  ac += (ac >> 16) & 0xFFFF;
  return uint16_t(ac & 0xFFFF);
}

bool sha256(std::span<const uint8_t> data, std::span<uint8_t, 32> out) noexcept {
  thread_local MdCtx ctx;
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  unsigned int len = 0;
  return ctx.p && md && EVP_DigestInit_ex2(ctx.p, md, nullptr) > 0 &&
         EVP_DigestUpdate(ctx.p, data.data(), data.size()) > 0 && EVP_DigestFinal_ex(ctx.p, out.data(), &len) > 0 &&
         len == 32;
}

std::vector<uint8_t> ds_rdata(wire::NameView owner, std::span<const uint8_t> dnskey) {
  std::vector<uint8_t> data(owner.size() + dnskey.size());
  wire::name_to_lower(owner, data.data());  // RFC 4034 §5.1.4: the canonical owner name
  std::copy(dnskey.begin(), dnskey.end(), data.begin() + ptrdiff_t(owner.size()));
  std::array<uint8_t, 32> digest;
  if (!sha256(data, digest)) return {};
  uint16_t tag = key_tag(dnskey);
  std::vector<uint8_t> out{uint8_t(tag >> 8), uint8_t(tag), dnskey.size() > 3 ? dnskey[3] : uint8_t(0), 2};
  out.insert(out.end(), digest.begin(), digest.end());
  return out;
}

SigningKey::~SigningKey() { EVP_PKEY_free(as_pkey(pkey_)); }

bool SigningKey::published(int64_t now) const {
  return (!timing_.publish || *timing_.publish <= now) && (!timing_.remove || now < *timing_.remove);
}

bool SigningKey::active(int64_t now) const {
  return published(now) && (!timing_.activate || *timing_.activate <= now) && (!timing_.inactive || now < *timing_.inactive);
}

std::optional<int64_t> SigningKey::next_event(int64_t now) const {
  std::optional<int64_t> next;
  for (const auto& t : {timing_.publish, timing_.activate, timing_.inactive, timing_.remove})
    if (t && *t > now && (!next || *t < *next)) next = t;
  return next;
}

std::optional<int64_t> parse_key_time(std::string_view text, int64_t now) noexcept {
  if (text.empty()) return std::nullopt;
  if (text[0] == '+') {
    int64_t n = 0;
    size_t i = 1;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      n = n * 10 + (text[i] - '0');
      if (n > int64_t(1) << 40) return std::nullopt;
    }
    if (i == 1 || i + 1 < text.size()) return std::nullopt;
    char unit = i < text.size() ? text[i] : 's';
    int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : unit == 'w' ? 604800 : 0;
    if (!mult) return std::nullopt;
    return now + n * mult;
  }
  if (text.size() != 14 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::tm tm{};
  auto num = [&](size_t at, size_t len) { return std::stoi(std::string(text.substr(at, len))); };
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(8, 2);
  tm.tm_min = num(10, 2);
  tm.tm_sec = num(12, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  return int64_t(timegm(&tm));
}

size_t SigningKey::sign(std::span<const uint8_t> data, std::span<uint8_t> out) const noexcept {
  return sign_with(as_pkey(pkey_), algorithm_, data, out);
}

bool verify_signature(std::span<const uint8_t> dnskey, std::span<const uint8_t> data,
                      std::span<const uint8_t> signature) noexcept {
  EVP_PKEY* pkey = public_key(dnskey);
  if (!pkey) return false;
  auto alg = DnssecAlgorithm(dnskey[3]);
  bool ok = false;
  MdCtx ctx;
  if (ctx.p && EVP_DigestVerifyInit(ctx.p, nullptr, digest_of(alg), nullptr, pkey) > 0) {
    if (alg == DnssecAlgorithm::ed25519) {
      ok = EVP_DigestVerify(ctx.p, signature.data(), signature.size(), data.data(), data.size()) == 1;
    } else {
      std::vector<uint8_t> der = raw_to_der(signature);
      ok = !der.empty() && EVP_DigestVerify(ctx.p, der.data(), der.size(), data.data(), data.size()) == 1;
    }
  }
  EVP_PKEY_free(pkey);
  return ok;
}

std::shared_ptr<const SigningKey> SigningKey::read(const std::string& base, wire::NameView origin) {
  PublicPart pub = parse_key_file(base + ".key", origin);
  if (pub.algorithm != uint8_t(DnssecAlgorithm::ecdsap256sha256) && pub.algorithm != uint8_t(DnssecAlgorithm::ed25519))
    throw KeyError(base + ".key: algorithm " + std::to_string(pub.algorithm) +
                   " is not supported (ECDSAP256SHA256 = 13 and ED25519 = 15 are)");
  auto alg = DnssecAlgorithm(pub.algorithm);
  if (pub.key.size() != public_key_size(alg)) throw KeyError(base + ".key: the public key has the wrong length");
  SigningKey::Timing timing;
  std::vector<uint8_t> priv = parse_private_file(base + ".private", pub.algorithm, timing);
  if (priv.size() != (alg == DnssecAlgorithm::ed25519 ? ed25519_key : p256_scalar))
    throw KeyError(base + ".private: PrivateKey has the wrong length");
  std::shared_ptr<SigningKey> k(new SigningKey);
  k->pkey_ = alg == DnssecAlgorithm::ed25519
                 ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, priv.data(), priv.size())
                 : p256_from_raw(pub.key, priv);
  OPENSSL_cleanse(priv.data(), priv.size());
  if (!k->pkey_) throw KeyError(base + ".private: OpenSSL refused the key");
  k->algorithm_ = alg;
  k->flags_ = pub.flags;
  k->dnskey_ = {uint8_t(pub.flags >> 8), uint8_t(pub.flags), 3, pub.algorithm};
  k->dnskey_.insert(k->dnskey_.end(), pub.key.begin(), pub.key.end());
  k->tag_ = key_tag(k->dnskey_);
  k->file_base_ = base;
  k->timing_ = timing;
  // The two files must belong together: sign and verify with the published half.
  static constexpr uint8_t probe[] = "apexd key check";
  std::array<uint8_t, max_signature_size> sig;
  size_t n = k->sign(probe, sig);
  if (!n || !verify_signature(k->dnskey_, probe, {sig.data(), n}))
    throw KeyError(base + ": the private key does not match the DNSKEY in the .key file");
  return k;
}

std::vector<std::shared_ptr<const SigningKey>> read_zone_keys(const std::string& dir, wire::NameView origin) {
  std::vector<std::shared_ptr<const SigningKey>> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::string prefix = "k" + lower(wire::name_to_text(origin)) + "+";
  std::vector<std::string> bases;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    const std::string ext = ".private";
    if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0) continue;
    if (lower(name).rfind(prefix, 0) != 0) continue;
    bases.push_back((std::filesystem::path(dir) / name.substr(0, name.size() - ext.size())).string());
  }
  std::sort(bases.begin(), bases.end());
  for (const std::string& b : bases) out.push_back(SigningKey::read(b, origin));
  // Key tags are not unique (RFC 4034 appendix B: a checksum, 16 bits): two keys of different
  // algorithms may share one — BIND's dnssec-keygen only avoids a clash within an algorithm. The
  // order stays deterministic with the algorithm, then the file name (bases are sorted and
  // stable_sort keeps them) as tie-breaks.
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::pair(a->tag(), static_cast<int>(a->algorithm())) < std::pair(b->tag(), static_cast<int>(b->algorithm()));
  });
  return out;
}

std::string generate_key(const std::string& dir, wire::NameView origin, DnssecAlgorithm alg, uint16_t flags,
                         int64_t now, std::optional<int64_t> publish, std::optional<int64_t> activate) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw KeyError(dir + ": cannot create the key folder: " + ec.message());
  for (int attempt = 0; attempt < 16; ++attempt) {
    EVP_PKEY* pkey = alg == DnssecAlgorithm::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!pkey) throw KeyError("OpenSSL could not generate a key");
    std::vector<uint8_t> pub, priv;
    bool ok = false;
    if (alg == DnssecAlgorithm::ed25519) {
      pub.resize(ed25519_key);
      priv.resize(ed25519_key);
      size_t pl = pub.size(), sl = priv.size();
      ok = EVP_PKEY_get_raw_public_key(pkey, pub.data(), &pl) > 0 && EVP_PKEY_get_raw_private_key(pkey, priv.data(), &sl) > 0;
    } else {
      std::array<uint8_t, 1 + 2 * p256_scalar> point;
      size_t pl = 0;
      BIGNUM* d = nullptr;
      ok = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(), &pl) > 0 &&
           pl == point.size() && point[0] == 0x04 && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) > 0;
      if (ok) {
        pub.assign(point.begin() + 1, point.end());
        priv.resize(p256_scalar);
        ok = BN_bn2binpad(d, priv.data(), int(p256_scalar)) == int(p256_scalar);
      }
      BN_clear_free(d);
    }
    EVP_PKEY_free(pkey);
    if (!ok) throw KeyError("OpenSSL could not export the generated key");
    std::vector<uint8_t> dnskey{uint8_t(flags >> 8), uint8_t(flags), 3, uint8_t(alg)};
    dnskey.insert(dnskey.end(), pub.begin(), pub.end());
    uint16_t tag = key_tag(dnskey);
    std::string base = base_name(origin, alg, tag);
    std::string path = (std::filesystem::path(dir) / base).string();
    if (std::filesystem::exists(path + ".key") || std::filesystem::exists(path + ".private")) continue;  // tag taken
    std::string origin_text = lower(wire::name_to_text(origin));
    std::string kind = (flags & dnskey_flag_sep) ? "key-signing" : "zone-signing";
    std::string created = stamp(now), created_long = stamp_long(now);
    int64_t pub_at = publish.value_or(now), act_at = activate.value_or(std::max(now, pub_at));
    std::string published = stamp(pub_at), published_long = stamp_long(pub_at);
    std::string activated = stamp(act_at), activated_long = stamp_long(act_at);
    std::string mnemonic(dnssec_algorithm_mnemonic(alg));
    std::string priv_text = "Private-key-format: v1.3\nAlgorithm: " + std::to_string(unsigned(alg)) + " (" + mnemonic +
                            ")\nPrivateKey: " + base64_encode(priv) + "\nCreated: " + created + "\nPublish: " + published +
                            "\nActivate: " + activated + "\n";
    OPENSSL_cleanse(priv.data(), priv.size());
    std::string key_text = "; This is a " + kind + " key, keyid " + std::to_string(tag) + ", for " + origin_text +
                           "\n; Created: " + created_long + "\n; Publish: " + published_long + "\n; Activate: " +
                           activated_long + "\n" + origin_text + " IN DNSKEY " + std::to_string(flags) + " 3 " +
                           std::to_string(unsigned(alg)) + " " + base64_encode(pub) + "\n";
    write_new_file(path + ".private", priv_text, 0600);
    OPENSSL_cleanse(priv_text.data(), priv_text.size());
    write_new_file(path + ".key", key_text, 0644);
    return base;
  }
  throw KeyError(dir + ": no free key tag after 16 attempts");
}

}  // namespace apexd::crypto
