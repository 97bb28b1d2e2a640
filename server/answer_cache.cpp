#include "server/answer_cache.hpp"

#include <bit>
#include <chrono>
#include <cstring>
#include <random>

namespace apexd::server {

namespace {

// 64-bit multiply-mix over 8-byte words; seeded per process. Collisions only cost a miss
// (keys are compared in full), so this needs speed, not strength.
uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t seed) {
  constexpr uint64_t k = 0x9E3779B97F4A7C15ull;
  uint64_t h = seed ^ (n * k);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * k;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  h = (h ^ w) * k;
  return h ^ (h >> 32);
}

// A compression pointer to offset 0 or 1 (RFC 1035 §4.1.4 allows any earlier offset) makes the
// ID part of a name, so the query's meaning depends on the ID, which the key leaves out. Names
// read from other offsets are made of key bytes only (labels are read forward, and any further
// jump into the ID is such a pointer too). Looks for the byte pairs C0 00 / C0 01 anywhere:
// a false alarm only costs a miss.
bool may_point_into_id(const uint8_t* p, size_t n) {
  for (size_t i = 2; i + 1 < n; ++i)
    if (p[i] == 0xC0 && p[i + 1] <= 1) return true;
  return false;
}

uint64_t unix_now(const HandlerOptions& opts) {
  if (opts.unix_now) return opts.unix_now;
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace

AnswerCache::AnswerCache(size_t slots, std::optional<uint64_t> seed)
    : slots_(std::bit_ceil(std::max<size_t>(slots, 1))),
      mask_(slots_.size() - 1),
      seed_(seed ? *seed : std::random_device{}()) {}

HandleResult AnswerCache::answer(const zone::ZoneSet& zones, uint64_t generation, std::span<const uint8_t> request,
                                 std::span<uint8_t> out, const HandlerOptions& opts) noexcept {
  if (request.size() <= 2 || request.size() - 2 > max_key || may_point_into_id(request.data(), request.size()))
    return handle_query(zones, request, out, opts);
  if (generation != generation_) {
    generation_ = generation;
    ++epoch_;
  }
  const uint8_t* key = request.data() + 2;
  const size_t key_len = request.size() - 2;
  Slot& s = slots_[hash_bytes(key, key_len, seed_) & mask_];
  resolver::AliasResolver* res = opts.alias.resolver;
  if (s.epoch == epoch_ && s.key_len == key_len && s.answer_len <= out.size() &&
      std::memcmp(s.key, key, key_len) == 0 &&
      (s.until == resolver::TimePoint::max() ||
       (res && res->cache().generation() == s.resolver_generation && res->now() <= s.until)) &&
      (s.valid_until_unix == UINT64_MAX || unix_now(opts) < s.valid_until_unix)) {
    std::memcpy(out.data(), s.answer, s.answer_len);
    out[0] = request[0];  // the ID is the only part of the answer taken from the query unchanged
    out[1] = request[1];
    HandleResult r;
    r.from_cache = true;
    r.size = s.answer_len;
    r.rcode = s.rcode;
    r.qtype = s.qtype;
    r.truncated = s.truncated;
    r.empty_answer = s.empty_answer;
    r.wildcard = s.wildcard;
    r.question_end = s.question_end;
    r.zone = s.zone;
    r.flattened = s.flattened;
    r.reusable_until = s.until;
    r.valid_until_unix = s.valid_until_unix;
    return r;
  }
  // Read before answering: an insert meanwhile moves it, and the slot will not be used.
  const uint64_t resolver_generation = res ? res->cache().generation() : 0;
  HandleResult r = handle_query(zones, request, out, opts);
  if (r.size == 0 || r.size > max_answer || r.needs_resolution || r.malformed) return r;
  if (r.reusable_until == resolver::TimePoint::min()) return r;
  if (r.reusable_until != resolver::TimePoint::max() && !res) return r;
  s.epoch = epoch_;
  s.key_len = uint16_t(key_len);
  std::memcpy(s.key, key, key_len);
  s.answer_len = uint16_t(r.size);
  std::memcpy(s.answer, out.data(), r.size);
  s.rcode = r.rcode;
  s.qtype = r.qtype;
  s.question_end = r.question_end;
  s.truncated = r.truncated;
  s.empty_answer = r.empty_answer;
  s.wildcard = r.wildcard;
  s.zone = r.zone;
  s.until = r.reusable_until;
  s.resolver_generation = resolver_generation;
  s.flattened = r.flattened;
  s.valid_until_unix = r.valid_until_unix;
  return r;
}

}  // namespace apexd::server
