// Compiling loaded records into an immutable Zone (Knot's "adjust"): one stable sort of the
// records by canonical owner key and type, one scan that emits nodes in canonical order and
// inserts empty non-terminals, then flags, parents, wildcard children, the name index and
// additional-section targets.
#include <algorithm>
#include <array>
#include <numeric>
#include <tuple>

#include "zone/cf_tags.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"

namespace apexd::zone {

using wire::NameView;
namespace rrtype = wire::rrtype;

namespace {

NameView view_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Appends a key whose byte order (memcmp) is the RFC 4034 §6.1 canonical order of `lower`:
// labels from the right, each label's octets escaped (0 → 01 01, 1 → 01 02) and ended by 00,
// so a label sorts before any longer label it prefixes.
void append_canonical_key(NameView lower, std::string& out) {
  std::array<uint8_t, wire::max_labels + 1> offs{};
  size_t count = 0, pos = 0;
  while (pos < lower.size() && lower[pos] != 0 && count < offs.size()) {
    offs[count++] = uint8_t(pos);
    pos += 1 + lower[pos];
  }
  while (count-- > 0) {
    const uint8_t* label = &lower[offs[count]];
    for (size_t i = 1; i <= label[0]; ++i) {
      uint8_t c = label[i];
      if (c <= 1) {
        out += char(1);
        out += char(c + 1);
      } else {
        out += char(c);
      }
    }
    out += char(0);
  }
}

// Offset of the name inside RDATA for types whose targets get additional records.
int additional_name_offset(uint16_t type) {
  switch (type) {
    case rrtype::NS: return 0;
    case rrtype::MX: return 2;
    case rrtype::SRV: return 6;
    default: return -1;
  }
}


uint32_t read_u32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// One RRset before emission: the records (indices into the record list, file order) it holds.
struct DraftRRset {
  uint16_t type;
  uint32_t ttl;
  std::vector<uint32_t> records;  // distinct RDATA only
  bool proxied = false;           // some A/AAAA/CNAME record carries cf-proxied:true
  bool flatten_tag = false;       // a CNAME record carries cf-flatten-cname
};

}  // namespace

/// Builds a Zone's arrays; a friend of Zone.
class ZoneBuilder {
 public:
  ZoneBuilder(NameView origin, const std::string& source, const ZoneOptions& options, std::vector<FileStamp> files,
              std::vector<std::string> warnings)
      : origin_(wire::name_lower(origin)),
        source_(source),
        options_(options),
        files_(std::move(files)),
        warnings_(std::move(warnings)) {}

  std::shared_ptr<const Zone> build(std::vector<Record> records) {
    records_ = std::move(records);
    if (options_.dnssec) refuse_dnssec_records();
    zone_ = std::shared_ptr<Zone>(new Zone());
    set_nsec3_aside();
    zone_->source_ = source_;
    zone_->files_ = std::move(files_);
    zone_->warnings_ = std::move(warnings_);
    zone_->options_ = options_;
    zone_->loaded_at_ = std::chrono::system_clock::now();
    sort_records();
    scan();
    records_.clear();
    records_.shrink_to_fit();
    build_index();
    read_soa();
    compute_flags();
    compute_alias_flags();
    compute_additionals();
    return std::move(zone_);
  }

 private:
  // A zone apexd signs online holds no DNSSEC records of its own: its signatures, NSECs and
  // keys are made at answer time from key_dir, and presigned ones would contradict them.
  void refuse_dnssec_records() const {
    for (const Record& r : records_) {
      switch (r.type) {
        case wire::rrtype::RRSIG: case wire::rrtype::NSEC: case wire::rrtype::NSEC3: case wire::rrtype::NSEC3PARAM:
        case wire::rrtype::DNSKEY: case wire::rrtype::CDS: case wire::rrtype::CDNSKEY:
          throw ZoneError(r.file ? *r.file : source_, r.line,
                          wire::type_to_text(r.type) + " record in a zone with dnssec = true (apexd signs it online "
                          "from key_dir: remove the DNSSEC records, or set dnssec = false to serve them as they are)");
        default:
          break;
      }
    }
  }

