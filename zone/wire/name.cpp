// Domain names in wire form: validation, comparison, conversion to and from text.
#include "zone/wire/name.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "zone/wire/types.hpp"

namespace apexd::wire {

void NameBuf::assign(NameView n) {
  len = uint8_t(std::min(n.size(), max_name_length));
  std::memcpy(data.data(), n.data(), len);
}

size_t name_wire_length(std::span<const uint8_t> p) {
  size_t pos = 0;
  while (pos < p.size() && pos < max_name_length) {
    uint8_t l = p[pos];
    if (l == 0) return pos + 1;
    if (l > max_label_length) return 0;
    pos += 1 + l;
  }
  return 0;
}

bool name_is_valid(NameView n) {
  if (n.empty() || n.size() > max_name_length) return false;
  size_t pos = 0;
  while (pos < n.size()) {
    uint8_t l = n[pos];
    if (l > max_label_length) return false;
    if (l == 0) return pos + 1 == n.size();
    pos += 1 + l;
  }
  return false;
}

size_t name_label_count(NameView n) {
  size_t count = 0, pos = 0;
  while (pos < n.size() && n[pos] != 0) {
    pos += 1 + n[pos];
    ++count;
  }
  return count;
}

bool name_equal(NameView a, NameView b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i])) return false;  // length bytes are < 64: unchanged
  return true;
}

void name_to_lower(NameView n, uint8_t* out) {
  for (size_t i = 0; i < n.size(); ++i) out[i] = to_lower(n[i]);
}

std::string name_lower(NameView n) {
  std::string s(n.size(), '\0');
  name_to_lower(n, reinterpret_cast<uint8_t*>(s.data()));
  return s;
}

NameView name_strip(NameView n, size_t labels) {
  size_t pos = 0;
  while (labels-- > 0 && pos < n.size() && n[pos] != 0) pos += 1 + n[pos];
  return n.subspan(std::min(pos, n.size()));
}

bool name_is_subdomain(NameView n, NameView parent) {
  size_t nl = name_label_count(n), pl = name_label_count(parent);
  if (nl < pl) return false;
  return name_equal(name_strip(n, nl - pl), parent);
}

namespace {
// Offsets of each label, leftmost first.
size_t label_offsets(NameView n, std::array<uint8_t, max_labels + 1>& offs) {
  size_t count = 0, pos = 0;
  while (pos < n.size() && n[pos] != 0 && count < offs.size()) {
    offs[count++] = uint8_t(pos);
    pos += 1 + n[pos];
  }
  return count;
}
}  // namespace

int name_canonical_compare(NameView a, NameView b) {
  std::array<uint8_t, max_labels + 1> ao{}, bo{};
  size_t ac = label_offsets(a, ao), bc = label_offsets(b, bo);
  // Compare from the rightmost label; each label as lowercase octets (RFC 4034 §6.1).
  while (ac > 0 && bc > 0) {
    --ac;
    --bc;
    const uint8_t* la = &a[ao[ac]];
    const uint8_t* lb = &b[bo[bc]];
    size_t na = la[0], nb = lb[0], m = std::min(na, nb);
    for (size_t i = 1; i <= m; ++i) {
      int d = int(to_lower(la[i])) - int(to_lower(lb[i]));
      if (d != 0) return d;
    }
    if (na != nb) return na < nb ? -1 : 1;
  }
  if (ac == bc) return 0;
  return ac < bc ? -1 : 1;
}

bool name_is_wildcard(NameView n) { return n.size() >= 2 && n[0] == 1 && n[1] == '*'; }

std::string name_to_text(NameView n) {
  std::string out;
  size_t pos = 0;
  if (n.empty() || n[0] == 0) return ".";
  while (pos < n.size() && n[pos] != 0) {
    uint8_t l = n[pos++];
    for (uint8_t i = 0; i < l && pos < n.size(); ++i, ++pos) {
      uint8_t c = n[pos];
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' || c == '$') {
        out += '\\';
        out += char(c);
      } else if (c <= 0x20 || c >= 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", unsigned(c));
        out += buf;
      } else {
        out += char(c);
      }
    }
    out += '.';
  }
  return out;
}

