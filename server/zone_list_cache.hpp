// ZoneListCache: the config file's [[zone]] tables kept between reloads, re-parsed only where the text changed.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.hpp"

namespace apexd::server {

/// With 100,000 zones listed in one config file, toml++ takes ~0.35 s to parse it, though a
/// reload almost always finds the same text with one [[zone]] table added, removed or changed.
/// This keeps the text last parsed, cut into pieces before every line that starts with
/// "[[zone]]", and the zone of each piece. The next text is compared with it from both ends:
/// the pieces inside the common prefix and suffix are reused as they are (their lines and
/// positions shifted), and only the pieces in between are parsed, one by one.
///
/// The cut is trusted only when it provably matches the document (remember()): as many pieces
/// as [[zone]] tables, each starting on its table's line, and no other line of a piece starting
/// with '[' (so a piece holds its table's keys and nothing else: no `[server]` after the zones,
/// no sub-table, no multi-line string or array that a cut could split). Anything else — the part
/// before the first [[zone]] changed, more than max_reparsed pieces to parse, a piece that is not
/// exactly one valid [[zone]] table — answers "parse the whole file" (update() gives nullopt).
class ZoneListCache {
 public:
  /// Parses one piece on its own: its zone, lines counted from the piece's first line, or
  /// nullopt when it is anything but one valid [[zone]] table.
  using ParsePiece = std::function<std::optional<ZoneConfig>(std::string_view piece)>;
  struct Update {
    std::string_view head;         ///< the text before the first [[zone]] (into the caller's text)
    std::vector<ZoneConfig> zones;  ///< the file's own zones, in order, lines and index set
  };
  static constexpr size_t max_reparsed = 1000;  ///< beyond this, toml++ on the whole file is faster

  /// After a whole-file parse of `text` that gave `zones` (this file's own, in order).
  void remember(const std::string& text, const std::vector<ZoneConfig>& zones);
  /// The zones of `text` from the remembered ones, or nullopt (then parse the whole file and
  /// remember() it). A successful update is remembered.
  std::optional<Update> update(const std::string& text, const ParsePiece& parse);
  void forget() { valid_ = false; }
  bool valid() const { return valid_; }

 private:
  struct Piece {
    size_t start = 0;       ///< offset of its "[[zone]]" line
    size_t header_end = 0;  ///< offset just past that line
    unsigned line = 0;      ///< that line's number
  };
  /// Cuts text[from, to) (from at a line start, on line `line`); false if some line of a piece
  /// other than its first starts with '[', or the range does not start with a piece.
  static bool cut(std::string_view text, size_t from, size_t to, unsigned line, std::vector<Piece>& out);

  bool valid_ = false;
  std::string text_;
  std::vector<Piece> pieces_;
  std::vector<ZoneConfig> zones_;  ///< zones_[i] is pieces_[i]
};

}  // namespace apexd::server
