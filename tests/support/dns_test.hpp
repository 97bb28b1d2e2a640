// Test helpers: query bytes, temporary folders, and ldns decoding of packets into zone-file text.
#pragma once
#include <compare>
#include <optional>  // before ldns, whose headers break <optional>'s operator<=> when it comes after
#include <doctest/doctest.h>
#include <ldns/ldns.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "zone/wire/name.hpp"

namespace apexd::test {

/// Wire form of an absolute (or origin-relative) name; throws when the text is not a name.
inline std::string wire_name(std::string_view text, std::string_view origin = {}) {
  wire::NameView o{reinterpret_cast<const uint8_t*>(origin.data()), origin.size()};
  auto n = wire::name_from_text(text, o);
  if (!n) throw std::invalid_argument("bad name in test: " + std::string(text));
  return *n;
}

/// A span over a wire-form name held in a std::string.
inline wire::NameView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

/// How make_query builds a request (RFC 1035 §4.1.1 header bits, RFC 6891 OPT).
struct QueryOptions {
  uint16_t id = 0x2a2a;
  uint8_t opcode = 0;
  bool rd = false;
  bool cd = false;
  uint16_t qclass = 1;
  bool edns = false;
  uint16_t payload = 1232;
  uint8_t version = 0;
  bool dnssec_ok = false;
};

inline void put_u16(std::vector<uint8_t>& p, uint16_t v) {
  p.push_back(uint8_t(v >> 8));
  p.push_back(uint8_t(v));
}

/// A query for `qname` (absolute text) and `qtype`, as a stub resolver would send it.
inline std::vector<uint8_t> make_query(std::string_view qname, uint16_t qtype, const QueryOptions& o = {}) {
  std::vector<uint8_t> p;
  put_u16(p, o.id);
  p.push_back(uint8_t((o.opcode & 0x0F) << 3 | (o.rd ? 0x01 : 0)));
  p.push_back(o.cd ? 0x10 : 0);
  put_u16(p, 1);
  put_u16(p, 0);
  put_u16(p, 0);
  put_u16(p, o.edns ? 1 : 0);
  std::string n = wire_name(qname);
  p.insert(p.end(), n.begin(), n.end());
  put_u16(p, qtype);
  put_u16(p, o.qclass);
  if (o.edns) {
    p.push_back(0);  // root owner
    put_u16(p, 41);
    put_u16(p, o.payload);
    p.push_back(0);  // extended rcode
    p.push_back(o.version);
    put_u16(p, o.dnssec_ok ? 0x8000 : 0);
    put_u16(p, 0);
  }
  return p;
}

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "apexd-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Writes `text` to `relative` (creating folders) and returns the full path.
  std::string write(const std::string& relative, std::string_view text) const {
    std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

/// ldns text of one RR without the trailing newline; `canonical` lowercases owner and RDATA names.
inline std::string rr_to_text(ldns_rr* rr, bool canonical) {
  if (canonical) ldns_rr2canonical(rr);
  char* s = ldns_rr2str(rr);
  std::string out = s ? s : "";
  free(s);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

/// Zone-file text of one RR as ldns prints it, so expected and actual text compare equal.
inline std::string normalize_rr(const std::string& text, bool canonical = true) {
  ldns_rr* rr = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr);
  if (st != LDNS_STATUS_OK) throw std::invalid_argument("ldns cannot parse expected RR '" + text + "': " +
                                                        ldns_get_errorstr_by_id(st));
  std::string out = rr_to_text(rr, canonical);
  ldns_rr_free(rr);
  return out;
}

/// Sorted normalized texts.
inline std::vector<std::string> normalize_rrs(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const auto& t : texts) out.push_back(normalize_rr(t));
  std::sort(out.begin(), out.end());
  return out;
}

/// A response decoded by ldns (an independent parser): header bits, EDNS and sections as text.
struct Decoded {
  bool ok = false;  ///< ldns_wire2pkt accepted the bytes
  uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false, cd = false;
  uint8_t opcode = 0;
  uint16_t rcode = 0;  ///< header rcode only (4 bits)
  bool edns = false;
  uint16_t edns_payload = 0;
  uint8_t edns_version = 0, edns_ext_rcode = 0;
  bool edns_do = false;
  std::string qname;  ///< question name exactly as sent back (letter case kept)
  uint16_t qtype = 0, qclass = 0;
  size_t qdcount = 0;
  std::vector<std::string> answer, authority, additional;  ///< sorted, canonical ldns text