std::optional<std::string> name_from_text(std::string_view text, NameView origin) {
  if (text.empty()) return std::nullopt;
  if (text == "@") {
    if (origin.empty()) return std::nullopt;
    return std::string(origin.begin(), origin.end());
  }
  if (text == ".") return std::string(1, '\0');
  std::string out;
  std::string label;
  bool absolute = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (label.empty()) return std::nullopt;  // empty label
      if (i + 1 == text.size()) absolute = true;
      if (label.size() > max_label_length) return std::nullopt;
      out += char(label.size());
      out += label;
      label.clear();
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;
      if (std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
        if (i + 3 >= text.size()) return std::nullopt;  // \DDD needs three digits
        int v = 0;
        for (int k = 1; k <= 3; ++k) {
          char d = text[i + k];
          if (!std::isdigit(static_cast<unsigned char>(d))) return std::nullopt;
          v = v * 10 + (d - '0');
        }
        if (v > 255) return std::nullopt;
        label += char(v);
        i += 3;
      } else {
        label += text[++i];
      }
      continue;
    }
    label += c;
  }
  if (!label.empty()) {
    if (label.size() > max_label_length) return std::nullopt;
    out += char(label.size());
    out += label;
  }
  if (absolute) {
    out += '\0';
  } else {
    if (origin.empty()) return std::nullopt;
    out.append(origin.begin(), origin.end());
  }
  if (out.size() > max_name_length) return std::nullopt;
  return out;
}

namespace {
struct TypeName {
  uint16_t type;
  const char* name;
};
// Every mnemonic ldns 1.8 knows (its ldns_rr_type enum), which is the IANA registry as of
// RFC 9460; "NSEC3PARAMS" is ldns's alias and not listed.
constexpr TypeName type_names[] = {
    {1, "A"}, {2, "NS"}, {3, "MD"}, {4, "MF"}, {5, "CNAME"}, {6, "SOA"}, {7, "MB"}, {8, "MG"}, {9, "MR"},
    {10, "NULL"}, {11, "WKS"}, {12, "PTR"}, {13, "HINFO"}, {14, "MINFO"}, {15, "MX"}, {16, "TXT"}, {17, "RP"},
    {18, "AFSDB"}, {19, "X25"}, {20, "ISDN"}, {21, "RT"}, {22, "NSAP"}, {23, "NSAP-PTR"}, {24, "SIG"},
    {25, "KEY"}, {26, "PX"}, {27, "GPOS"}, {28, "AAAA"}, {29, "LOC"}, {30, "NXT"}, {31, "EID"},
    {32, "NIMLOC"}, {33, "SRV"}, {34, "ATMA"}, {35, "NAPTR"}, {36, "KX"}, {37, "CERT"}, {38, "A6"},
    {39, "DNAME"}, {40, "SINK"}, {41, "OPT"}, {42, "APL"}, {43, "DS"}, {44, "SSHFP"}, {45, "IPSECKEY"},
    {46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"}, {49, "DHCID"}, {50, "NSEC3"}, {51, "NSEC3PARAM"},
    {52, "TLSA"}, {53, "SMIMEA"}, {55, "HIP"}, {56, "NINFO"}, {57, "RKEY"}, {58, "TALINK"}, {59, "CDS"},
    {60, "CDNSKEY"}, {61, "OPENPGPKEY"}, {62, "CSYNC"}, {63, "ZONEMD"}, {64, "SVCB"}, {65, "HTTPS"},
    {99, "SPF"}, {100, "UINFO"}, {101, "UID"}, {102, "GID"}, {103, "UNSPEC"}, {104, "NID"}, {105, "L32"},
    {106, "L64"}, {107, "LP"}, {108, "EUI48"}, {109, "EUI64"}, {249, "TKEY"}, {250, "TSIG"}, {251, "IXFR"},
    {252, "AXFR"}, {253, "MAILB"}, {254, "MAILA"}, {255, "ANY"}, {256, "URI"}, {257, "CAA"}, {258, "AVC"},
    {259, "DOA"}, {260, "AMTRELAY"}, {32768, "TA"}, {32769, "DLV"},
};
}  // namespace

bool is_known_type(uint16_t type) {
  for (const auto& t : type_names)
    if (t.type == type) return true;
  return false;
}

std::string type_to_text(uint16_t type) {
  for (const auto& t : type_names)
    if (t.type == type) return t.name;
  return "TYPE" + std::to_string(type);
}

std::optional<uint16_t> type_from_text(std::string_view text) {
  auto ieq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::toupper(x) == std::toupper(y); });
  };
  for (const auto& t : type_names)
    if (ieq(text, t.name)) return t.type;
  if (text.size() > 4 && ieq(text.substr(0, 4), "TYPE")) {
    unsigned v = 0;
    for (char c : text.substr(4)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      v = v * 10 + unsigned(c - '0');
      if (v > 65535) return std::nullopt;
    }
    return uint16_t(v);
  }
  return std::nullopt;
}

std::string rcode_to_text(uint16_t rc) {
  static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rc < std::size(names)) return names[rc];
  if (rc == rcode::BADVERS) return "BADVERS";
  return "RCODE" + std::to_string(rc);
}

}  // namespace apexd::wire
