// The outcome of resolving a flattening target: its addresses, a negative answer, or a failure.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace apexd::resolver {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

/// Extended DNS Error codes used by apexd (RFC 8914 §4).
namespace ede {
inline constexpr uint16_t other = 0, stale_answer = 3, no_reachable_authority = 22, network_error = 23,
                          invalid_data = 24;
}

enum class Outcome : uint8_t {
  addresses,  ///< `rdata` holds the target's A or AAAA RDATA (may be empty only for NODATA)
  nodata,     ///< the name exists without records of the type (RFC 2308 §2.2)
  nxdomain,   ///< the name does not exist (RFC 2308 §2.1)
  failure,    ///< transient: timeout, SERVFAIL, REFUSED, garbage, loop
};

struct Resolution {
  Outcome outcome = Outcome::failure;
  uint32_t ttl = 0;                ///< min TTL over the whole chain, or the negative TTL
  std::vector<std::string> rdata;  ///< 4-byte A or 16-byte AAAA RDATA
  bool cacheable = true;           ///< false for negative answers without an SOA (RFC 2308 §5)
  uint16_t ede_code = ede::other;  ///< for failures
  std::string ede_text;            ///< for failures: what went wrong, for the client and the log
};

}  // namespace apexd::resolver
