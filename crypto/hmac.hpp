// HMAC (incremental), constant-time compare and base64, with OpenSSL 3 kept out of the header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apexd::crypto {

/// Hash functions an HMAC can be built on (RFC 2104 with SHA-1, RFC 6234 SHA-2).
enum class HashAlgorithm : uint8_t { md5, sha1, sha224, sha256, sha384, sha512 };

inline constexpr size_t max_digest_size = 64;  // SHA-512

/// Output length of the hash in bytes (20, 28, 32, 48 or 64).
[[nodiscard]] size_t digest_size(HashAlgorithm alg) noexcept;

/// An HMAC computation fed in pieces: construct with a key, update() any number of times,
/// finish() once. reset() restarts it with the same key. Move-only; allocates once (OpenSSL's
/// context) when constructed. Every failure is reported by ok() / finish(), never thrown.
class Hmac {
 public:
  Hmac() noexcept = default;  ///< an empty HMAC: ok() is false
  Hmac(HashAlgorithm alg, std::span<const uint8_t> key) noexcept;
  Hmac(Hmac&& other) noexcept;
  Hmac& operator=(Hmac&& other) noexcept;
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  ~Hmac();

  /// False when construction or an update failed, or after finish() until reset().
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  /// Appends `data` to the message being authenticated.
  void update(std::span<const uint8_t> data) noexcept;
  /// Writes the MAC (digest_size bytes) to `out`; returns its length, 0 on failure or when
  /// `out` is too small.
  [[nodiscard]] size_t finish(std::span<uint8_t> out) noexcept;
  /// Starts a new message with the same key; false on failure.
  [[nodiscard]] bool reset() noexcept;
  size_t size() const noexcept { return size_; }

 private:
  void release() noexcept;

  void* ctx_ = nullptr;  // OpenSSL's MAC context, opaque so that no OpenSSL type enters a header
  size_t size_ = 0;
  bool ok_ = false;
};

/// One-shot HMAC of `data`: writes digest_size(alg) bytes to `out`, returns that length or 0.
[[nodiscard]] size_t hmac(HashAlgorithm alg, std::span<const uint8_t> key, std::span<const uint8_t> data,
                          std::span<uint8_t> out) noexcept;

/// True when `a` and `b` have the same length and bytes; the time taken does not depend on
/// where they differ (CRYPTO_memcmp), so a MAC compare leaks nothing to a forger.
[[nodiscard]] bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) noexcept;

/// Decodes padded base64 (RFC 4648 §4): a multiple of 4 characters from the standard
/// alphabet, '=' only as the last one or two. Anything else (whitespace, URL-safe
/// alphabet, missing padding) gives nullopt.
[[nodiscard]] std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);
/// Encodes `data` as padded base64 (RFC 4648 §4).
[[nodiscard]] std::string base64_encode(std::span<const uint8_t> data);

}  // namespace apexd::crypto
