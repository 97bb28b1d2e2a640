// Flattening: follow the chain through our zones, then hand the first external name to the
// resolver's cache; a miss asks the transport to resolve and come back (NeedsResolution).
#include "server/flattener.hpp"

#include <algorithm>

#include "zone/wire/types.hpp"

namespace apexd::server {

using wire::NameBuf;
using wire::NameView;
using wire::Section;
namespace rrtype = wire::rrtype;

namespace {

template <class Rdatas>
AliasOutcome write_addresses(wire::PacketWriter& w, NameView owner, uint16_t type, uint32_t ttl, const Rdatas& list) {
  if (list.empty()) return {AliasStatus::nodata};
  wire::PacketWriter::Mark m = w.mark();
  for (const auto& rd : list) {
    auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rd.data()), rd.size());
    if (!w.put_rr(Section::answer, owner, type, wire::rrclass::IN, ttl, bytes)) {
      w.rollback(m);  // whole RRset or nothing
      return {AliasStatus::truncated};
    }
  }
  AliasOutcome o{AliasStatus::written};
  o.ttl_bound = ttl;
  return o;
}

AliasOutcome write_zone_rrset(wire::PacketWriter& w, NameView owner, const zone::Zone& z, const zone::RRset& s,
                              uint32_t ttl) {
  wire::PacketWriter::Mark m = w.mark();
  for (size_t i = 0; i < s.rdata_count; ++i) {
    if (!w.put_rr(Section::answer, owner, s.type, wire::rrclass::IN, ttl, z.rdata(s, i))) {
      w.rollback(m);
      return {AliasStatus::truncated};
    }
  }
  AliasOutcome o{AliasStatus::written};
  o.ttl_bound = ttl;
  return o;
}

AliasOutcome servfail(uint16_t code, std::string_view text) {
  AliasOutcome o;
  o.status = AliasStatus::servfail;
  o.ede_code = code;
  o.ede_text = text;
  return o;
}

void set_lower(NameBuf& out, NameView n) {
  out.len = uint8_t(n.size());
  wire::name_to_lower(n, out.data.data());
}

// Serves an expired entry after the upstream failed (RFC 8767 §4): stale addresses, or a stale
// negative answer (the target had no address of the type, or did not exist) as NODATA; both
// marked with EDE 3.
AliasOutcome try_stale(const AliasContext& ctx, const NameBuf& target, NameView owner, uint16_t type,
                       wire::PacketWriter& w) {
  AliasOutcome out{AliasStatus::servfail};
  // Blocking: a shard busy on another worker must not turn a stale answer into SERVFAIL.
  ctx.resolver->cache().probe_blocking(target.view(), type, ctx.resolver->now(), [&](const resolver::CacheEntry& e, uint32_t) {
    if (e.value.outcome == resolver::Outcome::addresses)
      out = write_addresses(w, owner, type, stale_answer_ttl, e.value.rdata);
    else if (e.value.outcome == resolver::Outcome::nodata || e.value.outcome == resolver::Outcome::nxdomain)
      out = {AliasStatus::nodata};
  });
  if (out.status == AliasStatus::servfail) return out;
  ctx.resolver->count_stale();
  if (out.status != AliasStatus::truncated) {
    out.stale = true;
    out.ede_code = resolver::ede::stale_answer;
  }
  return out;
}

// The first name outside our zones: from the resolution we waited for, or the cache.
AliasOutcome answer_external(const AliasContext& ctx, const NameBuf& target, uint32_t chain_ttl, NameView owner,
                             uint16_t type, wire::PacketWriter& w) {
  if (!ctx.resolver) return servfail(resolver::ede::no_reachable_authority, "no resolver configured for flattening");
  if (ctx.resolved && ctx.resolved->type == type && wire::name_equal(ctx.resolved->name.view(), target.view())) {
    const resolver::Resolution& r = *ctx.resolved->resolution;
    AliasOutcome out{AliasStatus::nodata};
    switch (r.outcome) {
      case resolver::Outcome::addresses:
        out = write_addresses(w, owner, type, std::min(chain_ttl, r.ttl), r.rdata);
        break;
      case resolver::Outcome::nodata:
      case resolver::Outcome::nxdomain:
        break;
      case resolver::Outcome::failure:
        out = try_stale(ctx, target, owner, type, w);
        if (out.status == AliasStatus::servfail) out = servfail(r.ede_code, r.ede_text);
        break;
    }
    out.from_resolution = true;
    out.ttl_bound = std::max(chain_ttl, stale_answer_ttl);
    return out;
  }
  AliasOutcome out{AliasStatus::needs_resolution};
  static const boost::asio::any_io_executor no_executor;
  const uint32_t bound = std::max(chain_ttl, stale_answer_ttl);
  resolver::Cache::Probe p = ctx.resolver->probe(ctx.executor ? *ctx.executor : no_executor, target.view(), type,
                                                 [&](const resolver::CacheEntry& e, uint32_t remaining) {
                                                   if (e.expires <= ctx.resolver->now()) return;  // stale: refresh first
                                                   if (e.value.outcome == resolver::Outcome::addresses)
                                                     out = write_addresses(w, owner, type, std::min(chain_ttl, remaining),
                                                                           e.value.rdata);
                                                   else
                                                     out = {AliasStatus::nodata};
                                                   // `remaining` = whole seconds to expiry: one less once
                                                   // expires - now drops below it.
                                                   out.same_until = e.expires - std::chrono::seconds(remaining);
                                                 });
  if (p.freshness != resolver::Freshness::fresh) out = AliasOutcome{AliasStatus::needs_resolution};
  if (out.status == AliasStatus::needs_resolution) out.target = target;
  out.ttl_bound = bound;
  return out;
}

}  // namespace