  // RFC 5155 §7.2.8: a query for an NSEC3 owner name (which holds nothing but the NSEC3 and its
  // RRSIG) is answered as if the NSEC3 did not exist — NXDOMAIN, as knotd does, which keeps the
  // NSEC3 chain in a tree of its own. So NSEC3 RRsets and their signatures get no node; they
  // are kept aside, in canonical order without duplicates, for zone transfers.
  void set_nsec3_aside() {
    auto nsec3_data = [](const Record& r) {
      if (r.type == wire::rrtype::NSEC3) return true;
      return r.type == wire::rrtype::RRSIG && r.rdata.size() >= 2 && uint8_t(r.rdata[0]) == 0 &&
             uint8_t(r.rdata[1]) == wire::rrtype::NSEC3;
    };
    auto split = std::stable_partition(records_.begin(), records_.end(), [&](const Record& r) { return !nsec3_data(r); });
    std::vector<Zone::AsideRecord>& aside = zone_->aside_;
    for (auto it = split; it != records_.end(); ++it) {
      NameView owner(reinterpret_cast<const uint8_t*>(it->owner.data()), it->owner.size());
      aside.push_back({wire::name_lower(owner), it->type, it->ttl, std::move(it->rdata)});
    }
    records_.erase(split, records_.end());
    auto key = [](const Zone::AsideRecord& r) { return std::tie(r.type, r.rdata); };
    std::sort(aside.begin(), aside.end(), [&](const Zone::AsideRecord& a, const Zone::AsideRecord& b) {
      int c = wire::name_canonical_compare({reinterpret_cast<const uint8_t*>(a.owner.data()), a.owner.size()},
                                           {reinterpret_cast<const uint8_t*>(b.owner.data()), b.owner.size()});
      return c != 0 ? c < 0 : key(a) < key(b);
    });
    aside.erase(std::unique(aside.begin(), aside.end(),
                            [&](const Zone::AsideRecord& a, const Zone::AsideRecord& b) {
                              return a.owner == b.owner && key(a) == key(b);
                            }),
                aside.end());
  }

  // --- ordering ---------------------------------------------------------------------------

  void sort_records() {
    key_off_.resize(records_.size() + 1);
    keys_.reserve(records_.size() * 24);
    wire::NameBuf lower;
    for (size_t i = 0; i < records_.size(); ++i) {
      key_off_[i] = uint32_t(keys_.size());
      append_canonical_key(lower_name(i, lower), keys_);
    }
    key_off_[records_.size()] = uint32_t(keys_.size());
    order_.resize(records_.size());
    std::iota(order_.begin(), order_.end(), 0u);
    // Stable: records of one RRset keep their file order (the last TTL read wins, as in Knot).
    std::stable_sort(order_.begin(), order_.end(), [this](uint32_t a, uint32_t b) {
      int c = key(a).compare(key(b));
      if (c != 0) return c < 0;
      return records_[a].type < records_[b].type;  // ANY answers the lowest type first (Knot)
    });
  }

  NameView lower_name(uint32_t i, wire::NameBuf& buf) const {
    NameView owner = view_of(records_[i].owner);
    wire::name_to_lower(owner, buf.data.data());
    buf.len = uint8_t(owner.size());
    return buf.view();
  }

  std::string_view key(uint32_t i) const { return std::string_view(keys_).substr(key_off_[i], key_off_[i + 1] - key_off_[i]); }

  // --- the scan: nodes in canonical order, empty non-terminals inserted ---------------------

  void scan() {
    if (records_.empty() || !wire::name_equal(view_of(records_[order_[0]].owner), view_of(origin_)))
      add_node(view_of(origin_), {});
    size_t i = 0;
    wire::NameBuf lower;
    while (i < order_.size()) {
      size_t j = i;
      while (j < order_.size() && key(order_[j]) == key(order_[i])) ++j;
      NameView name = lower_name(order_[i], lower);
      add_ancestors(name);
      add_node(name, std::span<const uint32_t>(order_.data() + i, j - i));
      i = j;
    }
    validate_apex();
  }

