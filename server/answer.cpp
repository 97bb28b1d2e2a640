// The answer algorithm as a sequence of named steps, each returning an AnswerState.
#include "server/answer.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "zone/wire/types.hpp"

namespace apexd::server {

using wire::NameBuf;
using wire::NameView;
using wire::Section;
namespace rrtype = wire::rrtype;
using zone::Node;
using zone::RRset;

namespace {

constexpr size_t max_written = 64;  // RRsets remembered for duplicate checks and additionals

struct Written {
  const RRset* rrset;  // nullptr for a synthesized CNAME
  Section section;
};

class Answerer {
 public:
  Answerer(const zone::ZoneSet& zones, const zone::Zone& z, const wire::Query& q, wire::PacketWriter& w,
           const AliasContext& alias)
      : zones_(zones), z_(z), q_(q), w_(w), alias_(alias) {
    sname_.assign(q.qname.view());
  }

  AnswerResult run() {
    AnswerState state = solve_name(false);
    bool aa = state != AnswerState::delegation;  // decided before following the chain
    while (state == AnswerState::follow) state = solve_name(true);
    if (state == AnswerState::needs_resolution || state == AnswerState::servfail) {
      return result(state, false);
    }
    if (state != AnswerState::truncated) state = solve_authority(state);
    if (state != AnswerState::truncated) state = solve_additional(state);
    return result(state, aa);
  }

  AnswerResult result(AnswerState state, bool aa) const {
    AnswerResult r;
    r.state = state;
    r.rcode = rcode_;
    r.authoritative = aa;
    r.wildcard = nvisited_ > 0;
    r.flattened = flattened_;
    r.reusable_until = reusable_until_;
    r.ede_code = ede_code_;
    r.ede_text = ede_text_;
    r.target = target_;
    r.target_type = target_type_;
    return r;
  }

 private:
  // --- answer section -------------------------------------------------------------------

  AnswerState solve_name(bool following) {
    NameBuf lower_buf;
    wire::NameView lower = q_.qname_lower.view();  // the first step looks up the qname itself
    if (following) {
      wire::name_to_lower(sname_.view(), lower_buf.data.data());
      lower_buf.len = sname_.len;
      lower = lower_buf.view();
      // A CNAME/DNAME target outside this zone ends the chain (other zones are not consulted).
      if (!wire::name_is_subdomain(lower, z_.origin())) return AnswerState::hit;
    }
    zone::Lookup l = z_.lookup(lower);
    if (l.node) {
      node_ = l.node;
      return name_found();
    }
    node_ = nullptr;
    encloser_ = l.encloser;
    return name_not_found();
  }

  AnswerState name_found() {
    uint16_t qtype = q_.qtype;
    // DS at a cut is answered from the parent side; anything else at or below a cut is a referral.
    if (((node_->flags & zone::node_delegation) && qtype != rrtype::DS) || (node_->flags & zone::node_nonauth))
      return AnswerState::delegation;
    if (node_->flags & (zone::node_proxied | zone::node_flattened)) {
      // No query type reveals what is behind a flattened or proxied name (DESIGN.md).
      if (qtype == rrtype::A || qtype == rrtype::AAAA || qtype == rrtype::ANY)
        return alias_answer(qtype == rrtype::ANY ? rrtype::A : qtype);
      if (z_.rrset(*node_, rrtype::CNAME) && (qtype == rrtype::CNAME || !(node_->flags & zone::node_apex)))
        return AnswerState::nodata;
    } else if (z_.rrset(*node_, rrtype::CNAME) && qtype != rrtype::CNAME && qtype != rrtype::RRSIG &&
               qtype != rrtype::NSEC && qtype != rrtype::ANY) {
      return follow(rrtype::CNAME);
    }
    const RRset* set = nullptr;
    if (qtype == rrtype::ANY) {
      // RFC 8482 §4.1: answer ANY with one RRset of the name: the lowest type, as Knot does.
      auto sets = z_.rrsets(*node_);
      if (!sets.empty()) set = &sets[0];
    } else if (qtype == rrtype::RRSIG) {
      if (const RRset* sigs = z_.rrset(*node_, rrtype::RRSIG)) {
        if (!put_lowest_covered(*sigs)) return truncate();
        return AnswerState::hit;
      }
    } else {
      set = z_.rrset(*node_, qtype);
    }
    if (!set) return AnswerState::nodata;
    if (!put_rrset(Section::answer, sname_.view(), *set, set->ttl)) return truncate();
    return AnswerState::hit;
  }

