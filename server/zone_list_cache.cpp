// ZoneListCache: the config file's [[zone]] tables kept between reloads, re-parsed only where the text changed.
#include "server/zone_list_cache.hpp"

#include <algorithm>
#include <cstring>

namespace apexd::server {

namespace {

constexpr size_t compare_block = 4096;  // memcmp a block at a time, then find the byte

bool is_zone_header(std::string_view line) {
  if (!line.starts_with("[[zone]]")) return false;
  for (char ch : line.substr(8)) {
    if (ch == '#') return true;  // a comment after the header
    if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') return false;
  }
  return true;
}

bool starts_with_bracket(std::string_view line) {
  size_t i = line.find_first_not_of(" \t");
  return i != std::string_view::npos && line[i] == '[';
}

size_t common_prefix(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i + compare_block <= n && std::memcmp(a.data() + i, b.data() + i, compare_block) == 0) i += compare_block;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

size_t common_suffix(std::string_view a, std::string_view b, size_t limit) {
  size_t i = 0;
  while (i + compare_block <= limit &&
         std::memcmp(a.data() + a.size() - i - compare_block, b.data() + b.size() - i - compare_block, compare_block) == 0)
    i += compare_block;
  while (i < limit && a[a.size() - 1 - i] == b[b.size() - 1 - i]) ++i;
  return i;
}

}  // namespace

bool ZoneListCache::cut(std::string_view text, size_t from, size_t to, unsigned line, std::vector<Piece>& out) {
  for (size_t pos = from; pos < to; ++line) {
    size_t eol = text.find('\n', pos);
    size_t next = eol == std::string_view::npos || eol >= to ? to : eol + 1;
    std::string_view l = text.substr(pos, next - pos);
    if (is_zone_header(l)) out.push_back({pos, next, line});
    else if (out.empty() || starts_with_bracket(l)) return false;
    pos = next;
  }
  return true;
}

void ZoneListCache::remember(const std::string& text, const std::vector<ZoneConfig>& zones) {
  valid_ = false;
  pieces_.clear();
  zones_.clear();
  text_.clear();
  unsigned line = 1;
  size_t pos = 0;
  for (; pos < text.size() && !is_zone_header(std::string_view(text).substr(pos, text.find('\n', pos) - pos)); ++line) {
    size_t eol = text.find('\n', pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
  }
  std::vector<Piece> pieces;
  if (pos >= text.size() || !cut(text, pos, text.size(), line, pieces) || pieces.size() != zones.size()) return;
  for (size_t i = 0; i < zones.size(); ++i)
    if (zones[i].line != pieces[i].line) return;  // a "[[zone]]" line that is no table header (inside a string)
  text_ = text;
  pieces_ = std::move(pieces);
  zones_ = zones;
  valid_ = true;
}

std::optional<ZoneListCache::Update> ZoneListCache::update(const std::string& text, const ParsePiece& parse) {
  if (!valid_) return std::nullopt;
  const std::string& old = text_;
  size_t p = common_prefix(old, text);
  if (p < pieces_[0].header_end) return std::nullopt;  // the settings or the first header changed
  size_t s = common_suffix(old, text, std::min(old.size(), text.size()) - p);
  // Pieces 0..kp-1 lie in the prefix, up to and including the header of piece kp; pieces
  // ks..n-1 (each with the newline before it) in the suffix. ks > kp: prefix and suffix do not
  // overlap, and piece kp's header is in the prefix.
  size_t n = pieces_.size();
  size_t kp = size_t(std::upper_bound(pieces_.begin() + 1, pieces_.end(), p,
                                      [](size_t v, const Piece& x) { return v < x.header_end; }) -
                     (pieces_.begin() + 1));
  size_t tail = old.size() - s;
  size_t ks = size_t(std::upper_bound(pieces_.begin() + ptrdiff_t(kp) + 1, pieces_.end(), tail,
                                      [](size_t v, const Piece& x) { return v < x.start; }) -
                     pieces_.begin());
  ptrdiff_t shift = ptrdiff_t(text.size()) - ptrdiff_t(old.size());
  size_t mid_start = pieces_[kp].start;
  size_t old_mid_end = ks < n ? pieces_[ks].start : old.size();
  size_t new_mid_end = size_t(ptrdiff_t(old_mid_end) + shift);

  std::vector<Piece> mid;
  if (!cut(text, mid_start, new_mid_end, pieces_[kp].line, mid) || mid.size() > max_reparsed) return std::nullopt;
  std::vector<ZoneConfig> mid_zones;
  mid_zones.reserve(mid.size());
  for (size_t i = 0; i < mid.size(); ++i) {
    size_t end = i + 1 < mid.size() ? mid[i + 1].start : new_mid_end;
    std::optional<ZoneConfig> z = parse(std::string_view(text).substr(mid[i].start, end - mid[i].start));
    if (!z) return std::nullopt;
    z->line += mid[i].line - 1;
    z->origin_line += mid[i].line - 1;
    mid_zones.push_back(std::move(*z));
  }
  auto lines = [](std::string_view t) { return ptrdiff_t(std::count(t.begin(), t.end(), '\n')); };
  ptrdiff_t line_shift = lines(std::string_view(text).substr(mid_start, new_mid_end - mid_start)) -
                         lines(std::string_view(old).substr(mid_start, old_mid_end - mid_start));

  zones_.erase(zones_.begin() + ptrdiff_t(kp), zones_.begin() + ptrdiff_t(ks));
  zones_.insert(zones_.begin() + ptrdiff_t(kp), std::make_move_iterator(mid_zones.begin()),
                std::make_move_iterator(mid_zones.end()));
  pieces_.erase(pieces_.begin() + ptrdiff_t(kp), pieces_.begin() + ptrdiff_t(ks));
  pieces_.insert(pieces_.begin() + ptrdiff_t(kp), mid.begin(), mid.end());
  for (size_t i = kp; i < zones_.size(); ++i) {
    zones_[i].index = unsigned(i);
    if (i < kp + mid.size()) continue;
    zones_[i].line = unsigned(ptrdiff_t(zones_[i].line) + line_shift);
    zones_[i].origin_line = unsigned(ptrdiff_t(zones_[i].origin_line) + line_shift);
    pieces_[i].start = size_t(ptrdiff_t(pieces_[i].start) + shift);
    pieces_[i].header_end = size_t(ptrdiff_t(pieces_[i].header_end) + shift);
    pieces_[i].line = unsigned(ptrdiff_t(pieces_[i].line) + line_shift);
  }
  text_ = text;
  return Update{std::string_view(text).substr(0, pieces_[0].start), zones_};
}

}  // namespace apexd::server