  // Pops the ancestry stack to `name`'s closest existing ancestor, then adds the missing ones.
  void add_ancestors(NameView name) {
    size_t labels = wire::name_label_count(name);
    while (!stack_.empty()) {
      const Node& top = zone_->nodes_[stack_.back()];
      NameView top_name = zone_->name(top);
      NameView suffix = top.labels < labels ? wire::name_strip(name, labels - top.labels) : NameView{};
      if (top.labels < labels && std::equal(suffix.begin(), suffix.end(), top_name.begin(), top_name.end())) break;
      stack_.pop_back();
    }
    if (stack_.empty()) return;  // `name` is the apex itself
    for (size_t l = zone_->nodes_[stack_.back()].labels + 1; l < labels; ++l)
      add_node(wire::name_strip(name, labels - l), {});
  }

  void add_node(NameView lower, std::span<const uint32_t> recs) {
    Zone& z = *zone_;
    Node n{};
    n.name_off = uint32_t(z.names_.size());
    n.name_len = uint8_t(lower.size());
    n.labels = uint8_t(wire::name_label_count(lower));
    n.parent = stack_.empty() ? no_node : stack_.back();
    n.wildcard = no_node;
    n.rrset_begin = uint32_t(z.rrsets_.size());
    z.names_.append(reinterpret_cast<const char*>(lower.data()), lower.size());

    drafts_.clear();
    for (uint32_t r : recs) {
      const Record& rec = records_[r];
      if (drafts_.empty() || drafts_.back().type != rec.type) drafts_.push_back(DraftRRset{rec.type, rec.ttl, {}});
      DraftRRset& d = drafts_.back();
      d.ttl = rec.ttl;  // RFC 2181 §5.2 wants one TTL per RRset; on a mismatch the last one read wins
      if (!rec.comment.empty() && (rec.type == rrtype::A || rec.type == rrtype::AAAA || rec.type == rrtype::CNAME)) {
        CfTags tags = parse_cf_tags(rec.comment);
        if (tags.proxied.value_or(false)) d.proxied = true;
        if (tags.flatten_cname && rec.type == rrtype::CNAME) d.flatten_tag = true;
      }
      bool duplicate = false;  // identical RRs are one RR (RFC 2181 §5)
      for (uint32_t other : d.records) duplicate = duplicate || records_[other].rdata == rec.rdata;
      if (!duplicate) d.records.push_back(r);
    }
    validate_node(lower);

    for (const DraftRRset& d : drafts_) {
      RRset s{};
      s.type = d.type;
      s.ttl = d.ttl;
      s.rdata_begin = uint32_t(z.rdatas_.size());
      s.rdata_count = uint16_t(d.records.size());
      for (uint32_t r : d.records) {
        const std::string& rd = records_[r].rdata;
        z.rdatas_.push_back({uint32_t(z.rdata_bytes_.size()), uint16_t(rd.size())});
        z.rdata_bytes_.insert(z.rdata_bytes_.end(), rd.begin(), rd.end());
      }
      z.rrsets_.push_back(s);
      if (d.proxied) n.flags |= node_proxied;  // one proxied A/AAAA/CNAME makes the whole name proxied
      if (d.flatten_tag) n.flags |= node_flattened;
    }
    n.rrset_count = uint16_t(drafts_.size());
    stack_.push_back(uint32_t(z.nodes_.size()));
    z.nodes_.push_back(n);
  }

  // --- validation ---------------------------------------------------------------------------

  [[noreturn]] void fail(const DraftRRset& d, size_t i, const std::string& why) {
    const Record& r = records_[d.records[std::min(i, d.records.size() - 1)]];
    throw ZoneError(*r.file, r.line, why);
  }

  const DraftRRset* draft(uint16_t type) const {
    for (const DraftRRset& d : drafts_)
      if (d.type == type) return &d;
    return nullptr;
  }

