// Tests for xfr/axfr_out: a zone streamed as AXFR messages is the zone, SOA first and last, split
// over messages of any size, with flattened and proxied names replaced and their origin hidden.
#include "xfr/axfr_out.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using test::view;

namespace {

const std::string origin = test::wire_name("example.test.");

const char* zone_text = R"($ORIGIN example.test.
$TTL 3600
@ SOA ns1 hostmaster 7 7200 3600 1209600 300
@ NS ns1
@ CNAME app.platform.test.
@ MX 10 mail
ns1 A 192.0.2.1
mail A 192.0.2.2
shop A 192.0.2.50 ; cf_tags=cf-proxied:true
shop TXT "kept"
*.wild TXT "wild"
sub NS ns.sub
ns.sub A 192.0.2.53
)";

std::shared_ptr<const zone::Zone> make_zone(const std::string& text = zone_text) {
  auto records = zone::load_zone_text(text, view(origin), "example.test.zone");
  return zone::compile_zone(view(origin), std::move(records), "example.test.zone");
}

// Every answer RR of every message, in order, as canonical ldns text.
struct Stream {
  std::vector<std::string> rrs;
  size_t messages = 0;
  bool questions_ok = true;
};

Stream run(xfr::AxfrWriter& w, size_t limit) {
  auto request = test::make_query("example.test.", wire::rrtype::AXFR);
  wire::Query q;
  REQUIRE(wire::parse_query(request, q) == wire::ParseStatus::ok);
  std::vector<uint8_t> buf(65535);
  Stream s;
  for (size_t len; (len = w.next(buf, limit, 0, q)) != 0;) {
    REQUIRE(len <= limit);
    ldns_pkt* pkt = nullptr;
    REQUIRE(ldns_wire2pkt(&pkt, buf.data(), len) == LDNS_STATUS_OK);
    CHECK(ldns_pkt_aa(pkt));
    CHECK(ldns_pkt_id(pkt) == 0x2a2a);
    // RFC 5936 §2.2.1: the question in the first message (and, here, only there).
    s.questions_ok &= ldns_rr_list_rr_count(ldns_pkt_question(pkt)) == (s.messages == 0 ? 1u : 0u);
    ldns_rr_list* an = ldns_pkt_answer(pkt);
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); ++i) {
      ldns_rr* copy = ldns_rr_clone(ldns_rr_list_rr(an, i));
      s.rrs.push_back(test::rr_to_text(copy, true));
      ldns_rr_free(copy);
    }
    ldns_pkt_free(pkt);
    ++s.messages;
  }
  return s;
}

bool has(const std::vector<std::string>& rrs, const std::string& text) {
  return std::find(rrs.begin(), rrs.end(), text) != rrs.end();
}

}  // namespace

TEST_CASE("AXFR out: SOA first and last, every record once, the same over any message size") {
  auto z = make_zone();
  std::vector<std::string> reference;
  for (size_t limit : {65535u, 512u, 200u, 120u}) {
    xfr::AxfrWriter w(z, {});
    Stream s = run(w, limit);
    INFO("limit ", limit);
    REQUIRE(s.rrs.size() >= 3);
    CHECK(s.rrs.front().find("\tSOA\t") != std::string::npos);
    CHECK(s.rrs.back() == s.rrs.front());
    CHECK(std::count(s.rrs.begin(), s.rrs.end(), s.rrs.front()) == 2);
    CHECK(s.questions_ok);
    CHECK(w.records() == s.rrs.size());
    CHECK(w.messages() == s.messages);
    CHECK_FALSE(w.failed());
    if (limit < 300) CHECK(s.messages > 1);
    if (reference.empty()) reference = s.rrs;
    CHECK(s.rrs == reference);  // splitting changes nothing but the message boundaries
  }
  CHECK(has(reference, "ns.sub.example.test.\t3600\tIN\tA\t192.0.2.53"));  // glue goes with the zone
  CHECK(has(reference, "*.wild.example.test.\t3600\tIN\tTXT\t\"wild\""));
  CHECK(has(reference, "shop.example.test.\t3600\tIN\tTXT\t\"kept\""));
}

TEST_CASE("AXFR out: flattened and proxied names are sent as they are answered; origins never leave") {
  auto z = make_zone();
  xfr::Replacements repl;
  for (uint32_t i = 0; i < z->nodes().size(); ++i) {
    const zone::Node& n = z->nodes()[i];
    if (n.flags & zone::node_flattened)
      repl[i] = {{wire::rrtype::A, 300, {std::string("\xc6\x33\x64\x07", 4)}}};  // 198.51.100.7
    if (n.flags & zone::node_proxied)
      repl[i] = {{wire::rrtype::A, 120, {std::string("\xcb\x00\x71\x0a", 4)}}};  // 203.0.113.10
  }
  REQUIRE(repl.size() == 2);
  xfr::AxfrWriter w(z, repl);
  Stream s = run(w, 65535);
  CHECK(has(s.rrs, "example.test.\t300\tIN\tA\t198.51.100.7"));
  CHECK(has(s.rrs, "shop.example.test.\t120\tIN\tA\t203.0.113.10"));
  CHECK(has(s.rrs, "shop.example.test.\t3600\tIN\tTXT\t\"kept\""));  // only A/AAAA/CNAME are replaced
  for (const std::string& rr : s.rrs) {
    CHECK(rr.find("CNAME\tapp.platform.test.") == std::string::npos);
    CHECK(rr.find("192.0.2.50") == std::string::npos);
  }

  xfr::AxfrWriter unresolved(z, {});  // never resolved: left out, never sent as the CNAME
  Stream u = run(unresolved, 65535);
  for (const std::string& rr : u.rrs) {
    CHECK(rr.find("CNAME\tapp.platform.test.") == std::string::npos);
    CHECK(rr.find("192.0.2.50") == std::string::npos);
  }
}

TEST_CASE("AXFR out: the NSEC3 chain kept aside is transferred") {
  std::string text = std::string(zone_text) +
                     "2vptu5timamqttgl4luu9kg21e0aor3s NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG\n";
  auto z = make_zone(text);
  REQUIRE(z->aside().size() == 1);
  xfr::AxfrWriter w(z, {});
  Stream s = run(w, 65535);
  CHECK(std::any_of(s.rrs.begin(), s.rrs.end(), [](const std::string& rr) { return rr.find("\tNSEC3\t") != std::string::npos; }));
  CHECK(s.rrs.back().find("\tSOA\t") != std::string::npos);
}

TEST_CASE("AXFR out: a record that cannot fit in a message fails the transfer") {
  auto z = make_zone();
  xfr::AxfrWriter w(z, {});
  auto request = test::make_query("example.test.", wire::rrtype::AXFR);
  wire::Query q;
  REQUIRE(wire::parse_query(request, q) == wire::ParseStatus::ok);
  std::vector<uint8_t> buf(65535);
  CHECK(w.next(std::span<uint8_t>(buf.data(), 40), 40, 0, q) == 0);  // not even the SOA fits
  CHECK(w.failed());
  CHECK(w.done());
}

TEST_CASE("AXFR out: a record over the fill limit gets a bigger message") {
  auto z = make_zone();
  xfr::AxfrWriter w(z, {});
  auto request = test::make_query("example.test.", wire::rrtype::AXFR);
  wire::Query q;
  REQUIRE(wire::parse_query(request, q) == wire::ParseStatus::ok);
  std::vector<uint8_t> buf(65535);
  size_t len = w.next(buf, 40, 0, q);  // the first message alone exceeds 40 bytes
  CHECK(len > 40);
  CHECK(w.records() >= 1);
  CHECK_FALSE(w.failed());
}
