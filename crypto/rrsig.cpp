// Canonical RR form and order (RFC 4034 §6.2, §6.3; RFC 6840 §5.1) and the RRSIG fields.
#include "crypto/rrsig.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "zone/wire/types.hpp"

namespace apexd::crypto {

namespace rrtype = wire::rrtype;

namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// Lowercases the uncompressed name at out[at..]; returns the offset after it, 0 if malformed.
size_t lower_name_at(std::span<uint8_t> out, size_t at, size_t end) {
  size_t n = wire::name_wire_length(out.subspan(at, end - at));
  if (!n) return 0;
  for (size_t i = at; i < at + n;) {
    uint8_t len = out[i++];
    for (size_t k = 0; k < len; ++k, ++i) out[i] = wire::to_lower(out[i]);
  }
  return at + n;
}

// Skips `count` character-strings (NAPTR's flags, services, regexp).
size_t skip_strings(std::span<const uint8_t> r, size_t at, int count) {
  for (int i = 0; i < count; ++i) {
    if (at >= r.size()) return 0;
    at += 1 + r[at];
  }
  return at <= r.size() ? at : 0;
}

// Where names sit in the RDATA of a type whose names are canonicalized: the offset of the
// first one and how many follow back to back; {0, 0} = no names to lowercase.
struct NameSpan {
  size_t offset;
  int count;
};

NameSpan names_of(uint16_t type, std::span<const uint8_t> r, bool& ok) {
  ok = true;
  switch (type) {
    case rrtype::NS: case rrtype::MD: case rrtype::MF: case rrtype::CNAME: case rrtype::MB: case rrtype::MG:
    case rrtype::MR: case rrtype::PTR: case rrtype::DNAME: case rrtype::NXT:
      return {0, 1};
    case rrtype::SOA: case rrtype::MINFO: case rrtype::RP:
      return {0, 2};
    case rrtype::MX: case rrtype::AFSDB: case rrtype::RT: case rrtype::KX:
      return {2, 1};
    case rrtype::PX:
      return {2, 2};
    case rrtype::SRV:
      return {6, 1};
    case rrtype::SIG: case rrtype::RRSIG:
      return {rrsig_fixed_size, 1};
    case rrtype::NAPTR: {
      size_t at = skip_strings(r, 4, 3);
      ok = at != 0;
      return {at, 1};
    }
    case rrtype::A6: {
      if (r.empty() || r[0] > 128) return ok = false, NameSpan{0, 0};
      size_t suffix = (128 - r[0] + 7) / 8;
      return {1 + suffix, r[0] > 0 ? 1 : 0};
    }
    default:
      return {0, 0};
  }
}

struct Scratch {
  std::vector<uint8_t> bytes;
  struct Ref {
    uint32_t off;
    uint16_t len;
  };
  std::vector<Ref> refs;
};

}  // namespace

uint8_t rrsig_labels(wire::NameView owner) noexcept {
  size_t n = wire::name_label_count(owner);
  if (wire::name_is_wildcard(owner)) --n;
  return uint8_t(n);
}

size_t put_rrsig_fields(const RrsigFields& f, std::span<uint8_t> out) noexcept {
  size_t n = rrsig_fixed_size + f.signer.size();
  if (out.size() < n) return 0;
  uint8_t* p = out.data();
  put16(p, f.type_covered);
  p[2] = f.algorithm;
  p[3] = f.labels;
  put32(p + 4, f.original_ttl);
  put32(p + 8, f.expiration);
  put32(p + 12, f.inception);
  put16(p + 16, f.key_tag);
  wire::name_to_lower(f.signer, p + rrsig_fixed_size);
  return n;
}

size_t canonical_rdata(uint16_t type, std::span<const uint8_t> rdata, std::span<uint8_t> out) noexcept {
  if (out.size() < rdata.size()) return 0;
  std::memcpy(out.data(), rdata.data(), rdata.size());
  bool ok = true;
  NameSpan names = names_of(type, rdata, ok);
  if (!ok) return 0;
  size_t at = names.offset;
  for (int i = 0; i < names.count; ++i) {
    if (at >= rdata.size()) return 0;
    at = lower_name_at(out, at, rdata.size());
    if (!at) return 0;
  }
  return rdata.size();
}

size_t put_canonical_rrset(wire::NameView owner, uint16_t type, uint32_t original_ttl,
                           std::span<const std::span<const uint8_t>> rdatas, std::span<uint8_t> out, size_t at) noexcept {
  thread_local Scratch scratch;
  size_t total = 0;
  for (auto r : rdatas) total += r.size();
  try {
    if (scratch.bytes.size() < total) scratch.bytes.resize(std::max<size_t>(total, 4096));
    scratch.refs.clear();
    scratch.refs.reserve(rdatas.size());
  } catch (...) {
    return 0;
  }
  size_t used = 0;
  for (auto r : rdatas) {
    size_t n = canonical_rdata(type, r, {scratch.bytes.data() + used, r.size()});
    if (n != r.size()) return 0;
    scratch.refs.push_back({uint32_t(used), uint16_t(n)});
    used += n;
  }
  const uint8_t* base = scratch.bytes.data();
  // RFC 4034 §6.3: RDATA as left-justified unsigned octet strings; a shorter prefix sorts first.
  auto less = [base](const Scratch::Ref& a, const Scratch::Ref& b) {
    int c = std::memcmp(base + a.off, base + b.off, std::min(a.len, b.len));
    return c != 0 ? c < 0 : a.len < b.len;
  };
  std::sort(scratch.refs.begin(), scratch.refs.end(), less);
  const Scratch::Ref* prev = nullptr;
  for (const Scratch::Ref& r : scratch.refs) {
    if (prev && !less(*prev, r)) continue;  // a duplicate RR is signed once (§6.3)
    prev = &r;
    size_t need = owner.size() + 10 + r.len;
    if (at + need > out.size()) return 0;
    uint8_t* p = out.data() + at;
    std::memcpy(p, owner.data(), owner.size());
    p += owner.size();
    put16(p, type);
    put16(p + 2, wire::rrclass::IN);
    put32(p + 4, original_ttl);
    put16(p + 8, r.len);
    std::memcpy(p + 10, base + r.off, r.len);
    at += need;
  }
  return at;
}

}  // namespace apexd::crypto
