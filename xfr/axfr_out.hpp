// Outgoing AXFR (RFC 5936): a compiled zone streamed as DNS messages, SOA first and last.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/zone.hpp"

namespace apexd::xfr {

/// A/AAAA records a transfer sends in place of a node's own data: the addresses a flattened
/// CNAME currently answers, or the edge addresses of a proxied name.
struct AddressRRset {
  uint16_t type = 0;  ///< A or AAAA
  uint32_t ttl = 0;   ///< sent: stable while the addresses stay (a version's content never counts down)
  std::vector<std::string> rdata;  ///< 4- or 16-byte RDATA each
  uint32_t refresh_ttl = UINT32_MAX;  ///< how soon the addresses may move (the upstream's remaining TTL)
};

/// What replaces flattened and proxied nodes, by node index (Zone::nodes()). A flattened or
/// proxied node missing here is sent without its CNAME / A / AAAA: the transferred zone is what
/// clients are answered, and the origin behind such a name never leaves the server.
using Replacements = std::unordered_map<uint32_t, std::vector<AddressRRset>>;

/// Writes a zone as a sequence of AXFR response messages, one next() call per message.
/// Holds the zone (an immutable snapshot) for as long as the transfer lasts; queries are not
/// affected. Per node: its RRsets in stored order (the SOA only first and last), except that a
/// flattened node's CNAME and a proxied node's A/AAAA/CNAME (and their RRSIGs) are replaced by
/// `replacements`; then the records kept aside (the NSEC3 chain).
class AxfrWriter {
 public:
  AxfrWriter(std::shared_ptr<const zone::Zone> zone, Replacements replacements);

  /// Fills `out` with the next message answering `q` (ID, opcode, question in the first message
  /// only, AA), at most `limit` bytes of which `reserve` stay free (for a TSIG record); a record
  /// that does not fit in `limit` alone gets a message of up to out.size() bytes.
  /// Returns its size; 0 once the closing SOA has been sent, or when one record cannot fit in
  /// an empty message (failed() tells).
  size_t next(std::span<uint8_t> out, size_t limit, size_t reserve, const wire::Query& q);
  bool done() const { return phase_ == Phase::done; }
  bool failed() const { return failed_; }
  size_t records() const { return records_; }
  size_t messages() const { return messages_; }
  const zone::Zone& zone() const { return *zone_; }

 private:
  enum class Phase : uint8_t { first_soa, nodes, aside, last_soa, done };
  struct Pending {  // one record to write
    wire::NameView owner;
    uint16_t type;
    uint32_t ttl;
    std::span<const uint8_t> rdata;
  };
  bool peek(Pending& rr) const;  // the record at the cursor, if any (advances past skipped RRsets)
  void advance();
  bool skipped(const zone::Node& n, const zone::RRset& s) const;
  void settle();  // moves the cursor to the next record that is sent

  std::shared_ptr<const zone::Zone> zone_;
  Replacements replacements_;
  Phase phase_ = Phase::first_soa;
  size_t node_ = 0, rrset_ = 0, rdata_ = 0;  // cursor over nodes
  size_t repl_set_ = 0;                      // cursor over a node's replacements (after its RRsets)
  size_t aside_ = 0;
  bool in_replacements_ = false;
  bool failed_ = false;
  size_t records_ = 0, messages_ = 0;
  wire::CompressionTable compression_;  // every name of a message can be pointed at, not just the first few
};

}  // namespace apexd::xfr
