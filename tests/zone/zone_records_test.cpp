// Tests for zone/zone_records and loader's records_to_text: a compiled zone as RRs and back is the
// same zone, and a secondary's written copy reads back to exactly the records it was made from.
#include "zone/zone_records.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/rdata_text.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using test::view;
using zone::JournalRR;
namespace fs = std::filesystem;

namespace {

std::vector<JournalRR> sorted(std::vector<JournalRR> v) {
  std::sort(v.begin(), v.end(), zone::canonical_less);
  return v;
}

std::shared_ptr<const zone::Zone> compile(const std::string& origin_text, const std::string& text) {
  std::string origin = test::wire_name(origin_text);
  return zone::compile_zone(view(origin), zone::load_zone_text(text, view(origin), "t.zone"), "t.zone");
}

// zone_rrs → to_records → compile_zone → zone_rrs.
void check_identity(const zone::Zone& z) {
  std::vector<JournalRR> rrs = zone::zone_rrs(z);
  REQUIRE_FALSE(rrs.empty());
  CHECK(rrs.front().type == wire::rrtype::SOA);  // the SOA first
  CHECK(std::count_if(rrs.begin(), rrs.end(), [](const JournalRR& r) { return r.type == wire::rrtype::SOA; }) == 1);
  CHECK(rrs.size() == z.record_count() + z.aside().size());
  auto file = std::make_shared<const std::string>("copy.zone");
  std::vector<zone::Record> records = zone::to_records(rrs, file);
  REQUIRE(records.size() == rrs.size());
  CHECK(records[0].file == file);
  CHECK(records[0].line == 0);
  CHECK(records[0].rclass == wire::rrclass::IN);
  auto again = zone::compile_zone(z.origin(), std::move(records), "copy.zone", z.options());
  CHECK(again->serial() == z.serial());
  CHECK(sorted(zone::zone_rrs(*again)) == sorted(rrs));
  CHECK(again->aside().size() == z.aside().size());
}

// Records compared as the loader makes them: owner without letter case, type, TTL, RDATA.
using Key = std::tuple<std::string, uint16_t, uint32_t, std::string>;
std::vector<Key> keys(const std::vector<zone::Record>& records) {
  std::vector<Key> out;
  for (const zone::Record& r : records) out.emplace_back(wire::name_lower(view(r.owner)), r.type, r.ttl, r.rdata);
  return out;
}

// records_to_text → load_zone_text gives back the same records, in the same order.
void check_text_round_trip(const std::vector<zone::Record>& records, const std::string& origin, const std::string& what) {
  CAPTURE(what);
  std::string text = zone::records_to_text(records, "copy of " + what + "\nfrom a test");
  CHECK(text.rfind("; copy of ", 0) == 0);
  CHECK(text.find("\n; from a test\n") != std::string::npos);
  std::vector<zone::Record> back;
  try {
    back = zone::load_zone_text(text, view(origin), "copy.zone");
  } catch (const std::exception& e) {
    FAIL_CHECK("the copy does not load: " << std::string(e.what()) << "\n" << text);
    return;
  }
  auto want = keys(records), got = keys(back);
  CHECK_MESSAGE(got == want, text);
  if (got != want) {
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
      if (got[i] != want[i]) {
        const zone::Record& r = records[i];
        const zone::Record& b = back[i];
        MESSAGE("first difference at " << i << ": " << test::wire_rr_text(r.owner, r.type, 1, r.ttl, r.rdata)
                                       << " read back as " << test::wire_rr_text(b.owner, b.type, 1, b.ttl, b.rdata));
        break;
      }
  }
}

const char* varied_zone = R"($ORIGIN rt.test.
$TTL 3600
@ SOA ns1 HostMaster 2024010101 7200 3600 1209600 300
@ NS ns1
@ NS NS2.Other.Test.
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
@ MX 10 Mail
mail 60 A 192.0.2.2
www CNAME @
ptr PTR host.example.
txt TXT "plain" "with \"quotes\"" "back\\slash" "semi;colon" "\200\255 bytes" "caf\195\169" "raw é" "" "tab\009x"
txt TXT "Unknown" "\\# 2 abcd"
unk TYPE65280 \# 4 deadbeef
unk TYPE65280 \# 0
@ CAA 0 issue "ca.example.net"
@ CAA 128 tbs "Unknown"
_8443._foo SVCB 1 svc.example.net. alpn="h2,h3" port=8443 ipv4hint=192.0.2.1
@ HTTPS 1 . alpn="h3,h2" ipv6hint=2001:db8::1
svc HTTPS 0 svc.example.net.
@ NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .
@ NAPTR 100 20 "s" "SIP+D2U" "" _sip._udp
_sip._tcp SRV 0 5 5060 Sip
sip A 192.0.2.9
@ SSHFP 1 1 123456789abcdef67890123456789abcdef67890
_443._tcp TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
@ LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
*.wild A 192.0.2.10
*.wild TXT "wild"
a\.b A 192.0.2.11
sp\032ace A 192.0.2.12
\065bc A 192.0.2.13
semi\;colon A 192.0.2.14
hinfo HINFO "PC" "Linux"
rp RP admin.rt.test. txt.rt.test.
sub NS ns.sub
ns.sub A 192.0.2.53
sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
a6 A6 0 2001:db8::1
atma ATMA 39246f00e7c9c031200001000001000000000000
nxt NXT next.rt.test. A MX SIG NXT
nsap NSAP-PTR host
spf SPF "v=spf1 -all"
dn DNAME other.test.
uri 300 URI 10 1 "https://example.com/"
null NULL \# 3 010203
)";

}  // namespace

