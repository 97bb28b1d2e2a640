// Outgoing IXFR (RFC 1995) from the journal, and the records a transfer of a zone carries.
#include "xfr/ixfr_out.hpp"

#include <stdexcept>
#include <vector>

#include "xfr/xfr_in.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/types.hpp"

namespace apexd::xfr {

const zone::JournalRR* IxfrWriter::at(size_t i) const {
  if (diff_.added.empty()) return nullptr;
  const zone::JournalRR& new_soa = diff_.added.front();
  if (i == 0) return &new_soa;
  --i;
  if (i < diff_.removed.size()) return &diff_.removed[i];
  i -= diff_.removed.size();
  if (i < diff_.added.size()) return &diff_.added[i];
  i -= diff_.added.size();
  return i == 0 ? &new_soa : nullptr;
}

size_t IxfrWriter::next(std::span<uint8_t> out, size_t limit, size_t reserve, const wire::Query& q) {
  const zone::JournalRR* rr = at(cursor_);
  if (!rr || failed_) return 0;
  wire::PacketWriter w(out, limit);
  w.use_table(&compression_);
  w.begin_response(q.header);
  w.set_aa(true);
  if (messages_ == 0 && !w.put_question(q.qname.view(), q.qtype, q.qclass)) {
    failed_ = true;
    return 0;
  }
  w.reserve(reserve);
  size_t written = 0;
  for (; rr; rr = at(cursor_)) {
    auto bytes = [](const std::string& s) { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
    if (!w.put_rr(wire::Section::answer, bytes(rr->owner), rr->type, wire::rrclass::IN, rr->ttl, bytes(rr->rdata))) {
      if (written == 0) {
        if (limit < out.size()) return next(out, out.size(), reserve, q);  // a record over `limit`: a bigger message
        failed_ = true;
        return 0;
      }
      break;
    }
    ++written;
    ++records_;
    ++cursor_;
  }
  ++messages_;
  return w.size();
}

std::vector<zone::JournalRR> transfer_rrs(std::shared_ptr<const zone::Zone> zone, Replacements replacements) {
  // Written as the AXFR messages and read back as a secondary reads them: one definition of
  // what a transfer carries (AxfrWriter's), whatever the replacements and the NSEC3 records.
  wire::Query q;
  q.header.id = 1;
  q.qname.assign(zone->origin());
  q.qname_lower.assign(zone->origin());
  q.qtype = wire::rrtype::AXFR;
  q.qclass = wire::rrclass::IN;
  wire::NameBuf origin;
  origin.assign(zone->origin());
  AxfrWriter writer(std::move(zone), std::move(replacements));
  TransferParser parser(origin.view(), 1, wire::rrtype::AXFR, std::nullopt, 0);
  std::vector<uint8_t> buf(65535);
  for (;;) {
    size_t len = writer.next(buf, buf.size(), 0, q);
    if (len == 0) break;
    if (parser.feed({buf.data(), len}) != TransferParser::Status::more) break;
  }
  if (writer.failed()) throw std::runtime_error("a record does not fit in a transfer message");
  InboundTransfer t = parser.take();
  if (t.kind != InboundTransfer::Kind::full) throw std::runtime_error("transfer view: " + t.error);
  return std::move(t.records);
}

}  // namespace apexd::xfr
