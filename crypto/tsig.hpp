// TSIG (RFC 8945): keys, verifying requests, signing messages and streams, verifying responses.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/hmac.hpp"
#include "zone/wire/name.hpp"
#include "zone/wire/tsig.hpp"

namespace apexd::crypto {

/// The HMAC algorithms of RFC 8945 §6 we implement (HMAC-MD5 and GSS-TSIG are not).
/// hmac-md5 (RFC 8945 §6: "deprecated") only because certbot's and cert-manager's rfc2136
/// plugins still default to it.
enum class TsigAlgorithm : uint8_t { hmac_md5, hmac_sha1, hmac_sha224, hmac_sha256, hmac_sha384, hmac_sha512 };

inline constexpr uint16_t tsig_default_fudge = 300;  // seconds, the value RFC 8945 recommends
inline constexpr size_t tsig_max_mac_size = max_digest_size;
inline constexpr size_t tsig_badtime_other_size = 6;  // server time, 48 bits (RFC 8945 §5.2.3)
/// RFC 8945 §5.3.1: a response stream may leave at most 99 messages unsigned in a row.
inline constexpr unsigned tsig_max_unsigned_run = 99;

/// Parses a config name, case-insensitive, with or without a trailing dot ("hmac-sha256").
[[nodiscard]] std::optional<TsigAlgorithm> tsig_algorithm_from_text(std::string_view text) noexcept;
/// Parses the wire-form Algorithm Name of a TSIG RR, case-insensitive (`hmac-sha256.`).
[[nodiscard]] std::optional<TsigAlgorithm> tsig_algorithm_from_wire(wire::NameView name) noexcept;
/// The algorithm's canonical (lowercase) wire name; points to static storage.
[[nodiscard]] wire::NameView tsig_algorithm_wire_name(TsigAlgorithm alg) noexcept;
/// The algorithm's config name, "hmac-sha256".
[[nodiscard]] std::string_view tsig_algorithm_text(TsigAlgorithm alg) noexcept;
/// Length of an untruncated MAC (the hash output), in bytes.
[[nodiscard]] size_t tsig_mac_size(TsigAlgorithm alg) noexcept;
/// The hash the algorithm's HMAC is built on.
[[nodiscard]] HashAlgorithm tsig_hash(TsigAlgorithm alg) noexcept;

/// A shared secret known by name.
struct TsigKey {
  std::string name;       ///< lowercase wire form (canonical, RFC 8945 §4.3.3)
  std::string name_text;  ///< presentation form with a trailing dot, lowercase
  TsigAlgorithm algorithm = TsigAlgorithm::hmac_sha256;
  std::vector<uint8_t> secret;

  wire::NameView name_view() const {
    return {reinterpret_cast<const uint8_t*>(name.data()), name.size()};
  }
};

/// Builds a key from config text: a domain name (relative names are taken as absolute), an
/// algorithm as tsig_algorithm_from_text accepts it, and the base64 secret. Throws
/// std::invalid_argument naming the key and the bad field.
[[nodiscard]] TsigKey make_tsig_key(std::string_view name, std::string_view algorithm,
                                    std::string_view secret_base64);

/// A MAC held without allocation.
struct TsigMac {
  std::array<uint8_t, tsig_max_mac_size> data{};
  uint8_t len = 0;

  std::span<const uint8_t> view() const { return {data.data(), len}; }
  /// Copies `mac`, truncated to tsig_max_mac_size.
  void assign(std::span<const uint8_t> mac) noexcept;
};

/// Outcome of checking a TSIG, in RFC 8945 §5.2's order of checks.
enum class TsigStatus : uint8_t {
  ok,
  formerr,    ///< TSIG misplaced or malformed, or MAC size out of range (§5.2.2.1): FORMERR
  badkey,     ///< unknown key name, or an algorithm other than the key's (§5.2.1)
  badsig,     ///< the MAC does not verify (§5.2.2)
  badtime,    ///< time signed outside now ± fudge (§5.2.3)
  badtrunc,   ///< a truncated MAC: we accept full-length MACs only (§5.2.4)
  unsigned_,  ///< client: a message that must carry a TSIG has none (§5.3.1)
  peer_error, ///< client: the response's TSIG reports an error (see TsigVerifier::peer_error)
};

/// The Error field a server puts in its response's TSIG for `s` (0 for ok and formerr).
[[nodiscard]] uint16_t tsig_error_for(TsigStatus s) noexcept;
/// The RCODE of a server's response for `s`: NOERROR (ok: the handler decides), FORMERR, or
/// NOTAUTH for the TSIG errors (RFC 8945 §5.2).
[[nodiscard]] uint16_t tsig_rcode_for(TsigStatus s) noexcept;

/// What verify_request found.
struct TsigVerifyResult {
  TsigStatus status = TsigStatus::formerr;
  const TsigKey* key = nullptr;  ///< the matched key (into the `keys` span), unless badkey/formerr
  TsigMac request_mac;           ///< the request's MAC as received, for signing the response
  uint64_t time_signed = 0;      ///< the request's, for a BADTIME response (§5.2.3)

