// Compiling loaded records into an immutable Zone: validate, group, add empty non-terminals,
// sort canonically, precompute flags, parents, wildcard children and additional-section targets.
#include <algorithm>
#include <unordered_map>

#include "zone/cf_tags.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"

namespace apexd::zone {

using wire::NameView;
namespace rrtype = wire::rrtype;

namespace {

NameView view_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

struct BuildRRset {
  uint16_t type;
  uint32_t ttl;
  std::vector<std::string> rdata;
  std::vector<unsigned> lines;
  std::string file;
  bool proxied = false;        // some record carries cf-proxied:true
  bool flatten_tag = false;    // some record carries cf-flatten-cname
};

struct BuildNode {
  std::string lower;
  std::vector<BuildRRset> rrsets;  // sorted by type before emitting
};

// Offset of the name inside RDATA for types whose targets get additional records.
int additional_name_offset(uint16_t type) {
  switch (type) {
    case rrtype::NS: return 0;
    case rrtype::MX: return 2;
    case rrtype::SRV: return 6;
    default: return -1;
  }
}

size_t wire_name_length(std::span<const uint8_t> p) {
  size_t pos = 0;
  while (pos < p.size()) {
    uint8_t l = p[pos];
    if (l == 0) return pos + 1;
    if (l > wire::max_label_length) return 0;
    pos += 1 + l;
  }
  return 0;
}

uint32_t read_u32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

}  // namespace

/// Builds a Zone's arrays; a friend of Zone.
class ZoneBuilder {
 public:
  ZoneBuilder(NameView origin, const std::string& source, const ZoneOptions& options, std::vector<FileStamp> files)
      : origin_(wire::name_lower(origin)), source_(source), options_(options), files_(std::move(files)) {}

  std::shared_ptr<const Zone> build(std::vector<Record> records) {
    group(records);
    validate(records);
    add_empty_non_terminals();
    sort_nodes();
    emit();
    compute_flags();
    compute_additionals();
    return std::move(zone_);
  }

 private:
  BuildNode& node_for(const std::string& lower) {
    auto [it, inserted] = node_index_.try_emplace(lower, nodes_.size());
    if (inserted) nodes_.push_back(BuildNode{lower, {}});
    return nodes_[it->second];
  }

  void group(const std::vector<Record>& records) {
    node_for(origin_);
    for (const Record& r : records) {
      BuildNode& n = node_for(wire::name_lower(view_of(r.owner)));
      auto it = std::find_if(n.rrsets.begin(), n.rrsets.end(), [&](const BuildRRset& s) { return s.type == r.type; });
      if (it == n.rrsets.end()) {
        n.rrsets.push_back(BuildRRset{r.type, r.ttl, {}, {}, *r.file});
        it = n.rrsets.end() - 1;
      }
      if (!r.comment.empty() && (r.type == rrtype::A || r.type == rrtype::AAAA || r.type == rrtype::CNAME)) {
        CfTags tags = parse_cf_tags(r.comment);
        if (tags.proxied.value_or(false)) it->proxied = true;
        if (tags.flatten_cname && r.type == rrtype::CNAME) it->flatten_tag = true;
      }
      // RFC 2181 §5.2 wants one TTL per RRset; on a mismatch the last one read wins, as in Knot.
      it->ttl = r.ttl;
      // Identical RRs are one RR (RFC 2181 §5).
      if (std::find(it->rdata.begin(), it->rdata.end(), r.rdata) != it->rdata.end()) continue;
      it->rdata.push_back(r.rdata);
      it->lines.push_back(r.line);
    }
  }

  [[noreturn]] void fail(const BuildRRset& s, size_t i, const std::string& why) {
    throw ZoneError(s.file, s.lines[i], why);
  }

  void validate(const std::vector<Record>& records) {
    const BuildNode& apex = nodes_[node_index_.at(origin_)];
    std::string origin_text = wire::name_to_text(view_of(origin_));
    const std::string first_file = records.empty() ? source_ : *records.front().file;
    auto find = [](const BuildNode& n, uint16_t t) -> const BuildRRset* {
      for (const auto& s : n.rrsets)
        if (s.type == t) return &s;
      return nullptr;
    };
    const BuildRRset* soa = find(apex, rrtype::SOA);
    if (!soa) throw ZoneError(first_file, records.empty() ? 0 : records.front().line, "no SOA record at the apex " + origin_text);
    if (soa->rdata.size() > 1) fail(*soa, 1, "more than one SOA record at the apex");
    if (!find(apex, rrtype::NS)) fail(*soa, 0, "no NS records at the apex " + origin_text);

    for (const BuildNode& n : nodes_) {
      const BuildRRset* cname = find(n, rrtype::CNAME);
      for (const BuildRRset& s : n.rrsets) {
        if (s.type == rrtype::SOA && n.lower != origin_)
          fail(s, 0, "SOA record outside the apex " + origin_text);
      }
      if (!cname) continue;
      if (cname->rdata.size() > 1) fail(*cname, 1, "two CNAME records at " + wire::name_to_text(view_of(n.lower)));
      if (n.lower == origin_) {
        if (options_.flatten == FlattenMode::none)
          fail(*cname, 0, "CNAME at the zone apex " + origin_text +
                              " is not allowed beside SOA and NS (set flatten = \"apex\" to flatten it)");
        // The apex CNAME is a flattening target: it stands beside SOA/NS/MX/TXT, but an address
        // RRset beside it would make the answer ambiguous.
        for (const BuildRRset& s : n.rrsets)
          if (s.type == rrtype::A || s.type == rrtype::AAAA || s.type == rrtype::DNAME)
            fail(s, 0, wire::type_to_text(s.type) + " record beside the flattened apex CNAME of " + origin_text);
        continue;
      }
      for (const BuildRRset& s : n.rrsets) {
        // RFC 4035 §2.5: a signed zone has RRSIG and NSEC beside its CNAMEs.
        if (s.type == rrtype::CNAME || s.type == rrtype::RRSIG || s.type == rrtype::NSEC) continue;
        // RFC 1034 §3.6.2 / RFC 2181 §10.1: a CNAME has no other data at its name.
        bool cname_later = cname->lines[0] > s.lines[0] || cname->file != s.file;
        if (cname_later) fail(*cname, 0, "CNAME beside other data (" + wire::type_to_text(s.type) + ") at " +
                                             wire::name_to_text(view_of(n.lower)));
        fail(s, 0, wire::type_to_text(s.type) + " record beside a CNAME at " + wire::name_to_text(view_of(n.lower)));
      }
    }
  }

