// ZoneSet: the immutable set of served zones, published whole and swapped atomically on reload.
#pragma once
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "zone/zone.hpp"

namespace apexd::zone {

/// All zones served at one moment. Immutable once built; readers hold a shared_ptr snapshot.
class ZoneSet {
 public:
  ZoneSet() = default;
  explicit ZoneSet(std::vector<std::shared_ptr<const Zone>> zones);

  /// The zone with the longest origin that `lower` lies in or at, or nullptr.
  const Zone* find_suffix(wire::NameView lower) const noexcept;
  /// The zone whose origin is exactly `lower`, or nullptr.
  const Zone* find_exact(wire::NameView lower) const noexcept;

  const std::vector<std::shared_ptr<const Zone>>& zones() const { return zones_; }

 private:
  std::vector<std::shared_ptr<const Zone>> zones_;
  std::unordered_map<std::string_view, const Zone*> by_origin_;
};

}  // namespace apexd::zone
