// What a transfer sends for flattened and proxied names, and a fingerprint to tell when it changed.
#include "server/transfer_view.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>

#include "zone/wire/types.hpp"

namespace apexd::server {

namespace asio = boost::asio;

namespace {

std::vector<std::string> rdata_of(const zone::Zone& z, const zone::RRset* s) {
  std::vector<std::string> out;
  if (!s) return out;
  for (size_t i = 0; i < s->rdata_count; ++i) {
    auto b = z.rdata(*s, i);
    out.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return out;
}

void add_set(std::vector<xfr::AddressRRset>& sets, uint16_t type, uint32_t ttl, std::vector<std::string> rdata) {
  if (!rdata.empty()) sets.push_back({type, ttl, std::move(rdata)});
}

// How soon a name sent with its last known addresses is asked for again (the next round of
// ZoneVersions comes after half of it).
constexpr uint32_t failure_refresh_ttl = 10;

void add_edges(std::vector<xfr::AddressRRset>& sets, const EdgeAddresses* edges, uint32_t ttl_cap) {
  if (!edges) return;
  uint32_t ttl = std::min(edges->ttl, ttl_cap);
  add_set(sets, wire::rrtype::A, ttl, edges->ipv4);
  add_set(sets, wire::rrtype::AAAA, ttl, edges->ipv6);
}

}  // namespace

std::string LastKnownAddresses::key(wire::NameView name, uint16_t type) {
  std::string k(reinterpret_cast<const char*>(name.data()), name.size());
  k.push_back(char(type >> 8));
  k.push_back(char(type & 0xFF));
  return k;
}

void LastKnownAddresses::remember(wire::NameView origin, wire::NameView name, uint16_t type,
                                  const std::vector<std::string>& rdata) {
  std::string o(reinterpret_cast<const char*>(origin.data()), origin.size());
  std::string k = key(name, type);
  std::lock_guard lock(mutex_);
  if (rdata.empty()) {  // nothing to keep: the name has no such addresses now
    if (auto z = zones_.find(o); z != zones_.end()) z->second.erase(k);
    return;
  }
  std::vector<std::string>& kept = zones_[o][k];
  if (kept != rdata) kept = rdata;
}

std::optional<std::vector<std::string>> LastKnownAddresses::recall(wire::NameView origin, wire::NameView name,
                                                                   uint16_t type) const {
  std::string o(reinterpret_cast<const char*>(origin.data()), origin.size());
  std::string k = key(name, type);
  std::lock_guard lock(mutex_);
  auto z = zones_.find(o);
  if (z == zones_.end()) return std::nullopt;
  auto e = z->second.find(k);
  if (e == z->second.end()) return std::nullopt;
  return e->second;
}

void LastKnownAddresses::retain(const zone::ZoneSet& zones) {
  std::lock_guard lock(mutex_);
  std::erase_if(zones_, [&](const auto& e) {
    wire::NameView origin(reinterpret_cast<const uint8_t*>(e.first.data()), e.first.size());
    return zones.find_exact(origin) == nullptr;
  });
}

size_t LastKnownAddresses::size() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [origin, names] : zones_) n += names.size();
  return n;
}