  uint16_t full_rcode() const { return uint16_t(edns_ext_rcode << 4 | rcode); }
};

inline std::vector<std::string> section_text(ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    ldns_rr* copy = ldns_rr_clone(ldns_rr_list_rr(list, i));
    out.push_back(rr_to_text(copy, true));
    ldns_rr_free(copy);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline Decoded decode(std::span<const uint8_t> wire) {
  Decoded d;
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, wire.data(), wire.size()) != LDNS_STATUS_OK || !pkt) return d;
  d.ok = true;
  d.id = ldns_pkt_id(pkt);
  d.qr = ldns_pkt_qr(pkt);
  d.aa = ldns_pkt_aa(pkt);
  d.tc = ldns_pkt_tc(pkt);
  d.rd = ldns_pkt_rd(pkt);
  d.ra = ldns_pkt_ra(pkt);
  d.cd = ldns_pkt_cd(pkt);
  d.opcode = uint8_t(ldns_pkt_get_opcode(pkt));
  d.rcode = ldns_pkt_get_rcode(pkt);
  d.edns = ldns_pkt_edns(pkt);
  d.edns_payload = ldns_pkt_edns_udp_size(pkt);
  d.edns_version = ldns_pkt_edns_version(pkt);
  d.edns_ext_rcode = ldns_pkt_edns_extended_rcode(pkt);
  d.edns_do = ldns_pkt_edns_do(pkt);
  ldns_rr_list* q = ldns_pkt_question(pkt);
  d.qdcount = q ? ldns_rr_list_rr_count(q) : 0;
  if (d.qdcount > 0) {
    ldns_rr* rr = ldns_rr_list_rr(q, 0);
    char* s = ldns_rdf2str(ldns_rr_owner(rr));
    d.qname = s ? s : "";
    free(s);
    d.qtype = ldns_rr_get_type(rr);
    d.qclass = ldns_rr_get_class(rr);
  }
  d.answer = section_text(ldns_pkt_answer(pkt));
  d.authority = section_text(ldns_pkt_authority(pkt));
  d.additional = section_text(ldns_pkt_additional(pkt));
  ldns_pkt_free(pkt);
  return d;
}

/// One RR of a Record-like tuple (owner and RDATA in wire form) as ldns text, letter case kept.
inline std::string wire_rr_text(const std::string& owner, uint16_t type, uint16_t rclass, uint32_t ttl,
                                const std::string& rdata) {
  std::vector<uint8_t> w(owner.begin(), owner.end());
  put_u16(w, type);
  put_u16(w, rclass);
  put_u16(w, uint16_t(ttl >> 16));
  put_u16(w, uint16_t(ttl));
  put_u16(w, uint16_t(rdata.size()));
  w.insert(w.end(), rdata.begin(), rdata.end());
  ldns_rr* rr = nullptr;
  size_t pos = 0;
  if (ldns_wire2rr(&rr, w.data(), w.size(), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK || !rr)
    return "<undecodable RR>";
  std::string out = rr_to_text(rr, false);
  ldns_rr_free(rr);
  return out;
}

}  // namespace apexd::test

namespace doctest {
/// Prints lists of RR texts in failure messages, one per line.
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "{";
    for (const auto& s : v) out += "\n    " + s;
    out += v.empty() ? "}" : "\n  }";
    return String(out.c_str());
  }
};
}  // namespace doctest
