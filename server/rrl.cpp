// RRL: prefix masking, bucket keys with a seeded hash (keys are client data), token arithmetic.
#include "server/rrl.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

#include "zone/wire/types.hpp"

namespace apexd::server {

namespace {

constexpr unsigned ipv4_prefix = 24;  // as Knot and NSD: one bucket per /24 ...
constexpr unsigned ipv6_prefix = 56;  // ... and per /56
constexpr int64_t burst_seconds = 1;  // a bucket holds at most one second of tokens

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 31);
}

bool prefix_match(const uint8_t* addr, const uint8_t* prefix, unsigned bits) {
  unsigned full = bits / 8, rest = bits % 8;
  if (std::memcmp(addr, prefix, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xFF << (8 - rest));
  return (addr[full] & mask) == (prefix[full] & mask);
}

}  // namespace

bool Prefix::contains(const sockaddr_storage& a) const {
  if (a.ss_family != family) return false;
  if (family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(&a);
    return prefix_match(reinterpret_cast<const uint8_t*>(&s->sin_addr), bytes, length);
  }
  const auto* s = reinterpret_cast<const sockaddr_in6*>(&a);
  return prefix_match(s->sin6_addr.s6_addr, bytes, length);
}

Prefix parse_prefix(const std::string& text) {
  Prefix p;
  std::string addr = text;
  int len = -1;
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3 || !std::all_of(l.begin(), l.end(), ::isdigit))
      throw std::invalid_argument("\"" + text + "\" has a bad prefix length");
    len = std::stoi(l);
  }
  if (inet_pton(AF_INET, addr.c_str(), p.bytes) == 1) {
    p.family = AF_INET;
    if (len < 0) len = 32;
    if (len > 32) throw std::invalid_argument("\"" + text + "\": an IPv4 prefix is at most /32");
  } else if (inet_pton(AF_INET6, addr.c_str(), p.bytes) == 1) {
    p.family = AF_INET6;
    if (len < 0) len = 128;
    if (len > 128) throw std::invalid_argument("\"" + text + "\": an IPv6 prefix is at most /128");
  } else {
    throw std::invalid_argument("\"" + text + "\" is not an address or prefix");
  }
  p.length = uint8_t(len);
  return p;
}

RateLimiter::RateLimiter(const RrlConfig& cfg) : cfg_(cfg) {
  rate_ms_ = cfg.responses_per_second;
  seed_ = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  if (rate_ms_) table_.resize(std::max<uint32_t>(64, cfg.table_size));
}

RrlAction RateLimiter::decide(const sockaddr_storage& client, uint16_t rcode, bool empty_answer, wire::NameView name,
                              uint64_t now_ms) {
  if (!rate_ms_) return RrlAction::send;
  for (const Prefix& w : cfg_.whitelist)
    if (w.contains(client)) return RrlAction::send;

  uint64_t key = seed_;
  if (client.ss_family == AF_INET) {
    uint32_t a;
    std::memcpy(&a, &reinterpret_cast<const sockaddr_in*>(&client)->sin_addr, 4);
    a = ntohl(a) & (0xFFFFFFFFu << (32 - ipv4_prefix));
    key = mix(key, a);
  } else {
    const uint8_t* a = reinterpret_cast<const sockaddr_in6*>(&client)->sin6_addr.s6_addr;
    uint64_t hi;
    std::memcpy(&hi, a, 8);
    key = mix(key, hi & (~uint64_t(0) >> (64 - ipv6_prefix)));  // the first 56 bits, in memory order
  }
  uint64_t kind = rcode == wire::rcode::NOERROR ? (empty_answer ? 1 : 0) : rcode == wire::rcode::NXDOMAIN ? 2 : 3;
  key = mix(key, kind);
  for (size_t i = 0; i < name.size(); i += 8) {  // case-insensitive: the name comes from the query
    uint8_t chunk[8] = {};
    size_t n = std::min<size_t>(8, name.size() - i);
    for (size_t k = 0; k < n; ++k) chunk[k] = wire::to_lower(name[i + k]);
    uint64_t w;
    std::memcpy(&w, chunk, 8);
    key = mix(key, w);
  }
  key |= 1;  // 0 marks an empty bucket

  size_t slot = key % table_.size();
  std::lock_guard lock(locks_[slot % stripes]);
  Bucket& b = table_[slot];
  const int64_t cap = int64_t(rate_ms_) * 1000 * burst_seconds;
  if (b.key != key) {  // a new key takes the slot (direct-mapped: collisions reset)
    b.key = key;
    b.tokens_ms = cap;
    b.stamp_ms = now_ms;
    b.limited = 0;
  } else if (now_ms > b.stamp_ms) {
    b.tokens_ms = std::min<int64_t>(cap, b.tokens_ms + int64_t((now_ms - b.stamp_ms) * rate_ms_));
    b.stamp_ms = now_ms;
  }
  if (b.tokens_ms >= 1000) {
    b.tokens_ms -= 1000;
    return RrlAction::send;
  }
  ++b.limited;
  if (cfg_.slip > 0 && b.limited % cfg_.slip == 0) return RrlAction::slip;
  return RrlAction::drop;
}

}  // namespace apexd::server