  void add_empty_non_terminals() {
    size_t count = nodes_.size();
    for (size_t i = 0; i < count; ++i) {
      std::string name = nodes_[i].lower;
      while (name.size() > origin_.size()) {
        NameView parent = wire::name_strip(view_of(name), 1);
        name.assign(parent.begin(), parent.end());
        if (node_index_.count(name)) break;
        node_for(name);
      }
    }
  }

  void sort_nodes() {
    // RRsets of a node by type: ANY is answered with the first one, the lowest type (as Knot does).
    for (BuildNode& n : nodes_)
      std::sort(n.rrsets.begin(), n.rrsets.end(), [](const BuildRRset& a, const BuildRRset& b) { return a.type < b.type; });
    std::sort(nodes_.begin(), nodes_.end(), [](const BuildNode& a, const BuildNode& b) {
      return wire::name_canonical_compare(view_of(a.lower), view_of(b.lower)) < 0;
    });
  }

  void emit() {
    zone_ = std::shared_ptr<Zone>(new Zone());
    Zone& z = *zone_;
    z.source_ = source_;
    z.files_ = std::move(files_);
    z.options_ = options_;
    z.loaded_at_ = std::chrono::system_clock::now();
    z.nodes_.reserve(nodes_.size());
    for (const BuildNode& b : nodes_) {
      Node n{};
      n.name_off = uint32_t(z.names_.size());
      n.name_len = uint8_t(b.lower.size());
      n.labels = uint8_t(wire::name_label_count(view_of(b.lower)));
      n.parent = no_node;
      n.wildcard = no_node;
      n.rrset_begin = uint32_t(z.rrsets_.size());
      n.rrset_count = uint16_t(b.rrsets.size());
      z.names_ += b.lower;
      for (const BuildRRset& s : b.rrsets) {
        RRset r{};
        r.type = s.type;
        r.ttl = s.ttl;
        r.rdata_begin = uint32_t(z.rdatas_.size());
        r.rdata_count = uint16_t(s.rdata.size());
        for (const std::string& rd : s.rdata) {
          z.rdatas_.push_back({uint32_t(z.rdata_bytes_.size()), uint16_t(rd.size())});
          z.rdata_bytes_.insert(z.rdata_bytes_.end(), rd.begin(), rd.end());
        }
        z.rrsets_.push_back(r);
      }
      z.nodes_.push_back(n);
    }
    // The index refers into names_, which no longer grows.
    for (uint32_t i = 0; i < z.nodes_.size(); ++i) {
      NameView nm = z.name(z.nodes_[i]);
      z.index_.emplace(std::string_view(reinterpret_cast<const char*>(nm.data()), nm.size()), i);
    }
    const Node& apex = z.nodes_[0];
    z.soa_ = z.rrset(apex, rrtype::SOA);
    std::span<const uint8_t> soa = z.rdata(*z.soa_, 0);
    size_t mname = wire_name_length(soa);
    size_t rname = wire_name_length(soa.subspan(mname));
    if (mname == 0 || rname == 0 || soa.size() != mname + rname + 20)
      throw ZoneError(source_, 0, "malformed SOA RDATA");
    const uint8_t* fixed = soa.data() + mname + rname;
    z.serial_ = read_u32(fixed);
    z.negative_ttl_ = std::min(z.soa_->ttl, read_u32(fixed + 16));
  }

  void compute_flags() {
    Zone& z = *zone_;
    // Canonical order puts every parent before its descendants.
    for (uint32_t i = 0; i < z.nodes_.size(); ++i) {
      Node& n = z.nodes_[i];
      if (i == 0) {
        n.flags |= node_apex;
      } else {
        NameView parent_name = wire::name_strip(z.name(n), 1);
        const Node* p = z.find(parent_name);
        n.parent = uint32_t(p - z.nodes_.data());
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
    compute_alias_flags();
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
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = z.nodes_[i];
      bool cname = false, tagged = false;
      for (const BuildRRset& s : nodes_[i].rrsets) {
        if (s.proxied) n.flags |= node_proxied;  // one proxied A/AAAA/CNAME makes the whole name proxied
        if (s.type == rrtype::CNAME) {
          cname = true;
          tagged = s.flatten_tag;
        }
      }
      bool apex = i == 0;
      if (cname && ((apex && options_.flatten != FlattenMode::none) || options_.flatten == FlattenMode::all || tagged))
        n.flags |= node_flattened;
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
          size_t len = wire_name_length(rd.subspan(off));
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
  std::vector<BuildNode> nodes_;
  std::unordered_map<std::string, size_t> node_index_;
  std::shared_ptr<Zone> zone_;
};

std::shared_ptr<const Zone> compile_zone(NameView origin, std::vector<Record> records, const std::string& source,
                                         const ZoneOptions& options, std::vector<FileStamp> files) {
  return ZoneBuilder(origin, source, options, std::move(files)).build(std::move(records));
}

}  // namespace apexd::zone
