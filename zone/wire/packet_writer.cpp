// PacketWriter implementation: compression by suffix search over the names already written.
#include "zone/wire/packet_writer.hpp"

#include <cstring>

#include "zone/wire/types.hpp"

namespace apexd::wire {

void PacketWriter::begin_response(const Header& h) {
  std::memset(buf_.data(), 0, header_size);
  buf_[0] = uint8_t(h.id >> 8);
  buf_[1] = uint8_t(h.id);
  buf_[2] = uint8_t(0x80 | (h.opcode & 0x0F) << 3 | (h.rd ? 0x01 : 0));
  buf_[3] = h.cd ? 0x10 : 0;
  size_ = header_size;
  counts_ = {};
  compress_count_ = 0;
  opt_rdlen_at_ = 0;
  if (table_) table_clear();
}

void PacketWriter::begin_query(uint16_t id, bool rd) {
  std::memset(buf_.data(), 0, header_size);
  buf_[0] = uint8_t(id >> 8);
  buf_[1] = uint8_t(id);
  buf_[2] = rd ? 0x01 : 0;
  size_ = header_size;
  counts_ = {};
  compress_count_ = 0;
  opt_rdlen_at_ = 0;
  if (table_) table_clear();
}

void PacketWriter::write_counts() {
  for (size_t i = 0; i < 3; ++i) {
    buf_[6 + 2 * i] = uint8_t(counts_[i] >> 8);
    buf_[7 + 2 * i] = uint8_t(counts_[i]);
  }
}

bool PacketWriter::put_question(NameView qname, uint16_t qtype, uint16_t qclass) {
  Mark m = mark();
  if (!put_name(qname, true) || !put_u16(qtype) || !put_u16(qclass)) {
    rollback(m);
    return false;
  }
  buf_[4] = 0;
  buf_[5] = 1;
  return true;
}

bool PacketWriter::put_bytes(const uint8_t* p, size_t n) {
  if (size_ + n > room()) return false;
  std::memcpy(buf_.data() + size_, p, n);
  size_ += n;
  return true;
}

bool PacketWriter::put_u16(uint16_t v) {
  uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
  return put_bytes(b, 2);
}

bool PacketWriter::put_u32(uint32_t v) {
  uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  return put_bytes(b, 4);
}

bool PacketWriter::packet_name_equals(size_t offset, NameView suffix) const {
  size_t pos = offset, i = 0;
  for (int hops = 0; hops < 32;) {
    uint8_t l = buf_[pos];
    if ((l & 0xC0) == 0xC0) {
      pos = size_t(l & 0x3F) << 8 | buf_[pos + 1];
      ++hops;
      continue;
    }
    if (i >= suffix.size() || suffix[i] != l) return false;
    if (l == 0) return true;
    for (size_t k = 1; k <= l; ++k)
      if (to_lower(buf_[pos + k]) != to_lower(suffix[i + k])) return false;
    pos += 1 + l;
    i += 1 + l;
  }
  return false;
}

namespace {

size_t suffix_hash(NameView suffix) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the lowercase name
  for (uint8_t c : suffix) h = (h ^ to_lower(c)) * 0x100000001b3ULL;
  return size_t(h ^ (h >> 29));
}

}  // namespace

void PacketWriter::table_clear() {
  if (table_->used) table_->offset.fill(0);
  table_->used = 0;
}

void PacketWriter::table_insert(uint16_t offset, NameView suffix) {
  if (table_->used >= CompressionTable::slots * 3 / 4) return;  // full enough: the rest goes uncompressed
  size_t i = suffix_hash(suffix) & (CompressionTable::slots - 1);
  while (table_->offset[i] > 1) i = (i + 1) & (CompressionTable::slots - 1);
  table_->offset[i] = offset;
  ++table_->used;
}

size_t PacketWriter::find_suffix(NameView suffix) const {
  if (table_) {
    for (size_t i = suffix_hash(suffix) & (CompressionTable::slots - 1);; i = (i + 1) & (CompressionTable::slots - 1)) {
      uint16_t o = table_->offset[i];
      if (o == 0) return 0;
      if (o != 1 && packet_name_equals(o, suffix)) return o;
    }
  }
  for (uint16_t e = 0; e < compress_count_; ++e) {
    if (compress_[e].length != suffix.size()) continue;
    if (packet_name_equals(compress_[e].offset, suffix)) return compress_[e].offset;
  }
  return 0;
}

