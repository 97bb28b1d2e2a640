// Tests for crypto/rrsig: canonical RDATA (RFC 4034 §6.2, RFC 6840 §5.1), canonical RRset order
// (§6.3), the Labels field (§3.1.3), the RRSIG fields; then signatures made by our code, checked
// by an independent validator (ldns_verify_rrsig_keylist_time) for ECDSA P-256 and Ed25519.
#include "crypto/rrsig.hpp"

#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "crypto/dnssec_key.hpp"
#include "server/online_signer.hpp"
#include "support/dns_test.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using crypto::DnssecAlgorithm;
using Bytes = std::vector<uint8_t>;
namespace rrtype = wire::rrtype;

namespace {

constexpr uint32_t now = 1796297000;

// One RR parsed by ldns from zone-file text: its type and uncompressed RDATA, letter case kept.
struct Parsed {
  uint16_t type = 0;
  Bytes rdata;
};

Parsed parse_rr(const std::string& text) {
  ldns_rr* rr = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&rr, text.c_str(), 300, nullptr, nullptr);
  REQUIRE_MESSAGE(st == LDNS_STATUS_OK, "ldns cannot parse '" << text << "': " << ldns_get_errorstr_by_id(st));
  ldns_buffer* buf = ldns_buffer_new(4096);
  REQUIRE(ldns_rr_rdata2buffer_wire(buf, rr) == LDNS_STATUS_OK);
  Parsed p;
  p.type = uint16_t(ldns_rr_get_type(rr));
  p.rdata.assign(ldns_buffer_begin(buf), ldns_buffer_begin(buf) + ldns_buffer_position(buf));
  ldns_buffer_free(buf);
  ldns_rr_free(rr);
  return p;
}

std::string as_string(std::span<const uint8_t> b) { return std::string(b.begin(), b.end()); }

// An ldns RR from wire pieces (owner uncompressed).
ldns_rr* rr_from_wire(const std::string& owner, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata) {
  Bytes w(owner.begin(), owner.end());
  test::put_u16(w, type);
  test::put_u16(w, wire::rrclass::IN);
  test::put_u16(w, uint16_t(ttl >> 16));
  test::put_u16(w, uint16_t(ttl));
  test::put_u16(w, uint16_t(rdata.size()));
  w.insert(w.end(), rdata.begin(), rdata.end());
  ldns_rr* rr = nullptr;
  size_t pos = 0;
  REQUIRE(ldns_wire2rr(&rr, w.data(), w.size(), &pos, LDNS_SECTION_ANSWER) == LDNS_STATUS_OK);
  return rr;
}

// The keys' DNSKEY RRs at `origin`, as ldns wants them.
struct KeyList {
  ldns_rr_list* list = ldns_rr_list_new();
  KeyList(const std::string& origin, const std::vector<std::vector<uint8_t>>& dnskeys) {
    for (const auto& k : dnskeys) ldns_rr_list_push_rr(list, rr_from_wire(origin, rrtype::DNSKEY, 3600, k));
  }
  ~KeyList() { ldns_rr_list_deep_free(list); }
  KeyList(const KeyList&) = delete;
  KeyList& operator=(const KeyList&) = delete;
};

// Every RRSIG in a message checked by ldns against the RRset it covers (same section, owner and
// type): how many there are, and the ldns errors of those that do not verify.
struct LdnsCheck {
  size_t rrsigs = 0;
  std::vector<std::string> errors;
};

LdnsCheck ldns_check(std::span<const uint8_t> msg, const std::string& origin,
                     const std::vector<std::vector<uint8_t>>& dnskeys, time_t at = now) {
  LdnsCheck out;
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, msg.data(), msg.size()) == LDNS_STATUS_OK);
  KeyList keys(origin, dnskeys);
  for (ldns_rr_list* section : {ldns_pkt_answer(pkt), ldns_pkt_authority(pkt), ldns_pkt_additional(pkt)}) {
    for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
      ldns_rr* sig = ldns_rr_list_rr(section, i);
      if (ldns_rr_get_type(sig) != LDNS_RR_TYPE_RRSIG) continue;
      ++out.rrsigs;
      ldns_rr_type covered = ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(sig));
      ldns_rr_list* rrset = ldns_rr_list_new();
      for (size_t k = 0; k < ldns_rr_list_rr_count(section); ++k) {
        ldns_rr* rr = ldns_rr_list_rr(section, k);
        if (ldns_rr_get_type(rr) == covered && ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(sig)) == 0)
          ldns_rr_list_push_rr(rrset, ldns_rr_clone(rr));
      }
      ldns_status st = ldns_verify_rrsig_keylist_time(rrset, sig, keys.list, at, nullptr);
      if (st != LDNS_STATUS_OK) {
        ldns_rr* copy = ldns_rr_clone(sig);
        out.errors.push_back(test::rr_to_text(copy, false) + ": " + ldns_get_errorstr_by_id(st));
        ldns_rr_free(copy);
      }
      ldns_rr_list_deep_free(rrset);
    }
  }
  ldns_pkt_free(pkt);
  return out;
}