  void validate_node(NameView lower) {
    auto name_text = [&] { return wire::name_to_text(lower); };  // only for messages
    bool apex = lower.size() == origin_.size();
    if (apex) {
      apex_soa_ = draft(rrtype::SOA) != nullptr;
      if (const DraftRRset* soa = draft(rrtype::SOA)) {
        if (soa->records.size() > 1) fail(*soa, 1, "more than one SOA record at the apex");
        if (!draft(rrtype::NS)) fail(*soa, 0, "no NS records at the apex " + name_text());
        apex_soa_line_ = records_[soa->records[0]].line;
      }
    } else if (const DraftRRset* soa = draft(rrtype::SOA)) {
      fail(*soa, 0, "SOA record outside the apex " + wire::name_to_text(view_of(origin_)));
    }
    const DraftRRset* cname = draft(rrtype::CNAME);
    if (!cname) return;
    if (cname->records.size() > 1) fail(*cname, 1, "two CNAME records at " + name_text());
    if (apex) {
      if (options_.flatten == FlattenMode::none)
        fail(*cname, 0, "CNAME at the zone apex " + name_text() +
                            " is not allowed beside SOA and NS (set flatten = \"apex\" to flatten it)");
      // The apex CNAME is a flattening target: it stands beside SOA/NS/MX/TXT, but an address
      // RRset beside it would make the answer ambiguous.
      for (const DraftRRset& d : drafts_)
        if (d.type == rrtype::A || d.type == rrtype::AAAA || d.type == rrtype::DNAME)
          fail(d, 0, wire::type_to_text(d.type) + " record beside the flattened apex CNAME of " + name_text());
      return;
    }
    for (const DraftRRset& d : drafts_) {
      // RFC 4035 §2.5: a signed zone has RRSIG and NSEC beside its CNAMEs.
      if (d.type == rrtype::CNAME || d.type == rrtype::RRSIG || d.type == rrtype::NSEC) continue;
      // RFC 1034 §3.6.2 / RFC 2181 §10.1: a CNAME has no other data at its name.
      const Record& c = records_[cname->records[0]];
      const Record& o = records_[d.records[0]];
      if (c.line > o.line || *c.file != *o.file)
        fail(*cname, 0, "CNAME beside other data (" + wire::type_to_text(d.type) + ") at " + name_text());
      fail(d, 0, wire::type_to_text(d.type) + " record beside a CNAME at " + name_text());
    }
  }

  void validate_apex() {
    if (apex_soa_) return;
    const std::string file = records_.empty() ? source_ : *records_.front().file;
    throw ZoneError(file, records_.empty() ? 0 : records_.front().line,
                    "no SOA record at the apex " + wire::name_to_text(view_of(origin_)));
  }

  void read_soa() {
    Zone& z = *zone_;
    z.soa_ = z.rrset(z.nodes_[0], rrtype::SOA);
    std::span<const uint8_t> soa = z.rdata(*z.soa_, 0);
    size_t mname = wire::name_wire_length(soa);
    size_t rname = mname ? wire::name_wire_length(soa.subspan(mname)) : 0;
    if (mname == 0 || rname == 0 || soa.size() != mname + rname + 20)
      throw ZoneError(source_, apex_soa_line_, "malformed SOA RDATA");
    const uint8_t* fixed = soa.data() + mname + rname;
    z.serial_ = read_u32(fixed);
    z.negative_ttl_ = std::min(z.soa_->ttl, read_u32(fixed + 16));
  }

  // --- index, flags, additionals --------------------------------------------------------------

  void build_index() {
    Zone& z = *zone_;
    z.hash_seed_ = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9E3779B97F4A7C15ULL;
    size_t slots = 16;
    while (slots < z.nodes_.size() * 2) slots <<= 1;  // load factor ≤ 0.5: short probes
    z.index_.assign(slots, no_node);
    z.index_mask_ = slots - 1;
    for (uint32_t i = 0; i < z.nodes_.size(); ++i) {
      size_t h = z.hash_name(z.name(z.nodes_[i])) & z.index_mask_;
      while (z.index_[h] != no_node) h = (h + 1) & z.index_mask_;
      z.index_[h] = i;
    }
  }

  void compute_flags() {
    Zone& z = *zone_;
    // Canonical order puts every parent before its descendants.
    z.nodes_[0].flags |= node_apex;
    for (uint32_t i = 1; i < z.nodes_.size(); ++i) {
      Node& n = z.nodes_[i];
      Node& parent = z.nodes_[n.parent];
      if (parent.flags & (node_delegation | node_nonauth)) n.flags |= node_nonauth;
      if (wire::name_is_wildcard(z.name(n))) {
        parent.flags |= node_wildcard_child;
        parent.wildcard = i;
      }
      // An NS below a cut is occluded data, not a cut of its own: referrals go to the top cut.
      if (z.rrset(n, rrtype::NS) && !(n.flags & node_nonauth)) n.flags |= node_delegation;
    }
  }

