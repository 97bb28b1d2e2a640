// Request-level rules (RFC 1035 §4.1.1, RFC 6891, RFC 8482) around the zone answer steps.
#include "server/query_handler.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>

#include "server/answer.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace rcode = wire::rcode;
namespace rrtype = wire::rrtype;

namespace {

constexpr size_t opt_rr_size = 11;  // root owner, type, class, TTL, RDLENGTH 0

uint64_t unix_millis() {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint64_t unix_seconds() {
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

size_t response_limit(const wire::Query& q, const HandlerOptions& opts, size_t out_size) {
  size_t limit = out_size;
  if (opts.transport == Transport::udp) {
    // RFC 6891 §6.2.5: payloads below 512 are treated as 512; without EDNS, 512 (RFC 1035 §4.2.1).
    size_t client = q.edns.present ? std::max<size_t>(q.edns.payload, wire::min_udp_payload) : wire::min_udp_payload;
    limit = std::min({limit, client, std::max<size_t>(opts.max_udp_payload, wire::min_udp_payload)});
  }
  return std::min(limit, max_message_size);
}

// The zone that answers a name: the loaded one with the longest origin, unless a configured
// zone nearer to the name failed to load (then that one "answers", with SERVFAIL).
struct ZoneChoice {
  const zone::Zone* zone = nullptr;
  const zone::FailedZone* failed = nullptr;
};

ZoneChoice choose_zone(const zone::ZoneSet& zones, wire::NameView name) {
  const zone::Zone* z = zones.find_suffix(name);
  if (const zone::FailedZone* f = zones.failed_below(name, z)) return {nullptr, f};
  return {z, nullptr};
}

ZoneChoice select_zone(const zone::ZoneSet& zones, const wire::Query& q) {
  wire::NameView qname = q.qname_lower.view();
  // DS lives on the parent side of a cut: search from the parent name first (RFC 4035 §3.1.4.1).
  if (q.qtype == rrtype::DS && qname.size() > 1) {
    ZoneChoice parent = choose_zone(zones, wire::name_strip(qname, 1));
    if (parent.zone || parent.failed) return parent;
  }
  return choose_zone(zones, qname);
}

HandleResult response(size_t size, uint16_t rc, uint16_t qtype, bool truncated, bool malformed) {
  HandleResult r;
  r.size = size;
  r.rcode = rc;
  r.qtype = qtype;
  r.truncated = truncated;
  r.malformed = malformed;
  return r;
}

constexpr uint16_t edns_option_ede = 15;   // RFC 8914 §2
constexpr size_t max_ede_text = 200;
constexpr uint16_t ede_not_authoritative = 20;
constexpr uint16_t ede_not_ready = 14;

HandleResult finish(wire::PacketWriter& w, const wire::Query& q, const HandlerOptions& opts, uint16_t rc,
                    bool with_opt, uint16_t ede_code = no_ede, std::string_view ede_text = {}) {
  w.set_rcode(rc & 0x0F);
  if (with_opt) {
    // Our own payload size is advertised, whatever the client's (as Knot and NSD do).
    if (!w.put_opt(opts.max_udp_payload, uint8_t(rc >> 4), 0, q.edns.dnssec_ok)) {
      w.set_tc();
    } else if (ede_code != no_ede) {
      std::array<uint8_t, 2 + max_ede_text> ede{uint8_t(ede_code >> 8), uint8_t(ede_code)};
      size_t n = std::min(ede_text.size(), max_ede_text);
      std::copy_n(ede_text.begin(), n, ede.begin() + 2);
      (void)w.put_opt_option(edns_option_ede, {ede.data(), 2 + n});  // optional: skipped when it does not fit
    }
  }
  HandleResult r = response(w.size(), rc, q.qtype, w.tc(), false);
  r.empty_answer = w.count(wire::Section::answer) == 0;
  r.question_end = uint16_t(q.question_end);
  return r;
}

// Everything after the header, question and TSIG checks: the rcode and sections for `q`.
HandleResult answer_request(const zone::ZoneSet& zones, const wire::Query& q, wire::PacketWriter& w,
                            const HandlerOptions& opts, size_t tsig_room) noexcept {
  bool edns = q.edns.present;
  w.reserve((edns ? opt_rr_size : 0) + tsig_room);
  if (edns && q.edns.version > 0) return finish(w, q, opts, rcode::BADVERS, true);  // RFC 6891 §6.1.3
  if (q.qclass != wire::rrclass::IN) return finish(w, q, opts, rcode::REFUSED, edns);
  if (q.qtype == rrtype::IXFR && opts.transport == Transport::udp) {
    // RFC 1995 §2: over UDP, an IXFR that does not fit (here: every one) is answered with our
    // SOA alone; a client behind it retries over TCP, where the transfer rules apply. The SOA
    // is what any client may ask for anyway.
    const zone::Zone* z = zones.find_exact(q.qname_lower.view());
    if (!z) return finish(w, q, opts, zones.find_failed(q.qname_lower.view()) ? rcode::SERVFAIL : rcode::NOTAUTH, edns);
    w.set_aa(true);
    if (!w.put_rr(wire::Section::answer, z->origin(), rrtype::SOA, wire::rrclass::IN, z->soa().ttl, z->rdata(z->soa(), 0)))
      w.set_tc();
    HandleResult r = finish(w, q, opts, rcode::NOERROR, edns);
    r.zone = z;
    return r;
  }
  // AXFR is TCP only (RFC 5936 §4.2); transfers over TCP never reach this function.
  if (q.qtype == rrtype::AXFR || q.qtype == rrtype::IXFR) return finish(w, q, opts, rcode::REFUSED, edns);

  ZoneChoice choice = select_zone(zones, q);
  // A configured zone that could not be loaded: SERVFAIL, as Knot answers for it (RFC 8914
  // §4.15, "Not Ready": the server is not able to answer for it yet).
  if (choice.failed) return finish(w, q, opts, rcode::SERVFAIL, edns, ede_not_ready, "zone not loaded");
  const zone::Zone* z = choice.zone;
  // Never recurse for clients; say why, as Knot does (RFC 8914 §4.21, "Not Authoritative").
  if (!z) return finish(w, q, opts, rcode::REFUSED, edns, ede_not_authoritative);

  // RFC 4035 §3.2.1: DO=1 asks for the DNSSEC records; a signed zone then signs its answer.
  AnswerDnssec dnssec;
  std::optional<AnswerSigner> signer;
  if (z->options().dnssec && opts.signing.table) {
    dnssec.keys = opts.signing.table->find(z->origin());
    if (dnssec.keys && edns && q.edns.dnssec_ok) {
      uint64_t now_ms = opts.unix_now ? opts.unix_now * 1000 : unix_millis();
      dnssec.signer = &signer.emplace(opts.signing, *dnssec.keys, uint32_t(now_ms / 1000), now_ms);
    }
  }
  const wire::PacketWriter::Mark question = w.mark();
  AnswerResult a = answer_from_zone(zones, *z, q, w, opts.alias, dnssec);
  if (a.throttled || a.signing_failed) {
    // Past the signing budget: header and question with TC=1, so that a real resolver retries
    // over TCP (where no budget applies) and a flood of random names costs no signatures.
    w.rollback(question);
    if (a.throttled) {
      w.set_tc();
      if (opts.signing.stats) opts.signing.stats->throttled.add();
    }
    HandleResult r = finish(w, q, opts, a.throttled ? rcode::NOERROR : rcode::SERVFAIL, edns);
    r.zone = z;
    r.signing_throttled = a.throttled;
    r.reusable_until = resolver::TimePoint::min();
    return r;
  }
  if (a.state == AnswerState::needs_resolution) {
    HandleResult r;
    r.needs_resolution = true;
    r.qtype = q.qtype;
    r.target = a.target;
    r.target_type = a.target_type;
    return r;
  }
  w.set_aa(a.authoritative);
  HandleResult r = finish(w, q, opts, a.rcode, edns, a.ede_code, a.ede_text);
  r.zone = z;
  r.wildcard = a.wildcard;
  r.flattened = a.flattened;
  r.reusable_until = a.reusable_until;
  r.valid_until_unix = a.signatures_valid_until;
  return r;
}

}  // namespace

HandleResult handle_query(const zone::ZoneSet& zones, std::span<const uint8_t> request, std::span<uint8_t> out,
                          const HandlerOptions& opts) noexcept {
  wire::Query q;
  wire::ParseStatus st = wire::parse_query(request, q);
  if (st == wire::ParseStatus::drop || out.size() < wire::header_size) {
    HandleResult dropped;
    dropped.malformed = request.size() < wire::header_size;  // QR=1 is a response, not malformed
    return dropped;
  }

  wire::PacketWriter w(out, response_limit(q, opts, out.size()));
  if (q.header.opcode != wire::opcode::QUERY) {
    // An opcode we do not implement is NOTIMP whatever follows the header (RFC 1035 §4.1.1),
    // before any question or OPT check; the reply is the header alone with only ID, QR, opcode
    // and rcode set — no RD, no CD, no question (as BIND 9.18 answers; ISC genreport "opcode"
    // and "opcodeflg").
    wire::Header bare;
    bare.id = q.header.id;
    bare.opcode = q.header.opcode;
    w.begin_response(bare);
    w.set_rcode(rcode::NOTIMP);
    return response(w.size(), rcode::NOTIMP, q.qtype, false, false);  // qtype for metrics and logs
  }
  w.begin_response(q.header);

  if (st == wire::ParseStatus::formerr_noq) {
    w.set_rcode(rcode::FORMERR);
    return response(w.size(), rcode::FORMERR, 0, false, true);
  }
  if (!w.put_question(q.qname.view(), q.qtype, q.qclass)) {
    w.set_rcode(rcode::FORMERR);
    return response(w.size(), rcode::FORMERR, q.qtype, false, true);
  }
  if (st == wire::ParseStatus::formerr) {
    w.set_rcode(rcode::FORMERR);  // the OPT record may be the broken part: answer without one
    return response(w.size(), rcode::FORMERR, q.qtype, false, true);
  }
  // RFC 8945 §5.2: a signed request is verified before it is answered; a failure is answered
  // NOTAUTH with the TSIG error, and a request that verifies gets a signed answer (§5.3).
  std::optional<crypto::TsigVerifyResult> signed_by;
  uint64_t now = 0;
  if (q.has_tsig) {
    wire::TsigLookup tsig = wire::find_tsig(request);
    if (tsig.status != wire::TsigFind::found) {
      w.set_rcode(rcode::FORMERR);
      return response(w.size(), rcode::FORMERR, q.qtype, false, true);
    }
    now = opts.unix_now ? opts.unix_now : unix_seconds();
    crypto::TsigVerifyResult v = crypto::verify_request(request, tsig.record, opts.tsig_keys, now);
    if (v.status != crypto::TsigStatus::ok) {
      w.set_rcode(v.rcode());
      size_t n = crypto::append_error_tsig(out.first(w.limit()), w.size(), tsig.record, v, now);
      return response(n ? n : w.size(), v.rcode(), q.qtype, false, false);
    }
    signed_by = v;
  }
  HandleResult r = answer_request(zones, q, w, opts, signed_by ? crypto::tsig_max_rr_size(*signed_by->key) : 0);
  if (signed_by && !r.needs_resolution && r.size) {
    crypto::TsigSigner signer(*signed_by->key, signed_by->request_mac.view());
    size_t n = signer.sign(out.first(w.limit()), r.size, now);
    if (n) r.size = n;
    r.reusable_until = resolver::TimePoint::min();  // signed with a time: never replayed from a cache
  }
  return r;
}

}  // namespace apexd::server
