// Online signing of answers (DESIGN.md, "Signing follows the data"): the keys of signed zones,
// RRSIGs from the shared signature cache, compact-denial NSECs (RFC 9824), the signing budget.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto/dnssec_key.hpp"
#include "crypto/signature_cache.hpp"
#include "server/counter.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

/// RFC 4035 §3.1.5 leaves the validity period to policy. Inception an hour back tolerates
/// validators whose clocks run behind; a signature is valid four days and re-made once less
/// than three remain, so one RRset costs at most one signature a day and a validator always
/// sees three days or more (Knot's defaults: rrsig-lifetime 14 d, refresh 7 d; shorter here
/// because a signature is cheap to remake online).
inline constexpr uint32_t signature_inception_skew = 3600;
inline constexpr uint32_t signature_lifetime = 4 * 86400;
inline constexpr uint32_t signature_refresh = 3 * 86400;
inline constexpr uint16_t rrtype_nxname = 128;  // RFC 9824 §2: NXNAME, only ever in NSEC bitmaps

/// The keys of one signed zone and the apex RRsets made from them.
struct ZoneKeys {
  std::string origin;  ///< lowercase wire form
  std::vector<std::shared_ptr<const crypto::SigningKey>> ksks;  ///< sign DNSKEY, CDS, CDNSKEY (SEP keys; a CSK is both)
  std::vector<std::shared_ptr<const crypto::SigningKey>> zsks;  ///< sign everything else
  std::vector<std::vector<uint8_t>> dnskey;   ///< every key's DNSKEY RDATA
  std::vector<std::vector<uint8_t>> cds;      ///< RFC 7344: DS RDATA (SHA-256) of the SEP keys
  std::vector<std::vector<uint8_t>> cdnskey;  ///< RFC 7344: DNSKEY RDATA of the SEP keys

  wire::NameView origin_view() const { return {reinterpret_cast<const uint8_t*>(origin.data()), origin.size()}; }
  /// The apex RRset of `type` (DNSKEY, CDS, CDNSKEY), or nullptr for any other type.
  const std::vector<std::vector<uint8_t>>* apex_rrset(uint16_t type) const noexcept;
};

/// Builds ZoneKeys from the keys read for `origin`. With `now`, BIND's timing fields count: the
/// DNSKEY RRset holds the published keys, and only active ones sign (so a new key can be
/// published a TTL before it signs: a rollover without a validation gap); without, every key
/// is both. Among the signing keys, with both SEP and non-SEP keys, SEP keys are KSKs and the
/// others ZSKs; with one kind only, each signs everything. Throws crypto::KeyError when no key
/// signs.
ZoneKeys make_zone_keys(wire::NameView origin, std::vector<std::shared_ptr<const crypto::SigningKey>> keys,
                        std::optional<int64_t> now = std::nullopt);

/// Signed zones by origin; immutable once published (one per reload).
class SignerTable {
 public:
  void add(ZoneKeys keys);
  const ZoneKeys* find(wire::NameView origin_lower) const noexcept;
  size_t size() const { return zones_.size(); }

 private:
  std::unordered_map<std::string_view, std::unique_ptr<ZoneKeys>> zones_;  // keys view into the ZoneKeys' origin
};

/// Fresh NSEC signatures a worker may make per second for UDP answers (the random-name flood
/// guard; positive answers are never throttled). A token bucket refilled continuously and
/// holding at most 20 ms of allowance: a flood costs a few signatures every millisecond, never a
/// second's worth in one burst that would stall the other answers behind it.
class SigningBudget {
 public:
  static constexpr uint64_t burst_ms = 20;

  explicit SigningBudget(uint32_t per_second)
      : per_second_(per_second), capacity_(std::max<uint64_t>(1, per_second * burst_ms / 1000) * 1000),
        tokens_(capacity_) {}
  /// Takes one signature at `now_ms` (any monotonic milliseconds); false when none is left.
  bool take(uint64_t now_ms) noexcept {
    if (per_second_ == 0) return true;
    if (now_ms > last_ms_) {
      // tokens in thousandths: per_second per 1000 ms = per_second thousandths per ms
      tokens_ = std::min(capacity_, tokens_ + (now_ms - last_ms_) * per_second_);
    }
    last_ms_ = now_ms;  // a clock that went back refills nothing
    if (tokens_ < 1000) return false;
    tokens_ -= 1000;
    return true;
  }

 private:
  uint64_t per_second_;
  uint64_t capacity_;  // thousandths of a signature
  uint64_t tokens_;
  uint64_t last_ms_ = 0;
};

/// Per-worker signing counters for /metrics.
struct SigningStats {
  Counter made, cache_hits, cache_misses, throttled;
};

/// What one worker's query path needs to sign. Every pointer may be null (then: no signing).
struct SigningContext {
  const SignerTable* table = nullptr;
  crypto::SignatureCache* cache = nullptr;
  SigningBudget* budget = nullptr;  ///< null: unlimited (TCP answers are never throttled)
  SigningStats* stats = nullptr;
  bool corrupt = false;             ///< test hook: every signature written has a flipped byte
};

