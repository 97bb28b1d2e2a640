// The compiled, immutable zone: nodes in canonical order, flags, parents, glue, pre-encoded RDATA.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "zone/record.hpp"
#include "zone/wire/name.hpp"

namespace apexd::zone {

inline constexpr uint32_t no_node = UINT32_MAX;

/// Node flags precomputed at compile time (Knot's "adjust" pass).
enum NodeFlag : uint16_t {
  node_apex = 1 << 0,
  node_delegation = 1 << 1,    ///< has NS and is not the apex: a zone cut
  node_nonauth = 1 << 2,       ///< strictly below a zone cut: occluded or glue
  node_wildcard_child = 1 << 3, ///< has a `*` child
  node_proxied = 1 << 4,        ///< answered with the edge addresses, never its own A/AAAA/CNAME
  node_flattened = 1 << 5,      ///< its CNAME is resolved and answered as A/AAAA under this name
};

/// Which CNAMEs of a zone are flattened (DESIGN.md, "Flattening, in one place").
enum class FlattenMode : uint8_t {
  none,  ///< never; a CNAME at the apex is a load error
  apex,  ///< the apex CNAME (and records tagged cf-flatten-cname)
  all,   ///< every CNAME of the zone
};

/// One entry of an access list (`allow_transfer`): a source prefix, a TSIG key, or both. A
/// request matches when its source is inside the prefix (if one is given) and it is signed
/// with the key (if one is named).
struct AccessEntry {
  uint8_t family = 0;  ///< 4 or 6; 0 = any address
  uint8_t prefix_len = 0;
  std::array<uint8_t, 16> address{};
  std::string key;  ///< lowercase wire name of a [[key]]; empty = no key required
  bool operator==(const AccessEntry&) const = default;
};

/// A secondary to NOTIFY (RFC 1996) when the zone changes.
struct NotifyTarget {
  std::string host;  ///< literal IPv4 or IPv6 address
  uint16_t port = 53;
  bool operator==(const NotifyTarget&) const = default;
};

/// How a zone's SOA serial moves when apexd itself makes a new version of it (a flattened
/// target's addresses changed, a reload with data changed but a serial that did not grow):
/// Knot's serial-policy.
enum class SerialPolicy : uint8_t {
  increment,   ///< serial + 1
  unixtime,    ///< seconds since the epoch, or serial + 1 if that is not larger
  dateserial,  ///< YYYYMMDDnn, or serial + 1 if that is not larger
};

/// The serial after `serial` under `policy` at wall-clock `now` (seconds since the epoch).
/// Always larger in RFC 1982 arithmetic: never backwards.
uint32_t next_serial(uint32_t serial, SerialPolicy policy, int64_t now);
/// RFC 1982 §3.2: whether `a` is larger than `b`.
bool serial_greater(uint32_t a, uint32_t b);

/// One entry of a zone's `allow_update` (RFC 2136 updates): what a TSIG key may change.
struct UpdateGrant {
  std::string key;                 ///< lowercase wire name of a [[key]]
  std::vector<std::string> names;  ///< patterns, lowercase, relative to the origin ("@", "_acme-challenge.*"); empty = any
  std::vector<uint16_t> types;     ///< empty = any
  bool operator==(const UpdateGrant&) const = default;
};

/// Per-zone settings from the config.
struct ZoneOptions {
  FlattenMode flatten = FlattenMode::apex;
  std::vector<std::string> proxied;  ///< absolute wire names (lowercase) answered with edge addresses
  std::vector<AccessEntry> allow_transfer;  ///< empty: no transfers
  std::vector<NotifyTarget> notify;
  std::string notify_key;  ///< lowercase wire name of the [[key]] NOTIFYs are signed with; empty = unsigned
  SerialPolicy serial = SerialPolicy::increment;
  /// Seconds: new versions of the zone made by apexd (a flattened target moved) come at least
  /// this far apart; changes closer together are merged into one version (one NOTIFY).
  uint32_t notify_min_interval = 30;
  /// Secondary zones: the primaries to copy the zone from, tried in order (empty: a primary zone).
  std::vector<NotifyTarget> primaries;
  std::string primary_key;  ///< lowercase wire name of the [[key]] SOA queries and transfers are signed with
  std::vector<AccessEntry> allow_notify;  ///< who may NOTIFY us (default: the primaries' addresses)
  uint64_t max_zone_size = uint64_t(512) << 20;  ///< RR wire bytes a transfer may bring in
  uint64_t journal_max = uint64_t(16) << 20;     ///< bytes of IXFR journal kept on disk (0: no journal)
  std::vector<UpdateGrant> allow_update;  ///< who may send RFC 2136 updates (TSIG-signed only); empty: nobody
  bool api_created = false;  ///< created through the HTTP API (and deleted through it); its files are apexd's
  bool catalog_consumer = false;  ///< a secondary catalog zone (RFC 9432) whose members apexd serves as secondaries
  bool dnssec = false;             ///< answers are signed online (keys: the server's SignerTable); no DNSSEC records in the data
  bool transfer_unsigned = false;  ///< a signed zone may still be transferred (unsigned) to other servers
  bool operator==(const ZoneOptions&) const = default;
  /// Whether other servers copy the zone from us (it may be transferred, or it notifies).
  bool has_secondaries() const { return !allow_transfer.empty() || !notify.empty(); }
  /// Whether we copy the zone from primaries (RFC 1034 §4.3.5).
  bool is_secondary() const { return !primaries.empty(); }
};

/// An additional-section target of one RDATA (NS, MX or SRV target in this zone).
struct Additional {
  uint32_t node;         ///< node holding the A/AAAA (may be a wildcard node)
  uint32_t name_off;     ///< target name inside the zone's RDATA bytes (owner to write)
  uint8_t name_len;
  bool mandatory;        ///< glue below the cut of a referral: its absence means TC (RFC 9471)
};

struct RRset {
  uint16_t type;
  uint32_t ttl;
  uint32_t rdata_begin;
  uint16_t rdata_count;
  uint32_t additional_begin;
  uint16_t additional_count;
};

struct Node {
  uint32_t name_off;   ///< lowercase wire name in the names arena
  uint8_t name_len;
  uint8_t labels;
  uint16_t flags;
  uint32_t parent;     ///< no_node for the apex
  uint32_t wildcard;   ///< index of the `*` child, or no_node
  uint32_t rrset_begin;
  uint16_t rrset_count;  ///< 0: an empty non-terminal
};

/// Result of a name search (RFC 1034 §4.3.2 step 3).
struct Lookup {
  const Node* node = nullptr;      ///< exact match, or nullptr
  const Node* encloser = nullptr;  ///< closest existing ancestor when there is no exact match
};

/// Where the serial starts in SOA RDATA (wire form): the first fixed field after MNAME and
/// RNAME (RFC 1035 §3.3.13). The names must be well-formed (as in a compiled zone).
size_t soa_serial_offset(std::span<const uint8_t> soa_rdata);

/// Overwrites the serial of SOA RDATA (wire form, names well-formed).
void set_soa_serial(std::string& soa_rdata, uint32_t serial);

/// An immutable compiled zone; every query-path accessor is noexcept and allocation-free.
class Zone {
 public:
  wire::NameView origin() const { return name(apex()); }
  std::string origin_text() const { return wire::name_to_text(origin()); }
  const std::string& source() const { return source_; }
  /// Every file the zone was read from, stamped when read.
  const std::vector<FileStamp>& files() const { return files_; }
  /// What loading skipped but did not refuse ("file:line: …", e.g. records outside the origin).
  const std::vector<std::string>& warnings() const { return warnings_; }
  const ZoneOptions& options() const { return options_; }
  /// When the zone was compiled (wall clock), for /zones and metrics.
  std::chrono::system_clock::time_point loaded_at() const { return loaded_at_; }
  uint32_t serial() const { return serial_; }
  size_t record_count() const { return rdatas_.size(); }

