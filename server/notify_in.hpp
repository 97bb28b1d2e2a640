// NOTIFY in (RFC 1996): a primary tells a secondary zone of ours that it changed.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "crypto/tsig.hpp"
#include "server/secondary.hpp"

namespace apexd::server {

/// What answer_notify decided.
struct NotifyVerdict {
  size_t size = 0;          ///< reply bytes written into `out` (0: drop)
  uint16_t rcode = 0;
  bool accepted = false;    ///< an allowed NOTIFY for a secondary zone: check its SOA now
  std::string origin;       ///< lowercase wire, when accepted
  std::optional<uint32_t> serial;  ///< the SOA serial the NOTIFY carried, if any (a hint only, §3.11)
  std::string key;          ///< the TSIG key it was signed with (lowercase wire), if any
};

/// Answers the NOTIFY `request` from `peer` (RFC 1996 §3.7, §4.7): NOERROR with AA and the
/// question echoed when `table` lists the zone and its allow_notify admits the source (and key);
/// REFUSED when it does not, NOTAUTH for a zone that is not a secondary of ours, FORMERR for a
/// NOTIFY without a SOA question. A signed NOTIFY is verified (RFC 8945) and its reply signed.
NotifyVerdict answer_notify(const NotifyTable& table, std::span<const uint8_t> request, std::span<uint8_t> out,
                            const sockaddr_storage& peer, std::span<const crypto::TsigKey> keys, uint64_t now);

/// Whether `request` is a NOTIFY query (opcode 4, QR clear): routed to answer_notify.
inline bool is_notify(std::span<const uint8_t> request) {
  return request.size() >= 12 && !(request[2] & 0x80) && ((request[2] >> 3) & 0x0F) == 4;
}

}  // namespace apexd::server
