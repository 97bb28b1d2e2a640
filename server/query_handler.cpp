// Request-level rules (RFC 1035 §4.1.1, RFC 6891, RFC 8482) around the zone answer steps.
#include "server/query_handler.hpp"

#include <algorithm>

#include "server/answer.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace rcode = wire::rcode;
namespace rrtype = wire::rrtype;

namespace {

constexpr size_t opt_rr_size = 11;  // root owner, type, class, TTL, RDLENGTH 0

size_t response_limit(const wire::Query& q, const HandlerOptions& opts, size_t out_size) {
  size_t limit = out_size;
  if (opts.transport == Transport::udp) {
    // RFC 6891 §6.2.5: payloads below 512 are treated as 512; without EDNS, 512 (RFC 1035 §4.2.1).
    size_t client = q.edns.present ? std::max<size_t>(q.edns.payload, wire::min_udp_payload) : wire::min_udp_payload;
    limit = std::min({limit, client, std::max<size_t>(opts.max_udp_payload, wire::min_udp_payload)});
  }
  return std::min(limit, max_message_size);
}

const zone::Zone* select_zone(const zone::ZoneSet& zones, const wire::Query& q) {
  wire::NameView qname = q.qname_lower.view();
  // DS lives on the parent side of a cut: search from the parent name first (RFC 4035 §3.1.4.1).
  if (q.qtype == rrtype::DS && qname.size() > 1) {
    if (const zone::Zone* z = zones.find_suffix(wire::name_strip(qname, 1))) return z;
  }
  return zones.find_suffix(qname);
}

HandleResult finish(wire::PacketWriter& w, const wire::Query& q, const HandlerOptions& opts, uint16_t rc,
                    bool with_opt) {
  w.set_rcode(rc & 0x0F);
  if (with_opt) {
    // Our own payload size is advertised, whatever the client's (as Knot and NSD do).
    if (!w.put_opt(opts.max_udp_payload, uint8_t(rc >> 4), 0, q.edns.dnssec_ok)) w.set_tc();
  }
  return {w.size(), rc, q.qtype, w.tc(), false};
}

}  // namespace

HandleResult handle_query(const zone::ZoneSet& zones, std::span<const uint8_t> request, std::span<uint8_t> out,
                          const HandlerOptions& opts) noexcept {
  wire::Query q;
  wire::ParseStatus st = wire::parse_query(request, q);
  if (st == wire::ParseStatus::drop || out.size() < wire::header_size) return {};

  wire::PacketWriter w(out, response_limit(q, opts, out.size()));
  w.begin_response(q.header);

  if (st == wire::ParseStatus::formerr_noq) {
    w.set_rcode(rcode::FORMERR);
    return {w.size(), rcode::FORMERR, 0, false, true};
  }
  if (!w.put_question(q.qname.view(), q.qtype, q.qclass)) {
    w.set_rcode(rcode::FORMERR);
    return {w.size(), rcode::FORMERR, q.qtype, false, true};
  }
  if (st == wire::ParseStatus::formerr) {
    w.set_rcode(rcode::FORMERR);  // the OPT record may be the broken part: answer without one
    return {w.size(), rcode::FORMERR, q.qtype, false, true};
  }
  bool edns = q.edns.present;
  if (edns) w.reserve(opt_rr_size);
  if (q.header.opcode != wire::opcode::QUERY) return finish(w, q, opts, rcode::NOTIMP, edns);
  if (edns && q.edns.version > 0) return finish(w, q, opts, rcode::BADVERS, true);  // RFC 6891 §6.1.3
  if (q.qclass != wire::rrclass::IN) return finish(w, q, opts, rcode::REFUSED, edns);
  if (q.qtype == rrtype::AXFR || q.qtype == rrtype::IXFR) return finish(w, q, opts, rcode::REFUSED, edns);

  const zone::Zone* z = select_zone(zones, q);
  if (!z) return finish(w, q, opts, rcode::REFUSED, edns);  // never recurse for clients

  AnswerResult a = answer_from_zone(*z, q, w);
  w.set_aa(a.authoritative);
  return finish(w, q, opts, a.rcode, edns);
}

}  // namespace apexd::server
