// ZoneSet: the immutable set of served zones, published whole and swapped atomically on reload.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "zone/origin_index.hpp"
#include "zone/zone_list.hpp"
#include "zone/zone.hpp"

namespace apexd::zone {

/// A configured zone that could not be loaded and has no earlier data: its names are answered
/// SERVFAIL (as Knot does) until a reload brings it in.
struct FailedZone {
  std::string origin;       ///< lowercase wire form
  std::string origin_text;
  std::string file;
  std::string error;        ///< "file:line: reason"
};

/// All zones served at one moment. Immutable once built; readers hold a shared_ptr snapshot.
class ZoneSet {
 public:
  ZoneSet() : by_origin_(std::make_shared<const OriginIndex>()) {}
  explicit ZoneSet(std::vector<std::shared_ptr<const Zone>> zones, std::vector<FailedZone> failed = {});
  // The indexes hold views into the zones and failed_ (moving keeps those in place, copying would not).
  ZoneSet(const ZoneSet&) = delete;
  ZoneSet& operator=(const ZoneSet&) = delete;
  ZoneSet(ZoneSet&&) = default;
  ZoneSet& operator=(ZoneSet&&) = default;

  /// The zone with the longest origin that `lower` lies in or at, or nullptr.
  const Zone* find_suffix(wire::NameView lower) const noexcept;
  /// The zone whose origin is exactly `lower`, or nullptr.
  const Zone* find_exact(wire::NameView lower) const noexcept;
  /// Its position in zones(), or npos.
  size_t index_of(wire::NameView lower) const noexcept;
  static constexpr size_t npos = size_t(-1);
  /// The same as a shared pointer (reload keeps unchanged zones), or empty.
  std::shared_ptr<const Zone> shared_exact(wire::NameView lower) const;

  /// The failed zone whose origin is exactly `lower`, or nullptr.
  const FailedZone* find_failed(wire::NameView lower) const noexcept;
  /// The failed zone that `lower` falls in when it is nearer than `found` (the find_suffix
  /// result, may be nullptr), or nullptr. Costs nothing while every zone loaded.
  const FailedZone* failed_below(wire::NameView lower, const Zone* found) const noexcept;

  /// A copy of this set with `z` in place of the zone of its origin (added when there is none;
  /// a failed entry for that origin is dropped). Shares every zone but one chunk of the list,
  /// and the origin index when z replaces a zone (a copy of its flat table when z is new).
  std::shared_ptr<const ZoneSet> with_zone(std::shared_ptr<const Zone> z) const;
  /// A copy without the zone (or failed entry) whose origin is `lower`; the last zone takes its
  /// position (the order of zones() is not kept).
  std::shared_ptr<const ZoneSet> without_zone(wire::NameView lower) const;

  const ZoneList& zones() const { return zones_; }
  const std::vector<FailedZone>& failed() const { return failed_; }

 private:
  ZoneSet(ZoneList zones, std::shared_ptr<const OriginIndex> index, std::vector<FailedZone> failed);
  void index_failed();

  ZoneList zones_;
  std::vector<FailedZone> failed_;
  std::string_view origin_at(size_t i) const noexcept {
    wire::NameView o = zones_[i]->origin();  // stored lowercase
    return {reinterpret_cast<const char*>(o.data()), o.size()};
  }
  std::shared_ptr<const OriginIndex> by_origin_;  ///< positions in zones_ (shared by sets with the same positions)
  std::unordered_map<std::string_view, size_t> failed_by_origin_;  ///< index into failed_
};

}  // namespace apexd::zone
