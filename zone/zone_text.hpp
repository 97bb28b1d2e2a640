// Splits RFC 1035 §5 master-file text into entries: one directive or RR each, with line numbers.
#pragma once
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

/// Splits `text`; throws ZoneError(file, line, …) on unbalanced parentheses or quotes.
std::vector<TextEntry> split_entries(std::string_view text, const std::string& file);

/// Splits an entry's text into white-space separated tokens, honouring quotes and escapes.
std::vector<std::string> split_tokens(std::string_view text);

}  // namespace apexd::zone