std::shared_ptr<const crypto::SigningKey> new_key(const test::TempDir& dir, const std::string& origin,
                                                  DnssecAlgorithm alg, uint16_t flags) {
  std::string d = dir.path().string();
  return crypto::SigningKey::read(d + "/" + crypto::generate_key(d, test::view(origin), alg, flags, now), test::view(origin));
}

}  // namespace

// ---- canonical form ----------------------------------------------------------------------------

TEST_CASE("rrsig canonical_rdata: names in RDATA lowercased for RFC 4034 §6.2's types, minus NSEC") {
  const char* sig_b64 = "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==";
  struct Case {
    std::string rr, canonical;  // zone-file type and RDATA: as loaded, and in canonical form
  } cases[] = {
      {"MX 10 Mail.Example.COM.", "MX 10 mail.example.com."},
      {"SOA NS1.Example. HostMaster.EXAMPLE. 1 7200 3600 1209600 300",
       "SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300"},
      {"NS NS1.Example.COM.", "NS ns1.example.com."},
      {"CNAME WWW.Example.", "CNAME www.example."},
      {"PTR Host.Example.", "PTR host.example."},
      {"DNAME Target.EXAMPLE.", "DNAME target.example."},
      {"SRV 0 5 5060 SIP.Example.COM.", "SRV 0 5 5060 sip.example.com."},
      // NAPTR: the three strings keep their case, the replacement name is lowercased.
      {"NAPTR 100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:Info@Example.com!\" _SIP._UDP.Example.COM.",
       "NAPTR 100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:Info@Example.com!\" _sip._udp.example.com."},
      {"NAPTR 100 10 \"\" \"\" \"\" Host.Example.", "NAPTR 100 10 \"\" \"\" \"\" host.example."},
      {std::string("RRSIG A 13 2 300 20250101000000 20240101000000 12345 Example.COM. ") + sig_b64,
       std::string("RRSIG A 13 2 300 20250101000000 20240101000000 12345 example.com. ") + sig_b64},
      {"AFSDB 1 AFS.Example.", "AFSDB 1 afs.example."},
      {"RT 10 Relay.Example.", "RT 10 relay.example."},
      {"KX 10 KX.Example.", "KX 10 kx.example."},
      {"RP Mbox.Example. TXT.Example.", "RP mbox.example. txt.example."},
      {"MINFO RMail.Example. EMail.Example.", "MINFO rmail.example. email.example."},
      {"PX 10 Map822.Example. MapX400.Example.", "PX 10 map822.example. mapx400.example."},
      // RFC 6840 §5.1: the NSEC next name is left as it is (RFC 3755 removed NSEC from the list).
      {"NSEC Next.Example.COM. A RRSIG NSEC", "NSEC Next.Example.COM. A RRSIG NSEC"},
      // Types without names, or whose names are not canonicalized, are copied as they are.
      {"TXT \"Mixed Case\" \"ABC\"", "TXT \"Mixed Case\" \"ABC\""},
      {"HINFO \"PDP-11\" \"UNIX\"", "HINFO \"PDP-11\" \"UNIX\""},
      {"CAA 0 issue \"LetsEncrypt.ORG\"", "CAA 0 issue \"LetsEncrypt.ORG\""},
      {"A 192.0.2.1", "A 192.0.2.1"},
      {"DS 12345 13 2 ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
       "DS 12345 13 2 ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"},
  };
  std::string owner = test::wire_name("x.");
  for (const Case& c : cases) {
    CAPTURE(c.rr);
    Parsed in = parse_rr("x. 300 IN " + c.rr);
    Bytes out(in.rdata.size() + 8, 0xEE);
    size_t n = crypto::canonical_rdata(in.type, in.rdata, out);
    REQUIRE(n == in.rdata.size());
    out.resize(n);
    CHECK(test::wire_rr_text(owner, in.type, 1, 300, as_string(out)) == test::normalize_rr("x. 300 IN " + c.canonical, false));
    CHECK(out == parse_rr("x. 300 IN " + c.canonical).rdata);
  }
}

