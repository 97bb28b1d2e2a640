// ZoneSet lookups: longest matching origin by walking up the qname's labels.
#include "zone/zone_set.hpp"

namespace apexd::zone {

ZoneSet::ZoneSet(std::vector<std::shared_ptr<const Zone>> zones, std::vector<FailedZone> failed)
    : zones_(zones), failed_(std::move(failed)) {
  auto index = std::make_shared<OriginIndex>();
  index->build(zones_.size(), [this](size_t i) { return origin_at(i); });
  by_origin_ = std::move(index);
  index_failed();
}

ZoneSet::ZoneSet(ZoneList zones, std::shared_ptr<const OriginIndex> index, std::vector<FailedZone> failed)
    : zones_(std::move(zones)), failed_(std::move(failed)), by_origin_(std::move(index)) {
  index_failed();
}

void ZoneSet::index_failed() {
  for (size_t i = 0; i < failed_.size(); ++i) failed_by_origin_.emplace(std::string_view(failed_[i].origin), i);
}

std::shared_ptr<const ZoneSet> ZoneSet::with_zone(std::shared_ptr<const Zone> z) const {
  std::vector<FailedZone> failed = failed_;
  wire::NameView o = z->origin();
  std::string_view key(reinterpret_cast<const char*>(o.data()), o.size());
  std::erase_if(failed, [&](const FailedZone& f) { return f.origin == key; });
  size_t at = index_of(o);
  if (at != npos)  // same positions: the index is shared
    return std::shared_ptr<const ZoneSet>(new ZoneSet(zones_.replaced(at, std::move(z)), by_origin_, std::move(failed)));
  ZoneList list = zones_.appended(std::move(z));
  auto key_of = [&list](size_t i) {
    wire::NameView n = list[i]->origin();
    return std::string_view(reinterpret_cast<const char*>(n.data()), n.size());
  };
  auto index = std::make_shared<OriginIndex>(*by_origin_);
  if (!index->insert(key, list.size() - 1)) index->build(list.size(), key_of);
  return std::shared_ptr<const ZoneSet>(new ZoneSet(std::move(list), std::move(index), std::move(failed)));
}

std::shared_ptr<const ZoneSet> ZoneSet::without_zone(wire::NameView lower) const {
  std::vector<FailedZone> failed = failed_;
  std::string_view key(reinterpret_cast<const char*>(lower.data()), lower.size());
  std::erase_if(failed, [&](const FailedZone& f) { return f.origin == key; });
  size_t at = index_of(lower);
  if (at == npos) return std::shared_ptr<const ZoneSet>(new ZoneSet(zones_, by_origin_, std::move(failed)));
  // The index is edited with this set's positions (the removed zone's key, the last zone's),
  // then describes the new list: the last zone at `at`, every other where it was.
  auto old_key = [this](size_t i) { return origin_at(i); };
  size_t last = zones_.size() - 1;
  std::string last_key(origin_at(last));
  std::string removed_key(key);
  auto index = std::make_shared<OriginIndex>(*by_origin_);
  index->erase(removed_key, old_key);
  if (at != last) index->reposition(last_key, old_key, at);
  return std::shared_ptr<const ZoneSet>(new ZoneSet(zones_.swap_removed(at), std::move(index), std::move(failed)));
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
  return by_origin_->find({reinterpret_cast<const char*>(lower.data()), lower.size()},
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
