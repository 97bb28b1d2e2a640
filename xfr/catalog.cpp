// Catalog zones (RFC 9432, version 2): producing one from a list of member zones, reading one.
#include "xfr/catalog.hpp"

#include <algorithm>

#include "zone/wire/name.hpp"
#include "zone/wire/types.hpp"

namespace apexd::xfr {

namespace {

wire::NameView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// `label` (one label, text) in front of the wire name `base`.
std::string prepend(const std::string& label, const std::string& base) {
  std::string out;
  out += char(label.size());
  out += label;
  return out + base;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out += char(v >> (8 * i));
}

}  // namespace

std::string catalog_member_label(const std::string& member_origin) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : member_origin) h = (h ^ c) * 0x100000001b3ULL;
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) out += hex[(h >> (4 * i)) & 15];
  return out;
}

std::shared_ptr<const zone::Zone> build_catalog(const std::string& origin, const std::vector<std::string>& members,
                                                uint32_t serial, const zone::ZoneOptions& options) {
  static const std::string invalid = std::string("\x07invalid\0", 9);
  auto file = std::make_shared<const std::string>("catalog " + wire::name_to_text(view(origin)));
  std::vector<zone::Record> records;
  auto add = [&](std::string owner, uint16_t type, std::string rdata) {
    zone::Record r;
    r.owner = std::move(owner);
    r.type = type;
    r.ttl = 0;  // RFC 9432 §4: TTLs in a catalog mean nothing; 0 as its examples
    r.rdata = std::move(rdata);
    r.file = file;
    records.push_back(std::move(r));
  };
  std::string soa = invalid + invalid;
  // serial, refresh, retry, expire, minimum (RFC 9432 §4.1 uses "invalid." names and leaves
  // the timers to the producer: refresh hourly, retry 10 min, expire as far as it goes).
  for (uint32_t v : {serial, 3600u, 600u, 2147483646u, 0u}) put_u32(soa, v);
  add(origin, wire::rrtype::SOA, soa);
  add(origin, wire::rrtype::NS, invalid);
  add(prepend("version", origin), wire::rrtype::TXT, std::string("\x01" "2", 2));  // §4.3
  std::string zones = prepend("zones", origin);
  for (const std::string& m : members) add(prepend(catalog_member_label(m), zones), wire::rrtype::PTR, m);
  return zone::compile_zone(view(origin), std::move(records), *file, options);
}

std::vector<std::string> catalog_members(const zone::Zone& catalog, std::string& error) {
  std::vector<std::string> out;
  std::string origin(reinterpret_cast<const char*>(catalog.origin().data()), catalog.origin().size());
  const zone::Node* version = catalog.find(view(prepend("version", origin)));
  const zone::RRset* txt = version ? catalog.rrset(*version, wire::rrtype::TXT) : nullptr;
  bool v2 = false;
  if (txt)
    for (size_t i = 0; i < txt->rdata_count; ++i) {
      auto rd = catalog.rdata(*txt, i);
      v2 |= rd.size() == 2 && rd[0] == 1 && rd[1] == '2';
    }
  if (!v2) {
    error = "not a version 2 catalog (RFC 9432 §4.3: version.<catalog> TXT \"2\" missing)";
    return out;
  }
  std::string zones = prepend("zones", origin);
  for (const zone::Node& n : catalog.nodes()) {
    wire::NameView name = catalog.name(n);
    // Members are exactly one label below zones.<catalog> (§4.4); deeper names are properties.
    if (n.labels != catalog.apex().labels + 2 || !wire::name_is_subdomain(name, view(zones))) continue;
    const zone::RRset* ptr = catalog.rrset(n, wire::rrtype::PTR);
    if (!ptr || ptr->rdata_count != 1) continue;  // §4.4.1: exactly one PTR, else ignored
    auto rd = catalog.rdata(*ptr, 0);
    std::string member = wire::name_lower({rd.data(), rd.size()});
    if (std::find(out.begin(), out.end(), member) == out.end()) out.push_back(std::move(member));
  }
  return out;
}

}  // namespace apexd::xfr
