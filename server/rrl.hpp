// Response rate limiting (RRL), as Knot and NSD do it: token buckets keyed by client prefix,
// response kind and name; limited answers are dropped, every `slip`-th one sent truncated.
#pragma once
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "zone/wire/name.hpp"

namespace apexd::server {

/// A client network that RRL never limits, e.g. 192.0.2.0/24 or 2001:db8::/32.
struct Prefix {
  int family = 0;  ///< AF_INET or AF_INET6
  uint8_t bytes[16] = {};
  uint8_t length = 0;
  bool contains(const sockaddr_storage& addr) const;
};

/// Parses "192.0.2.0/24" or "2001:db8::/32" (a bare address is a full-length prefix).
Prefix parse_prefix(const std::string& text);

struct RrlConfig {
  uint32_t responses_per_second = 0;  ///< per client prefix and response kind; 0 = off
  uint32_t slip = 2;                  ///< every Nth limited answer goes out truncated (TC=1); 0 = never
  std::vector<Prefix> whitelist;
  uint32_t table_size = 65536;        ///< buckets per worker (direct-mapped)
};

enum class RrlAction : uint8_t { send, drop, slip };

/// Shared by the workers: the kernel spreads a client's packets over their SO_REUSEPORT sockets
/// by source port, so per-worker tables would let a client through at a multiple of the rate.
/// Buckets are guarded by striped locks (RRL is opt-in; with it off, nothing is locked).
class RateLimiter {
 public:
  explicit RateLimiter(const RrlConfig& cfg);

  /// Decides for one UDP response. Clients are grouped by /24 (IPv4) or /56 (IPv6), responses
  /// by kind: NXDOMAIN and errors by zone (so random names share one bucket), the rest by qname.
  RrlAction decide(const sockaddr_storage& client, uint16_t rcode, bool empty_answer, wire::NameView name,
                   uint64_t now_ms);

  bool enabled() const { return rate_ms_ > 0; }

 private:
  struct Bucket {
    uint64_t key = 0;
    int64_t tokens_ms = 0;  ///< tokens scaled by 1000, refilled by elapsed ms × rate
    uint64_t stamp_ms = 0;
    uint32_t limited = 0;   ///< limited answers so far, for slip
  };
  static constexpr size_t stripes = 64;
  RrlConfig cfg_;
  uint64_t rate_ms_;  ///< tokens per second (a token = 1000 units)
  uint64_t seed_;
  std::vector<Bucket> table_;
  std::array<std::mutex, stripes> locks_;
};

}  // namespace apexd::server