/// The NSEC type bitmap of one name (RFC 4034 §4.1.2), collected then encoded.
class TypeBitmap {
 public:
  void add(uint16_t type) noexcept;
  void remove(uint16_t type) noexcept;
  bool has(uint16_t type) const noexcept;
  /// Window blocks into `out`; returns the length (at most max_encoded).
  size_t encode(std::span<uint8_t> out) const noexcept;
  static constexpr size_t max_types = 96;
  static constexpr size_t max_encoded = 8 * (2 + 32);

 private:
  std::array<uint16_t, max_types> types_{};
  size_t count_ = 0;
};

/// Signs RRsets as an answer is written, for one zone and one query.
class AnswerSigner {
 public:
  enum class Status : uint8_t { written, no_room, throttled, failed };

  /// `now`: unix seconds (signature times); `now_ms`: the same clock in milliseconds, for the
  /// budget (0: now × 1000).
  AnswerSigner(const SigningContext& ctx, const ZoneKeys& keys, uint32_t now, uint64_t now_ms = 0)
      : ctx_(ctx), keys_(keys), now_(now), now_ms_(now_ms ? now_ms : uint64_t(now) * 1000) {}

  /// Writes the RRSIG(s) of an RRset into section `s` under `written_owner`: the RRset is
  /// `signed_owner` (lowercase; a wildcard's `*` name for a synthesized answer, RFC 4035
  /// §5.3.2), `type`, `rdatas`, signed with `original_ttl` (RFC 4034 §3.1.4) and written with
  /// `ttl` (≤ original_ttl). A failed put leaves the packet unchanged.
  Status sign(wire::PacketWriter& w, wire::Section s, wire::NameView written_owner, wire::NameView signed_owner,
              uint16_t type, uint32_t original_ttl, uint32_t ttl, std::span<const std::span<const uint8_t>> rdatas) noexcept;

  /// The same for a zone RRset.
  Status sign_rrset(wire::PacketWriter& w, wire::Section s, wire::NameView written_owner, wire::NameView signed_owner,
                    const zone::Zone& z, const zone::RRset& set, uint32_t ttl) noexcept;

  /// The same for the RRs written to `w` since `m` (one RRset of fixed-size RDATA, A or AAAA,
  /// as flattening and proxying write them).
  Status sign_written(wire::PacketWriter& w, const wire::PacketWriter::Mark& m, wire::NameView written_owner,
                      wire::NameView signed_owner, uint16_t type, uint32_t original_ttl) noexcept;

  /// Writes an NSEC `owner` → `next` with `types` and TTL `ttl` into the authority section (or
  /// `s`), then its RRSIG. `owner_lower` is the owner as signed.
  Status put_nsec(wire::PacketWriter& w, wire::Section s, wire::NameView written_owner, wire::NameView owner_lower,
                  wire::NameView next, const TypeBitmap& types, uint32_t ttl) noexcept;

  /// Until when (unix seconds) every signature written so far stays as it is in the cache: an
  /// answer holding them may be replayed until then.
  uint64_t valid_until() const { return valid_until_; }
  const ZoneKeys& keys() const { return keys_; }

 private:
  Status sign_with(const crypto::SigningKey& key, wire::PacketWriter& w, wire::Section s, wire::NameView written_owner,
                   wire::NameView signed_owner, uint16_t type, uint32_t original_ttl, uint32_t ttl,
                   std::span<const std::span<const uint8_t>> rdatas) noexcept;

  const SigningContext& ctx_;
  const ZoneKeys& keys_;
  uint32_t now_;
  uint64_t now_ms_;
  uint64_t valid_until_ = UINT64_MAX;
};

/// RFC 9824 / RFC 4470 §3.1.2 successor of `name`: `\000.name` (lowercase). When that is too
/// long, the name with its first label's last octet incremented. False when neither exists.
bool nsec_successor(wire::NameView name, wire::NameBuf& out) noexcept;
/// The first name after `name` and everything below it (RFC 4470 §3.1.2): `name` with a zero
/// octet appended to its first label (`x.wild.` → `x\000.wild.`), or when there is no room,
/// the first label's last octet incremented. The next name of an NSEC that covers `name`: with
/// `\000.name` instead, the NSEC would say `name` exists as an empty non-terminal.
bool nsec_subtree_successor(wire::NameView name, wire::NameBuf& out) noexcept;
/// A name just before `name` in canonical order (RFC 4470 §3.1.2, simplified): the first label's
/// last octet decremented and the label filled with 0xFF octets up to 63; a label ending in a
/// zero octet loses it (a label of one zero octet: the parent). `name` must not be the root.
bool nsec_predecessor(wire::NameView name, wire::NameBuf& out) noexcept;

}  // namespace apexd::server
