// RRSIGs at answer time: canonical RRset → digest → signature cache → (budget) → sign → RRSIG RR.
#include "server/online_signer.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "crypto/rrsig.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace rrtype = wire::rrtype;
using wire::NameView;

namespace {

// Big enough for any RRset a message can carry (64 KiB) plus the RRSIG fields.
constexpr size_t signed_data_room = 65536 + crypto::rrsig_fixed_size + wire::max_name_length;

uint8_t* signed_data_buffer() noexcept {
  thread_local std::unique_ptr<uint8_t[]> buf(new uint8_t[signed_data_room]);
  return buf.get();
}

std::vector<std::span<const uint8_t>>& span_scratch() {
  thread_local std::vector<std::span<const uint8_t>> v;
  v.clear();
  return v;
}

// After a (possibly compressed) name in a message; 0 when malformed.
size_t skip_name(std::span<const uint8_t> msg, size_t at) {
  while (at < msg.size()) {
    uint8_t len = msg[at];
    if (len == 0) return at + 1;
    if ((len & 0xC0) == 0xC0) return at + 2 <= msg.size() ? at + 2 : 0;
    if (len & 0xC0) return 0;
    at += 1 + len;
  }
  return 0;
}

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }

bool increment_first_label(NameView name, wire::NameBuf& out) noexcept;

}  // namespace

const std::vector<std::vector<uint8_t>>* ZoneKeys::apex_rrset(uint16_t type) const noexcept {
  switch (type) {
    case rrtype::DNSKEY: return &dnskey;
    case rrtype::CDS: return &cds;
    case rrtype::CDNSKEY: return &cdnskey;
    default: return nullptr;
  }
}

ZoneKeys make_zone_keys(NameView origin, std::vector<std::shared_ptr<const crypto::SigningKey>> keys,
                        std::optional<int64_t> now) {
  ZoneKeys z;
  z.origin = wire::name_lower(origin);
  std::vector<std::shared_ptr<const crypto::SigningKey>> signing;
  for (const auto& k : keys) {
    if (now && !k->published(*now)) continue;
    z.dnskey.emplace_back(k->dnskey_rdata().begin(), k->dnskey_rdata().end());
    if (!now || k->active(*now)) signing.push_back(k);
  }
  if (signing.empty())
    throw crypto::KeyError(wire::name_to_text(origin) + ": no active DNSSEC key (" + std::to_string(keys.size()) +
                           " key files, none both published and activated now)");
  bool any_sep = std::any_of(signing.begin(), signing.end(), [](const auto& k) { return k->sep(); });
  bool any_zsk = std::any_of(signing.begin(), signing.end(), [](const auto& k) { return !k->sep(); });
  for (const auto& k : signing) {
    bool ksk = k->sep() || !any_sep;  // ZSKs alone: each one signs everything
    bool zsk = !k->sep() || !any_zsk;  // KSKs alone: each one is a CSK
    if (ksk) {
      z.ksks.push_back(k);
      z.cds.push_back(crypto::ds_rdata(z.origin_view(), k->dnskey_rdata()));
      z.cdnskey.emplace_back(k->dnskey_rdata().begin(), k->dnskey_rdata().end());
    }
    if (zsk) z.zsks.push_back(k);
  }
  return z;
}

void SignerTable::add(ZoneKeys keys) {
  auto p = std::make_unique<ZoneKeys>(std::move(keys));
  std::string_view key = p->origin;
  zones_[key] = std::move(p);
}

const ZoneKeys* SignerTable::find(NameView origin_lower) const noexcept {
  auto it = zones_.find(std::string_view(reinterpret_cast<const char*>(origin_lower.data()), origin_lower.size()));
  return it == zones_.end() ? nullptr : it->second.get();
}

// --- type bitmaps -------------------------------------------------------------------------

void TypeBitmap::add(uint16_t type) noexcept {
  auto end = types_.begin() + ptrdiff_t(count_);
  auto it = std::lower_bound(types_.begin(), end, type);
  if (it != end && *it == type) return;
  if (count_ == max_types) return;  // no name of ours holds that many types
  std::move_backward(it, end, end + 1);
  *it = type;
  ++count_;
}

void TypeBitmap::remove(uint16_t type) noexcept {
  auto end = types_.begin() + ptrdiff_t(count_);
  auto it = std::lower_bound(types_.begin(), end, type);
  if (it == end || *it != type) return;
  std::move(it + 1, end, it);
  --count_;
}

bool TypeBitmap::has(uint16_t type) const noexcept {
  auto end = types_.begin() + ptrdiff_t(count_);
  return std::binary_search(types_.begin(), end, type);
}

size_t TypeBitmap::encode(std::span<uint8_t> out) const noexcept {
  size_t at = 0;
  for (size_t i = 0; i < count_;) {
    uint8_t window = uint8_t(types_[i] >> 8);
    std::array<uint8_t, 32> bits{};
    size_t len = 0;
    for (; i < count_ && (types_[i] >> 8) == window; ++i) {
      uint8_t low = uint8_t(types_[i]);
      bits[low / 8] |= uint8_t(0x80 >> (low % 8));
      len = size_t(low / 8) + 1;
    }
    if (at + 2 + len > out.size()) return 0;
    out[at] = window;
    out[at + 1] = uint8_t(len);
    std::memcpy(out.data() + at + 2, bits.data(), len);
    at += 2 + len;
  }
  return at;
}

