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
           const AliasContext& alias, const AnswerDnssec& dnssec)
      : zones_(zones), z_(z), q_(q), w_(w), alias_(alias), keys_(dnssec.keys), signer_(dnssec.signer) {
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

  bool throttled() const { return throttled_; }

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
    r.throttled = throttled_;
    r.signing_failed = failed_;
    if (signer_) r.signatures_valid_until = signer_->valid_until();
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
    if (keys_ && (node_->flags & zone::node_apex) && keys_->apex_rrset(qtype)) return put_keyset(qtype);
    // An NSEC query on a signed zone gets the NSEC we would deny with (knotd's onlinesign does).
    if (signer_ && qtype == rrtype::NSEC) return put_denial(Section::answer, false) ? AnswerState::hit : stop();
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
    if (!put_rrset(Section::answer, sname_.view(), *set, set->ttl, node_)) return stop();
    return AnswerState::hit;
  }

  // DNSKEY, CDS or CDNSKEY at the apex of a signed zone: from the keys, with the SOA's TTL
  // (Knot's dnskey-ttl default), signed by the KSKs.
  AnswerState put_keyset(uint16_t type) {
    const auto& rdatas = *keys_->apex_rrset(type);
    if (rdatas.empty()) return AnswerState::nodata;
    uint32_t ttl = z_.soa().ttl;
    wire::PacketWriter::Mark m = w_.mark();
    std::array<std::span<const uint8_t>, 16> spans;
    size_t n = 0;
    for (const auto& rd : rdatas) {
      if (!w_.put_rr(Section::answer, sname_.view(), type, wire::rrclass::IN, ttl, rd)) {
        w_.rollback(m);
        return truncate();
      }
      if (n < spans.size()) spans[n++] = rd;
    }
    if (signer_ && !signed_ok(signer_->sign(w_, Section::answer, sname_.view(), z_.origin(), type, ttl, ttl,
                                            {spans.data(), n}), Section::answer, m))
      return stop();
    return AnswerState::hit;
  }

  // A/AAAA of a proxied or flattened name, under the current name.
  AnswerState alias_answer(uint16_t type) {
    const bool proxied = node_->flags & zone::node_proxied;
    flattened_ = flattened_ || !proxied;
    wire::PacketWriter::Mark before = w_.mark();
    AliasOutcome o = proxied ? answer_proxied(alias_, sname_.view(), type, w_)
                             : answer_flattened(alias_, zones_, z_, *node_, sname_.view(), type, w_);
    reusable_until_ = (o.from_resolution || o.stale) ? resolver::TimePoint::min() : std::min(reusable_until_, o.same_until);
    switch (o.status) {
      case AliasStatus::written:
        if (o.stale) ede_code_ = o.ede_code;
        if (signer_) {
          NameBuf lower;
          NameView owner = signed_owner(sname_.view(), node_, lower, true);
          if (!signed_ok(signer_->sign_written(w_, before, sname_.view(), owner, type, o.ttl_bound), Section::answer, before))
            return stop();
        }
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
      if (!put_rrset(Section::answer, owner, set, set.ttl, link)) return stop();
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
        // RFC 9824 §3: signed, a name that does not exist is answered as one that has no data
        // of the type, with an NSEC whose bitmap says NXNAME.
        rcode_ = signer_ ? wire::rcode::NOERROR : wire::rcode::NXDOMAIN;
        [[fallthrough]];
      case AnswerState::nodata:
        // RFC 2308 §3: SOA with TTL = min(SOA TTL, MINIMUM). Not fitting does not set TC.
        if (!put_rrset(Section::authority, z_.origin(), z_.soa(), z_.negative_ttl(), &z_.apex()))
          return AnswerState::truncated;
        if (signer_ && !put_denial(Section::authority, state == AnswerState::miss)) return stop();
        return state;
      case AnswerState::delegation: {
        const Node* cut = node_;
        while (!(cut->flags & zone::node_delegation)) cut = z_.parent(*cut);
        node_ = cut;
        const RRset& ns = *z_.rrset(*cut, rrtype::NS);
        // RFC 4035 §3.1.4: the NS of a referral is not signed; its DS is, or an NSEC proves there is none.
        if (!put_rrset(Section::authority, z_.name(*cut), ns, ns.ttl, nullptr, false)) return truncate();
        if (signer_) {
          if (const RRset* ds = z_.rrset(*cut, rrtype::DS)) {
            if (!put_rrset(Section::authority, z_.name(*cut), *ds, ds->ttl, cut)) return stop();
          } else if (!put_nsec_at(Section::authority, z_.name(*cut), z_.name(*cut), cut, rrtype::DS)) {
            return stop();
          }
        }
        return state;
      }
      case AnswerState::hit:
        // RFC 4035 §3.1.3.3: an answer expanded from a wildcard comes with the proof that the
        // name asked for (its next closer name) does not exist.
        for (size_t i = 0; signer_ && i < nproofs_; ++i)
          if (!put_wildcard_proof(proofs_[i].view())) return stop();
        return state;
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
          // Glue is not signed (RFC 4035 §2.2); authoritative data is, when there is room.
          bool auth = !(target->flags & (zone::node_nonauth | zone::node_delegation)) &&
                      !wire::name_is_wildcard(z_.name(*target));
          if (!put_rrset(Section::additional, owner, *glue, glue->ttl, target, auth)) {
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

  // Writes `set` whole, then (signing) its RRSIGs. `source` is the node the RRset comes from:
  // a wildcard's RRset is signed under the wildcard name.
  bool put_rrset(Section s, NameView owner, const RRset& set, uint32_t ttl, const Node* source = nullptr,
                 bool sign = true) {
    wire::PacketWriter::Mark before = w_.mark();
    if (!put_rdatas(s, owner, set, ttl, [](size_t) { return true; })) return false;
    if (!signer_ || !sign) return true;
    NameBuf lower;
    NameView signed_as = signed_owner(owner, source, lower, s == Section::answer);
    return signed_ok(signer_->sign_rrset(w_, s, owner, signed_as, z_, set, ttl), s, before);
  }

  // The owner an RRset is signed under: the wildcard's name for an expansion (RFC 4035
  // §5.3.2; remembered for the proof of the expanded name's absence when `prove`), else the
  // owner lowercased.
  NameView signed_owner(NameView owner, const Node* source, NameBuf& lower, bool prove) {
    if (source && wire::name_is_wildcard(z_.name(*source)) && !wire::name_equal(owner, z_.name(*source))) {
      if (prove) remember_proof(owner, *source);
      return z_.name(*source);
    }
    wire::name_to_lower(owner, lower.data.data());
    lower.len = uint8_t(owner.size());
    return lower.view();
  }

  // What a signing step's status means for the answer; on false the packet is back at `before`.
  bool signed_ok(AnswerSigner::Status st, Section s, const wire::PacketWriter::Mark& before) {
    switch (st) {
      case AnswerSigner::Status::written:
        return true;
      case AnswerSigner::Status::no_room:
        // RFC 4035 §3.1.1: an additional RRset may go without its RRSIG (and without TC).
        if (s == Section::additional) return true;
        w_.rollback(before);
        w_.set_tc();
        return false;
      case AnswerSigner::Status::throttled:
        throttled_ = true;
        w_.rollback(before);
        return false;
      case AnswerSigner::Status::failed:
        break;
    }
    w_.rollback(before);
    failed_ = true;
    rcode_ = wire::rcode::SERVFAIL;
    return false;
  }

  // After a failed put: truncated (TC is set unless the signer ran out of budget or failed).
  AnswerState stop() {
    if (!throttled_ && !failed_) w_.set_tc();
    return AnswerState::truncated;
  }

  // --- denial (RFC 9824 compact denial) --------------------------------------------------

  // The NSEC at the current name: NXNAME for a name that does not exist, else the name's types.
  bool put_denial(Section s, bool nxdomain) {
    NameBuf lower;
    wire::name_to_lower(sname_.view(), lower.data.data());
    lower.len = sname_.len;
    if (nxdomain) {
      TypeBitmap types;
      types.add(rrtype::RRSIG);
      types.add(rrtype::NSEC);
      types.add(rrtype_nxname);
      return put_nsec(s, sname_.view(), lower.view(), types);
    }
    return put_nsec_at(s, sname_.view(), lower.view(), node_, s == Section::answer ? 0 : q_.qtype);
  }

  // An NSEC owned by `owner` listing what `node` answers (minus `absent`, the type denied).
  bool put_nsec_at(Section s, NameView written, NameView owner_lower, const Node* node, uint16_t absent) {
    TypeBitmap types;
    node_types(node, types);
    if (absent) types.remove(absent);
    return put_nsec(s, written, owner_lower, types);
  }

  bool put_nsec(Section s, NameView written, NameView owner_lower, const TypeBitmap& types) {
    NameBuf next;
    if (!nsec_successor(owner_lower, next)) return true;  // a 255-byte name ending in 0xFF: no NSEC can follow it
    wire::PacketWriter::Mark before = w_.mark();
    return signed_ok(signer_->put_nsec(w_, s, written, owner_lower, next.view(), types, z_.negative_ttl()), s, before);
  }

  // The types a validator may learn exist at `node`: what clients are answered, so aggressive
  // use of the NSEC (RFC 8198) never denies one of them. A flattened name answers A and AAAA,
  // never its CNAME; a proxied one the edge families, never its own addresses.
  void node_types(const Node* node, TypeBitmap& types) {
    types.add(rrtype::RRSIG);
    types.add(rrtype::NSEC);
    if (!node) return;
    for (const RRset& set : z_.rrsets(*node)) types.add(set.type);
    if ((node->flags & zone::node_apex) && keys_) {
      types.add(rrtype::DNSKEY);
      if (!keys_->cds.empty()) types.add(rrtype::CDS), types.add(rrtype::CDNSKEY);
    }
    if (node->flags & zone::node_proxied) {
      types.remove(rrtype::A);
      types.remove(rrtype::AAAA);
      types.remove(rrtype::CNAME);
      if (alias_.edges && !alias_.edges->ipv4.empty()) types.add(rrtype::A);
      if (alias_.edges && !alias_.edges->ipv6.empty()) types.add(rrtype::AAAA);
    } else if (node->flags & zone::node_flattened) {
      types.remove(rrtype::CNAME);
      types.add(rrtype::A);
      types.add(rrtype::AAAA);
    }
  }

  void remember_proof(NameView owner, const Node& wildcard) {
    // The next closer name: the expanded name cut to one label below the closest encloser.
    size_t encloser_labels = wire::name_label_count(z_.name(wildcard)) - 1;
    size_t owner_labels = wire::name_label_count(owner);
    if (owner_labels <= encloser_labels) return;
    NameView next_closer = wire::name_strip(owner, owner_labels - encloser_labels - 1);
    NameBuf lower;
    wire::name_to_lower(next_closer, lower.data.data());
    lower.len = uint8_t(next_closer.size());
    for (size_t i = 0; i < nproofs_; ++i)
      if (wire::name_equal(proofs_[i].view(), lower.view())) return;
    if (nproofs_ < proofs_.size()) proofs_[nproofs_++] = lower;
  }

  // RFC 4470: a minimally covering NSEC, from just before the next closer name to just after.
  bool put_wildcard_proof(NameView next_closer) {
    NameBuf before, after;
    if (!nsec_predecessor(next_closer, before) || !nsec_subtree_successor(next_closer, after)) return true;
    if (z_.find(before.view())) return true;  // a real name there: it would deny its own types
    TypeBitmap types;
    types.add(rrtype::RRSIG);
    types.add(rrtype::NSEC);
    wire::PacketWriter::Mark m = w_.mark();
    return signed_ok(signer_->put_nsec(w_, Section::authority, before.view(), before.view(), after.view(), types,
                                       z_.negative_ttl()),
                     Section::authority, m);
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
  const ZoneKeys* keys_;
  AnswerSigner* signer_;
  bool throttled_ = false;
  bool failed_ = false;
  std::array<NameBuf, 2> proofs_;
  size_t nproofs_ = 0;
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
                              wire::PacketWriter& w, const AliasContext& alias, const AnswerDnssec& dnssec) noexcept {
  return Answerer(zones, zone, q, w, alias, dnssec).run();
}

}  // namespace apexd::server
