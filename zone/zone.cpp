// Zone lookups: exact match and closest encloser by walking up the qname's labels.
#include "zone/zone.hpp"

#include <ctime>

#include <cstring>

#include "zone/loader.hpp"

namespace apexd::zone {

size_t Zone::hash_name(wire::NameView lower) const noexcept {
  // Word-at-a-time multiply-xorshift, seeded per zone.
  uint64_t h = hash_seed_ ^ (lower.size() * 0x9E3779B97F4A7C15ULL);
  size_t i = 0;
  for (; i + 8 <= lower.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, lower.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, lower.data() + i, lower.size() - i);
  h = (h ^ tail) * 0x94D049BB133111EBULL;
  h ^= h >> 29;
  return size_t(h);
}

const Node* Zone::find(wire::NameView lower) const noexcept {
  if (index_.empty()) return nullptr;
  for (size_t h = hash_name(lower) & index_mask_;; h = (h + 1) & index_mask_) {
    uint32_t i = index_[h];
    if (i == no_node) return nullptr;
    const Node& n = nodes_[i];
    if (n.name_len == lower.size() && std::memcmp(names_.data() + n.name_off, lower.data(), lower.size()) == 0) return &n;
  }
}

Lookup Zone::lookup(wire::NameView lower) const noexcept {
  if (const Node* n = find(lower)) return {n, nullptr};
  // Strip labels until a name exists; the apex always does for names under the origin.
  wire::NameView cur = lower;
  size_t origin_len = apex().name_len;
  while (cur.size() > origin_len) {
    cur = wire::name_strip(cur, 1);
    if (const Node* n = find(cur)) return {nullptr, n};
  }
  return {nullptr, &apex()};
}

const RRset* Zone::rrset(const Node& n, uint16_t type) const noexcept {
  for (const RRset& s : rrsets(n))
    if (s.type == type) return &s;
  return nullptr;
}

std::shared_ptr<const Zone> load_zone(const std::string& path, wire::NameView origin, const ZoneOptions& options) {
  std::vector<FileStamp> files;
  std::vector<std::string> warnings;
  std::vector<Record> records = load_zone_file(path, origin, &files, &warnings);
  return compile_zone(origin, std::move(records), path, options, std::move(files), std::move(warnings));
}

size_t soa_serial_offset(std::span<const uint8_t> soa_rdata) {
  size_t mname = wire::name_wire_length(soa_rdata);
  return mname + wire::name_wire_length(soa_rdata.subspan(mname));
}

void set_soa_serial(std::string& soa_rdata, uint32_t serial) {
  size_t at = soa_serial_offset({reinterpret_cast<const uint8_t*>(soa_rdata.data()), soa_rdata.size()});
  for (int i = 0; i < 4; ++i) soa_rdata[at + i] = char(serial >> (24 - 8 * i));
}

std::shared_ptr<const Zone> Zone::with_serial(uint32_t serial) const {
  auto z = std::shared_ptr<Zone>(new Zone(*this));
  z->soa_ = &z->rrsets_[size_t(soa_ - rrsets_.data())];
  // MNAME and RNAME were checked when the zone was compiled.
  std::span<const uint8_t> soa = rdata(*soa_, 0);
  size_t at = size_t(soa.data() - rdata_bytes_.data()) + soa_serial_offset(soa);
  z->rdata_bytes_[at] = uint8_t(serial >> 24);
  z->rdata_bytes_[at + 1] = uint8_t(serial >> 16);
  z->rdata_bytes_[at + 2] = uint8_t(serial >> 8);
  z->rdata_bytes_[at + 3] = uint8_t(serial);
  z->serial_ = serial;
  return z;
}

bool serial_greater(uint32_t a, uint32_t b) { return a != b && int32_t(a - b) > 0; }

uint32_t next_serial(uint32_t serial, SerialPolicy policy, int64_t now) {
  uint32_t candidate = serial + 1;
  if (policy == SerialPolicy::unixtime) {
    candidate = uint32_t(now);
  } else if (policy == SerialPolicy::dateserial) {
    std::time_t t = std::time_t(now);
    std::tm utc{};
    gmtime_r(&t, &utc);
    candidate = uint32_t((utc.tm_year + 1900) * 1000000 + (utc.tm_mon + 1) * 10000 + utc.tm_mday * 100);
  }
  return serial_greater(candidate, serial) ? candidate : serial + 1;
}

}  // namespace apexd::zone
