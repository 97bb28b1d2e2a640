// Finding and appending the TSIG RR: bounds-checked reads, uncompressed writes (RFC 8945 §4.2).
#include "zone/wire/tsig.hpp"

#include <algorithm>

#include "zone/wire/query.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

namespace apexd::wire {

namespace {

/// The RR header fields find_tsig needs.
struct RrHead {
  uint16_t type = 0, rclass = 0, rdlength = 0;
  uint32_t ttl = 0;
};

[[nodiscard]] bool read_rr_head(Reader& r, RrHead& h) {
  NameBuf owner;
  return r.name(owner) && r.u16(h.type) && r.u16(h.rclass) && r.u32(h.ttl) && r.u16(h.rdlength);
}

[[nodiscard]] bool read_u48(Reader& r, uint64_t& v) {
  uint16_t hi = 0;
  uint32_t lo = 0;
  if (!r.u16(hi) || !r.u32(lo)) return false;
  v = uint64_t(hi) << 32 | lo;
  return true;
}

[[nodiscard]] bool read_bytes(Reader& r, uint16_t n, std::span<const uint8_t>& out) {
  const uint8_t* p = r.data() + r.pos();
  if (!r.skip(n)) return false;
  out = {p, n};
  return true;
}

// The RDATA of RFC 8945 §4.2, which must fill RDLENGTH exactly.
[[nodiscard]] bool read_tsig_rdata(Reader& r, size_t rdata_end, TsigRecord& t) {
  uint16_t mac_size = 0, other_len = 0;
  bool ok = r.name(t.algorithm) && read_u48(r, t.time_signed) && r.u16(t.fudge) && r.u16(mac_size) &&
            read_bytes(r, mac_size, t.mac) && r.u16(t.original_id) && r.u16(t.error) &&
            r.u16(other_len) && read_bytes(r, other_len, t.other);
  return ok && r.pos() == rdata_end;
}

// Reads the TSIG RR starting at r.pos(), which the caller found to be the message's last record.
[[nodiscard]] TsigFind read_tsig(Reader& r, size_t msg_size, TsigRecord& t) {
  t.offset = r.pos();
  RrHead h;
  if (!r.name(t.key_name) || !r.u16(h.type) || !r.u16(h.rclass) || !r.u32(h.ttl) || !r.u16(h.rdlength))
    return TsigFind::formerr;
  if (h.rclass != rrclass::ANY || h.ttl != 0) return TsigFind::formerr;  // RFC 8945 §4.2
  size_t rdata_end = r.pos() + h.rdlength;
  if (rdata_end != msg_size) return TsigFind::formerr;  // short RDATA, or bytes after the TSIG
  return read_tsig_rdata(r, rdata_end, t) ? TsigFind::found : TsigFind::formerr;
}

[[nodiscard]] bool skip_questions(Reader& r, uint16_t qdcount) {
  for (uint16_t i = 0; i < qdcount; ++i) {
    NameBuf qname;
    uint16_t qtype = 0, qclass = 0;
    if (!r.name(qname) || !r.u16(qtype) || !r.u16(qclass)) return false;
  }
  return true;
}

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

uint8_t* put_bytes(uint8_t* p, std::span<const uint8_t> b) { return std::copy(b.begin(), b.end(), p); }

uint8_t* put_u16_at(uint8_t* p, uint16_t v) {
  put_u16(p, v);
  return p + 2;
}

}  // namespace

TsigLookup find_tsig(std::span<const uint8_t> msg) noexcept {
  TsigLookup out;
  if (msg.size() < header_size) {
    out.status = TsigFind::formerr;
    return out;
  }
  Header h = parse_header(msg);
  Reader r(msg, header_size);
  if (!skip_questions(r, h.qdcount)) {
    out.status = TsigFind::formerr;
    return out;
  }
  const size_t total = size_t(h.ancount) + h.nscount + h.arcount;
  for (size_t i = 0; i < total; ++i) {
    Reader peek = r;
    RrHead rr;
    if (!read_rr_head(peek, rr) || !peek.skip(rr.rdlength)) {
      out.status = TsigFind::formerr;
      return out;
    }
    if (rr.type == rrtype::TSIG) {
      // RFC 8945 §5.2: only as the last record of the additional section, and only once.
      bool last = i + 1 == total && h.arcount > 0;
      out.status = last ? read_tsig(r, msg.size(), out.record) : TsigFind::formerr;
      return out;
    }
    r = peek;
  }
  return out;
}

size_t append_tsig(std::span<uint8_t> buf, size_t len, const TsigRecord& rec) noexcept {
  if (len < header_size || len > buf.size()) return 0;
  if (!name_is_valid(rec.key_name.view()) || !name_is_valid(rec.algorithm.view())) return 0;
  if (rec.mac.size() > 0xFFFF || rec.other.size() > 0xFFFF || rec.time_signed >> 48 != 0) return 0;
  const uint16_t arcount = uint16_t(buf[10] << 8 | buf[11]);
  if (arcount == 0xFFFF) return 0;
  const size_t size = tsig_rr_size(rec.key_name.len, rec.algorithm.len, rec.mac.size(), rec.other.size());
  if (buf.size() - len < size) return 0;

  const size_t rdlength = size - rec.key_name.len - 10;
  uint8_t* p = put_bytes(buf.data() + len, rec.key_name.view());
  p = put_u16_at(p, rrtype::TSIG);
  p = put_u16_at(p, rrclass::ANY);
  p = put_u16_at(put_u16_at(p, 0), 0);  // TTL 0
  p = put_u16_at(p, uint16_t(rdlength));
  p = put_bytes(p, rec.algorithm.view());
  p = put_u16_at(p, uint16_t(rec.time_signed >> 32));
  p = put_u16_at(put_u16_at(p, uint16_t(rec.time_signed >> 16)), uint16_t(rec.time_signed));
  p = put_u16_at(p, rec.fudge);
  p = put_bytes(put_u16_at(p, uint16_t(rec.mac.size())), rec.mac);
  p = put_u16_at(p, rec.original_id);
  p = put_u16_at(p, rec.error);
  put_bytes(put_u16_at(p, uint16_t(rec.other.size())), rec.other);
  put_u16(buf.data() + 10, uint16_t(arcount + 1));
  return len + size;
}

}  // namespace apexd::wire
