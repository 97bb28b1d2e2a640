// A compiled zone as a list of RRs and back: what IXFR differences are taken from and applied to.
#include "zone/zone_records.hpp"

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
