// Outgoing AXFR (RFC 5936): a compiled zone streamed as DNS messages, SOA first and last.
#include "xfr/axfr_out.hpp"

#include "zone/wire/packet_writer.hpp"
#include "zone/wire/types.hpp"

namespace apexd::xfr {

namespace rrtype = wire::rrtype;

namespace {

// The types whose records a replacement stands for: what clients are answered instead.
bool replaced_type(uint16_t type, uint16_t flags) {
  if (flags & zone::node_proxied) return type == rrtype::A || type == rrtype::AAAA || type == rrtype::CNAME;
  if (flags & zone::node_flattened) return type == rrtype::CNAME;
  return false;
}

uint16_t covered_type(std::span<const uint8_t> rrsig_rdata) {
  return rrsig_rdata.size() >= 2 ? uint16_t(rrsig_rdata[0] << 8 | rrsig_rdata[1]) : 0;
}

}  // namespace

AxfrWriter::AxfrWriter(std::shared_ptr<const zone::Zone> zone, Replacements replacements)
    : zone_(std::move(zone)), replacements_(std::move(replacements)) {}

bool AxfrWriter::skipped(const zone::Node& n, const zone::RRset& s) const {
  if (s.type == rrtype::SOA && (n.flags & zone::node_apex)) return true;  // sent first and last
  return replaced_type(s.type, n.flags);
}

void AxfrWriter::settle() {
  const auto nodes = zone_->nodes();
  for (;;) {
    if (phase_ == Phase::nodes) {
      if (node_ >= nodes.size()) {
        phase_ = Phase::aside;
        continue;
      }
      const zone::Node& n = nodes[node_];
      if (!in_replacements_) {
        auto sets = zone_->rrsets(n);
        if (rrset_ < sets.size()) {
          const zone::RRset& s = sets[rrset_];
          if (skipped(n, s) || rdata_ >= s.rdata_count) {
            ++rrset_;
            rdata_ = 0;
            continue;
          }
          // The signatures of replaced records go with them (they would sign what is not sent).
          if (s.type == rrtype::RRSIG && replaced_type(covered_type(zone_->rdata(s, rdata_)), n.flags)) {
            ++rdata_;
            continue;
          }
          return;
        }
        in_replacements_ = true;
        repl_set_ = 0;
        rdata_ = 0;
        continue;
      }
      auto it = replacements_.find(uint32_t(node_));
      if (it != replacements_.end() && repl_set_ < it->second.size()) {
        if (rdata_ < it->second[repl_set_].rdata.size()) return;
        ++repl_set_;
        rdata_ = 0;
        continue;
      }
      ++node_;
      rrset_ = rdata_ = repl_set_ = 0;
      in_replacements_ = false;
      continue;
    }
    if (phase_ == Phase::aside && aside_ >= zone_->aside().size()) phase_ = Phase::last_soa;
    return;
  }
}

bool AxfrWriter::peek(Pending& rr) const {
  switch (phase_) {
    case Phase::first_soa:
    case Phase::last_soa: {
      const zone::RRset& soa = zone_->soa();
      rr = {zone_->origin(), rrtype::SOA, soa.ttl, zone_->rdata(soa, 0)};
      return true;
    }
    case Phase::nodes: {
      const zone::Node& n = zone_->nodes()[node_];
      if (!in_replacements_) {
        const zone::RRset& s = zone_->rrsets(n)[rrset_];
        rr = {zone_->name(n), s.type, s.ttl, zone_->rdata(s, rdata_)};
      } else {
        const AddressRRset& a = replacements_.at(uint32_t(node_))[repl_set_];
        const std::string& bytes = a.rdata[rdata_];
        rr = {zone_->name(n), a.type, a.ttl, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}};
      }
      return true;
    }
    case Phase::aside: {
      const zone::Zone::AsideRecord& a = zone_->aside()[aside_];
      rr = {{reinterpret_cast<const uint8_t*>(a.owner.data()), a.owner.size()},
            a.type,
            a.ttl,
            {reinterpret_cast<const uint8_t*>(a.rdata.data()), a.rdata.size()}};
      return true;
    }
    case Phase::done:
      return false;
  }
  return false;
}

void AxfrWriter::advance() {
  switch (phase_) {
    case Phase::first_soa:
      phase_ = Phase::nodes;
      break;
    case Phase::nodes:
      ++rdata_;
      break;
    case Phase::aside:
      ++aside_;
      break;
    case Phase::last_soa:
      phase_ = Phase::done;
      return;
    case Phase::done:
      return;
  }
  settle();
}

size_t AxfrWriter::next(std::span<uint8_t> out, size_t limit, size_t reserve, const wire::Query& q) {
  if (phase_ == Phase::done) return 0;
  wire::PacketWriter w(out, limit);
  w.use_table(&compression_);
  w.begin_response(q.header);
  w.set_aa(true);
  // RFC 5936 §2.2.1: the question in the first message; later ones may leave it out.
  if (messages_ == 0 && !w.put_question(q.qname.view(), q.qtype, q.qclass)) {
    failed_ = true;
    phase_ = Phase::done;
    return 0;
  }
  w.reserve(reserve);
  size_t written = 0;
  Pending rr;
  while (peek(rr)) {
    if (!w.put_rr(wire::Section::answer, rr.owner, rr.type, wire::rrclass::IN, rr.ttl, rr.rdata)) {
      if (written == 0) {
        if (limit < out.size()) return next(out, out.size(), reserve, q);  // a record over `limit`: a bigger message
        failed_ = true;
        phase_ = Phase::done;
        return 0;
      }
      break;
    }
    ++written;
    ++records_;
    advance();
  }
  ++messages_;
  return w.size();
}

}  // namespace apexd::xfr