// --- names around a name ------------------------------------------------------------------

bool nsec_successor(NameView name, wire::NameBuf& out) noexcept {
  if (name.size() + 2 <= wire::max_name_length) {
    out.data[0] = 1;
    out.data[1] = 0;
    wire::name_to_lower(name, out.data.data() + 2);
    out.len = uint8_t(name.size() + 2);
    return true;
  }
  // No room for a label below it: nothing can be below it either, so the next name is the
  // first label with a zero octet appended, or its last octet incremented (RFC 4470 §3.1.2).
  return nsec_subtree_successor(name, out);
}

namespace {

// The first label's last octet incremented (capitals skipped: names compare lowercased).
bool increment_first_label(NameView name, wire::NameBuf& out) noexcept {
  if (name.size() < 2 || name[0] == 0) return false;
  wire::name_to_lower(name, out.data.data());
  out.len = uint8_t(name.size());
  uint8_t& last = out.data[name[0]];
  if (last == 0xFF) return false;
  last = uint8_t(last + 1);
  if (is_upper(last)) last = 'Z' + 1;
  return true;
}

}  // namespace

bool nsec_subtree_successor(NameView name, wire::NameBuf& out) noexcept {
  if (name.size() < 2 || name[0] == 0) return false;
  uint8_t len = name[0];
  if (len == wire::max_label_length || name.size() + 1 > wire::max_name_length) return increment_first_label(name, out);
  out.data[0] = uint8_t(len + 1);
  wire::name_to_lower(name.subspan(1, len), out.data.data() + 1);
  out.data[1 + len] = 0;
  NameView parent = name.subspan(1 + len);
  wire::name_to_lower(parent, out.data.data() + 2 + len);
  out.len = uint8_t(name.size() + 1);
  return true;
}

bool nsec_predecessor(NameView name, wire::NameBuf& out) noexcept {
  if (name.size() < 2 || name[0] == 0) return false;
  uint8_t len = name[0];
  NameView parent = name.subspan(1 + len);
  uint8_t last = wire::to_lower(name[len]);
  if (last == 0) {
    // "a\000" comes right after "a"; "\000" right after the parent itself.
    if (len == 1) {
      wire::name_to_lower(parent, out.data.data());
      out.len = uint8_t(parent.size());
    } else {
      out.data[0] = uint8_t(len - 1);
      wire::name_to_lower(name.subspan(1, len - 1), out.data.data() + 1);
      wire::name_to_lower(parent, out.data.data() + len);
      out.len = uint8_t(len + parent.size());
    }
    return true;
  }
  uint8_t prev = uint8_t(last - 1);
  if (is_upper(prev)) prev = 'A' - 1;
  size_t fill = std::min<size_t>(wire::max_label_length - len, wire::max_name_length - name.size());
  size_t label = len + fill;
  out.data[0] = uint8_t(label);
  wire::name_to_lower(name.subspan(1, len - 1), out.data.data() + 1);
  out.data[len] = prev;
  std::memset(out.data.data() + 1 + len, 0xFF, fill);
  wire::name_to_lower(parent, out.data.data() + 1 + label);
  out.len = uint8_t(1 + label + parent.size());
  return true;
}

// --- signing ------------------------------------------------------------------------------

