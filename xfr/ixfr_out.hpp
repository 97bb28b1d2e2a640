// Outgoing IXFR (RFC 1995) from the journal, and the records a transfer of a zone carries.
#pragma once
#include <memory>
#include <span>

#include "xfr/axfr_out.hpp"
#include "zone/journal.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"

namespace apexd::xfr {

/// Writes the IXFR answer for one condensed difference (RFC 1995 §4): the new SOA, then the
/// sequence (old SOA, removed RRs, new SOA, added RRs), then the new SOA again, in as many
/// messages as needed. Same contract as AxfrWriter::next.
class IxfrWriter {
 public:
  explicit IxfrWriter(zone::Changeset diff) : diff_(std::move(diff)) {}
  size_t next(std::span<uint8_t> out, size_t limit, size_t reserve, const wire::Query& q);
  bool failed() const { return failed_; }
  size_t records() const { return records_; }
  size_t messages() const { return messages_; }
  uint32_t serial() const { return diff_.serial_to; }

 private:
  const zone::JournalRR* at(size_t i) const;  // the i-th record of the answer, or null past the end

  zone::Changeset diff_;
  size_t cursor_ = 0;
  bool failed_ = false;
  size_t records_ = 0, messages_ = 0;
  wire::CompressionTable compression_;
};

/// Every record an AXFR of `zone` with `replacements` sends (the closing SOA not repeated), as
/// a secondary receives them: what journal differences are computed from, so that an IXFR
/// brings a secondary exactly where an AXFR would.
std::vector<zone::JournalRR> transfer_rrs(std::shared_ptr<const zone::Zone> zone, Replacements replacements);

}  // namespace apexd::xfr
