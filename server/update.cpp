// RFC 2136 dynamic updates: prerequisites, permissions and the update section applied to one zone.
#include "server/update.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "xfr/xfr_in.hpp"
#include "zone/loader.hpp"
#include "zone/rdata_text.hpp"
#include "zone/wire/query.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_records.hpp"

namespace apexd::server {

namespace rrtype = wire::rrtype;
namespace rcode = wire::rcode;

namespace {

constexpr uint16_t tsig_type = 250;

// The zone's RRs by (owner, type, RDATA) → TTL: RR identity leaves the TTL out (RFC 2136 §1.1.1).
using Key = std::tuple<std::string, uint16_t, std::string>;
using RRMap = std::map<Key, uint32_t>;

bool is_meta(uint16_t type) {
  return type == rrtype::ANY || type == rrtype::AXFR || type == rrtype::IXFR || type == rrtype::MAILA ||
         type == rrtype::MAILB || type == rrtype::OPT || type == tsig_type;
}

std::string bytes(wire::NameView n) { return std::string(reinterpret_cast<const char*>(n.data()), n.size()); }

RRMap::iterator name_begin(RRMap& m, const std::string& owner) { return m.lower_bound({owner, 0, std::string()}); }

bool name_in_use(RRMap& m, const std::string& owner) {
  auto it = name_begin(m, owner);
  return it != m.end() && std::get<0>(it->first) == owner;
}

// [first, last) of the RRset owner/type.
std::pair<RRMap::iterator, RRMap::iterator> rrset_range(RRMap& m, const std::string& owner, uint16_t type) {
  auto first = m.lower_bound({owner, type, std::string()});
  auto last = first;
  while (last != m.end() && std::get<0>(last->first) == owner && std::get<1>(last->first) == type) ++last;
  return {first, last};
}

bool rrset_exists(RRMap& m, const std::string& owner, uint16_t type) {
  auto [first, last] = rrset_range(m, owner, type);
  return first != last;
}

bool has_other_than(RRMap& m, const std::string& owner, uint16_t type) {
  for (auto it = name_begin(m, owner); it != m.end() && std::get<0>(it->first) == owner; ++it) {
    uint16_t t = std::get<1>(it->first);
    // DNSSEC records may sit beside a CNAME (RFC 4035 §2.5).
    if (t != type && t != rrtype::RRSIG && t != rrtype::NSEC) return true;
  }
  return false;
}

UpdateResult fail(uint16_t rc, std::string why) {
  UpdateResult r;
  r.rcode = rc;
  r.why = std::move(why);
  return r;
}

}  // namespace

bool grant_allows(const zone::UpdateGrant& grant, wire::NameView origin, wire::NameView name, uint16_t type) {
  if (!grant.types.empty() && std::find(grant.types.begin(), grant.types.end(), type) == grant.types.end()) return false;
  if (grant.names.empty()) return true;
  // The name relative to the origin, in presentation form without the trailing dot; "@" at the apex.
  std::string full = wire::name_to_text(name), base = wire::name_to_text(origin);
  std::string rel = full.size() > base.size() ? full.substr(0, full.size() - base.size() - 1) : "@";
  if (base == ".") rel = full == "." ? "@" : full.substr(0, full.size() - 1);
  for (char& c : rel) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string& p : grant.names) {
    if (::fnmatch(p.c_str(), rel.c_str(), 0) == 0) return true;
    if (p.size() > 2 && p.ends_with(".*") && rel == p.substr(0, p.size() - 2)) return true;  // "x.*" covers x
  }
  return false;
}

