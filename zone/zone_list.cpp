// ZoneList: the zones of a ZoneSet in fixed-size chunks that successive sets share.
#include "zone/zone_list.hpp"

namespace apexd::zone {

ZoneList::ZoneList(const std::vector<std::shared_ptr<const Zone>>& zones) : size_(zones.size()) {
  chunks_.reserve((zones.size() + chunk_size - 1) / chunk_size);
  for (size_t i = 0; i < zones.size(); i += chunk_size) {
    size_t end = std::min(zones.size(), i + chunk_size);
    chunks_.push_back(std::make_shared<const Chunk>(zones.begin() + ptrdiff_t(i), zones.begin() + ptrdiff_t(end)));
  }
}

ZoneList ZoneList::replaced(size_t i, std::shared_ptr<const Zone> z) const {
  ZoneList out = *this;
  auto chunk = std::make_shared<Chunk>(*chunks_[i >> chunk_bits]);
  (*chunk)[i & (chunk_size - 1)] = std::move(z);
  out.chunks_[i >> chunk_bits] = std::move(chunk);
  return out;
}

ZoneList ZoneList::appended(std::shared_ptr<const Zone> z) const {
  ZoneList out = *this;
  if (size_ % chunk_size == 0) {
    auto chunk = std::make_shared<Chunk>();
    chunk->reserve(chunk_size);
    chunk->push_back(std::move(z));
    out.chunks_.push_back(std::move(chunk));
  } else {
    auto chunk = std::make_shared<Chunk>(*chunks_.back());
    chunk->push_back(std::move(z));
    out.chunks_.back() = std::move(chunk);
  }
  ++out.size_;
  return out;
}

ZoneList ZoneList::swap_removed(size_t i) const {
  size_t last = size_ - 1;
  ZoneList out = i == last ? *this : replaced(i, (*this)[last]);
  auto tail = std::make_shared<Chunk>(*out.chunks_.back());
  tail->pop_back();
  if (tail->empty()) out.chunks_.pop_back();
  else out.chunks_.back() = std::move(tail);
  --out.size_;
  return out;
}

}  // namespace apexd::zone