  [[nodiscard]] uint16_t error() const noexcept { return tsig_error_for(status); }
  [[nodiscard]] uint16_t rcode() const noexcept { return tsig_rcode_for(status); }
  /// RFC 8945 §5.3.2: the response is signed for ok, badtime and badtrunc; badkey and badsig
  /// get an unsigned TSIG (append_unsigned_tsig); formerr gets none.
  [[nodiscard]] bool sign_response() const noexcept {
    return status == TsigStatus::ok || status == TsigStatus::badtime || status == TsigStatus::badtrunc;
  }
};

/// Server side: checks the TSIG `tsig` (from find_tsig(msg)) of the request `msg` against
/// `keys` at time `now` (seconds since the epoch). Checks in RFC 8945 §5.2's order: key,
/// MAC size, MAC, time, truncation.
[[nodiscard]] TsigVerifyResult verify_request(std::span<const uint8_t> msg, const wire::TsigRecord& tsig,
                                              std::span<const TsigKey> keys, uint64_t now) noexcept;

/// Upper bound on the TSIG RR a TsigSigner for `key` appends (BADTIME other data included),
/// so that a caller can reserve room for it.
[[nodiscard]] size_t tsig_max_rr_size(const TsigKey& key) noexcept;

/// Signs one request, one response, or one response stream (RFC 8945 §4.3, §5.3). `key` must
/// outlive the signer. The first sign() covers the request MAC (if any), the message and all
/// TSIG variables; later ones cover the prior MAC, the messages since it and the timers only
/// (§5.3.1). Move-only.
class TsigSigner {
 public:
  /// `request_mac` is the verified request's MAC for a response, empty to sign a request.
  TsigSigner(const TsigKey& key, std::span<const uint8_t> request_mac,
             uint16_t fudge = tsig_default_fudge) noexcept;

  /// Appends a TSIG RR, time signed `now`, to the message in buf[0, len) and returns the new
  /// length. 0 when it does not fit (nothing changes: shorten the message and sign again) or
  /// OpenSSL failed (then no later message can be signed). The message's ID becomes the
  /// Original ID. One call per message.
  [[nodiscard]] size_t sign(std::span<uint8_t> buf, size_t len, uint64_t now, uint16_t error = 0,
                            std::span<const uint8_t> other = {}) noexcept;
  /// A BADTIME response (§5.2.3): time signed is the request's, other data our time `now`.
  [[nodiscard]] size_t sign_badtime(std::span<uint8_t> buf, size_t len, uint64_t now,
                                    uint64_t request_time_signed) noexcept;
  /// Feeds a message of the stream sent without a TSIG into the next MAC (§5.3.1). False
  /// before the first signed message, past tsig_max_unsigned_run in a row, or after a failure.
  [[nodiscard]] bool add_unsigned(std::span<const uint8_t> msg) noexcept;
  /// The MAC of the last signed message (after signing a request: what the response covers).
  const TsigMac& last_mac() const noexcept { return prior_mac_; }

 private:
  size_t sign_at(std::span<uint8_t> buf, size_t len, uint64_t time_signed, uint16_t error,
                 std::span<const uint8_t> other) noexcept;

  const TsigKey* key_;
  Hmac hmac_;
  TsigMac prior_mac_;
  uint16_t fudge_;
  unsigned signed_count_ = 0;
  unsigned unsigned_run_ = 0;
};

/// Appends the unsigned TSIG (MAC size 0) of a BADKEY or BADSIG response (RFC 8945 §5.3.2):
/// key name, algorithm, time signed and fudge echo `request`; Original ID is the message's
/// ID. Returns the new length, 0 when it does not fit.
[[nodiscard]] size_t append_unsigned_tsig(std::span<uint8_t> buf, size_t len, const wire::TsigRecord& request,
                                          uint16_t error) noexcept;

/// Appends to an error answer (header and question written, rcode set by the caller to
/// `v.rcode()`) the TSIG RFC 8945 §5.3.2 asks for after a failed verification: unsigned for
/// BADKEY and BADSIG, signed with our time for BADTIME, signed for BADTRUNC, none for FORMERR.
/// Returns the new length (`len` when nothing is added), 0 when it does not fit.
[[nodiscard]] size_t append_error_tsig(std::span<uint8_t> buf, size_t len, const wire::TsigRecord& request,
                                       const TsigVerifyResult& v, uint64_t now) noexcept;

/// Client side: verifies the response (or response stream) to a request we signed with `key`
/// and whose MAC was `request_mac` (RFC 8945 §5.3, §5.4). Feed every message in order to
/// verify(), then call finish(). A failure is final. `key` must outlive the verifier.
class TsigVerifier {
 public:
  TsigVerifier(const TsigKey& key, std::span<const uint8_t> request_mac) noexcept;

  /// Checks one message at time `now`. The first must be signed; later ones may be unsigned
  /// up to tsig_max_unsigned_run in a row (§5.3.1), which returns ok and enters the next MAC.
  [[nodiscard]] TsigStatus verify(std::span<const uint8_t> msg, uint64_t now) noexcept;
  /// ok when no message failed, at least one was verified, and the last one was signed.
  [[nodiscard]] TsigStatus finish() const noexcept;
  /// The Error field of the response's TSIG when verify() returned peer_error.
  uint16_t peer_error() const noexcept { return peer_error_; }
  /// The MAC of the last verified message.
  const TsigMac& last_mac() const noexcept { return prior_mac_; }

 private:
  TsigStatus verify_signed(std::span<const uint8_t> msg, const wire::TsigRecord& t, uint64_t now) noexcept;
  TsigStatus fail(TsigStatus s) noexcept;

  const TsigKey* key_;
  Hmac hmac_;
  TsigMac prior_mac_;
  unsigned verified_count_ = 0;
  unsigned unsigned_run_ = 0;
  uint16_t peer_error_ = 0;
  TsigStatus failed_ = TsigStatus::ok;
};

}  // namespace apexd::crypto
