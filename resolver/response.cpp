// Upstream response parsing: bounded, allocation only for the resulting addresses.
#include "resolver/response.hpp"

#include <algorithm>
#include <array>

#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

namespace apexd::resolver {

namespace rrtype = wire::rrtype;
namespace rcode = wire::rcode;

size_t build_query(std::span<uint8_t> out, uint16_t id, wire::NameView name, uint16_t type) {
  wire::PacketWriter w(out, out.size());
  if (out.size() < wire::header_size) return 0;
  w.begin_query(id, true);
  if (!w.put_question(name, type, wire::rrclass::IN)) return 0;
  if (!w.put_opt(1232, 0, 0, false)) return 0;
  return w.size();
}

namespace {

constexpr size_t max_answer_rrs = 64;  // more than any sane address answer; the rest is ignored

struct Rr {
  wire::NameBuf owner;  // lowercase
  uint16_t type;
  uint32_t ttl;
  size_t rdata_at;
  uint16_t rdlen;
};

Resolution failure(uint16_t code, std::string text) {
  Resolution r;
  r.outcome = Outcome::failure;
  r.ede_code = code;
  r.ede_text = std::move(text);
  return r;
}

bool read_rr(wire::Reader& r, Rr& out) {
  uint16_t cls;
  if (!r.name(out.owner) || !r.u16(out.type) || !r.u16(cls) || !r.u32(out.ttl) || !r.u16(out.rdlen)) return false;
  wire::name_to_lower(out.owner.view(), out.owner.data.data());
  out.rdata_at = r.pos();
  if (out.ttl > 0x7FFFFFFF) out.ttl = 0;  // RFC 2181 §8: the top bit set means zero
  return r.skip(out.rdlen);
}

// Negative TTL from the authority SOA: min(SOA TTL, MINIMUM) (RFC 2308 §5).
uint32_t negative_ttl(std::span<const uint8_t> pkt, const Rr* auth, size_t nauth) {
  for (size_t i = 0; i < nauth; ++i) {
    if (auth[i].type != rrtype::SOA) continue;
    wire::Reader r(pkt, auth[i].rdata_at);
    wire::NameBuf mname, rname;
    uint32_t serial, refresh, retry, expire, minimum;
    if (!r.name(mname) || !r.name(rname) || !r.u32(serial) || !r.u32(refresh) || !r.u32(retry) ||
        !r.u32(expire) || !r.u32(minimum))
      return 0;
    return std::min(auth[i].ttl, minimum);
  }
  return 0;
}

}  // namespace

ParsedResponse parse_response(std::span<const uint8_t> pkt, uint16_t id, wire::NameView name, uint16_t type) {
  ParsedResponse out;
  if (pkt.size() < wire::header_size) return out;
  wire::Header h = wire::parse_header(pkt);
  if (!h.qr || h.id != id || h.qdcount != 1) return out;
  wire::Reader r(pkt, wire::header_size);
  wire::NameBuf qname;
  uint16_t qtype, qclass;
  if (!r.name(qname) || !r.u16(qtype) || !r.u16(qclass)) return out;
  if (qtype != type || qclass != wire::rrclass::IN || !wire::name_equal(qname.view(), name)) return out;

  if (pkt[2] & 0x02) {
    out.kind = ResponseKind::truncated;
    return out;
  }
  out.kind = ResponseKind::answered;
  uint16_t rc = pkt[3] & 0x0F;
  if (rc != rcode::NOERROR && rc != rcode::NXDOMAIN) {
    out.resolution = failure(ede::network_error, "upstream answered " + wire::rcode_to_text(rc));
    return out;
  }

  std::array<Rr, max_answer_rrs> answers;
  std::array<Rr, 8> authority;
  size_t nans = 0, nauth = 0;
  for (uint16_t i = 0; i < h.ancount; ++i) {
    Rr rr;
    if (!read_rr(r, rr)) {
      out.resolution = failure(ede::invalid_data, "malformed upstream answer");
      return out;
    }
    if (nans < answers.size()) answers[nans++] = rr;
  }
  for (uint16_t i = 0; i < h.nscount; ++i) {
    Rr rr;
    if (!read_rr(r, rr)) break;  // the answer section is what matters
    if (nauth < authority.size()) authority[nauth++] = rr;
  }

  // Follow the chain from the queried name through the answer section.
  wire::NameBuf cur;
  cur.assign(name);
  wire::name_to_lower(cur.view(), cur.data.data());
  uint32_t chain_ttl = UINT32_MAX;
  for (size_t link = 0; link <= max_chain_links; ++link) {
    Resolution res;
    res.outcome = Outcome::addresses;
    res.ttl = chain_ttl;
    for (size_t i = 0; i < nans; ++i) {
      const Rr& a = answers[i];
      if (a.type != type || !wire::name_equal(a.owner.view(), cur.view())) continue;
      size_t want = type == rrtype::A ? 4 : 16;
      if (a.rdlen != want) {
        out.resolution = failure(ede::invalid_data, "malformed address in upstream answer");
        return out;
      }
      res.rdata.emplace_back(reinterpret_cast<const char*>(pkt.data() + a.rdata_at), a.rdlen);
      res.ttl = std::min(res.ttl, a.ttl);
    }
    if (!res.rdata.empty()) {
      out.resolution = std::move(res);
      return out;
    }
    const Rr* cname = nullptr;
    for (size_t i = 0; i < nans && !cname; ++i)
      if (answers[i].type == rrtype::CNAME && wire::name_equal(answers[i].owner.view(), cur.view())) cname = &answers[i];
    if (!cname) break;
    wire::Reader tr(pkt, cname->rdata_at);
    wire::NameBuf target;
    if (!tr.name(target)) {
      out.resolution = failure(ede::invalid_data, "malformed CNAME in upstream answer");
      return out;
    }
    wire::name_to_lower(target.view(), target.data.data());
    chain_ttl = std::min(chain_ttl, cname->ttl);
    if (wire::name_equal(target.view(), name)) {
      out.resolution = failure(ede::other, "CNAME loop at " + wire::name_to_text(name));
      return out;
    }
    cur = target;
    if (link == max_chain_links) {
      out.resolution = failure(ede::other, "CNAME chain too long at " + wire::name_to_text(name));
      return out;
    }
  }

  bool chain_moved = !wire::name_equal(cur.view(), name);
  bool has_soa = std::any_of(authority.begin(), authority.begin() + nauth, [](const Rr& a) { return a.type == rrtype::SOA; });
  if (rc == rcode::NOERROR && chain_moved && !has_soa) {
    out.kind = ResponseKind::follow;  // e.g. an authoritative upstream that stops at its zone's edge
    out.next = cur;
    out.chain_ttl = chain_ttl;
    return out;
  }
  Resolution neg;
  neg.outcome = rc == rcode::NXDOMAIN ? Outcome::nxdomain : Outcome::nodata;
  neg.ttl = std::min(chain_ttl, negative_ttl(pkt, authority.data(), nauth));
  neg.cacheable = has_soa;  // RFC 2308 §5: without an SOA there is no TTL to cache it for
  out.resolution = std::move(neg);
  return out;
}

}  // namespace apexd::resolver
