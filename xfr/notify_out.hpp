// NOTIFY out (RFC 1996): tell a zone's secondaries that it changed, retried until they answer.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "crypto/tsig.hpp"
#include "zone/zone.hpp"

namespace apexd::xfr {

inline constexpr int notify_attempts = 5;  // RFC 1996 §3.6 leaves it open; Knot and BIND try 5 times
inline constexpr std::chrono::milliseconds notify_first_timeout{1000};  // doubled after each try

/// The NOTIFY query for `origin` (lowercase wire) with its current SOA in the answer section
/// (RFC 1996 §3.7), AA set, into `out`; returns its size (0 if it does not fit).
size_t build_notify(std::span<uint8_t> out, uint16_t id, const zone::Zone& zone);

/// Whether `reply` answers the NOTIFY `id` for `origin`: QR, opcode NOTIFY, same ID and
/// question (RFC 1996 §4.7). `rcode` receives its rcode.
bool is_notify_reply(std::span<const uint8_t> reply, uint16_t id, std::span<const uint8_t> origin, uint16_t& rcode);

/// What happened to one NOTIFY, for logs and counters.
struct NotifyOutcome {
  std::string target;  ///< "192.0.2.2:53"
  bool acknowledged = false;
  uint16_t rcode = 0;  ///< of the reply, when there was one
  int attempts = 0;
};

/// Sends the NOTIFY for `zone` to `target` over UDP, signed with `key` when given (RFC 8945;
/// the key must outlive the call, and a signed NOTIFY's reply must verify to count), waiting `notify_first_timeout` (doubling)
/// for each reply, up to `notify_attempts` tries. A reply with an error rcode ends the tries
/// (the secondary heard us and said no).
boost::asio::awaitable<NotifyOutcome> send_notify(std::shared_ptr<const zone::Zone> zone, zone::NotifyTarget target,
                                                  const crypto::TsigKey* key = nullptr);

}  // namespace apexd::xfr
