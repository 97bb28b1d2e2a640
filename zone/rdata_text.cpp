// Fast RDATA encoding: byte-for-byte what ldns produces for these types (a unit test compares).
#include "zone/rdata_text.hpp"

#include <arpa/inet.h>

#include "zone/wire/types.hpp"

namespace apexd::zone {

namespace rrtype = wire::rrtype;

bool parse_number(std::string_view t, uint32_t max, uint32_t& out) {
  if (t.empty() || t.size() > 10) return false;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > max) return false;
  out = uint32_t(v);
  return true;
}

namespace {

void put16(std::string& out, uint32_t v) {
  out += char(v >> 8);
  out += char(v);
}

void put32(std::string& out, uint32_t v) {
  put16(out, v >> 16);
  put16(out, v & 0xFFFF);
}

bool plain(std::string_view t) {
  for (char c : t)
    if (c == '"' || c == '\\' || c == '(' || c == ')' || c == ';') return false;
  return !t.empty();
}

bool put_name(std::string& out, std::string_view t, wire::NameView origin) {
  if (!plain(t)) return false;
  auto n = wire::name_from_text(t, origin);
  if (!n) return false;
  out += *n;
  return true;
}

bool put_number16(std::string& out, std::string_view t) {
  uint32_t v;
  if (!parse_number(t, 0xFFFF, v)) return false;
  put16(out, v);
  return true;
}

// One <character-string> (RFC 1035 §3.3), quoted or bare, with \X and \DDD escapes.
bool put_char_string(std::string& out, std::string_view t) {
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  else if (t.find('"') != std::string_view::npos) return false;
  size_t len_at = out.size();
  out += '\0';
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '\\') {
      if (i + 1 >= t.size()) return false;
      if (t[i + 1] >= '0' && t[i + 1] <= '9') {
        uint32_t v;
        if (i + 3 >= t.size() || !parse_number(t.substr(i + 1, 3), 255, v)) return false;
        out += char(v);
        i += 3;
      } else {
        out += t[++i];
      }
      continue;
    }
    out += c;
  }
  size_t len = out.size() - len_at - 1;
  if (len > 255) return false;
  out[len_at] = char(len);
  return true;
}

}  // namespace

bool encode_rdata_fast(uint16_t type, std::span<const std::string_view> tok, wire::NameView origin, std::string& out) {
  out.clear();
  switch (type) {
    case rrtype::A: {
      unsigned char b[4];
      if (tok.size() != 1 || tok[0].size() > 15) return false;
      std::string s(tok[0]);
      if (inet_pton(AF_INET, s.c_str(), b) != 1) return false;
      out.assign(reinterpret_cast<const char*>(b), 4);
      return true;
    }
    case rrtype::AAAA: {
      unsigned char b[16];
      if (tok.size() != 1 || tok[0].size() > 45) return false;
      std::string s(tok[0]);
      if (inet_pton(AF_INET6, s.c_str(), b) != 1) return false;
      out.assign(reinterpret_cast<const char*>(b), 16);
      return true;
    }
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
    case rrtype::DNAME:
      return tok.size() == 1 && put_name(out, tok[0], origin);
    case rrtype::MX:
      return tok.size() == 2 && put_number16(out, tok[0]) && put_name(out, tok[1], origin);
    case rrtype::SRV:
      return tok.size() == 4 && put_number16(out, tok[0]) && put_number16(out, tok[1]) &&
             put_number16(out, tok[2]) && put_name(out, tok[3], origin);
    case rrtype::SOA: {
      if (tok.size() != 7 || !put_name(out, tok[0], origin) || !put_name(out, tok[1], origin)) return false;
      for (size_t i = 2; i < 7; ++i) {
        uint32_t v;
        if (!parse_number(tok[i], 0xFFFFFFFF, v)) return false;  // "1h" and the like: ldns
        put32(out, v);
      }
      return true;
    }
    case rrtype::TXT: {
      if (tok.empty()) return false;
      for (std::string_view t : tok)
        if (!put_char_string(out, t)) return false;
      return true;
    }
    default:
      return false;
  }
}

}  // namespace apexd::zone