TEST_CASE("rrsig canonical_rdata: malformed RDATA or too little room is 0") {
  struct Case {
    const char* what;
    uint16_t type;
    Bytes rdata;
    size_t room;
  } cases[] = {
      {"MX whose name runs past the end", rrtype::MX, {0, 10, 5, 'a', 'b'}, 64},
      {"NS without a root label", rrtype::NS, {1, 'a'}, 64},
      {"NS with a compression pointer", rrtype::NS, {0xC0, 0x0C}, 64},
      {"MX too short for its name", rrtype::MX, {0, 10}, 64},
      {"SOA with only one name", rrtype::SOA, {1, 'a', 0}, 64},
      {"NAPTR whose strings run past the end", rrtype::NAPTR, {0, 1, 0, 1, 1, 'S', 9, 'x'}, 64},
      {"room for less than the RDATA", rrtype::A, {192, 0, 2, 1}, 3},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    Bytes out(c.room);
    CHECK(crypto::canonical_rdata(c.type, c.rdata, out) == 0);
  }
}

TEST_CASE("rrsig put_canonical_rrset: RRs in canonical order, duplicates once (RFC 4034 §6.3)") {
  struct Case {
    const char* what;
    uint16_t type;
    std::vector<Bytes> rdatas;
    std::vector<Bytes> expected;  ///< canonical RDATA in the order written
  } cases[] = {
      {"A sorted", rrtype::A, {{192, 0, 2, 3}, {192, 0, 2, 1}, {192, 0, 2, 2}}, {{192, 0, 2, 1}, {192, 0, 2, 2}, {192, 0, 2, 3}}},
      {"A duplicate dropped", rrtype::A, {{192, 0, 2, 1}, {10, 0, 0, 1}, {192, 0, 2, 1}}, {{10, 0, 0, 1}, {192, 0, 2, 1}}},
      {"a shorter prefix sorts first", 65280, {{1, 2, 3}, {1, 3}, {1, 2}}, {{1, 2}, {1, 2, 3}, {1, 3}}},
      {"unsigned octets: 0x80 after 0x7F", 65280, {{0x80}, {0x7F}}, {{0x7F}, {0x80}}},
      {"MX lowercased before sorting, then equal ones once", rrtype::MX,
       {{0, 20, 1, 'B', 0}, {0, 10, 1, 'a', 0}, {0, 20, 1, 'b', 0}, {0, 10, 1, 'A', 0}},
       {{0, 10, 1, 'a', 0}, {0, 20, 1, 'b', 0}}},
      {"MX compared after lowercasing: 'B' (0x42) sorts after 'a'", rrtype::MX,
       {{0, 10, 1, 'B', 0}, {0, 10, 1, 'a', 0}}, {{0, 10, 1, 'a', 0}, {0, 10, 1, 'b', 0}}},
      {"TXT keeps case: 'B' before 'a'", rrtype::TXT, {{1, 'a'}, {1, 'B'}}, {{1, 'B'}, {1, 'a'}}},
      {"one RR", rrtype::A, {{192, 0, 2, 1}}, {{192, 0, 2, 1}}},
      {"no RR", rrtype::A, {}, {}},
  };
  std::string owner = test::wire_name("www.example.com.");
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    std::vector<std::span<const uint8_t>> spans(c.rdatas.begin(), c.rdatas.end());
    Bytes out(4096, 0xEE);
    out[0] = 0x11;  // the prefix before `at` is left alone
    size_t end = crypto::put_canonical_rrset(test::view(owner), c.type, 0x01020304, spans, out, 1);
    Bytes expected{0x11};
    for (const Bytes& r : c.expected) {
      expected.insert(expected.end(), owner.begin(), owner.end());
      test::put_u16(expected, c.type);
      test::put_u16(expected, 1);
      test::put_u16(expected, 0x0102);
      test::put_u16(expected, 0x0304);
      test::put_u16(expected, uint16_t(r.size()));
      expected.insert(expected.end(), r.begin(), r.end());
    }
    if (c.expected.empty()) {
      CHECK(end == 1);
    } else {
      REQUIRE(end == expected.size());
    }
    out.resize(end ? end : 1);
    CHECK(out == expected);
  }
}