UpdateResult evaluate_update(std::span<const uint8_t> request, const zone::Zone& z, std::string_view key, int64_t now) {
  if (request.size() < wire::header_size) return fail(rcode::FORMERR, "short message");
  wire::Header h = wire::parse_header(request);
  if (h.qdcount != 1) return fail(rcode::FORMERR, "the zone section must hold one record (RFC 2136 §3.1.1)");
  wire::Reader r(request, wire::header_size);
  wire::NameBuf zname;
  uint16_t ztype, zclass;
  if (!r.name(zname) || !r.u16(ztype) || !r.u16(zclass)) return fail(rcode::FORMERR, "malformed zone section");
  if (ztype != rrtype::SOA) return fail(rcode::FORMERR, "the zone section's type must be SOA");
  if (zclass != wire::rrclass::IN) return fail(rcode::NOTAUTH, "class");
  const wire::NameView origin = z.origin();
  const std::string origin_key = bytes(origin);

  auto read_section = [&](uint16_t count, std::vector<xfr::MessageRR>& out) {
    for (uint16_t i = 0; i < count; ++i) {
      xfr::MessageRR rr;
      if (!xfr::read_message_rr(request, r, rr)) return false;
      out.push_back(std::move(rr));
    }
    return true;
  };
  std::vector<xfr::MessageRR> prereqs, updates;
  if (!read_section(h.ancount, prereqs) || !read_section(h.nscount, updates))
    return fail(rcode::FORMERR, "a malformed record");

  RRMap rrs;
  std::vector<zone::JournalRR> aside;  // NSEC3 chain: kept as it is
  for (zone::JournalRR& rr : zone::zone_rrs(z)) rrs.emplace(Key{std::move(rr.owner), rr.type, std::move(rr.rdata)}, rr.ttl);
  for (const zone::Zone::AsideRecord& a : z.aside()) rrs.erase(Key{a.owner, a.type, a.rdata});

  // §3.2: prerequisites, against the zone as it is.
  std::map<std::pair<std::string, uint16_t>, std::set<std::string>> value_dependent;
  for (xfr::MessageRR& p : prereqs) {
    std::string owner = wire::name_lower(p.owner.view());
    wire::NameView ov(reinterpret_cast<const uint8_t*>(owner.data()), owner.size());
    if (p.ttl != 0) return fail(rcode::FORMERR, "a prerequisite with a TTL (RFC 2136 §3.2.1)");
    if (!wire::name_is_subdomain(ov, origin))
      return fail(update_rcode::NOTZONE, "prerequisite " + wire::name_to_text(ov) + " is outside the zone");
    if (p.rclass == wire::rrclass::ANY) {
      if (!p.rdata.empty()) return fail(rcode::FORMERR, "a class ANY prerequisite with RDATA");
      if (p.type == rrtype::ANY) {
        if (!name_in_use(rrs, owner)) return fail(rcode::NXDOMAIN, "prerequisite: " + wire::name_to_text(ov) + " is not in use");
      } else if (!rrset_exists(rrs, owner, p.type)) {
        return fail(update_rcode::NXRRSET, "prerequisite: no " + wire::type_to_text(p.type) + " at " + wire::name_to_text(ov));
      }
    } else if (p.rclass == wire::rrclass::NONE) {
      if (!p.rdata.empty()) return fail(rcode::FORMERR, "a class NONE prerequisite with RDATA");
      if (p.type == rrtype::ANY) {
        if (name_in_use(rrs, owner)) return fail(update_rcode::YXDOMAIN, "prerequisite: " + wire::name_to_text(ov) + " is in use");
      } else if (rrset_exists(rrs, owner, p.type)) {
        return fail(update_rcode::YXRRSET, "prerequisite: " + wire::type_to_text(p.type) + " exists at " + wire::name_to_text(ov));
      }
    } else if (p.rclass == wire::rrclass::IN) {
      if (is_meta(p.type)) return fail(rcode::FORMERR, "a meta type in a prerequisite");
      zone::lowercase_rdata_names(p.type, p.rdata);
      value_dependent[{owner, p.type}].insert(std::move(p.rdata));
    } else {
      return fail(rcode::FORMERR, "a prerequisite of class " + std::to_string(p.rclass));
    }
  }
  for (const auto& [set, wanted] : value_dependent) {  // §3.2.3: the whole RRset, exactly
    auto [first, last] = rrset_range(rrs, set.first, set.second);
    std::set<std::string> have;
    for (auto it = first; it != last; ++it) have.insert(std::get<2>(it->first));
    if (have != wanted)
      return fail(update_rcode::NXRRSET, "prerequisite: the " + wire::type_to_text(set.second) + " RRset at " +
                                             wire::name_to_text({reinterpret_cast<const uint8_t*>(set.first.data()), set.first.size()}) +
                                             " differs");
  }

  // §3.4.1: prescan, and §3.3: every record within the key's grants.
  for (xfr::MessageRR& u : updates) {
    std::string owner = wire::name_lower(u.owner.view());
    wire::NameView ov(reinterpret_cast<const uint8_t*>(owner.data()), owner.size());
    if (!wire::name_is_subdomain(ov, origin))
      return fail(update_rcode::NOTZONE, wire::name_to_text(ov) + " is outside the zone");
    if (u.rclass == wire::rrclass::IN) {
      if (is_meta(u.type)) return fail(rcode::FORMERR, "adding a meta type");
      if (auto bad = zone::check_rdata(u.type, u.rdata))
        return fail(rcode::FORMERR, "malformed " + wire::type_to_text(u.type) + " RDATA: " + *bad);
    } else if (u.rclass == wire::rrclass::ANY) {
      if (u.ttl != 0 || !u.rdata.empty() || (is_meta(u.type) && u.type != rrtype::ANY))
        return fail(rcode::FORMERR, "a malformed delete (class ANY)");
    } else if (u.rclass == wire::rrclass::NONE) {
      if (u.ttl != 0 || is_meta(u.type)) return fail(rcode::FORMERR, "a malformed delete (class NONE)");
    } else {
      return fail(rcode::FORMERR, "an update of class " + std::to_string(u.rclass));
    }
    if (u.type == zone::tag_rrtype)  // apexd's own change-log type: never in a zone
      return fail(rcode::REFUSED, "type " + std::to_string(u.type) + " is reserved by apexd");
    bool allowed = false;
    for (const zone::UpdateGrant& g : z.options().allow_update)
      if (g.key == key && grant_allows(g, origin, ov, u.type)) allowed = true;
    if (!allowed)
      return fail(rcode::REFUSED, "key not allowed to change " + wire::type_to_text(u.type) + " at " + wire::name_to_text(ov));
  }

  // §3.4.2: the updates, in order.
  const RRMap before = rrs;
  auto soa_it = rrset_range(rrs, origin_key, rrtype::SOA).first;
  const uint32_t old_serial = xfr::soa_rdata_serial(
      {reinterpret_cast<const uint8_t*>(std::get<2>(soa_it->first).data()), std::get<2>(soa_it->first).size()});
  bool serial_set = false;
  for (xfr::MessageRR& u : updates) {
    std::string owner = wire::name_lower(u.owner.view());
    const bool apex = owner == origin_key;
    zone::lowercase_rdata_names(u.type, u.rdata);
    if (u.rclass == wire::rrclass::IN) {
      if (u.type == rrtype::SOA) {
        // §3.4.2.2: only at the apex, and only a newer serial replaces the SOA.
        uint32_t serial = xfr::soa_rdata_serial({reinterpret_cast<const uint8_t*>(u.rdata.data()), u.rdata.size()});
        if (!apex || u.rdata.size() < 22 || !zone::serial_greater(serial, old_serial)) continue;
        auto [first, last] = rrset_range(rrs, owner, rrtype::SOA);
        rrs.erase(first, last);
        rrs.emplace(Key{owner, rrtype::SOA, u.rdata}, u.ttl);
        serial_set = true;
        continue;
      }
      // §3.4.2.2: a CNAME does not go beside other data, nor other data beside a CNAME.
      if (u.type == rrtype::CNAME ? has_other_than(rrs, owner, rrtype::CNAME)
                                  : (u.type != rrtype::RRSIG && u.type != rrtype::NSEC && rrset_exists(rrs, owner, rrtype::CNAME)))
        continue;
      if (u.type == rrtype::CNAME) {  // a CNAME replaces the one there (one CNAME per name)
        auto [first, last] = rrset_range(rrs, owner, rrtype::CNAME);
        rrs.erase(first, last);
      }
      rrs[Key{owner, u.type, u.rdata}] = u.ttl;
      // RFC 2181 §5.2: one TTL per RRset; the one just added sets it.
      auto [first, last] = rrset_range(rrs, owner, u.type);
      for (auto it = first; it != last; ++it) it->second = u.ttl;
    } else if (u.rclass == wire::rrclass::ANY) {
      if (u.type == rrtype::ANY) {
        // §3.4.2.3: deleting every RRset of the apex leaves its SOA and NS.
        for (auto it = name_begin(rrs, owner); it != rrs.end() && std::get<0>(it->first) == owner;) {
          uint16_t t = std::get<1>(it->first);
          if (apex && (t == rrtype::SOA || t == rrtype::NS)) ++it;
          else it = rrs.erase(it);
        }
      } else {
        if (apex && (u.type == rrtype::SOA || u.type == rrtype::NS)) continue;
        auto [first, last] = rrset_range(rrs, owner, u.type);
        rrs.erase(first, last);
      }
    } else {  // class NONE: one RR
      if (u.type == rrtype::SOA) continue;
      if (apex && u.type == rrtype::NS) {
        auto [first, last] = rrset_range(rrs, owner, rrtype::NS);
        if (std::distance(first, last) == 1 && std::get<2>(first->first) == u.rdata) continue;  // §3.4.2.4: the last NS stays
      }
      rrs.erase(Key{owner, u.type, u.rdata});
    }
  }

  UpdateResult out;
  if (rrs == before) return out;  // nothing changed: no new serial (§3.6 is about changes)
  for (const auto& [k, ttl] : rrs) {
    auto it = before.find(k);
    if (it == before.end() || it->second != ttl) ++out.added;
  }
  for (const auto& [k, ttl] : before) {
    auto it = rrs.find(k);
    if (it == rrs.end() || it->second != ttl) ++out.removed;
  }
  std::vector<zone::JournalRR> after;
  after.reserve(rrs.size() + z.aside().size());
  for (const auto& [k, ttl] : rrs) after.push_back({std::get<0>(k), std::get<1>(k), ttl, std::get<2>(k)});
  if (!serial_set) {
    // §3.6: the serial moves after a change, by the zone's serial policy.
    for (zone::JournalRR& rr : after)
      if (rr.type == rrtype::SOA && rr.owner == origin_key) zone::set_soa_serial(rr.rdata, zone::next_serial(old_serial, z.options().serial, now));
  }
  for (const zone::Zone::AsideRecord& a : z.aside()) after.push_back({a.owner, a.type, a.ttl, a.rdata});
  // Names proxied or flattened by their records' cf_tags stay so while they keep such records.
  for (zone::JournalRR& t : zone::carried_tags(z, after)) after.push_back(std::move(t));
  out.after = std::move(after);
  return out;
}

std::shared_ptr<const zone::Zone> recompile_zone(const zone::Zone& z, std::vector<zone::JournalRR> rrs) {
  auto file = std::make_shared<const std::string>(z.source() + " (run-time change)");
  return zone::compile_zone(z.origin(), zone::tagged_to_records(std::move(rrs), file), z.source(), z.options(), z.files(),
                            z.warnings());
}

}  // namespace apexd::server
