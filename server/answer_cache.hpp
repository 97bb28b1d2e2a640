// AnswerCache: whole UDP answers kept per worker, keyed by the query's bytes after its ID.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "server/query_handler.hpp"

namespace apexd::server {

/// A repeated query — same flags, name in the same letter case, type, class and EDNS bytes — is
/// answered by copying the earlier answer and its ID, without the answer steps. Equal bytes in
/// give equal bytes out (handle_query is a function of the request, the zones, the options and,
/// for flattened names, the resolver's cache and the clock), so a hit is exactly what
/// handle_query would write, as long as:
///   - the zones are the same snapshot: entries carry the snapshot's generation;
///   - for an answer from the resolver's cache: the cache has not changed since (its generation)
///     and its TTL has not ticked (the entry is kept until the next whole second of the count-
///     down only); answers from a resolution or stale data are never kept;
///   - the options are the same: one cache per worker and transport (UDP), options fixed;
///   - for a signed answer: its signatures are still the ones the signature cache holds (the DO
///     bit is in the key, as part of the OPT record's bytes).
/// Direct-mapped and bounded: a new answer replaces whatever held its slot, so random names
/// (a flood) cost one copy each and can not grow anything. Not thread-safe: one per worker.
class AnswerCache {
 public:
  static constexpr size_t max_key = 96;      ///< query bytes after the ID; longer queries are not kept
  static constexpr size_t max_answer = 512;  ///< larger answers are not kept (a signed NODATA is ~400 bytes)
  static constexpr size_t default_slots = 8192;  ///< about 5 MiB per worker

  /// `slots` is rounded up to a power of two. `seed` keys the slot hash: random by default;
  /// tests give a fixed one so which queries share a slot is the same on every run.
  explicit AnswerCache(size_t slots = default_slots, std::optional<uint64_t> seed = std::nullopt);

  /// What handle_query(zones, request, out, opts) returns and writes, from the cache when it can.
  /// `generation` identifies the `zones` snapshot (SnapshotCell::Reader::generation()).
  HandleResult answer(const zone::ZoneSet& zones, uint64_t generation, std::span<const uint8_t> request,
                      std::span<uint8_t> out, const HandlerOptions& opts) noexcept;

 private:
  struct Slot {
    uint64_t epoch = 0;  // valid only when equal to epoch_
    uint16_t key_len = 0;
    uint16_t answer_len = 0;
    uint16_t rcode = 0, qtype = 0, question_end = 0;
    bool truncated = false, empty_answer = false, wildcard = false;
    const zone::Zone* zone = nullptr;
    resolver::TimePoint until = resolver::TimePoint::max();  // max: depends on the zones only
    uint64_t resolver_generation = 0;
    bool flattened = false;
    uint64_t valid_until_unix = UINT64_MAX;  // signed answers: replayed only while their signatures are current
    uint8_t key[max_key];
    uint8_t answer[max_answer];
  };

  std::vector<Slot> slots_;
  size_t mask_;
  uint64_t seed_;
  uint64_t generation_ = 0;
  uint64_t epoch_ = 1;  // bumped when the zones change: every slot becomes invalid at once
};

}  // namespace apexd::server