TEST_CASE("rrsig put_canonical_rrset: 0 when it does not fit or an RDATA is malformed") {
  std::string owner = test::wire_name("example.com.");
  Bytes a{192, 0, 2, 1}, b{192, 0, 2, 2};
  std::vector<std::span<const uint8_t>> two{a, b};
  const size_t one_rr = owner.size() + 10 + 4;
  Bytes out(2 * one_rr + 5);
  CHECK(crypto::put_canonical_rrset(test::view(owner), rrtype::A, 300, two, out, 5) == out.size());
  CHECK(crypto::put_canonical_rrset(test::view(owner), rrtype::A, 300, two, out, 6) == 0);
  CHECK(crypto::put_canonical_rrset(test::view(owner), rrtype::A, 300, two, std::span<uint8_t>(out).first(one_rr), 0) == 0);
  Bytes bad_mx{0, 10, 7, 'b', 'r', 'o', 'k', 'e', 'n'};
  std::vector<std::span<const uint8_t>> bad{bad_mx};
  CHECK(crypto::put_canonical_rrset(test::view(owner), rrtype::MX, 300, bad, out, 0) == 0);
  // A big RRset grows the scratch space (more than its first 4096 bytes).
  std::vector<Bytes> many;
  for (int i = 0; i < 300; ++i) many.push_back(Bytes(20, uint8_t(i)));
  std::vector<std::span<const uint8_t>> spans(many.begin(), many.end());
  Bytes big(300 * (owner.size() + 10 + 20) + 10);
  size_t end = crypto::put_canonical_rrset(test::view(owner), 65280, 300, spans, big, 0);
  CHECK(end == 256 * (owner.size() + 10 + 20));  // bytes 0..255: 44 of the 300 repeat
}

TEST_CASE("rrsig rrsig_labels: RFC 4034 §3.1.3 (a leading * does not count)") {
  struct Case {
    const char* name;
    uint8_t labels;
  } cases[] = {
      {".", 0}, {"*.", 0}, {"com.", 1}, {"example.com.", 2}, {"www.example.com.", 3},
      {"*.a.example.", 2}, {"*.example.com.", 2}, {"a.*.example.", 3}, {"**.example.", 2}, {"\\*.example.", 1},
  };
  for (const Case& c : cases) {
    INFO("c.name := " << std::string(c.name));
    std::string n = test::wire_name(c.name);
    CHECK(int(crypto::rrsig_labels(test::view(n))) == int(c.labels));
  }
}

TEST_CASE("rrsig put_rrsig_fields: RFC 4034 §3.1 layout, the signer name lowercased") {
  std::string signer = test::wire_name("Example.COM.");
  crypto::RrsigFields f{.type_covered = rrtype::MX,
                        .algorithm = 13,
                        .labels = 2,
                        .original_ttl = 3600,
                        .expiration = 0x5F000001,
                        .inception = 0x5E000002,
                        .key_tag = 0xABCD,
                        .signer = test::view(signer)};
  Bytes out(64, 0xEE);
  size_t n = crypto::put_rrsig_fields(f, out);
  REQUIRE(n == crypto::rrsig_fixed_size + signer.size());
  Bytes expected{0, 15, 13, 2, 0, 0, 0x0e, 0x10, 0x5F, 0, 0, 1, 0x5E, 0, 0, 2, 0xAB, 0xCD};
  std::string lower = test::wire_name("example.com.");
  expected.insert(expected.end(), lower.begin(), lower.end());
  out.resize(n);
  CHECK(out == expected);
  CHECK(crypto::rrsig_times_offset == 8);
  Bytes small(n - 1);
  CHECK(crypto::put_rrsig_fields(f, small) == 0);
}

// ---- independent validation --------------------------------------------------------------------

