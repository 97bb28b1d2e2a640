// ZoneSet lookups: longest matching origin by walking up the qname's labels.
#include "zone/zone_set.hpp"

namespace apexd::zone {

ZoneSet::ZoneSet(std::vector<std::shared_ptr<const Zone>> zones) : zones_(std::move(zones)) {
  for (const auto& z : zones_) {
    wire::NameView o = z->origin();  // stored lowercase
    by_origin_.emplace(std::string_view(reinterpret_cast<const char*>(o.data()), o.size()), z.get());
  }
}

const Zone* ZoneSet::find_exact(wire::NameView lower) const noexcept {
  auto it = by_origin_.find(std::string_view(reinterpret_cast<const char*>(lower.data()), lower.size()));
  return it == by_origin_.end() ? nullptr : it->second;
}

const Zone* ZoneSet::find_suffix(wire::NameView lower) const noexcept {
  wire::NameView cur = lower;
  for (;;) {
    if (const Zone* z = find_exact(cur)) return z;
    if (cur.size() <= 1) return nullptr;
    cur = wire::name_strip(cur, 1);
  }
}

}  // namespace apexd::zone
