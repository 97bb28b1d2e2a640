// Bytes in, bytes out: one request through parsing, zone selection and the answer steps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/tsig.hpp"
#include "server/flattener.hpp"
#include "server/online_signer.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

inline constexpr uint16_t default_udp_payload = 1232;  // DNS Flag Day 2020: avoids IP fragmentation
inline constexpr size_t max_message_size = 65535;      // TCP length prefix is 16 bits (RFC 1035 §4.2.2)

enum class Transport : uint8_t { udp, tcp };

struct HandlerOptions {
  Transport transport = Transport::udp;
  uint16_t max_udp_payload = default_udp_payload;  ///< our EDNS payload: caps UDP answers, advertised in OPT
  AliasContext alias;  ///< flattening and proxying; empty = flattened names get SERVFAIL
  std::span<const crypto::TsigKey> tsig_keys;  ///< for signed requests (RFC 8945); empty: all BADKEY
  uint64_t unix_now = 0;  ///< seconds since the epoch for TSIG and signatures; 0 = read the system clock
  SigningContext signing;  ///< online DNSSEC signing (empty: signed zones answer unsigned)
};

/// What happened to one request, for counters and the query log.
struct HandleResult {
  size_t size = 0;      ///< bytes of response written; 0 = drop silently
  uint16_t rcode = 0;   ///< full (extended) rcode
  uint16_t qtype = 0;
  bool truncated = false;
  bool malformed = false;
  bool empty_answer = false;      ///< the answer section is empty (NODATA, referral, error)
  bool wildcard = false;          ///< synthesized from a wildcard (RRL keys these by zone)
  bool flattened = false;         ///< answered by flattening
  /// Until when the same request gets the same bytes (see AnswerResult::reusable_until).
  resolver::TimePoint reusable_until = resolver::TimePoint::max();
  bool from_cache = false;        ///< copied from the worker's AnswerCache
  uint16_t question_end = 0;      ///< bytes of header + question: a truncated (slipped) answer keeps these
  const zone::Zone* zone = nullptr;  ///< the zone that answered (valid while the snapshot is held)
  bool signing_throttled = false; ///< the answer needed a signature past the signing budget: sent as TC=1
  /// Signed answers: the bytes hold signatures that stay current until then (unix seconds).
  uint64_t valid_until_unix = UINT64_MAX;
  bool needs_resolution = false;  ///< nothing to send yet: resolve `target`/`target_type`, then call again
  wire::NameBuf target;
  uint16_t target_type = 0;
};

/// Answers `request` into `out` (which should hold max_message_size bytes for TCP, at least
/// max_udp_payload for UDP). Pure: no sockets, no allocation, no locks, no exceptions.
HandleResult handle_query(const zone::ZoneSet& zones, std::span<const uint8_t> request, std::span<uint8_t> out,
                          const HandlerOptions& opts) noexcept;

}  // namespace apexd::server