AnswerSigner::Status AnswerSigner::sign_with(const crypto::SigningKey& key, wire::PacketWriter& w, wire::Section s,
                                             NameView written_owner, NameView signed_owner, uint16_t type,
                                             uint32_t original_ttl, uint32_t ttl,
                                             std::span<const std::span<const uint8_t>> rdatas) noexcept {
  crypto::RrsigFields f;
  f.type_covered = type;
  f.algorithm = uint8_t(key.algorithm());
  f.labels = crypto::rrsig_labels(signed_owner);
  f.original_ttl = original_ttl;
  f.key_tag = key.tag();
  f.signer = keys_.origin_view();
  uint8_t* buf = signed_data_buffer();
  std::span<uint8_t> data(buf, signed_data_room);
  size_t fields = crypto::put_rrsig_fields(f, data);  // times zeroed: the cache key leaves them out
  size_t end = fields ? crypto::put_canonical_rrset(signed_owner, type, original_ttl, rdatas, data, fields) : 0;
  if (!end) return Status::failed;
  std::array<uint8_t, 32> digest;
  if (!crypto::sha256(data.first(end), digest)) return Status::failed;
  crypto::SignatureKey ckey;
  std::memcpy(ckey.data(), digest.data(), ckey.size());

  crypto::CachedSignature sig;
  if (ctx_.cache && ctx_.cache->find(ckey, now_, signature_refresh, sig)) {
    if (ctx_.stats) ctx_.stats->cache_hits.add();
  } else {
    if (ctx_.stats) ctx_.stats->cache_misses.add();
    // Only denial is throttled: every name of a random-name flood needs its own NSEC, while
    // positive answers (the zone's RRsets, flattened and proxied addresses) are finite and
    // always signed.
    if (ctx_.budget && type == rrtype::NSEC && !ctx_.budget->take(now_ms_)) return Status::throttled;
    sig.inception = now_ - signature_inception_skew;
    sig.expiration = now_ + signature_lifetime;
    put32(buf + crypto::rrsig_times_offset, sig.expiration);
    put32(buf + crypto::rrsig_times_offset + 4, sig.inception);
    size_t n = key.sign(data.first(end), sig.bytes);
    if (!n) return Status::failed;
    sig.length = uint8_t(n);
    if (ctx_.stats) ctx_.stats->made.add();
    if (ctx_.cache) ctx_.cache->insert(ckey, sig);
  }
  f.expiration = sig.expiration;
  f.inception = sig.inception;
  std::array<uint8_t, crypto::rrsig_fixed_size + wire::max_name_length + crypto::max_signature_size> rd;
  size_t n = crypto::put_rrsig_fields(f, rd);
  std::memcpy(rd.data() + n, sig.bytes.data(), sig.length);
  if (ctx_.corrupt) rd[n + sig.length / 2] ^= 0x5A;
  if (!w.put_rr(s, written_owner, rrtype::RRSIG, wire::rrclass::IN, ttl, {rd.data(), n + sig.length}))
    return Status::no_room;
  valid_until_ = std::min<uint64_t>(valid_until_, uint64_t(sig.expiration) - signature_refresh);
  return Status::written;
}

AnswerSigner::Status AnswerSigner::sign(wire::PacketWriter& w, wire::Section s, NameView written_owner,
                                        NameView signed_owner, uint16_t type, uint32_t original_ttl, uint32_t ttl,
                                        std::span<const std::span<const uint8_t>> rdatas) noexcept {
  bool keyset = keys_.apex_rrset(type) != nullptr;
  const auto& signers = keyset ? keys_.ksks : keys_.zsks;
  wire::PacketWriter::Mark m = w.mark();
  for (const auto& k : signers) {
    Status st = sign_with(*k, w, s, written_owner, signed_owner, type, original_ttl, ttl, rdatas);
    if (st != Status::written) {
      w.rollback(m);
      return st;
    }
  }
  return Status::written;
}

AnswerSigner::Status AnswerSigner::sign_rrset(wire::PacketWriter& w, wire::Section s, NameView written_owner,
                                              NameView signed_owner, const zone::Zone& z, const zone::RRset& set,
                                              uint32_t ttl) noexcept {
  try {
    auto& spans = span_scratch();
    for (size_t i = 0; i < set.rdata_count; ++i) spans.push_back(z.rdata(set, i));
    return sign(w, s, written_owner, signed_owner, set.type, set.ttl, ttl, spans);
  } catch (...) {
    return Status::failed;
  }
}

AnswerSigner::Status AnswerSigner::sign_written(wire::PacketWriter& w, const wire::PacketWriter::Mark& m,
                                                NameView written_owner, NameView signed_owner, uint16_t type,
                                                uint32_t original_ttl) noexcept {
  try {
    auto& spans = span_scratch();
    std::span<const uint8_t> msg = w.data();
    uint32_t ttl = 0;
    for (size_t at = m.size; at < msg.size();) {
      at = skip_name(msg, at);
      if (!at || at + 10 > msg.size()) return Status::failed;
      ttl = get32(msg.data() + at + 4);
      size_t rdlen = get16(msg.data() + at + 8);
      if (get16(msg.data() + at) != type || at + 10 + rdlen > msg.size()) return Status::failed;
      spans.push_back(msg.subspan(at + 10, rdlen));
      at += 10 + rdlen;
    }
    if (spans.empty()) return Status::written;
    return sign(w, wire::Section::answer, written_owner, signed_owner, type, std::max(original_ttl, ttl), ttl, spans);
  } catch (...) {
    return Status::failed;
  }
}

AnswerSigner::Status AnswerSigner::put_nsec(wire::PacketWriter& w, wire::Section s, NameView written_owner,
                                            NameView owner_lower, NameView next, const TypeBitmap& types,
                                            uint32_t ttl) noexcept {
  std::array<uint8_t, wire::max_name_length + TypeBitmap::max_encoded> rd;
  std::memcpy(rd.data(), next.data(), next.size());
  size_t n = types.encode(std::span<uint8_t>(rd).subspan(next.size()));
  std::span<const uint8_t> rdata(rd.data(), next.size() + n);
  wire::PacketWriter::Mark m = w.mark();
  if (!w.put_rr(s, written_owner, rrtype::NSEC, wire::rrclass::IN, ttl, rdata)) return Status::no_room;
  std::array<std::span<const uint8_t>, 1> one{rdata};
  Status st = sign(w, s, written_owner, owner_lower, rrtype::NSEC, ttl, ttl, one);
  if (st != Status::written) w.rollback(m);
  return st;
}

}  // namespace apexd::server
