// Fast RDATA encoding: byte-for-byte what ldns produces for these types (a unit test compares).
#include "zone/rdata_text.hpp"

#include <arpa/inet.h>

#include <algorithm>

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

// One <character-string> (RFC 1035 §3.3), quoted or bare, with \X and \DDD escapes. With
// `split`, text longer than 255 bytes becomes several character-strings of 255 bytes and a
// shorter last one, as knotd and PowerDNS load such TXT lines (BIND refuses them).
bool put_char_string(std::string& out, std::string_view t, bool split = false) {
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
    if (c == '"') return false;  // a quote inside: the token is not one string; ldns splits it
    if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control bytes: as ldns reads them
    out += c;
  }
  size_t len = out.size() - len_at - 1;
  if (len <= 255) {
    out[len_at] = char(len);
    return true;
  }
  if (!split) return false;
  std::string text = out.substr(len_at + 1);
  out.resize(len_at);
  for (size_t at = 0; at < text.size(); at += 255) {
    size_t n = std::min<size_t>(255, text.size() - at);
    out += char(n);
    out.append(text, at, n);
  }
  return true;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
int hex_value(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

// Appends the bytes of hex digits to `out`, skipping `skip` characters; `high` carries a
// pending high nibble between calls (-1: none). False on a character that is not hex.
bool append_hex(std::string& out, std::string_view digits, int& high, char skip = 0) {
  for (char c : digits) {
    if (skip && c == skip) continue;
    if (!is_hex(c)) return false;
    if (high < 0) {
      high = hex_value(c);
    } else {
      out += char(high << 4 | hex_value(c));
      high = -1;
    }
  }
  return true;
}

// ATMA (ATM Forum af-saa-0069.000): "+digits" is E.164 (format 1, the digits as ASCII);
// hex digits, dots allowed between them, are an AESA/NSAP address (format 0). ldns 1.8 drops
// the format byte.
bool put_atma(std::string& out, std::string_view t) {
  if (t.empty()) return false;
  if (t[0] == '+') {
    if (t.size() < 2) return false;
    out += '\x01';
    for (char c : t.substr(1)) {
      if (c < '0' || c > '9') return false;
      out += c;
    }
    return true;
  }
  size_t start = out.size();
  out += '\x00';
  int high = -1;
  return append_hex(out, t, high, '.') && high < 0 && out.size() > start + 1;
}

// A6 (RFC 2874 §3.1): prefix length 0..128, the address suffix (the last (128 - len) bits,
// in whole octets, the prefix bits zeroed) unless len = 128, and the prefix name unless len = 0.
bool put_a6(std::string& out, std::span<const std::string_view> tok, wire::NameView origin) {
  uint32_t plen = 0;
  if (tok.empty() || !parse_number(tok[0], 128, plen)) return false;
  size_t want = 1 + (plen < 128 ? 1 : 0) + (plen > 0 ? 1 : 0);
  if (tok.size() != want) return false;
  out += char(plen);
  size_t i = 1;
  if (plen < 128) {
    unsigned char b[16];
    std::string a(tok[i++]);
    if (a.size() > 45 || inet_pton(AF_INET6, a.c_str(), b) != 1) return false;
    size_t first = plen / 8;
    if (plen % 8) b[first] &= uint8_t(0xFF >> (plen % 8));
    out.append(reinterpret_cast<const char*>(b) + first, 16 - first);
  }
  return plen == 0 || put_name(out, tok[i], origin);
}

// NXT (RFC 2535 §5.2): the next name and a bitmap of the types 1..127 at the owner, as short
// as its highest bit allows.
bool put_nxt(std::string& out, std::span<const std::string_view> tok, wire::NameView origin) {
  if (tok.empty() || !put_name(out, tok[0], origin)) return false;
  uint8_t bits[16] = {};
  size_t used = 0;
  for (size_t i = 1; i < tok.size(); ++i) {
    auto t = wire::type_from_text(tok[i]);
    if (!t || *t == 0 || *t > 127) return false;
    bits[*t / 8] |= uint8_t(0x80 >> (*t % 8));
    used = std::max<size_t>(used, *t / 8 + 1);
  }
  out.append(reinterpret_cast<const char*>(bits), used);
  return true;
}

// Lowercases the uncompressed name at `at`; returns the offset after it, or npos.
size_t lower_name_at(std::string& r, size_t at) {
  if (at >= r.size()) return std::string::npos;
  auto* p = reinterpret_cast<uint8_t*>(r.data()) + at;
  size_t n = wire::name_wire_length({p, r.size() - at});
  if (n == 0) return std::string::npos;
  wire::name_to_lower({p, n}, p);
  return at + n;
}

size_t skip_char_string(const std::string& r, size_t at) {
  return at < r.size() && at + 1 + uint8_t(r[at]) <= r.size() ? at + 1 + uint8_t(r[at]) : std::string::npos;
}

}  // namespace