bool PacketWriter::put_name(NameView name, bool compress) {
  size_t pos = 0;
  while (pos < name.size() && name[pos] != 0) {
    NameView suffix = name.subspan(pos);
    if (compress) {
      size_t target = find_suffix(suffix);
      if (target != 0) return put_u16(uint16_t(0xC000 | target));
    }
    uint8_t l = name[pos];
    size_t label_at = size_;
    if (!put_bytes(&name[pos], 1 + size_t(l))) return false;
    if (compress && label_at < 0x4000) {
      if (table_) table_insert(uint16_t(label_at), suffix);
      else if (compress_count_ < max_compress_entries) compress_[compress_count_++] = {uint16_t(label_at), uint8_t(suffix.size())};
    }
    pos += 1 + l;
  }
  uint8_t root = 0;
  return put_bytes(&root, 1);
}

bool PacketWriter::put_rdata(uint16_t type, std::span<const uint8_t> rdata) {
  // RFC 3597 §4: only the RFC 1035 types may carry compressed names.
  size_t prefix = 0;
  int names = 0;
  switch (type) {
    case rrtype::NS: case rrtype::CNAME: case rrtype::PTR: case rrtype::MD:
    case rrtype::MF: case rrtype::MB: case rrtype::MG: case rrtype::MR:
      names = 1;
      break;
    case rrtype::MX:
      prefix = 2;
      names = 1;
      break;
    case rrtype::SOA: case rrtype::MINFO:
      names = 2;
      break;
    default:
      return put_bytes(rdata.data(), rdata.size());
  }
  if (rdata.size() < prefix || !put_bytes(rdata.data(), prefix)) return false;
  size_t pos = prefix;
  for (int n = 0; n < names; ++n) {
    size_t len = name_wire_length(rdata.subspan(pos));
    if (len == 0) return false;
    if (!put_name(rdata.subspan(pos, len), true)) return false;
    pos += len;
  }
  return put_bytes(rdata.data() + pos, rdata.size() - pos);
}

bool PacketWriter::put_rr(Section s, NameView owner, uint16_t type, uint16_t rclass, uint32_t ttl,
                          std::span<const uint8_t> rdata) {
  Mark m = mark();
  bool ok = put_name(owner, true) && put_u16(type) && put_u16(rclass) && put_u32(ttl);
  size_t rdlen_at = size_;
  ok = ok && put_u16(0) && put_rdata(type, rdata);
  if (!ok) {
    rollback(m);
    return false;
  }
  size_t rdlen = size_ - rdlen_at - 2;
  buf_[rdlen_at] = uint8_t(rdlen >> 8);
  buf_[rdlen_at + 1] = uint8_t(rdlen);
  ++counts_[size_t(s)];
  write_counts();
  return true;
}

bool PacketWriter::put_opt(uint16_t payload, uint8_t ext_rcode, uint8_t version, bool dnssec_ok) {
  reserved_ = 0;
  uint8_t opt[11] = {0, 0, uint8_t(rrtype::OPT), uint8_t(payload >> 8), uint8_t(payload),
                     ext_rcode, version, uint8_t(dnssec_ok ? 0x80 : 0), 0, 0, 0};
  if (!put_bytes(opt, sizeof opt)) return false;
  opt_rdlen_at_ = size_ - 2;
  ++counts_[size_t(Section::additional)];
  write_counts();
  return true;
}

bool PacketWriter::put_opt_option(uint16_t code, std::span<const uint8_t> data) {
  // Options extend the OPT RR, which must be the last record written.
  size_t rdlen_at = opt_rdlen_at_;
  if (rdlen_at == 0) return false;
  Mark m = mark();
  if (!put_u16(code) || !put_u16(uint16_t(data.size())) || !put_bytes(data.data(), data.size())) {
    rollback(m);
    return false;
  }
  size_t rdlen = size_ - rdlen_at - 2;
  buf_[rdlen_at] = uint8_t(rdlen >> 8);
  buf_[rdlen_at + 1] = uint8_t(rdlen);
  return true;
}

void PacketWriter::rollback(const Mark& m) {
  size_ = m.size;
  counts_ = m.counts;
  compress_count_ = m.compress_entries;
  if (table_)  // names written after the mark are gone: their entries become "removed"
    for (uint16_t& o : table_->offset)
      if (o >= m.size) o = 1;
  write_counts();
}

void PacketWriter::set_aa(bool on) {
  if (on)
    buf_[2] |= 0x04;
  else
    buf_[2] &= uint8_t(~0x04);
}

void PacketWriter::set_tc() { buf_[2] |= 0x02; }

void PacketWriter::set_rcode(uint16_t rcode) { buf_[3] = uint8_t((buf_[3] & 0xF0) | (rcode & 0x0F)); }

}  // namespace apexd::wire