TEST_CASE("rrsig signatures by our code verify with ldns (ECDSA P-256 and Ed25519)") {
  // Each RRset is signed two ways: the signed data built by hand from put_rrsig_fields +
  // put_canonical_rrset (as AnswerSigner does), and through AnswerSigner into a PacketWriter.
  struct Case {
    const char* what;
    const char* written_owner;  ///< as the RRs are written
    const char* signed_owner;   ///< lowercase; a wildcard's name for an expansion
    std::vector<std::string> rdatas;  ///< zone-file RDATA, as the zone holds them (letter case kept)
    uint16_t type;
  } cases[] = {
      {"A at a mixed-case owner", "WwW.ExAmple.COM.", "www.example.com.", {"192.0.2.2", "192.0.2.1"}, rrtype::A},
      {"MX whose targets have capitals", "Example.COM.", "example.com.",
       {"20 Backup.Example.NET.", "10 Mail.Example.COM."}, rrtype::MX},
      {"NS with capitals", "example.com.", "example.com.", {"NS2.example.com.", "ns1.EXAMPLE.com."}, rrtype::NS},
      {"SOA with capitals", "example.com.", "example.com.",
       {"NS1.Example.COM. HostMaster.Example.COM. 2024010101 7200 3600 1209600 300"}, rrtype::SOA},
      {"SRV", "_sip._udp.Example.com.", "_sip._udp.example.com.", {"0 5 5060 SIP.Example.COM."}, rrtype::SRV},
      {"TXT keeps its case", "txt.example.com.", "txt.example.com.", {"\"Hello World\"", "\"ABC\""}, rrtype::TXT},
      {"CNAME", "Alias.example.com.", "alias.example.com.", {"WWW.Example.com."}, rrtype::CNAME},
      {"NSEC whose next name has capitals (RFC 6840 §5.1: left as it is)", "nx.example.com.", "nx.example.com.",
       {"\\000.NX.example.com. A RRSIG NSEC"}, rrtype::NSEC},
      {"wildcard expansion signed as *.wild (labels 3)", "Host.Wild.Example.COM.", "*.wild.example.com.",
       {"192.0.2.40"}, rrtype::A},
      {"AAAA RRset of three", "v6.example.com.", "v6.example.com.", {"2001:db8::3", "2001:db8::1", "2001:db8::2"},
       rrtype::AAAA},
  };
  test::TempDir dir;
  std::string origin = test::wire_name("example.com.");
  for (DnssecAlgorithm alg : {DnssecAlgorithm::ecdsap256sha256, DnssecAlgorithm::ed25519}) {
    auto key = new_key(dir, origin, alg, 257);
    server::ZoneKeys keys = server::make_zone_keys(test::view(origin), {key});
    for (const Case& c : cases) {
      CAPTURE(int(alg));
      INFO("c.what := " << std::string(c.what));
      std::string written = test::wire_name(c.written_owner), signed_as = test::wire_name(c.signed_owner);
      std::vector<Bytes> rdatas;
      for (const std::string& r : c.rdatas)
        rdatas.push_back(parse_rr(std::string(c.written_owner) + " 300 IN " + wire::type_to_text(c.type) + " " + r).rdata);
      std::vector<std::span<const uint8_t>> spans(rdatas.begin(), rdatas.end());

      // 1. By hand: fields | canonical RRset, signed; RRSIG RDATA = fields | signature.
      crypto::RrsigFields f{.type_covered = c.type,
                            .algorithm = uint8_t(alg),
                            .labels = crypto::rrsig_labels(test::view(signed_as)),
                            .original_ttl = 300,
                            .expiration = now + 86400,
                            .inception = now - 3600,
                            .key_tag = key->tag(),
                            .signer = test::view(origin)};
      Bytes data(8192);
      size_t fields = crypto::put_rrsig_fields(f, data);
      REQUIRE(fields > 0);
      size_t end = crypto::put_canonical_rrset(test::view(signed_as), c.type, 300, spans, data, fields);
      REQUIRE(end > 0);
      std::array<uint8_t, crypto::max_signature_size> sig{};
      size_t n = key->sign(std::span<const uint8_t>(data).first(end), sig);
      REQUIRE(n == 64);
      Bytes rrsig(data.begin(), data.begin() + ptrdiff_t(fields));
      rrsig.insert(rrsig.end(), sig.begin(), sig.begin() + ptrdiff_t(n));
      {
        KeyList kl(origin, keys.dnskey);
        ldns_rr_list* rrset = ldns_rr_list_new();
        for (const Bytes& r : rdatas) ldns_rr_list_push_rr(rrset, rr_from_wire(written, c.type, 300, r));
        ldns_rr* sig_rr = rr_from_wire(written, rrtype::RRSIG, 300, rrsig);
        ldns_status st = ldns_verify_rrsig_keylist_time(rrset, sig_rr, kl.list, now, nullptr);
        CHECK_MESSAGE(st == LDNS_STATUS_OK, ldns_get_errorstr_by_id(st));
        // The time fields matter: ldns refuses the signature once it has expired.
        CHECK(ldns_verify_rrsig_keylist_time(rrset, sig_rr, kl.list, now + 2 * 86400, nullptr) != LDNS_STATUS_OK);
        ldns_rr_free(sig_rr);
        ldns_rr_list_deep_free(rrset);
      }

      // 2. Through AnswerSigner, into a message, as an answer is written.
      for (bool corrupt : {false, true}) {
        CAPTURE(corrupt);
        server::SigningContext ctx{.corrupt = corrupt};
        server::AnswerSigner signer(ctx, keys, now);
        std::vector<uint8_t> buf(4096);
        wire::PacketWriter w(buf, buf.size());
        w.begin_response(wire::Header{.id = 7});
        for (const Bytes& r : rdatas)
          REQUIRE(w.put_rr(wire::Section::answer, test::view(written), c.type, wire::rrclass::IN, 300, r));
        REQUIRE(signer.sign(w, wire::Section::answer, test::view(written), test::view(signed_as), c.type, 300, 300,
                            spans) == server::AnswerSigner::Status::written);
        CHECK(w.count(wire::Section::answer) == rdatas.size() + 1);
        LdnsCheck check = ldns_check(w.data(), origin, keys.dnskey);
        CHECK(check.rrsigs == 1);
        if (corrupt) {
          CHECK(check.errors.size() == 1);  // the test hook flips a byte of the signature
        } else {
          CHECK(check.errors == std::vector<std::string>{});
        }
      }
    }
  }
}