void lowercase_rdata_names(uint16_t type, std::string& r) {
  size_t at = 0;
  int names = 1;
  switch (type) {
    case rrtype::NS: case rrtype::MD: case rrtype::MF: case rrtype::CNAME: case rrtype::MB: case rrtype::MG:
    case rrtype::MR: case rrtype::PTR: case rrtype::DNAME: case rrtype::NXT:
      break;
    case rrtype::SOA: case rrtype::MINFO: case rrtype::RP:
      names = 2;
      break;
    case rrtype::MX: case rrtype::AFSDB: case rrtype::KX: case rrtype::RT:
      at = 2;
      break;
    case rrtype::PX:
      at = 2;
      names = 2;
      break;
    case rrtype::SIG: case rrtype::RRSIG:
      at = 18;
      break;
    case rrtype::SRV:
      at = 6;
      break;
    case rrtype::NAPTR:
      at = 4;
      for (int i = 0; i < 3 && at != std::string::npos; ++i) at = skip_char_string(r, at);
      break;
    case rrtype::A6:
      if (r.empty() || uint8_t(r[0]) == 0 || uint8_t(r[0]) > 128) return;
      at = 1 + 16 - uint8_t(r[0]) / 8;
      break;
    default:
      return;
  }
  for (int i = 0; i < names && at != std::string::npos; ++i) at = lower_name_at(r, at);
}

bool encoded_only_here(uint16_t type) {
  return type == rrtype::NSAP_PTR || type == rrtype::ATMA || type == rrtype::A6 || type == rrtype::NXT;
}

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
    case rrtype::NSAP_PTR:  // a domain name (RFC 1706 §6); ldns 1.8 encodes it as a string
      return tok.size() == 1 && put_name(out, tok[0], origin);
    case rrtype::ATMA:
      return tok.size() == 1 && put_atma(out, tok[0]);
    case rrtype::A6:
      return put_a6(out, tok, origin);
    case rrtype::NXT:
      return put_nxt(out, tok, origin);
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
    case rrtype::TXT:
    case rrtype::SPF: {
      if (tok.empty()) return false;
      for (std::string_view t : tok) {
        // ldns 1.8 refuses a bare "\#" anywhere in TXT (BIND reads it as the string "#"); such
        // lines go to ldns, so both paths agree (tests/fuzz/fuzz_zone_diff.cpp).
        if (t == "\\#" || !put_char_string(out, t, true)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

std::optional<std::string> encode_generic_rdata(std::span<const std::string_view> tok, std::string& out) {
  out.clear();
  if (tok.size() < 2) return "'\\#' needs a length (RFC 3597 §5)";
  uint32_t len = 0;
  if (!parse_number(tok[1], 65535, len)) return "bad RDATA length '" + std::string(tok[1]) + "' after '\\#'";
  int high = -1;
  for (size_t i = 2; i < tok.size(); ++i)
    if (!append_hex(out, tok[i], high)) return "bad hex encoding '" + std::string(tok[i]) + "' in '\\#' RDATA";
  if (high >= 0) return "odd number of hex digits in '\\#' RDATA";
  if (out.size() != len)
    return "'\\#' length " + std::to_string(len) + " does not match the " + std::to_string(out.size()) + " bytes of data";
  return std::nullopt;
}

}  // namespace apexd::zone