  // Proxied and flattened names (DESIGN.md, "Flattening, in one place").
  void compute_alias_flags() {
    Zone& z = *zone_;
    for (const std::string& name : options_.proxied) {
      const Node* n = z.find(view_of(name));
      bool ok = n && (z.rrset(*n, rrtype::A) || z.rrset(*n, rrtype::AAAA) || z.rrset(*n, rrtype::CNAME));
      if (!ok)
        throw ZoneError(source_, 0, "proxied name " + wire::name_to_text(view_of(name)) +
                                        " (from the config) has no A, AAAA or CNAME record");
      z.nodes_[size_t(n - z.nodes_.data())].flags |= node_proxied;
    }
    for (size_t i = 0; i < z.nodes_.size(); ++i) {
      Node& n = z.nodes_[i];
      bool cname = z.rrset(n, rrtype::CNAME) != nullptr;
      bool mode = (i == 0 && options_.flatten != FlattenMode::none) || options_.flatten == FlattenMode::all;
      if (!cname) n.flags &= uint16_t(~node_flattened);
      else if (mode) n.flags |= node_flattened;  // (a cf-flatten-cname tag set it already)
      if (n.flags & node_proxied) ++z.proxied_count_;
      if ((n.flags & node_flattened) && !(n.flags & node_proxied)) ++z.flattened_count_;
    }
  }

  void compute_additionals() {
    Zone& z = *zone_;
    std::vector<Additional> mandatory, optional;
    for (const Node& n : z.nodes_) {
      for (uint32_t si = n.rrset_begin; si < n.rrset_begin + n.rrset_count; ++si) {
        RRset& s = z.rrsets_[si];
        s.additional_begin = uint32_t(z.additionals_.size());
        int off = additional_name_offset(s.type);
        if (off < 0) continue;
        mandatory.clear();
        optional.clear();
        for (size_t i = 0; i < s.rdata_count; ++i) {
          std::span<const uint8_t> rd = z.rdata(s, i);
          if (rd.size() <= size_t(off)) continue;
          size_t len = wire::name_wire_length(rd.subspan(off));
          if (len == 0) continue;
          NameView target = rd.subspan(off, len);
          if (!wire::name_is_subdomain(target, z.origin())) continue;
          std::string lower = wire::name_lower(target);
          Lookup l = z.lookup(view_of(lower));
          const Node* t = l.node;
          if (!t && l.encloser) t = z.wildcard_child(*l.encloser);
          // A proxied name never shows its origin addresses, not even as additional data.
          if (!t || (t->flags & node_proxied)) continue;
          Additional a{};
          a.node = uint32_t(t - z.nodes_.data());
          a.name_off = uint32_t(rd.data() + off - z.rdata_bytes_.data());
          a.name_len = uint8_t(len);
          // RFC 9471: glue below this cut is required for the referral to work.
          a.mandatory = (t->flags & (node_delegation | node_nonauth)) && s.type == rrtype::NS &&
                        wire::name_is_subdomain(z.name(*t), z.name(n));
          (a.mandatory ? mandatory : optional).push_back(a);
        }
        z.additionals_.insert(z.additionals_.end(), mandatory.begin(), mandatory.end());
        z.additionals_.insert(z.additionals_.end(), optional.begin(), optional.end());
        s.additional_count = uint16_t(z.additionals_.size() - s.additional_begin);
      }
    }
  }

  std::string origin_;
  std::string source_;
  ZoneOptions options_;
  std::vector<FileStamp> files_;
  std::vector<std::string> warnings_;
  std::vector<Record> records_;
  std::string keys_;
  std::vector<uint32_t> key_off_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> stack_;  // node indices from the apex down to the last node added
  std::vector<DraftRRset> drafts_;
  bool apex_soa_ = false;
  unsigned apex_soa_line_ = 0;
  std::shared_ptr<Zone> zone_;
};

std::shared_ptr<const Zone> compile_zone(NameView origin, std::vector<Record> records, const std::string& source,
                                         const ZoneOptions& options, std::vector<FileStamp> files,
                                         std::vector<std::string> warnings) {
  return ZoneBuilder(origin, source, options, std::move(files), std::move(warnings)).build(std::move(records));
}

}  // namespace apexd::zone