AliasOutcome answer_proxied(const AliasContext& ctx, NameView owner, uint16_t qtype, wire::PacketWriter& w) {
  if (!ctx.edges) return {AliasStatus::nodata};
  const auto& list = qtype == rrtype::A ? ctx.edges->ipv4 : ctx.edges->ipv6;
  return write_addresses(w, owner, qtype, ctx.edges->ttl, list);
}

ChainEnd follow_flattened_chain(const zone::ZoneSet& zones, const zone::Zone& zone, const zone::Node& node) noexcept {
  ChainEnd end;
  const zone::RRset& cname = *zone.rrset(node, rrtype::CNAME);
  end.ttl = cname.ttl;
  set_lower(end.target, zone.rdata(cname, 0));
  for (int link = 0; link < max_flatten_chain; ++link) {
    const zone::Zone* tz = zones.find_suffix(end.target.view());
    if (!tz) return end.kind = ChainEnd::external, end;
    zone::Lookup l = tz->lookup(end.target.view());
    const zone::Node* n = l.node;
    if (!n && l.encloser) {
      // Below a cut of ours the data lives with the child's servers: ask the resolver.
      if (l.encloser->flags & (zone::node_delegation | zone::node_nonauth)) return end.kind = ChainEnd::external, end;
      n = tz->wildcard_child(*l.encloser);
    }
    if (!n) return end.kind = ChainEnd::missing, end;  // NODATA, as Cloudflare answers
    if (n->flags & (zone::node_delegation | zone::node_nonauth)) return end.kind = ChainEnd::external, end;
    end.zone = tz;
    end.node = n;
    if (n->flags & zone::node_proxied) return end.kind = ChainEnd::proxied, end;
    // A node with a CNAME has no A/AAAA beside it (compile_zone refuses that), so the chain
    // ends at the first node without one, whatever the query type.
    const zone::RRset* next = tz->rrset(*n, rrtype::CNAME);
    if (!next) return end.kind = ChainEnd::local, end;
    end.ttl = std::min(end.ttl, next->ttl);
    set_lower(end.target, tz->rdata(*next, 0));
  }
  end.kind = ChainEnd::too_long;
  return end;
}

AliasOutcome answer_flattened(const AliasContext& ctx, const zone::ZoneSet& zones, const zone::Zone& zone,
                              const zone::Node& node, NameView owner, uint16_t qtype, wire::PacketWriter& w) {
  ChainEnd end = follow_flattened_chain(zones, zone, node);
  switch (end.kind) {
    case ChainEnd::external:
      return answer_external(ctx, end.target, end.ttl, owner, qtype, w);
    case ChainEnd::missing:
      return {AliasStatus::nodata};
    case ChainEnd::proxied: {
      if (!ctx.edges) return {AliasStatus::nodata};
      const auto& list = qtype == rrtype::A ? ctx.edges->ipv4 : ctx.edges->ipv6;
      return write_addresses(w, owner, qtype, std::min(end.ttl, ctx.edges->ttl), list);
    }
    case ChainEnd::local:
      if (const zone::RRset* s = end.zone->rrset(*end.node, qtype))
        return write_zone_rrset(w, owner, *end.zone, *s, std::min(end.ttl, s->ttl));
      return {AliasStatus::nodata};
    case ChainEnd::too_long:
      break;
  }
  return servfail(resolver::ede::other, "CNAME chain too long or looping");
}

std::vector<std::string> externally_flattened(const zone::ZoneSet& zones) {
  std::vector<std::string> out;
  for (const auto& z : zones.zones()) {
    if (!z->flattened_count()) continue;
    for (const zone::Node& n : z->nodes()) {
      if (!(n.flags & zone::node_flattened) || (n.flags & zone::node_proxied)) continue;
      if (follow_flattened_chain(zones, *z, n).kind == ChainEnd::external) out.push_back(wire::name_to_text(z->name(n)));
    }
  }
  return out;
}

}  // namespace apexd::server
