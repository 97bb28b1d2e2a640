// HMAC through OpenSSL 3's EVP_MAC "HMAC", CRYPTO_memcmp, and base64 through EVP_Encode/DecodeBlock.
#include "crypto/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <utility>

namespace apexd::crypto {

namespace {

EVP_MAC_CTX* as_ctx(void* p) { return static_cast<EVP_MAC_CTX*>(p); }

// Fetching an algorithm walks the provider tables; once per process is enough, and a fetched
// EVP_MAC is safe to share between threads.
EVP_MAC* hmac_method() noexcept {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  return mac;
}

const char* digest_name(HashAlgorithm alg) noexcept {
  switch (alg) {
    case HashAlgorithm::md5: return "MD5";
    case HashAlgorithm::sha1: return "SHA1";
    case HashAlgorithm::sha224: return "SHA2-224";
    case HashAlgorithm::sha256: return "SHA2-256";
    case HashAlgorithm::sha384: return "SHA2-384";
    case HashAlgorithm::sha512: return "SHA2-512";
  }
  return "SHA2-256";
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// EVP_DecodeBlock decodes '=' as a zero sextet anywhere, skips leading blanks and trailing
// '-', and counts padding bytes as output; so the shape is checked here and padding subtracted.
bool well_formed_base64(std::string_view text, size_t& padding) {
  if (text.size() % 4 != 0 || text.size() > size_t(INT_MAX)) return false;
  padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  for (size_t i = 0; i + padding < text.size(); ++i)
    if (!is_base64_char(text[i])) return false;
  return true;
}

}  // namespace

size_t digest_size(HashAlgorithm alg) noexcept {
  switch (alg) {
    case HashAlgorithm::md5: return 16;
    case HashAlgorithm::sha1: return 20;
    case HashAlgorithm::sha224: return 28;
    case HashAlgorithm::sha256: return 32;
    case HashAlgorithm::sha384: return 48;
    case HashAlgorithm::sha512: return 64;
  }
  return 0;
}

Hmac::Hmac(HashAlgorithm alg, std::span<const uint8_t> key) noexcept : size_(digest_size(alg)) {
  EVP_MAC* mac = hmac_method();
  if (mac == nullptr) return;
  ctx_ = EVP_MAC_CTX_new(mac);
  if (ctx_ == nullptr) return;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(alg)), 0),
      OSSL_PARAM_construct_end()};
  // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
  static const uint8_t no_key = 0;
  const uint8_t* k = key.empty() ? &no_key : key.data();
  ok_ = EVP_MAC_init(as_ctx(ctx_), k, key.size(), params) == 1;
}

Hmac::Hmac(Hmac&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), size_(other.size_), ok_(std::exchange(other.ok_, false)) {}

Hmac& Hmac::operator=(Hmac&& other) noexcept {
  if (this != &other) {
    release();
    ctx_ = std::exchange(other.ctx_, nullptr);
    size_ = other.size_;
    ok_ = std::exchange(other.ok_, false);
  }
  return *this;
}

Hmac::~Hmac() { release(); }

void Hmac::release() noexcept {
  EVP_MAC_CTX_free(as_ctx(ctx_));
  ctx_ = nullptr;
  ok_ = false;
}

void Hmac::update(std::span<const uint8_t> data) noexcept {
  if (!ok_ || data.empty()) return;
  ok_ = EVP_MAC_update(as_ctx(ctx_), data.data(), data.size()) == 1;
}

size_t Hmac::finish(std::span<uint8_t> out) noexcept {
  if (!ok_ || out.size() < size_) return 0;
  ok_ = false;  // OpenSSL's HMAC context must be re-initialised before it is fed again
  size_t written = 0;
  if (EVP_MAC_final(as_ctx(ctx_), out.data(), &written, out.size()) != 1 || written != size_) return 0;
  return written;
}

bool Hmac::reset() noexcept {
  if (ctx_ == nullptr) return false;
  // A null key keeps the one given at construction (OpenSSL 3 HMAC re-initialisation).
  ok_ = EVP_MAC_init(as_ctx(ctx_), nullptr, 0, nullptr) == 1;
  return ok_;
}

size_t hmac(HashAlgorithm alg, std::span<const uint8_t> key, std::span<const uint8_t> data,
            std::span<uint8_t> out) noexcept {
  Hmac h(alg, key);
  h.update(data);
  return h.finish(out);
}

bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;  // lengths are public (the MAC size field)
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::vector<uint8_t>> base64_decode(std::string_view text) {
  size_t padding = 0;
  if (!well_formed_base64(text, padding)) return std::nullopt;
  std::vector<uint8_t> out(text.size() / 4 * 3);
  if (text.empty()) return out;
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
  if (n < 0 || size_t(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

std::string base64_encode(std::span<const uint8_t> data) {
  if (data.empty() || data.size() > size_t(INT_MAX) / 4 * 3 - 3) return {};
  std::string out((data.size() + 2) / 3 * 4 + 1, '\0');  // + the NUL EVP_EncodeBlock writes
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), int(data.size()));
  out.resize(n < 0 ? 0 : size_t(n));
  return out;
}

}  // namespace apexd::crypto