// A target that cannot be resolved never aborts the transfer (PowerDNS's AXFR fails then, its
// issue #11503): its last known addresses go out, or, never resolved, the name is left out.
asio::awaitable<xfr::Replacements> transfer_replacements(resolver::AliasResolver* resolver, const EdgeAddresses* edges,
                                                         const zone::ZoneSet& zones, const zone::Zone& z,
                                                         LastKnownAddresses* last_known) {
  xfr::Replacements out;
  auto nodes = z.nodes();
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    const zone::Node& n = nodes[i];
    if (n.flags & zone::node_proxied) {
      add_edges(out[i], edges, UINT32_MAX);
      continue;
    }
    if (!(n.flags & zone::node_flattened)) continue;
    ChainEnd end = follow_flattened_chain(zones, z, n);
    std::vector<xfr::AddressRRset>& sets = out[i];
    switch (end.kind) {
      case ChainEnd::local:
        for (uint16_t type : {wire::rrtype::A, wire::rrtype::AAAA}) {
          const zone::RRset* s = end.zone->rrset(*end.node, type);
          if (s) add_set(sets, type, std::min(end.ttl, s->ttl), rdata_of(*end.zone, s));
        }
        break;
      case ChainEnd::proxied:
        add_edges(sets, edges, end.ttl);
        break;
      case ChainEnd::external:
        if (!resolver) break;
        for (uint16_t type : {wire::rrtype::A, wire::rrtype::AAAA}) {
          resolver::Resolution r = co_await resolver->resolve(end.target.view(), type);
          // Sent with the TTL of our own CNAME chain, not the upstream's remaining one: a version of
          // the zone then transfers the same bytes whenever it is asked for (AXFR and IXFR agree,
          // and a secondary's copy equals ours), and a move of the addresses is a new version,
          // NOTIFYed, rather than something a secondary learns from a TTL.
          if (r.outcome == resolver::Outcome::addresses && !r.rdata.empty()) {
            sets.push_back({type, end.ttl, r.rdata, std::min(end.ttl, r.ttl)});
            if (last_known) last_known->remember(z.origin(), z.name(n), type, r.rdata);
          } else if (r.outcome == resolver::Outcome::failure) {
            // Kept for a short while only (refresh_ttl): the next round asks the upstream again.
            auto kept = last_known ? last_known->recall(z.origin(), z.name(n), type) : std::nullopt;
            if (kept) sets.push_back({type, end.ttl, std::move(*kept), std::min<uint32_t>(end.ttl, failure_refresh_ttl)});
            spdlog::warn("event=transfer_target_unresolved zone={} name={} target={} type={} error=\"{}\" action=\"{}\"",
                         z.origin_text(), wire::name_to_text(z.name(n)), wire::name_to_text(end.target.view()),
                         type == wire::rrtype::A ? "A" : "AAAA", r.ede_text,
                         kept ? "last known addresses sent" : "no addresses sent");
          } else if (last_known) {
            // A definite answer without addresses (NXDOMAIN, NODATA): that is what clients get too.
            last_known->remember(z.origin(), z.name(n), type, {});
          }
        }
        break;
      case ChainEnd::missing:
      case ChainEnd::too_long:
        break;
    }
    if (sets.empty())
      spdlog::warn("event=transfer_name_left_out zone={} name={} reason=\"flattened target has no addresses\"",
                   z.origin_text(), wire::name_to_text(z.name(n)));
  }
  co_return out;
}


uint64_t replacements_fingerprint(const xfr::Replacements& r) {
  std::vector<std::pair<uint32_t, const xfr::AddressRRset*>> sets;
  for (const auto& [node, list] : r)
    for (const xfr::AddressRRset& s : list) sets.emplace_back(node, &s);
  std::sort(sets.begin(), sets.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->type < b.second->type;
  });
  uint64_t h = 0x9E3779B97F4A7C15ULL;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 0x100000001B3ULL + (h >> 29); };
  for (const auto& [node, s] : sets) {
    mix(node);
    mix(s->type);
    std::vector<std::string> rdata = s->rdata;  // order-free: the same addresses in any order
    std::sort(rdata.begin(), rdata.end());
    for (const std::string& a : rdata) mix(std::hash<std::string>()(a));
  }
  return h;
}

uint32_t replacements_min_ttl(const xfr::Replacements& r) {
  uint32_t ttl = UINT32_MAX;
  for (const auto& [node, list] : r)
    for (const xfr::AddressRRset& s : list) ttl = std::min({ttl, s.ttl, s.refresh_ttl});
  return ttl;
}

}  // namespace apexd::server
