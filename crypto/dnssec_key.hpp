// DNSSEC signing keys: BIND key files (K<zone>.+<alg>+<tag>.key/.private), key tags, DS digests,
// key generation, and signatures, with OpenSSL 3 kept out of the header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "zone/wire/name.hpp"

namespace apexd::crypto {

/// The DNSSEC algorithms we sign with (RFC 8624 §3.1: both "MUST"/"RECOMMENDED" for signing).
enum class DnssecAlgorithm : uint8_t {
  ecdsap256sha256 = 13,  ///< RFC 6605
  ed25519 = 15,          ///< RFC 8080
};

inline constexpr size_t max_signature_size = 64;  // both algorithms: r||s of P-256, or an Ed25519 signature
inline constexpr uint16_t dnskey_flag_zone = 0x0100;  // RFC 4034 §2.1.1
inline constexpr uint16_t dnskey_flag_sep = 0x0001;   // KSK / CSK

/// Parses "ecdsap256sha256" / "ed25519" (also "13" / "15", BIND's mnemonics, any case).
[[nodiscard]] std::optional<DnssecAlgorithm> dnssec_algorithm_from_text(std::string_view text) noexcept;
/// BIND's mnemonic: "ECDSAP256SHA256", "ED25519".
[[nodiscard]] std::string_view dnssec_algorithm_mnemonic(DnssecAlgorithm alg) noexcept;

/// A key file that cannot be used: the message names the file (and line when there is one).
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// RFC 4034 Appendix B: the key tag of DNSKEY RDATA.
[[nodiscard]] uint16_t key_tag(std::span<const uint8_t> dnskey_rdata) noexcept;

/// DS RDATA (RFC 4034 §5.1, digest type 2 = SHA-256, RFC 4509) for the DNSKEY RDATA at `owner`.
[[nodiscard]] std::vector<uint8_t> ds_rdata(wire::NameView owner, std::span<const uint8_t> dnskey_rdata);

/// A private key and its DNSKEY. Immutable after loading; sign() may be called from any thread.
class SigningKey {
 public:
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  DnssecAlgorithm algorithm() const { return algorithm_; }
  uint16_t flags() const { return flags_; }
  uint16_t tag() const { return tag_; }
  bool sep() const { return flags_ & dnskey_flag_sep; }
  /// DNSKEY RDATA: flags, protocol 3, algorithm, public key (RFC 4034 §2.1).
  std::span<const uint8_t> dnskey_rdata() const { return dnskey_; }
  /// Where it was read from (the file name without .key/.private), for logs.
  const std::string& file_base() const { return file_base_; }

  /// BIND's timing metadata from the .private file (unix seconds; absent = no such event).
  struct Timing {
    std::optional<int64_t> publish, activate, inactive, remove;  ///< Publish, Activate, Inactive, Delete
  };
  const Timing& timing() const { return timing_; }
  /// In the DNSKEY RRset at `now`: published and not yet deleted.
  bool published(int64_t now) const;
  /// Signing at `now`: published, activated and not yet inactive.
  bool active(int64_t now) const;
  /// The first timing event after `now`, if any (when the key's state changes next).
  std::optional<int64_t> next_event(int64_t now) const;

  /// Signs `data` (RFC 4034 §3.1.8.1's signed data) into `out` (max_signature_size bytes) in the
  /// DNSSEC wire format of the algorithm (RFC 6605 §4 r||s; RFC 8080 §4). Returns the length, 0
  /// on failure. Allocates (OpenSSL does): only on a signature-cache miss.
  [[nodiscard]] size_t sign(std::span<const uint8_t> data, std::span<uint8_t> out) const noexcept;

  /// Reads a BIND key pair: `base` + ".key" (the DNSKEY in zone-file syntax) and ".private"
  /// (Private-key-format v1.x). Checks that the owner is `origin`, the algorithm is one we
  /// support, and that the private key matches the public one. Throws KeyError.
  static std::shared_ptr<const SigningKey> read(const std::string& base, wire::NameView origin);

 private:
  SigningKey() = default;
  void* pkey_ = nullptr;  // OpenSSL's key, opaque so that no OpenSSL type enters a header
  DnssecAlgorithm algorithm_ = DnssecAlgorithm::ecdsap256sha256;
  uint16_t flags_ = 0;
  uint16_t tag_ = 0;
  std::vector<uint8_t> dnskey_;
  std::string file_base_;
  Timing timing_;
};

/// Every key of `origin` in `dir` (files K<origin>.+NNN+NNNNN.private with their .key), sorted by
/// tag, then algorithm, then file name (tags can clash). Files of other zones are ignored; a broken key file of this zone throws KeyError.
std::vector<std::shared_ptr<const SigningKey>> read_zone_keys(const std::string& dir, wire::NameView origin);

/// Generates a key pair and writes it into `dir` as BIND's dnssec-keygen does (the .private file
/// mode 0600, written atomically). `flags` is 257 (KSK/CSK) or 256 (ZSK); `now` stamps
/// Created/Publish/Activate. Returns the base name ("Kexample.com.+013+12345"). Throws KeyError.
std::string generate_key(const std::string& dir, wire::NameView origin, DnssecAlgorithm alg, uint16_t flags,
                         int64_t now, std::optional<int64_t> publish = std::nullopt,
                         std::optional<int64_t> activate = std::nullopt);

/// A BIND timing value: YYYYMMDDHHMMSS (UTC), or relative to `now` as +N with s, m, h, d or w
/// (BIND's dnssec-keygen -P/-A syntax). nullopt when malformed.
[[nodiscard]] std::optional<int64_t> parse_key_time(std::string_view text, int64_t now) noexcept;

/// Verifies a DNSSEC signature with a DNSKEY's public key (tests, and the key files' self-check).
[[nodiscard]] bool verify_signature(std::span<const uint8_t> dnskey_rdata, std::span<const uint8_t> data,
                                    std::span<const uint8_t> signature) noexcept;

/// SHA-256 of `data` into `out` (32 bytes); false on failure. Reuses a per-thread context: no
/// allocation after the first call on a thread.
[[nodiscard]] bool sha256(std::span<const uint8_t> data, std::span<uint8_t, 32> out) noexcept;

}  // namespace apexd::crypto