  const Node& apex() const { return nodes_[0]; }
  std::span<const Node> nodes() const { return nodes_; }
  wire::NameView name(const Node& n) const {
    return {reinterpret_cast<const uint8_t*>(names_.data()) + n.name_off, n.name_len};
  }
  const Node* parent(const Node& n) const { return n.parent == no_node ? nullptr : &nodes_[n.parent]; }
  const Node* node_at(uint32_t i) const { return &nodes_[i]; }
  const Node* wildcard_child(const Node& n) const { return n.wildcard == no_node ? nullptr : &nodes_[n.wildcard]; }

  /// Exact match of a lowercase name.
  const Node* find(wire::NameView lower) const noexcept;
  /// Exact match or closest encloser of a lowercase name under the origin.
  Lookup lookup(wire::NameView lower) const noexcept;

  std::span<const RRset> rrsets(const Node& n) const { return {rrsets_.data() + n.rrset_begin, n.rrset_count}; }
  const RRset* rrset(const Node& n, uint16_t type) const noexcept;
  std::span<const uint8_t> rdata(const RRset& s, size_t i) const {
    const RdataRef& r = rdatas_[s.rdata_begin + i];
    return {rdata_bytes_.data() + r.off, r.len};
  }
  std::span<const Additional> additionals(const RRset& s) const {
    return {additionals_.data() + s.additional_begin, s.additional_count};
  }
  wire::NameView additional_name(const Additional& a) const { return {rdata_bytes_.data() + a.name_off, a.name_len}; }