  // A/AAAA of a proxied or flattened name, under the current name.
  AnswerState alias_answer(uint16_t type) {
    const bool proxied = node_->flags & zone::node_proxied;
    flattened_ = flattened_ || !proxied;
    AliasOutcome o = proxied ? answer_proxied(alias_, sname_.view(), type, w_)
                             : answer_flattened(alias_, zones_, z_, *node_, sname_.view(), type, w_);
    reusable_until_ = (o.from_resolution || o.stale) ? resolver::TimePoint::min() : std::min(reusable_until_, o.same_until);
    switch (o.status) {
      case AliasStatus::written:
        if (o.stale) ede_code_ = o.ede_code;
        return AnswerState::hit;
      case AliasStatus::nodata:
        if (o.stale) ede_code_ = o.ede_code;
        return AnswerState::nodata;
      case AliasStatus::truncated:
        return truncate();
      case AliasStatus::needs_resolution:
        target_ = o.target;
        target_type_ = type;
        return AnswerState::needs_resolution;
      case AliasStatus::servfail:
        rcode_ = wire::rcode::SERVFAIL;
        ede_code_ = o.ede_code;
        ede_text_ = o.ede_text;
        return AnswerState::servfail;
    }
    return AnswerState::servfail;
  }

  AnswerState name_not_found() {
    // RFC 4592 §3.3.1: the source of synthesis is the closest encloser's `*` child.
    if (const Node* wc = z_.wildcard_child(*encloser_)) {
      node_ = wc;
      AnswerState s = name_found();
      visit_wildcard(wc);
      return s;
    }
    // RFC 6672 §3.2: a DNAME at an authoritative closest encloser rewrites the name.
    bool encloser_auth = !(encloser_->flags & (zone::node_nonauth | zone::node_delegation));
    if (encloser_auth && z_.rrset(*encloser_, rrtype::DNAME)) {
      node_ = encloser_;
      return follow(rrtype::DNAME);
    }
    const Node* n = encloser_;
    while (n->rrset_count == 0 || (n->flags & zone::node_nonauth)) n = z_.parent(*n);
    if (n->flags & zone::node_delegation) {
      node_ = n;
      return AnswerState::delegation;
    }
    return AnswerState::miss;
  }

  AnswerState follow(uint16_t type) {
    if (++chain_ > max_cname_chain) {
      node_ = nullptr;
      return AnswerState::hit;
    }
    const Node* link = node_;
    const RRset& set = *z_.rrset(*link, type);
    // A CNAME's owner is the current name (synthesized for a wildcard); a DNAME keeps its own.
    NameView owner = type == rrtype::DNAME ? z_.name(*link) : sname_.view();
    // The same zone RRset twice means a loop; a wildcard's CNAME is synthesized anew for each
    // owner, so only the visited-wildcard check below stops those loops (Knot does the same).
    bool added = false;
    if (wire::name_is_wildcard(z_.name(*link)) || !already_written(&set)) {
      if (!put_rrset(Section::answer, owner, set, set.ttl)) return truncate();
      added = true;
    }
    NameBuf target;
    if (type == rrtype::DNAME) {
      if (!synthesize_dname_target(*link, z_.rdata(set, 0), target)) {
        rcode_ = wire::rcode::YXDOMAIN;  // RFC 6672 §2.2: the result would be too long
        return AnswerState::hit;
      }
      if (!put_synthesized_cname(target, set.ttl)) return truncate();
      if (q_.qtype == rrtype::CNAME) return AnswerState::hit;  // the synthesized CNAME answers it
      added = true;
    } else {
      target.assign(z_.rdata(set, 0));
    }
    if (!added) {  // this CNAME is already in the answer: a loop
      node_ = nullptr;
      return AnswerState::hit;
    }
    if (wire::name_is_wildcard(z_.name(*link))) {
      if (wildcard_visited(link)) {
        node_ = nullptr;
        return AnswerState::hit;
      }
      visit_wildcard(link);
    }
    sname_ = target;
    return AnswerState::follow;
  }

  bool synthesize_dname_target(const Node& dname_node, std::span<const uint8_t> dname_target, NameBuf& out) {
    NameView qn = sname_.view();
    size_t keep = qn.size() - dname_node.name_len;  // labels of sname above the DNAME owner
    if (keep + dname_target.size() > wire::max_name_length) return false;
    wire::name_to_lower(qn.first(keep), out.data.data());  // Knot writes the synthesized target in lowercase
    std::memcpy(out.data.data() + keep, dname_target.data(), dname_target.size());
    out.len = uint8_t(keep + dname_target.size());
    return true;
  }

  bool put_synthesized_cname(const NameBuf& target, uint32_t ttl) {
    if (!w_.put_rr(Section::answer, sname_.view(), rrtype::CNAME, wire::rrclass::IN, ttl, target.view()))
      return false;
    remember(nullptr, Section::answer);
    return true;
  }

  // --- authority section ----------------------------------------------------------------

