// Splits RFC 1035 §5 master-file text into entries: one directive or RR each, with line numbers.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace apexd::zone {

/// One logical entry: parentheses joined, comments removed (kept apart in `comment`).
struct TextEntry {
  unsigned line = 0;         ///< line where the entry starts
  bool owner_blank = false;  ///< starts with white space: the owner is the previous one
  std::string text;          ///< entry text on one line, without comments or parentheses
  std::string comment;       ///< comment text after `;` (several joined by a space)
};

/// Calls `fn(const TextEntry&)` for each entry of `text` (the entry is reused between calls);
/// throws ZoneError(file, line, …) on unbalanced parentheses or quotes.
void for_each_entry(std::string_view text, const std::string& file, const std::function<void(const TextEntry&)>& fn);

/// The entries of `text` as a list (for tests and small files).
std::vector<TextEntry> split_entries(std::string_view text, const std::string& file);

/// Splits an entry's text into white-space separated tokens, honouring quotes and escapes.
std::vector<std::string> split_tokens(std::string_view text);
/// The same into views of `text`, reusing `out` (no allocation once `out` has grown).
void split_token_views(std::string_view text, std::vector<std::string_view>& out);

}  // namespace apexd::zone