  /// Nodes answered specially: proxied or flattened names.
  size_t proxied_count() const { return proxied_count_; }
  size_t flattened_count() const { return flattened_count_; }

  /// The same zone with another SOA serial: a new version of it that differs from this one in
  /// the serial only (everything else is copied).
  std::shared_ptr<const Zone> with_serial(uint32_t serial) const;

  /// Records that get no node: the NSEC3 chain and its signatures (RFC 5155 §7.2.8), in
  /// canonical order. Never answered; sent by zone transfers.
  struct AsideRecord {
    std::string owner;  ///< lowercase wire form
    uint16_t type;
    uint32_t ttl;
    std::string rdata;
  };
  const std::vector<AsideRecord>& aside() const { return aside_; }

  const RRset& soa() const { return *soa_; }
  /// TTL of the SOA in negative answers: min(SOA TTL, MINIMUM) (RFC 2308 §3).
  uint32_t negative_ttl() const { return negative_ttl_; }

 private:
  friend class ZoneBuilder;
  struct RdataRef {
    uint32_t off;
    uint16_t len;
  };

  std::string source_;
  std::vector<FileStamp> files_;
  std::vector<std::string> warnings_;
  ZoneOptions options_;
  std::chrono::system_clock::time_point loaded_at_;
  std::string names_;
  std::vector<Node> nodes_;
  std::vector<RRset> rrsets_;
  std::vector<RdataRef> rdatas_;
  std::vector<uint8_t> rdata_bytes_;
  std::vector<Additional> additionals_;
  std::vector<AsideRecord> aside_;
  std::vector<uint32_t> index_;  ///< open addressing, linear probing: node index or no_node
  size_t index_mask_ = 0;
  uint64_t hash_seed_ = 0;
  size_t hash_name(wire::NameView lower) const noexcept;
  const RRset* soa_ = nullptr;
  uint32_t serial_ = 0;
  uint32_t negative_ttl_ = 0;
  size_t proxied_count_ = 0;
  size_t flattened_count_ = 0;
};

/// Validates and compiles loaded records into a Zone. Throws ZoneError (file:line) when the zone
/// has no SOA or several at the apex, no apex NS, a CNAME beside other data or two CNAMEs at a name.
/// A CNAME at the apex is accepted beside SOA/NS/MX/TXT (not A/AAAA) unless flattening is off.
std::shared_ptr<const Zone> compile_zone(wire::NameView origin, std::vector<Record> records,
                                         const std::string& source, const ZoneOptions& options = {},
                                         std::vector<FileStamp> files = {}, std::vector<std::string> warnings = {});

/// Loads a zone file and compiles it.
std::shared_ptr<const Zone> load_zone(const std::string& path, wire::NameView origin, const ZoneOptions& options = {});

}  // namespace apexd::zone