  AnswerState solve_authority(AnswerState state) {
    switch (state) {
      case AnswerState::miss:
        rcode_ = wire::rcode::NXDOMAIN;
        [[fallthrough]];
      case AnswerState::nodata:
        // RFC 2308 §3: SOA with TTL = min(SOA TTL, MINIMUM). Not fitting does not set TC.
        if (!put_rrset(Section::authority, z_.origin(), z_.soa(), z_.negative_ttl()))
          return AnswerState::truncated;
        return state;
      case AnswerState::delegation: {
        const Node* cut = node_;
        while (!(cut->flags & zone::node_delegation)) cut = z_.parent(*cut);
        node_ = cut;
        const RRset& ns = *z_.rrset(*cut, rrtype::NS);
        if (!put_rrset(Section::authority, z_.name(*cut), ns, ns.ttl)) return truncate();
        return state;
      }
      default:
        return state;
    }
  }

  // --- additional section ---------------------------------------------------------------

  AnswerState solve_additional(AnswerState state) {
    size_t count = nwritten_;  // additionals of additionals are not chased
    for (size_t i = 0; i < count; ++i) {
      const RRset* set = written_[i].rrset;
      if (!set || set->additional_count == 0) continue;
      for (const zone::Additional& a : z_.additionals(*set)) {
        const Node* target = z_.node_at(a.node);
        for (uint16_t type : {rrtype::A, rrtype::AAAA}) {
          const RRset* glue = z_.rrset(*target, type);
          if (!glue) continue;
          NameView owner = z_.additional_name(a);
          if (already_written(glue)) continue;
          if (!put_rrset(Section::additional, owner, *glue, glue->ttl)) {
            // RFC 9471 §3: missing required glue makes the referral truncated.
            if (state == AnswerState::delegation && a.mandatory) return truncate();
            continue;
          }
        }
      }
    }
    return state;
  }

  // --- helpers --------------------------------------------------------------------------

  bool put_rrset(Section s, NameView owner, const RRset& set, uint32_t ttl) {
    return put_rdatas(s, owner, set, ttl, [](size_t) { return true; });
  }

  // The RDATAs of `set` that `keep(i)` selects, whole or not at all.
  template <class Keep>
  bool put_rdatas(Section s, NameView owner, const RRset& set, uint32_t ttl, Keep keep) {
    wire::PacketWriter::Mark m = w_.mark();
    for (size_t i = 0; i < set.rdata_count; ++i) {
      if (!keep(i)) continue;
      if (!w_.put_rr(s, owner, set.type, wire::rrclass::IN, ttl, z_.rdata(set, i))) {
        w_.rollback(m);  // an RRset goes in whole or not at all
        return false;
      }
    }
    remember(&set, s);
    return true;
  }

  // An RRSIG query is answered like ANY (RFC 8482 §4.1), as knotd answers it: the signatures
  // of one RRset, the lowest type covered, not every signature at the name.
  bool put_lowest_covered(const RRset& sigs) {
    auto covered = [&](size_t i) {
      auto r = z_.rdata(sigs, i);
      return r.size() >= 2 ? uint16_t(r[0] << 8 | r[1]) : uint16_t(0);
    };
    uint16_t lowest = UINT16_MAX;
    for (size_t i = 0; i < sigs.rdata_count; ++i) lowest = std::min(lowest, covered(i));
    return put_rdatas(Section::answer, sname_.view(), sigs, sigs.ttl, [&](size_t i) { return covered(i) == lowest; });
  }

  AnswerState truncate() {
    w_.set_tc();
    return AnswerState::truncated;
  }

  void remember(const RRset* set, Section s) {
    if (nwritten_ == max_written) return;
    written_[nwritten_++] = {set, s};
  }

  bool already_written(const RRset* set) const {
    for (size_t i = 0; i < nwritten_; ++i)
      if (written_[i].rrset == set) return true;
    return false;
  }

  void visit_wildcard(const Node* n) {
    if (!wildcard_visited(n) && nvisited_ < visited_.size()) visited_[nvisited_++] = n;
  }
  bool wildcard_visited(const Node* n) const {
    for (size_t i = 0; i < nvisited_; ++i)
      if (visited_[i] == n) return true;
    return false;
  }

  const zone::ZoneSet& zones_;
  const zone::Zone& z_;
  const wire::Query& q_;
  wire::PacketWriter& w_;
  const AliasContext& alias_;
  uint16_t ede_code_ = no_ede;
  bool flattened_ = false;
  resolver::TimePoint reusable_until_ = resolver::TimePoint::max();
  std::string_view ede_text_;
  NameBuf target_;
  uint16_t target_type_ = 0;
  NameBuf sname_;
  const Node* node_ = nullptr;
  const Node* encloser_ = nullptr;
  uint16_t rcode_ = wire::rcode::NOERROR;
  int chain_ = 0;
  std::array<Written, max_written> written_;
  size_t nwritten_ = 0;
  std::array<const Node*, max_cname_chain + 2> visited_{};
  size_t nvisited_ = 0;
};

}  // namespace

AnswerResult answer_from_zone(const zone::ZoneSet& zones, const zone::Zone& zone, const wire::Query& q,
                              wire::PacketWriter& w, const AliasContext& alias) noexcept {
  return Answerer(zones, zone, q, w, alias).run();
}

}  // namespace apexd::server
