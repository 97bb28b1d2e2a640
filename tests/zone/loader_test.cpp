// Tests for zone/loader (with zone_text under it): master-file syntax, directives, every RR type we
// serve, and the file:line of each load or compile error.
#include "zone/loader.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"
#include "zone/zone_text.hpp"

using namespace apexd;
using apexd::test::view;
using apexd::test::wire_name;

namespace {

const std::string origin = wire_name("example.com.");

// Records as ldns prints them, letter case kept, in load order.
std::vector<std::string> texts(const std::vector<zone::Record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(test::wire_rr_text(r.owner, r.type, r.rclass, r.ttl, r.rdata));
  return out;
}

std::vector<std::string> normalized(const std::vector<std::string>& expected) {
  std::vector<std::string> out;
  for (const auto& t : expected) out.push_back(test::normalize_rr(t, false));
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

const zone::Record* find_record(const std::vector<zone::Record>& records, const std::string& owner_text,
                                uint16_t type) {
  std::string owner = wire_name(owner_text);
  for (const auto& r : records)
    if (r.type == type && wire::name_equal(view(r.owner), view(owner))) return &r;
  return nullptr;
}

// A minimal valid apex on lines 3 and 4 after "$ORIGIN" and "$TTL".
const std::string apex_lines =
    "$ORIGIN example.com.\n"
    "$TTL 300\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n";

}  // namespace

TEST_CASE("load_zone_text: syntax, directives and every served RR type") {
  const std::string text = R"ZONE(; A zone exercising the master-file syntax.
$ORIGIN example.com.
$TTL 3600
@   IN  SOA ns1 hostmaster (
            2024010101 ; serial
            7200       ; refresh
            3600 1209600
            300 )      ; minimum
    IN  NS  ns1
    IN  NS  ns2.example.net.
        MX  10 mail
ns1     A       192.0.2.53
Mail    AAAA    2001:db8::25
www  300 IN CNAME web
web     A  192.0.2.10 ; cf_tags=cf-proxied:true
txt     TXT "a \"quoted\" word; not a comment" "\065\066" plain
_sip._tcp SRV 10 60 5060 sip
@       CAA 0 issue "letsencrypt.org"
ptr     PTR www
hinfo   HINFO "PC" "Linux"
naptr   NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp
deleg   NS ns.deleg
deleg   DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ssh     SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_443._tcp TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
old     DNAME new.example.net.
unknown TYPE65400 \# 4 0a000001
paren   TXT ( "one"
              "two" ) ; after
$ORIGIN sub.example.com.
host    A 192.0.2.99
        AAAA 2001:db8::99   ; owner omitted: previous owner
@       TXT "sub apex"
$ORIGIN example.com.
last    A 192.0.2.100
)ZONE";
  std::vector<zone::Record> records = zone::load_zone_text(text, view(origin), "example.com.zone");

  CHECK(texts(records) ==
        normalized({
            "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
            "example.com. 3600 IN NS ns1.example.com.",
            "example.com. 3600 IN NS ns2.example.net.",
            "example.com. 3600 IN MX 10 mail.example.com.",
            "ns1.example.com. 3600 IN A 192.0.2.53",
            "Mail.example.com. 3600 IN AAAA 2001:db8::25",
            "www.example.com. 300 IN CNAME web.example.com.",
            "web.example.com. 3600 IN A 192.0.2.10",
            "txt.example.com. 3600 IN TXT \"a \\\"quoted\\\" word; not a comment\" \"AB\" \"plain\"",
            "_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com.",
            "example.com. 3600 IN CAA 0 issue \"letsencrypt.org\"",
            "ptr.example.com. 3600 IN PTR www.example.com.",
            "hinfo.example.com. 3600 IN HINFO \"PC\" \"Linux\"",
            "naptr.example.com. 3600 IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com.",
            "deleg.example.com. 3600 IN NS ns.deleg.example.com.",
            "deleg.example.com. 3600 IN DS 12345 8 2 "
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "ssh.example.com. 3600 IN SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "_443._tcp.example.com. 3600 IN TLSA 3 1 1 "
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "old.example.com. 3600 IN DNAME new.example.net.",
            "unknown.example.com. 3600 IN TYPE65400 \\# 4 0a000001",
            "paren.example.com. 3600 IN TXT \"one\" \"two\"",
            "host.sub.example.com. 3600 IN A 192.0.2.99",
            "host.sub.example.com. 3600 IN AAAA 2001:db8::99",
            "sub.example.com. 3600 IN TXT \"sub apex\"",
            "last.example.com. 3600 IN A 192.0.2.100",
        }));