TEST_CASE("rrsig a signature made for one RRset does not verify another (ldns)") {
  // What the signature covers: owner, type, TTL, every RDATA.
  test::TempDir dir;
  std::string origin = test::wire_name("example.com.");
  auto key = new_key(dir, origin, DnssecAlgorithm::ecdsap256sha256, 257);
  server::ZoneKeys keys = server::make_zone_keys(test::view(origin), {key});
  std::string owner = test::wire_name("www.example.com.");
  Bytes a1{192, 0, 2, 1}, a2{192, 0, 2, 2};
  std::vector<std::span<const uint8_t>> both{a1, a2};
  server::SigningContext ctx;
  server::AnswerSigner signer(ctx, keys, now);
  std::vector<uint8_t> buf(4096);
  wire::PacketWriter w(buf, buf.size());
  w.begin_response(wire::Header{.id = 7});
  REQUIRE(signer.sign(w, wire::Section::answer, test::view(owner), test::view(owner), rrtype::A, 300, 300, both) ==
          server::AnswerSigner::Status::written);
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, w.data().data(), w.size()) == LDNS_STATUS_OK);
  ldns_rr* sig = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_answer(pkt), 0));
  ldns_pkt_free(pkt);
  KeyList kl(origin, keys.dnskey);

  struct Case {
    const char* what;
    std::string owner;
    std::vector<Bytes> rdatas;
    uint32_t ttl;
    bool verifies;
  } cases[] = {
      {"the RRset signed", owner, {a1, a2}, 300, true},
      {"in the other order", owner, {a2, a1}, 300, true},
      {"in other letter case", test::wire_name("WWW.example.COM."), {a1, a2}, 300, true},
      {"with a lower TTL (RFC 4035 §5.3.3: the original TTL is signed)", owner, {a1, a2}, 60, true},
      {"one RR missing", owner, {a1}, 300, false},
      {"one RR more", owner, {a1, a2, Bytes{192, 0, 2, 3}}, 300, false},
      {"another owner", test::wire_name("ftp.example.com."), {a1, a2}, 300, false},
  };
  for (const Case& c : cases) {
    INFO("c.what := " << std::string(c.what));
    ldns_rr_list* rrset = ldns_rr_list_new();
    for (const Bytes& r : c.rdatas) ldns_rr_list_push_rr(rrset, rr_from_wire(c.owner, rrtype::A, c.ttl, r));
    ldns_rr* s = ldns_rr_clone(sig);
    ldns_rdf* old_owner = ldns_rr_owner(s);
    ldns_rr_set_owner(s, ldns_rdf_clone(ldns_rr_owner(ldns_rr_list_rr(rrset, 0))));
    ldns_rdf_deep_free(old_owner);
    ldns_status st = ldns_verify_rrsig_keylist_time(rrset, s, kl.list, now, nullptr);
    CHECK((st == LDNS_STATUS_OK) == c.verifies);
    ldns_rr_free(s);
    ldns_rr_list_deep_free(rrset);
  }
  ldns_rr_free(sig);
}