TEST_CASE("zone_rrs → to_records → compile_zone → zone_rrs is the identity") {
  const std::string nsec3 = "2vptu5timamqttgl4luu9kg21e0aor3s NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG\n";
  std::string with_cnames =
      "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 hostmaster 7 7200 3600 1209600 300\n@ NS ns1\n"
      "@ CNAME app.platform.test.\n@ MX 10 mail\nns1 A 192.0.2.1\nmail A 192.0.2.2\n"
      "shop A 192.0.2.50 ; cf_tags=cf-proxied:true\nshop TXT \"kept\"\n*.wild TXT \"wild\"\nsub NS ns.sub\n"
      "ns.sub A 192.0.2.53\n";
  struct Case {
    std::string what;
    std::string origin, text;
  } cases[] = {
      {"the SOA and NS alone", "solo.test.", "@ 300 SOA ns hm 1 2 3 4 5\n@ 300 NS ns.other.\n"},
      {"flattened and proxied names", "example.test.", with_cnames},
      {"an NSEC3 chain kept aside", "example.test.", with_cnames + nsec3},
      {"a varied zone", "rt.test.", varied_zone},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    auto z = compile(c.origin, c.text);
    if (std::string(c.what).find("NSEC3") != std::string::npos) CHECK(z->aside().size() == 1);
    check_identity(*z);
  }
}

TEST_CASE("records_to_text reads back as the same records: every common type, escapes, generic RDATA") {
  std::string origin = test::wire_name("rt.test.");
  std::vector<zone::Record> records = zone::load_zone_text(varied_zone, view(origin), "rt.zone");
  REQUIRE(records.size() > 40);
  for (uint16_t t : {wire::rrtype::NSAP_PTR, wire::rrtype::ATMA, wire::rrtype::A6, wire::rrtype::NXT})
    CHECK_MESSAGE(std::any_of(records.begin(), records.end(), [&](const zone::Record& r) { return r.type == t; }), t);
  for (uint16_t t = 0; t < 300; ++t)
    if (zone::encoded_only_here(t))
      CHECK_MESSAGE(std::any_of(records.begin(), records.end(), [&](const zone::Record& r) { return r.type == t; }),
                    "the varied zone lacks type ", t);
  check_text_round_trip(records, origin, "the varied zone");

  // Owner letter case is kept through the copy (the loader keeps it; lookups ignore it).
  std::string text = zone::records_to_text(records, "");
  CHECK(text.find("HostMaster") == std::string::npos);  // RDATA names: lowercased by the loader
  CHECK(text.rfind(";", 0) != 0);                       // an empty header writes no comment

  // The fast path and ldns read the copy alike.
  std::vector<zone::Record> slow = zone::load_zone_text(text, view(origin), "copy.zone", nullptr, false);
  CHECK(keys(slow) == keys(records));
}

TEST_CASE("records_to_text: RDATA that is not valid for its type goes out as RFC 3597 generic data") {
  std::string origin = test::wire_name("rt.test.");
  auto rec = [&](const std::string& owner, uint16_t type, std::string rdata) {
    zone::Record r;
    r.owner = test::wire_name(owner);
    r.type = type;
    r.ttl = 300;
    r.rdata = std::move(rdata);
    return r;
  };
  std::vector<zone::Record> records = {
      rec("rt.test.", wire::rrtype::SOA,
          test::wire_name("ns.rt.test.") + test::wire_name("hm.rt.test.") + std::string(20, '\1')),
      rec("rt.test.", wire::rrtype::NS, test::wire_name("ns.rt.test.")),
      rec("x.rt.test.", 65280, std::string("\0\xff\"\\;", 5)),
      rec("x.rt.test.", 65534, ""),
      rec("y.rt.test.", wire::rrtype::TXT, std::string("\x03" "a\0b", 4)),
  };
  check_text_round_trip(records, origin, "hand-made records");
}

