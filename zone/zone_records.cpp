// A compiled zone as a list of RRs and back: what IXFR differences are taken from and applied to.
#include "zone/zone_records.hpp"

#include <algorithm>

#include "zone/wire/types.hpp"

namespace apexd::zone {

std::vector<JournalRR> zone_rrs(const Zone& z) {
  std::vector<JournalRR> out;
  out.reserve(z.record_count() + z.aside().size());
  auto bytes = [](std::span<const uint8_t> s) { return std::string(reinterpret_cast<const char*>(s.data()), s.size()); };
  out.push_back({bytes(z.origin()), wire::rrtype::SOA, z.soa().ttl, bytes(z.rdata(z.soa(), 0))});
  for (const Node& n : z.nodes()) {
    std::string owner = bytes(z.name(n));
    for (const RRset& s : z.rrsets(n)) {
      if (s.type == wire::rrtype::SOA && &n == &z.apex()) continue;
      for (size_t i = 0; i < s.rdata_count; ++i) out.push_back({owner, s.type, s.ttl, bytes(z.rdata(s, i))});
    }
  }
  for (const Zone::AsideRecord& a : z.aside()) out.push_back({a.owner, a.type, a.ttl, a.rdata});
  return out;
}

std::vector<Record> to_records(std::vector<JournalRR> rrs, std::shared_ptr<const std::string> file) {
  std::vector<Record> out;
  out.reserve(rrs.size());
  for (JournalRR& rr : rrs) {
    Record r;
    r.owner = std::move(rr.owner);
    r.type = rr.type;
    r.ttl = rr.ttl;
    r.rdata = std::move(rr.rdata);
    r.file = file;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace apexd::zone

namespace apexd::zone {

namespace {

std::string bytes_of(std::span<const uint8_t> s) { return std::string(reinterpret_cast<const char*>(s.data()), s.size()); }

}  // namespace

bool tag_applies(uint8_t tag, uint16_t type) {
  if (tag == tag_proxied) return type == wire::rrtype::A || type == wire::rrtype::AAAA || type == wire::rrtype::CNAME;
  return type == wire::rrtype::CNAME;
}

std::vector<JournalRR> tagged_zone_rrs(const Zone& z) {
  std::vector<JournalRR> out = zone_rrs(z);
  const std::vector<std::string>& listed = z.options().proxied;
  for (size_t i = 0; i < z.nodes().size(); ++i) {
    const Node& n = z.nodes()[i];
    std::string owner = bytes_of(z.name(n));
    if ((n.flags & node_proxied) && std::find(listed.begin(), listed.end(), owner) == listed.end())
      out.push_back({owner, tag_rrtype, 0, std::string(1, char(tag_proxied))});
    bool by_mode = (i == 0 && z.options().flatten != FlattenMode::none) || z.options().flatten == FlattenMode::all;
    if ((n.flags & node_flattened) && !by_mode) out.push_back({owner, tag_rrtype, 0, std::string(1, char(tag_flatten_cname))});
  }
  return out;
}

std::vector<Record> tagged_to_records(std::vector<JournalRR> rrs, std::shared_ptr<const std::string> file) {
  std::vector<std::pair<std::string, uint8_t>> tags;
  std::erase_if(rrs, [&](const JournalRR& rr) {
    if (rr.type != tag_rrtype) return false;
    if (rr.rdata.size() == 1) tags.emplace_back(rr.owner, uint8_t(rr.rdata[0]));
    return true;
  });
  std::vector<Record> out = to_records(std::move(rrs), std::move(file));
  if (tags.empty()) return out;
  std::sort(tags.begin(), tags.end());
  for (Record& r : out) {
    auto it = std::lower_bound(tags.begin(), tags.end(), std::pair<std::string, uint8_t>(r.owner, 0));
    for (; it != tags.end() && it->first == r.owner; ++it) {
      if (!tag_applies(it->second, r.type)) continue;
      r.comment = it->second == tag_proxied ? "cf_tags=cf-proxied:true" : "cf_tags=cf-flatten-cname";
      if (it->second == tag_proxied) break;  // proxied wins over flattened (a proxied name is never resolved)
    }
  }
  return out;
}

std::vector<JournalRR> carried_tags(const Zone& z, const std::vector<JournalRR>& rrs) {
  std::vector<JournalRR> tags;
  for (JournalRR& t : tagged_zone_rrs(z))
    if (t.type == tag_rrtype) tags.push_back(std::move(t));
  if (tags.empty()) return tags;
  std::vector<std::pair<std::string_view, uint16_t>> have;
  for (const JournalRR& rr : rrs) have.emplace_back(rr.owner, rr.type);
  std::sort(have.begin(), have.end());
  std::erase_if(tags, [&](const JournalRR& t) {
    auto it = std::lower_bound(have.begin(), have.end(), std::pair<std::string_view, uint16_t>(t.owner, 0));
    for (; it != have.end() && it->first == t.owner; ++it)
      if (tag_applies(uint8_t(t.rdata[0]), it->second)) return false;
    return true;
  });
  return tags;
}

}  // namespace apexd::zone
