// NOTIFY in (RFC 1996): a primary tells a secondary zone of ours that it changed.
#include "server/notify_in.hpp"

#include "server/transfer.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace {

// The SOA serial in a NOTIFY's answer section (RFC 1996 §3.7), if it carries one for the zone.
std::optional<uint32_t> notify_serial(std::span<const uint8_t> request, const wire::Query& q) {
  if (q.header.ancount < 1) return std::nullopt;
  wire::Reader r(request, q.question_end);
  wire::NameBuf owner, mname, rname;
  uint16_t type, cls, rdlen;
  uint32_t ttl, serial;
  if (!r.name(owner) || !r.u16(type) || !r.u16(cls) || !r.u32(ttl) || !r.u16(rdlen) || type != wire::rrtype::SOA ||
      !wire::name_equal(owner.view(), q.qname_lower.view()))
    return std::nullopt;
  if (!r.name(mname) || !r.name(rname) || !r.u32(serial)) return std::nullopt;
  return serial;
}

}  // namespace

NotifyVerdict answer_notify(const NotifyTable& table, std::span<const uint8_t> request, std::span<uint8_t> out,
                            const sockaddr_storage& peer, std::span<const crypto::TsigKey> keys, uint64_t now) {
  NotifyVerdict v;
  wire::Query q;
  wire::ParseStatus st = wire::parse_query(request, q);
  if (st == wire::ParseStatus::drop || out.size() < 512) return v;
  wire::PacketWriter w(out, std::min<size_t>(out.size(), 512));
  wire::Header h = q.header;
  h.rd = false;
  w.begin_response(h);
  auto finish = [&](uint16_t rcode) {
    w.set_rcode(rcode);
    v.rcode = rcode;
    v.size = w.size();
    return v;
  };
  if (st != wire::ParseStatus::ok) return finish(wire::rcode::FORMERR);
  if (!w.put_question(q.qname.view(), q.qtype, q.qclass)) return finish(wire::rcode::FORMERR);
  if (q.qtype != wire::rrtype::SOA || q.qclass != wire::rrclass::IN) return finish(wire::rcode::FORMERR);
  std::optional<crypto::TsigVerifyResult> signed_by;
  if (q.has_tsig) {
    wire::TsigLookup tsig = wire::find_tsig(request);
    if (tsig.status != wire::TsigFind::found) return finish(wire::rcode::FORMERR);
    crypto::TsigVerifyResult r = crypto::verify_request(request, tsig.record, keys, now);
    if (r.status != crypto::TsigStatus::ok) {
      finish(r.rcode());
      size_t n = crypto::append_error_tsig(out.first(w.limit()), w.size(), tsig.record, r, now);
      if (n) v.size = n;
      return v;
    }
    signed_by = r;
    v.key = r.key->name;
  }
  auto sign = [&](NotifyVerdict verdict) {
    if (signed_by && verdict.size) {
      crypto::TsigSigner signer(*signed_by->key, signed_by->request_mac.view());
      size_t n = signer.sign(out.first(w.limit()), verdict.size, now);
      if (n) verdict.size = n;
    }
    return verdict;
  };
  std::string origin(reinterpret_cast<const char*>(q.qname_lower.data.data()), q.qname_lower.len);
  auto it = table.allow.find(origin);
  if (it == table.allow.end()) return sign(finish(wire::rcode::NOTAUTH));  // not a secondary zone of ours
  if (!transfer_allowed(it->second, peer, v.key)) return sign(finish(wire::rcode::REFUSED));
  w.set_aa(true);  // RFC 1996 §4.7: the reply echoes the question, AA set
  v.accepted = true;
  v.origin = std::move(origin);
  v.serial = notify_serial(request, q);
  return sign(finish(wire::rcode::NOERROR));
}

}  // namespace apexd::server