  SUBCASE("types as numbers") {
    const std::vector<uint16_t> types = {
        wire::rrtype::SOA,   wire::rrtype::NS,    wire::rrtype::NS,    wire::rrtype::MX,   wire::rrtype::A,
        wire::rrtype::AAAA,  wire::rrtype::CNAME, wire::rrtype::A,     wire::rrtype::TXT,  wire::rrtype::SRV,
        wire::rrtype::CAA,   wire::rrtype::PTR,   wire::rrtype::HINFO, wire::rrtype::NAPTR, wire::rrtype::NS,
        wire::rrtype::DS,    wire::rrtype::SSHFP, wire::rrtype::TLSA,  wire::rrtype::DNAME, 65400,
        wire::rrtype::TXT,   wire::rrtype::A,     wire::rrtype::AAAA,  wire::rrtype::TXT,  wire::rrtype::A,
    };
    REQUIRE(records.size() == types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      CAPTURE(i);
      CHECK(records[i].type == types[i]);
      CHECK(records[i].rclass == wire::rrclass::IN);
    }
  }
  SUBCASE("owner letter case is kept") {
    const zone::Record* r = find_record(records, "mail.example.com.", wire::rrtype::AAAA);
    REQUIRE(r);
    CHECK(wire::name_to_text(view(r->owner)) == "Mail.example.com.");
  }
  SUBCASE("file, line of the first line, and trailing comments") {
    struct Case {
      std::string owner;
      uint16_t type;
      unsigned line;
      std::string comment;  // trimmed
    };
    const std::vector<Case> cases = {
        {"example.com.", wire::rrtype::SOA, 4, ""},  // comment checked below: several joined
        {"ns1.example.com.", wire::rrtype::A, 12, ""},
        {"web.example.com.", wire::rrtype::A, 15, "cf_tags=cf-proxied:true"},
        {"txt.example.com.", wire::rrtype::TXT, 16, ""},  // `;` inside quotes is not a comment
        {"paren.example.com.", wire::rrtype::TXT, 28, "after"},
        {"host.sub.example.com.", wire::rrtype::AAAA, 32, "owner omitted: previous owner"},
        {"last.example.com.", wire::rrtype::A, 35, ""},
    };
    for (const Case& c : cases) {
      CAPTURE(c.owner);
      const zone::Record* r = find_record(records, c.owner, c.type);
      REQUIRE(r);
      CHECK(*r->file == "example.com.zone");
      CHECK(r->line == c.line);
      if (c.type != wire::rrtype::SOA) CHECK(trim(r->comment) == c.comment);
    }
    const zone::Record* soa = find_record(records, "example.com.", wire::rrtype::SOA);
    REQUIRE(soa);
    CHECK(soa->comment.find("serial") != std::string::npos);
    CHECK(soa->comment.find("refresh") != std::string::npos);
    CHECK(soa->comment.find("minimum") != std::string::npos);
  }
  SUBCASE("the loaded zone compiles") {
    auto z = zone::compile_zone(view(origin), records, "example.com.zone");
    REQUIRE(z);
    CHECK(z->serial() == 2024010101);
    CHECK(z->record_count() == records.size());
    CHECK(z->negative_ttl() == 300);
  }
}

