// ZoneSet lookups: longest matching origin by walking up the qname's labels.
#include "zone/zone_set.hpp"

namespace apexd::zone {

ZoneSet::ZoneSet(std::vector<std::shared_ptr<const Zone>> zones, std::vector<FailedZone> failed)
    : zones_(std::move(zones)), failed_(std::move(failed)) {
  by_origin_.build(zones_.size(), [this](size_t i) { return origin_at(i); });
  for (size_t i = 0; i < failed_.size(); ++i) failed_by_origin_.emplace(std::string_view(failed_[i].origin), i);
}

std::shared_ptr<const ZoneSet> ZoneSet::with_zone(std::shared_ptr<const Zone> z) const {
  std::vector<std::shared_ptr<const Zone>> zones = zones_;
  std::vector<FailedZone> failed = failed_;
  wire::NameView o = z->origin();
  std::string_view key(reinterpret_cast<const char*>(o.data()), o.size());
  size_t at = index_of(o);
  if (at != npos) zones[at] = std::move(z);
  else zones.push_back(std::move(z));
  std::erase_if(failed, [&](const FailedZone& f) { return f.origin == key; });
  return std::make_shared<const ZoneSet>(std::move(zones), std::move(failed));
}

std::shared_ptr<const ZoneSet> ZoneSet::without_zone(wire::NameView lower) const {
  std::vector<std::shared_ptr<const Zone>> zones = zones_;
  std::vector<FailedZone> failed = failed_;
  std::string_view key(reinterpret_cast<const char*>(lower.data()), lower.size());
  size_t at = index_of(lower);
  if (at != npos) zones.erase(zones.begin() + ptrdiff_t(at));
  std::erase_if(failed, [&](const FailedZone& f) { return f.origin == key; });
  return std::make_shared<const ZoneSet>(std::move(zones), std::move(failed));
}

const FailedZone* ZoneSet::find_failed(wire::NameView lower) const noexcept {
  auto it = failed_by_origin_.find(std::string_view(reinterpret_cast<const char*>(lower.data()), lower.size()));
  return it == failed_by_origin_.end() ? nullptr : &failed_[it->second];
}

const FailedZone* ZoneSet::failed_below(wire::NameView lower, const Zone* found) const noexcept {
  if (failed_by_origin_.empty()) return nullptr;
  size_t stop = found ? found->origin().size() : 0;
  wire::NameView cur = lower;
  while (cur.size() > stop) {
    auto it = failed_by_origin_.find(std::string_view(reinterpret_cast<const char*>(cur.data()), cur.size()));
    if (it != failed_by_origin_.end()) return &failed_[it->second];
    if (cur.size() <= 1) break;
    cur = wire::name_strip(cur, 1);
  }
  return nullptr;
}

const Zone* ZoneSet::find_exact(wire::NameView lower) const noexcept {
  size_t i = index_of(lower);
  return i == npos ? nullptr : zones_[i].get();
}

size_t ZoneSet::index_of(wire::NameView lower) const noexcept {
  return by_origin_.find({reinterpret_cast<const char*>(lower.data()), lower.size()},
                         [this](size_t i) { return origin_at(i); });
}

std::shared_ptr<const Zone> ZoneSet::shared_exact(wire::NameView lower) const {
  size_t i = index_of(lower);
  return i == npos ? nullptr : zones_[i];
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
