// Master-file tokenizing that ldns does not expose: entries, comments and line numbers.
#include "zone/zone_text.hpp"

#include "zone/record.hpp"

namespace apexd::zone {

namespace {
bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}
}  // namespace

std::vector<TextEntry> split_entries(std::string_view text, const std::string& file) {
  std::vector<TextEntry> out;
  for_each_entry(text, file, [&](const TextEntry& e) { out.push_back(e); });
  return out;
}

void for_each_entry(std::string_view text, const std::string& file, const std::function<void(const TextEntry&)>& fn) {
  TextEntry cur;
  unsigned line = 1;
  int depth = 0;
  bool in_quote = false;
  bool at_start = true;  // no character of the current entry seen yet
  unsigned quote_line = 0, paren_line = 0;

  auto finish = [&] {
    if (!blank(cur.text)) fn(cur);
    cur.text.clear();  // keeps its capacity: no allocation per entry
    cur.comment.clear();
    at_start = true;
  };

  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (at_start) {
      cur.line = line;
      cur.owner_blank = (c == ' ' || c == '\t');
      at_start = false;
    }
    if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
      cur.text += c;
      cur.text += text[++i];
      continue;
    }
    if (in_quote) {
      if (c == '\n') throw ZoneError(file, quote_line, "quoted string not closed on its line");
      if (c == '"') in_quote = false;
      cur.text += c;
      continue;
    }
    switch (c) {
      case '"':
        in_quote = true;
        quote_line = line;
        cur.text += c;
        break;
      case ';': {
        size_t end = text.find('\n', i);
        if (end == std::string_view::npos) end = text.size();
        std::string_view comment = text.substr(i + 1, end - i - 1);
        if (!comment.empty() && comment.back() == '\r') comment.remove_suffix(1);
        if (!cur.comment.empty()) cur.comment += ' ';
        cur.comment += comment;
        i = end - 1;  // the newline is handled by the next iteration
        break;
      }
      case '(':
        if (depth++ == 0) paren_line = line;
        cur.text += ' ';
        break;
      case ')':
        if (--depth < 0) throw ZoneError(file, line, "')' without a matching '('");
        cur.text += ' ';
        break;
      case '\n':
        ++line;
        if (depth > 0) {
          cur.text += ' ';
        } else {
          finish();
        }
        break;
      case '\r':
        cur.text += ' ';
        break;
      default:
        cur.text += c;
    }
  }
  if (in_quote) throw ZoneError(file, quote_line, "quoted string not closed");
  if (depth > 0) throw ZoneError(file, paren_line, "'(' not closed before the end of the file");
  finish();
}

void split_token_views(std::string_view text, std::vector<std::string_view>& out) {
  out.clear();
  size_t start = 0;
  bool in_tok = false, in_quote = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!in_tok && c != ' ' && c != '\t') {
      in_tok = true;
      start = i;
    }
    if (c == '\\' && i + 1 < text.size()) {
      ++i;
      continue;
    }
    if (c == '"') {
      in_quote = !in_quote;
      continue;
    }
    if (!in_quote && (c == ' ' || c == '\t') && in_tok) {
      out.push_back(text.substr(start, i - start));
      in_tok = false;
    }
  }
  if (in_tok) out.push_back(text.substr(start));
}

std::vector<std::string> split_tokens(std::string_view text) {
  std::vector<std::string> tokens;
  std::string tok;
  bool in_tok = false, in_quote = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      tok += c;
      tok += text[++i];
      in_tok = true;
      continue;
    }
    if (c == '"') {
      in_quote = !in_quote;
      tok += c;
      in_tok = true;
      continue;
    }
    if (!in_quote && (c == ' ' || c == '\t')) {
      if (in_tok) tokens.push_back(std::move(tok));
      tok.clear();
      in_tok = false;
      continue;
    }
    tok += c;
    in_tok = true;
  }
  if (in_tok) tokens.push_back(std::move(tok));
  return tokens;
}

}  // namespace apexd::zone
