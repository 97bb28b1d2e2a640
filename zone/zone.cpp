// Zone lookups: exact match and closest encloser by walking up the qname's labels.
#include "zone/zone.hpp"

#include "zone/loader.hpp"

namespace apexd::zone {

const Node* Zone::find(wire::NameView lower) const noexcept {
  auto it = index_.find(std::string_view(reinterpret_cast<const char*>(lower.data()), lower.size()));
  return it == index_.end() ? nullptr : &nodes_[it->second];
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
  std::vector<Record> records = load_zone_file(path, origin, &files);
  return compile_zone(origin, std::move(records), path, options, std::move(files));
}

}  // namespace apexd::zone