// Regression (fuzz_xfr_in, CI): ldns prints a '"' inside a name bare; the copy a secondary
// wrote then failed to load ("quoted string not closed on its line").
TEST_CASE("records_to_text: a '\"' inside an RDATA name reads back") {
  std::string origin = test::wire_name("rt.test.");
  auto rec = [&](const std::string& owner, uint16_t type, std::string rdata) {
    zone::Record r;
    r.owner = test::wire_name(owner);
    r.type = type;
    r.ttl = 300;
    r.rdata = std::move(rdata);
    return r;
  };
  std::string quoted = std::string("\x03" "a\"b") + test::wire_name("rt.test.");            // a"b.rt.test.
  std::string escaped = std::string("\x05" "\0\0\"<\xc0", 6) + test::wire_name("rt.test.");  // with escapes too
  std::vector<zone::Record> records = {
      rec("rt.test.", wire::rrtype::SOA,
          test::wire_name("ns.rt.test.") + test::wire_name("hm.rt.test.") + std::string(20, '\1')),
      rec("rt.test.", wire::rrtype::NS, test::wire_name("ns.rt.test.")),
      rec("m.rt.test.", wire::rrtype::MX, std::string("\0\x0a", 2) + quoted),
      rec("n.rt.test.", wire::rrtype::MX, std::string("\0\x0a", 2) + escaped),
      rec("c.rt.test.", wire::rrtype::CNAME, quoted),
      rec("s.rt.test.", wire::rrtype::SRV, std::string("\0\1\0\2\0\x35", 6) + quoted),
      rec("t.rt.test.", wire::rrtype::TXT, std::string("\x05" "a\"b\"c", 6)),
  };
  check_text_round_trip(records, origin, "names with quotes");
}

TEST_CASE("records_to_text round trip over every zone file of the integration tests that loads") {
  fs::path root = fs::path(__FILE__).parent_path().parent_path() / "integration";
  REQUIRE(fs::is_directory(root / "zones"));
  REQUIRE(fs::is_directory(root / "compat"));
  size_t loaded = 0, refused = 0;
  std::vector<fs::path> files;
  for (const char* sub : {"zones", "compat"})
    for (const auto& e : fs::recursive_directory_iterator(root / sub))
      if (e.is_regular_file() && e.path().extension() == ".zone") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    // zones/: the origin is the file's stem (diff.test.zone → diff.test.); compat/: stem.compat.test.
    // unless a "; origin: NAME" line says otherwise (tests/integration/zone_compat.py).
    bool compat = f.string().find("/compat/") != std::string::npos;
    std::string origin_text = f.stem().string() + (compat ? ".compat.test." : ".");
    if (compat) {
      std::ifstream in(f);
      for (std::string line; std::getline(in, line);)
        if (line.rfind("; origin:", 0) == 0) {
          std::istringstream words(line.substr(9));
          words >> origin_text;
          if (origin_text.back() != '.') origin_text += '.';
        }
    }
    auto origin_wire = wire::name_from_text(origin_text);
    if (!origin_wire) continue;
    std::string origin = wire::name_lower(view(*origin_wire));
    std::vector<zone::Record> records;
    try {
      records = zone::load_zone_file(f.string(), view(origin));
    } catch (const std::exception&) {
      ++refused;
      continue;
    }
    ++loaded;
    check_text_round_trip(records, origin, f.string());
  }
  MESSAGE("zone files round-tripped: ", loaded, ", refused by the loader: ", refused);
  CHECK(loaded > 100);
}

// Regression: ldns prints a SINK record (type 40) as "SINK 1", dropping its subcoding and data;
// a secondary of a zone holding one wrote a copy it could not read back. Now in generic form.
TEST_CASE("records_to_text: a SINK record reads back") {
  std::string origin = test::wire_name("rt.test.");
  std::vector<zone::Record> records = zone::load_zone_text(
      "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nrr SINK 1 0 0 aGVsbG8gd29ybGQ=\n", view(origin), "sink.zone");
  REQUIRE(records.size() == 3);
  check_text_round_trip(records, origin, "a SINK record");
}
