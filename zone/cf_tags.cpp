// cf_tags parsing: tolerant, since the rest of a comment is free text.
#include "zone/cf_tags.hpp"

#include <cctype>
#include <string>
#include <vector>

namespace apexd::zone {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string unquote(std::string_view v) {
  v = trim(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

// The tag list after `cf_tags=`: up to white space outside quotes.
std::vector<std::string_view> split_tags(std::string_view list) {
  std::vector<std::string_view> tags;
  bool quoted = false;
  size_t start = 0, i = 0;
  for (; i < list.size(); ++i) {
    char c = list[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && std::isspace(static_cast<unsigned char>(c))) break;
    if (!quoted && c == ',') {
      tags.push_back(list.substr(start, i - start));
      start = i + 1;
    }
  }
  tags.push_back(list.substr(start, i - start));
  return tags;
}

}  // namespace

CfTags parse_cf_tags(std::string_view comment) {
  CfTags out;
  constexpr std::string_view marker = "cf_tags=";
  size_t at = comment.find(marker);
  while (at != std::string_view::npos && at > 0 && !std::isspace(static_cast<unsigned char>(comment[at - 1])))
    at = comment.find(marker, at + 1);
  if (at == std::string_view::npos) return out;
  for (std::string_view tag : split_tags(comment.substr(at + marker.size()))) {
    tag = trim(tag);
    if (tag.empty()) continue;
    size_t colon = tag.find(':');
    std::string name = lower(trim(tag.substr(0, colon)));
    std::string value = colon == std::string_view::npos ? "true" : lower(unquote(tag.substr(colon + 1)));
    bool truth = value == "true" || value == "1" || value == "yes";
    if (name == "cf-proxied") {
      if (truth || value == "false" || value == "0" || value == "no") out.proxied = truth;
    } else if (name == "cf-flatten-cname") {
      out.flatten_cname = truth;
    }
  }
  return out;
}

}  // namespace apexd::zone
