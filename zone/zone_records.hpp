// A compiled zone as a list of RRs and back: what IXFR differences are taken from and applied to.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zone/journal.hpp"
#include "zone/record.hpp"
#include "zone/zone.hpp"

namespace apexd::zone {

/// Every RR of `z` as loaded (flattened CNAMEs as CNAMEs, proxied names with their own data),
/// the SOA first, then the nodes in canonical order, then the records kept aside (NSEC3).
std::vector<JournalRR> zone_rrs(const Zone& z);

/// RRs as loader Records (for compile_zone), each naming `file` at line 0.
std::vector<Record> to_records(std::vector<JournalRR> rrs, std::shared_ptr<const std::string> file);

}  // namespace apexd::zone

namespace apexd::zone {

/// A private-use type (RFC 6895 §3.1) that exists only in change logs: one RR of it at a name
/// says the name is proxied or flattened by a tag of its own (a record's `cf_tags` comment in
/// a file, `proxied` or `cf-flatten-cname` through the API), which wire RRs cannot carry. Never
/// compiled into a zone, never served, never transferred.
inline constexpr uint16_t tag_rrtype = 65401;
/// Its one-byte RDATA.
inline constexpr uint8_t tag_proxied = 1, tag_flatten_cname = 2;

/// Whether a tag (tag_proxied, tag_flatten_cname) applies to records of `type` at its name.
bool tag_applies(uint8_t tag, uint16_t type);

/// zone_rrs(z) and a tag RR for each name proxied or flattened by its records' cf_tags (names
/// the config lists as proxied, or that the zone's flatten mode covers, have none: the config
/// keeps deciding those).
std::vector<JournalRR> tagged_zone_rrs(const Zone& z);

/// to_records for RRs that may hold tag RRs: the tags are taken out and become the cf_tags
/// comment of the name's A/AAAA/CNAME (proxied) or CNAME (flattened) records.
std::vector<Record> tagged_to_records(std::vector<JournalRR> rrs, std::shared_ptr<const std::string> file);

/// What a change to one zone computes from the zone as it is (an RFC 2136 update, an API
/// PATCH): its RRs afterwards, in tagged_zone_rrs form with the SOA serial already moved, or
/// why not.
struct ZoneEdit {
  uint16_t rcode = 0;  ///< a DNS rcode; NOERROR without `after`: nothing to change
  std::string why;
  std::optional<std::vector<JournalRR>> after;
  size_t added = 0, removed = 0;  ///< RRs, for the log
};
using MakeEdit = std::function<ZoneEdit(const Zone& current)>;

/// The tag RRs `rrs` (zone RRs without tags) should carry to keep `z`'s tags: those of
/// tagged_zone_rrs(z) whose name still has a record the tag applies to.
std::vector<JournalRR> carried_tags(const Zone& z, const std::vector<JournalRR>& rrs);

}  // namespace apexd::zone
