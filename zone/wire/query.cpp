// Query parsing: every field of untrusted input is bounds-checked; malformed means FORMERR or drop.
#include "zone/wire/query.hpp"

#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

namespace apexd::wire {

Header parse_header(std::span<const uint8_t> pkt) noexcept {
  Header h;
  h.id = uint16_t(pkt[0] << 8 | pkt[1]);
  h.qr = pkt[2] & 0x80;
  h.opcode = (pkt[2] >> 3) & 0x0F;
  h.rd = pkt[2] & 0x01;
  h.cd = pkt[3] & 0x10;
  h.qdcount = uint16_t(pkt[4] << 8 | pkt[5]);
  h.ancount = uint16_t(pkt[6] << 8 | pkt[7]);
  h.nscount = uint16_t(pkt[8] << 8 | pkt[9]);
  h.arcount = uint16_t(pkt[10] << 8 | pkt[11]);
  return h;
}

namespace {

constexpr uint16_t tsig_rrtype = 250;  // RFC 8945 §4.2 (wire/tsig.hpp holds the codec)

// Skips one resource record; reports an OPT record's fields when it finds one.
bool skip_record(Reader& r, bool in_additional, Query& q, bool& opt_seen, bool& bad_opt) {
  NameBuf owner;
  uint16_t type, cls, rdlen;
  uint32_t ttl;
  if (!r.name(owner) || !r.u16(type) || !r.u16(cls) || !r.u32(ttl) || !r.u16(rdlen)) return false;
  size_t rdata_at = r.pos();
  if (!r.skip(rdlen)) return false;
  if (type == tsig_rrtype) q.has_tsig = true;
  if (type == rrtype::OPT) {
    // RFC 6891 §6.1.2: the RDATA is a sequence of {code, length, data}; each must fit.
    Reader opts(std::span<const uint8_t>(r.data() + rdata_at, rdlen));
    while (!opts.at_end()) {
      uint16_t code, len;
      if (!opts.u16(code) || !opts.u16(len) || !opts.skip(len)) {
        bad_opt = true;
        return true;
      }
    }
    // RFC 6891 §6.1.1: one OPT, owner is the root, only in the additional section.
    if (!in_additional || opt_seen || owner.len != 1) {
      bad_opt = true;
      return true;
    }
    opt_seen = true;
    q.edns.present = true;
    q.edns.payload = cls;
    q.edns.version = uint8_t(ttl >> 16);
    q.edns.dnssec_ok = ttl & 0x8000;
  }
  return true;
}

}  // namespace

ParseStatus parse_query(std::span<const uint8_t> pkt, Query& q) noexcept {
  if (pkt.size() < header_size) return ParseStatus::drop;
  q.header = parse_header(pkt);
  if (q.header.qr) return ParseStatus::drop;
  if (q.header.qdcount != 1) return ParseStatus::formerr_noq;

  Reader r(pkt, header_size);
  if (!r.name(q.qname) || !r.u16(q.qtype) || !r.u16(q.qclass)) return ParseStatus::formerr_noq;
  q.question_end = r.pos();
  name_to_lower(q.qname.view(), q.qname_lower.data.data());
  q.qname_lower.len = q.qname.len;

  bool opt_seen = false, bad_opt = false;
  const uint16_t counts[3] = {q.header.ancount, q.header.nscount, q.header.arcount};
  for (int section = 0; section < 3; ++section) {
    for (uint16_t i = 0; i < counts[section]; ++i) {
      if (!skip_record(r, section == 2, q, opt_seen, bad_opt)) return ParseStatus::formerr;
    }
  }
  if (bad_opt) return ParseStatus::formerr;
  if (!r.at_end()) return ParseStatus::formerr;  // trailing garbage after the counted records
  return ParseStatus::ok;
}

}  // namespace apexd::wire