TEST_CASE("load_zone_text: default TTLs") {
  struct Case {
    std::string what;
    std::string text;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"no $TTL, no TTL: 3600", "a A 192.0.2.1\n", {"a.example.com. 3600 IN A 192.0.2.1"}},
      {"no $TTL: the previous TTL (RFC 1035 §5.1)",
       "a 60 A 192.0.2.1\nb A 192.0.2.2\n",
       {"a.example.com. 60 IN A 192.0.2.1", "b.example.com. 60 IN A 192.0.2.2"}},
      {"$TTL wins over the previous TTL (RFC 2308 §4)",
       "$TTL 300\na 60 A 192.0.2.1\nb A 192.0.2.2\n",
       {"a.example.com. 60 IN A 192.0.2.1", "b.example.com. 300 IN A 192.0.2.2"}},
      {"$TTL with a unit", "$TTL 1h\na A 192.0.2.1\n", {"a.example.com. 3600 IN A 192.0.2.1"}},
      {"TTL with units on the record", "a 1d2h IN A 192.0.2.1\n", {"a.example.com. 93600 IN A 192.0.2.1"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::vector<zone::Record> records;
    REQUIRE_NOTHROW(records = zone::load_zone_text(c.text, view(origin), "t.zone"));
    CHECK(texts(records) == normalized(c.expected));
  }
}

TEST_CASE("load_zone_text: $TTL 0 is a default like any other (RFC 2308 §4)") {
  auto records = zone::load_zone_text("$TTL 0\na A 192.0.2.1\n", view(origin), "t.zone");
  CHECK(texts(records) == normalized({"a.example.com. 0 IN A 192.0.2.1"}));
}

TEST_CASE("load_zone_text: the class may come before the TTL (RFC 1035 §5.1)") {
  std::vector<zone::Record> records;
  REQUIRE_NOTHROW(records = zone::load_zone_text("a IN 120 A 192.0.2.1\n", view(origin), "t.zone"));
  CHECK(texts(records) == normalized({"a.example.com. 120 IN A 192.0.2.1"}));
}

TEST_CASE("load_zone_text: $INCLUDE is relative to the including file; origin reverts afterwards") {
  test::TempDir dir;
  const std::string main_text =
      "$ORIGIN example.com.\n"
      "$TTL 300\n"
      "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
      "@ NS ns1\n"
      "$INCLUDE sub/hosts.zone\n"
      "after A 192.0.2.3\n"
      "$INCLUDE sub/other.zone other\n"
      "back A 192.0.2.4\n";
  dir.write("sub/hosts.zone",
            "$ORIGIN hosts.example.com.\n"
            "h1 A 192.0.2.2\n"
            "$INCLUDE nested.zone\n");
  dir.write("sub/nested.zone", "n1 A 192.0.2.5\n");
  dir.write("sub/other.zone", "o1 A 192.0.2.6\n");
  const std::string main_path = dir.write("main.zone", main_text);

  const std::vector<std::string> expected = normalized({
      "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300",
      "example.com. 300 IN NS ns1.example.com.",
      "h1.hosts.example.com. 300 IN A 192.0.2.2",
      "n1.hosts.example.com. 300 IN A 192.0.2.5",
      "after.example.com. 300 IN A 192.0.2.3",
      "o1.other.example.com. 300 IN A 192.0.2.6",
      "back.example.com. 300 IN A 192.0.2.4",
  });

  SUBCASE("from text anchored at the main file's path") {
    auto records = zone::load_zone_text(main_text, view(origin), main_path);
    CHECK(texts(records) == expected);
    const zone::Record* h1 = find_record(records, "h1.hosts.example.com.", wire::rrtype::A);
    REQUIRE(h1);
    CHECK(*h1->file == (dir.path() / "sub/hosts.zone").string());
    CHECK(h1->line == 2);
    const zone::Record* n1 = find_record(records, "n1.hosts.example.com.", wire::rrtype::A);
    REQUIRE(n1);
    CHECK(*n1->file == (dir.path() / "sub/nested.zone").string());
    CHECK(n1->line == 1);
    const zone::Record* back = find_record(records, "back.example.com.", wire::rrtype::A);
    REQUIRE(back);
    CHECK(*back->file == main_path);
    CHECK(back->line == 8);
  }
  SUBCASE("from the file") {
    CHECK(texts(zone::load_zone_file(main_path, view(origin))) == expected);
  }
}

TEST_CASE("load_zone_text: CRLF line ends and an absolute $INCLUDE path") {
  test::TempDir dir;
  const std::string inc = dir.write("abs.zone", "abs A 192.0.2.7\r\n");
  const std::string text = "$TTL 300\r\n"
                           "www A 192.0.2.1 ; note\r\n"
                           "txt TXT ( \"a\"\r\n"
                           "  \"b\" )\r\n"
                           "$INCLUDE " + inc + "\r\n"
                           "last A 192.0.2.2\r\n";
  auto records = zone::load_zone_text(text, view(origin), "crlf.zone");
  CHECK(texts(records) == normalized({"www.example.com. 300 IN A 192.0.2.1", "txt.example.com. 300 IN TXT \"a\" \"b\"",
                                      "abs.example.com. 300 IN A 192.0.2.7", "last.example.com. 300 IN A 192.0.2.2"}));
  REQUIRE(records.size() == 4);
  CHECK(trim(records[0].comment) == "note");
  CHECK(records[1].line == 3);
  CHECK(*records[2].file == inc);
  CHECK(records[3].line == 6);
}

TEST_CASE("load_zone_text: an included file inherits the including file's $TTL") {
  // RFC 2308 §4: $TTL sets the default for the records that follow; an include is text that
  // follows. Knot's zscanner hands the current default TTL to the included file's scanner.
  test::TempDir dir;
  dir.write("inc.zone", "mail A 192.0.2.5\n");
  const std::string main_text =
      "$TTL 300\n"
      "www 60 A 192.0.2.4\n"
      "$INCLUDE inc.zone\n";
  const std::string main_path = dir.write("main.zone", main_text);
  auto records = zone::load_zone_text(main_text, view(origin), main_path);
  CHECK(texts(records) == normalized({"www.example.com. 60 IN A 192.0.2.4", "mail.example.com. 300 IN A 192.0.2.5"}));
}

TEST_CASE("load + compile: a CNAME may have RRSIG and NSEC beside it (RFC 4035 §2.5, RFC 2181 §10.1)") {
  const std::string text = apex_lines +
                           "alias CNAME www\n"
                           "alias RRSIG CNAME 8 3 300 20300101000000 20200101000000 12345 example.com. AAAA\n"
                           "alias NSEC www.example.com. CNAME RRSIG NSEC\n"
                           "www A 192.0.2.1\n";
  auto records = zone::load_zone_text(text, view(origin), "t.zone");
  CHECK_NOTHROW(zone::compile_zone(view(origin), records, "t.zone"));
}

TEST_CASE("load + compile errors name file:line and the reason") {
  test::TempDir dir;
  const std::string src = (dir.path() / "t.zone").string();
  dir.write("bad.zone", "; line 1\nok A 192.0.2.1\nbroken A not-an-address\n");
  dir.write("self.zone", "$INCLUDE self.zone\n");
  struct Case {
    std::string what;
    std::string text;
    std::string where;  // file:line prefix, the file relative to the temp dir
    std::string reason;
    zone::ZoneOptions options = {};
  };
  const zone::ZoneOptions no_flattening{.flatten = zone::FlattenMode::none};
  const std::string soa2 = "@ SOA ns1 hostmaster 2 7200 3600 1209600 300\n";
  const std::vector<Case> cases = {
      {"no SOA", "$ORIGIN example.com.\n@ NS ns1\nwww A 192.0.2.1\n", "t.zone:2", "no SOA record at the apex"},
      {"no records at all", "; empty\n", "t.zone:0", "no SOA record"},
      {"two SOAs", apex_lines + soa2, "t.zone:5", "more than one SOA record"},
      {"no NS at the apex", "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\nwww A 192.0.2.1\n", "t.zone:2",
       "no NS records at the apex"},
      {"SOA below the apex", apex_lines + "sub SOA ns1 hostmaster 1 7200 3600 1209600 300\n", "t.zone:5",
       "SOA record outside the apex"},
      {"non-hex digit in \\# data (BIND: bad hex encoding)", apex_lines + "type731 IN TYPE731 \\# 6 ABCDEZ123456\n",
       "t.zone:5", "bad hex encoding"},
      {"\\# length larger than the data", apex_lines + "x TYPE731 \\# 7 ABCDEF123456\n", "t.zone:5",
       "does not match"},
      {"\\# odd number of hex digits", apex_lines + "x TYPE731 \\# 3 ABCDE\n", "t.zone:5", "odd number"},
      {"\\# without a length", apex_lines + "x TYPE731 \\#\n", "t.zone:5", "needs a length"},
      {"MX preference 65536 (ldns would wrap it to 0)", apex_lines + "m MX 65536 mail\n", "t.zone:5", "0..65535"},
      {"SSHFP algorithm 256", apex_lines + "h SSHFP 256 1 123456789abcdef67890123456789abcdef67890\n", "t.zone:5",
       "0..255"},
      {"unknown type in an NSEC bitmap", apex_lines + "n NSEC www A BOGUS\n", "t.zone:5", "type bitmap"},
      {"unknown type covered by an RRSIG", apex_lines +
       "s RRSIG BOGUS 8 3 300 20300101000000 20200101000000 12345 example.com. AAAA\n", "t.zone:5", "unknown type"},
      {"a meta-type as data", apex_lines + "x ANY \\# 0\n", "t.zone:5", "meta-type"},
      {"OPT as data", apex_lines + "x OPT \\# 0\n", "t.zone:5", "meta-type"},
      {"CNAME after A", apex_lines + "www A 192.0.2.1\nwww CNAME web\n", "t.zone:6", "CNAME beside other data (A)"},
      {"A after CNAME", apex_lines + "www CNAME web\nwww A 192.0.2.1\n", "t.zone:6", "A record beside a CNAME"},
      {"two CNAMEs", apex_lines + "www CNAME web\nwww CNAME web2\n", "t.zone:6", "two CNAME records"},
      {"CNAME at the apex, flattening off", apex_lines + "@ CNAME other.example.net.\n", "t.zone:5", "flatten",
       no_flattening},
      {"A beside a flattened apex CNAME", apex_lines + "@ CNAME other.example.net.\n@ A 192.0.2.1\n", "t.zone:6",
       "A record beside the flattened apex CNAME"},
      {"'(' never closed", apex_lines + "www TXT ( \"a\"\n\"b\"\n", "t.zone:5", "'(' not closed"},
      {"')' without '('", apex_lines + "www TXT \"a\" )\n", "t.zone:5", "')' without a matching '('"},
      {"quote never closed", apex_lines + "www TXT \"abc\n", "t.zone:5", "quoted string not closed"},
      {"bad A RDATA", apex_lines + "www A 300.1.2.3\n", "t.zone:5", "www A 300.1.2.3"},
      {"bad RDATA on a continued line", apex_lines + "mx MX (\n10\n) ; no exchange\n", "t.zone:5", "MX"},
      {"unknown type", apex_lines + "www BOGUS 1\n", "t.zone:5", "www BOGUS 1"},
      {"unknown directive", apex_lines + "$FOO bar\n", "t.zone:5", "unsupported directive '$FOO'"},
      {"bad $TTL", "$TTL soon\n", "t.zone:1", "invalid $TTL 'soon'"},
      {"$ORIGIN without a name", "$ORIGIN\n", "t.zone:1", "$ORIGIN takes one domain name"},
      {"missing $INCLUDE file", apex_lines + "$INCLUDE missing.zone\n", "t.zone:5", "cannot open included file"},
      {"error inside an included file", apex_lines + "$INCLUDE bad.zone\n", "bad.zone:3", "not-an-address"},
      {"$INCLUDE loop", apex_lines + "$INCLUDE self.zone\n", "self.zone:1", "nested too deeply"},
      {"class CH", apex_lines + "www CH TXT \"x\"\n", "t.zone:5", "only class IN is served"},
      {"first entry without an owner", "  A 192.0.2.1\n", "t.zone:1", "without an owner name"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::string message;
    try {
      auto records = zone::load_zone_text(c.text, view(origin), src);
      zone::compile_zone(view(origin), std::move(records), src, c.options);
    } catch (const zone::ZoneError& e) {
      message = e.what();
    }
    CAPTURE(message);
    const std::string prefix = (dir.path() / c.where).string() + ": ";
    CHECK(message.rfind(prefix, 0) == 0);
    CHECK(message.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("records outside the origin are skipped with a file:line warning, the zone is served") {
  // BIND, Knot and NSD ignore such records with a warning; so do we (this replaced refusing the zone).
  const std::string text = apex_lines +
                           "www A 192.0.2.1\n"
                           "www.example.org. A 192.0.2.2\n"
                           "  TXT \"continued, still outside\"\n"
                           "$ORIGIN example.net.\n"
                           "x A 192.0.2.3\n"
                           "$ORIGIN example.com.\n"
                           "mail A 192.0.2.4\n";
  std::vector<std::string> warnings;
  auto records = zone::load_zone_text(text, view(origin), "t.zone", nullptr, true, &warnings);
  CHECK(texts(records) == normalized({"example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300",
                                      "example.com. 300 IN NS ns1.example.com.", "www.example.com. 300 IN A 192.0.2.1",
                                      "mail.example.com. 300 IN A 192.0.2.4"}));
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0] == "t.zone:6: record www.example.org. A is outside the zone example.com., ignored");
  CHECK(warnings[1].rfind("t.zone:7: record www.example.org. TXT", 0) == 0);
  CHECK(warnings[2].rfind("t.zone:9: record x.example.net. A", 0) == 0);
  CHECK_NOTHROW(zone::compile_zone(view(origin), records, "t.zone"));
}

TEST_CASE("character-strings longer than 255 bytes are split into 255-byte pieces, as knotd does") {
  const std::string long_text(279, 'x');
  auto records = zone::load_zone_text(apex_lines + "t TXT \"" + long_text + "\" \"end\"\n", view(origin), "t.zone");
  const std::string want = char(255) + std::string(255, 'x') + char(24) + std::string(24, 'x') + char(3) + "end";
  CHECK(records.back().rdata == want);
  auto spf = zone::load_zone_text(apex_lines + "t SPF " + std::string(600, 'y') + "\n", view(origin), "t.zone");
  CHECK(spf.back().rdata.size() == 600 + 3);
}

TEST_CASE("load_zone_file: a missing file is an error naming it") {
  std::string message;
  try {
    zone::load_zone_file("/nonexistent/apexd/zone.db", view(origin));
  } catch (const zone::ZoneError& e) {
    message = e.what();
    CHECK(e.file() == "/nonexistent/apexd/zone.db");
  }
  CHECK(message.rfind("/nonexistent/apexd/zone.db:0: ", 0) == 0);
  CHECK(message.find("cannot open") != std::string::npos);
}

TEST_CASE("split_entries and split_tokens") {
  SUBCASE("entries keep their first line, blank-owner flag and comments") {
    const std::string text =
        "a A 1.2.3.4 ; one\n"
        "\n"
        "; only a comment\n"
        "  TXT ( \"x;y\" ; two\n"
        "  \"z\" ) ; three\r\n"
        "b\\;c TXT \"(\"\n";
    auto entries = zone::split_entries(text, "t");
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].line == 1);
    CHECK_FALSE(entries[0].owner_blank);
    CHECK(trim(entries[0].comment) == "one");
    CHECK(entries[1].line == 4);
    CHECK(entries[1].owner_blank);
    CHECK(zone::split_tokens(entries[1].text) == std::vector<std::string>{"TXT", "\"x;y\"", "\"z\""});
    CHECK(entries[1].comment.find("two") != std::string::npos);
    CHECK(entries[1].comment.find("three") != std::string::npos);
    CHECK(entries[1].comment.find('\r') == std::string::npos);
    CHECK(entries[2].line == 6);
    CHECK(zone::split_tokens(entries[2].text) == std::vector<std::string>{"b\\;c", "TXT", "\"(\""});
  }
  SUBCASE("tokens honour quotes and escapes") {
    struct Case {
      std::string text;
      std::vector<std::string> tokens;
    };
    const std::vector<Case> cases = {
        {"a  b\tc", {"a", "b", "c"}},
        {"  lead trail  ", {"lead", "trail"}},
        {"TXT \"two words\" x", {"TXT", "\"two words\"", "x"}},
        {"a\\ b c", {"a\\ b", "c"}},
        {"\"esc \\\" quote\"", {"\"esc \\\" quote\""}},
        {"", {}},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      CHECK(zone::split_tokens(c.text) == c.tokens);
    }
  }
}
