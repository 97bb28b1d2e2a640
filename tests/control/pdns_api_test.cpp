// Tests for control/pdns_api: zone ids, rrsets as JSON (ALIAS, proxied), PATCH applied in order
// through the edit the backend runs, PowerDNS's status codes and messages; and the tag RRs that
// carry cf_tags through change logs (zone/zone_records).
#include "control/pdns_api.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using test::view;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* zone_text = R"($ORIGIN t.test.
$TTL 300
@ SOA ns1 hostmaster 7 3600 600 86400 60
@ NS ns1
@ CNAME target.t.test.
ns1 A 127.0.0.1
target A 192.0.2.5
www A 192.0.2.1 ; cf_tags=cf-proxied:true
alias CNAME target ; cf_tags=cf-flatten-cname
)";

std::shared_ptr<const zone::Zone> compile(const std::string& text) {
  std::string origin = test::wire_name("t.test.");
  return zone::compile_zone(view(origin), zone::load_zone_text(text, view(origin), "t.zone"), "t.zone");
}

// A backend over one zone: edits run at once, as the server's change path would run them.
struct Fake {
  std::shared_ptr<const zone::Zone> z = compile(zone_text);
  std::optional<zone::ZoneEdit> last;
  control::ApiBackend backend() {
    control::ApiBackend b;
    b.zones = [this] { return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{z}); };
    b.edit = [this](std::string, zone::MakeEdit make) -> asio::awaitable<std::pair<uint16_t, std::string>> {
      zone::ZoneEdit e = make(*z);
      uint16_t rc = e.rcode;
      std::string why = e.why;
      if (rc == 0 && e.after) {
        auto file = std::make_shared<const std::string>("api");
        z = zone::compile_zone(z->origin(), zone::tagged_to_records(*e.after, file), "t.zone");
      }
      last = std::move(e);
      co_return std::pair<uint16_t, std::string>{rc, why};
    };
    b.now = [] { return int64_t(1700000000); };
    return b;
  }
};

control::ApiResponse call(Fake& f, std::string_view method, std::string_view target, std::string_view body = {}) {
  asio::io_context io;
  control::ApiBackend b = f.backend();
  control::ApiRequest req{method, target, body, {}};
  auto fut = asio::co_spawn(io, control::handle_api(req, b), asio::use_future);
  io.run();
  return fut.get();
}

const json::object* rrset(const json::value& zone, std::string_view name, std::string_view type) {
  for (const json::value& s : zone.at("rrsets").as_array())
    if (s.at("name").as_string() == name && s.at("type").as_string() == type) return &s.as_object();
  return nullptr;
}

}  // namespace

TEST_CASE("zone ids are PowerDNS's: =XX escapes, a trailing dot, accepted without it") {
  CHECK(control::zone_id("example.org.") == "example.org.");
  CHECK(control::zone_id("a_b.example.") == "a=5Fb.example.");
  CHECK(control::zone_id("0/24.2.0.192.in-addr.arpa.") == "0=2F24.2.0.192.in-addr.arpa.");
  CHECK(control::zone_id_to_name("a=5Fb.example.") == "a_b.example.");
  CHECK(control::zone_id_to_name("example.org") == "example.org.");
  CHECK_FALSE(control::zone_id_to_name("bad=5").has_value());
  CHECK_FALSE(control::zone_id_to_name("bad=zz.").has_value());
  CHECK(control::query_param("zone=a.b.&rrsets=false", "rrsets") == "false");
  CHECK(control::query_param("api-key=x%2By+z", "api-key") == "x+y z");
  CHECK(control::query_param("zone=a", "rrsets").empty());
  CHECK(control::percent_decode("a%2Fb%zz") == "a/b%zz");
}

TEST_CASE("GET a zone: rrsets with presentation content, flattened CNAMEs as ALIAS, proxied names flagged") {
  Fake f;
  control::ApiResponse r = call(f, "GET", "/api/v1/servers/localhost/zones/t.test");
  REQUIRE(r.status == 200);
  json::value z = json::parse(r.body);
  CHECK(z.at("kind").as_string() == "Native");
  CHECK(z.at("serial").as_int64() == 7);
  const json::object* apex = rrset(z, "t.test.", "ALIAS");
  REQUIRE(apex);
  CHECK(apex->at("records").as_array()[0].at("content").as_string() == "target.t.test.");
  CHECK(rrset(z, "alias.t.test.", "ALIAS"));
  const json::object* www = rrset(z, "www.t.test.", "A");
  REQUIRE(www);
  CHECK(www->at("proxied").as_bool());
  CHECK(www->at("records").as_array()[0].at("content").as_string() == "192.0.2.1");
  CHECK_FALSE(rrset(z, "ns1.t.test.", "A")->at("proxied").as_bool());
  CHECK(call(f, "GET", "/api/v1/servers/localhost/zones/other.test.").status == 404);
  CHECK(call(f, "GET", "/api/v1/servers/localhost/zones/t.test.?rrsets=maybe").status == 422);
}

TEST_CASE("PATCH: REPLACE and DELETE in order, the serial moved, tags kept and set") {
  Fake f;
  const char* body = R"({"rrsets":[
    {"name":"www.t.test.","type":"TXT","changetype":"replace","ttl":60,"records":[{"content":"\"a b\""}]},
    {"name":"ns1.t.test.","type":"A","changetype":"DELETE"},
    {"name":"ns1.t.test.","type":"CNAME","changetype":"REPLACE","ttl":60,"records":[{"content":"target.t.test."}]},
    {"name":"new.t.test.","type":"A","changetype":"REPLACE","ttl":60,"records":[{"content":"192.0.2.9"}],"proxied":true}
  ]})";
  control::ApiResponse r = call(f, "PATCH", "/api/v1/servers/localhost/zones/t.test.", body);
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  CHECK(f.z->serial() == 8);  // the default policy: increment
  json::value z = json::parse(call(f, "GET", "/api/v1/servers/localhost/zones/t.test.").body);
  CHECK(rrset(z, "www.t.test.", "TXT")->at("records").as_array()[0].at("content").as_string() == "\"a b\"");
  CHECK(rrset(z, "www.t.test.", "A")->at("proxied").as_bool());  // the file's cf_tags survive the change
  CHECK(rrset(z, "new.t.test.", "A")->at("proxied").as_bool());
  CHECK(rrset(z, "ns1.t.test.", "CNAME"));
  CHECK_FALSE(rrset(z, "ns1.t.test.", "A"));
  CHECK(rrset(z, "t.test.", "ALIAS"));  // the apex stays flattened

  // Taking the tag away: "proxied": false alone.
  r = call(f, "PATCH", "/api/v1/servers/localhost/zones/t.test.",
           R"({"rrsets":[{"name":"new.t.test.","type":"A","changetype":"REPLACE","proxied":false}]})");
  CHECK(r.status == 204);
  z = json::parse(call(f, "GET", "/api/v1/servers/localhost/zones/t.test.").body);
  CHECK_FALSE(rrset(z, "new.t.test.", "A")->at("proxied").as_bool());
}

TEST_CASE("PATCH errors: PowerDNS's status codes and words; nothing applied") {
  Fake f;
  struct Case {
    const char* body;
    unsigned status;
    const char* words;
  } cases[] = {
      {"{not json", 400, "Bad Request"},
      {R"({"rrsets":[]})", 204, ""},
      {R"({})", 422, "No rrsets given"},
      {R"({"rrsets":[{"name":"x.t.test","type":"A","changetype":"REPLACE","ttl":1,"records":[]}]})", 422, "not canonical"},
      {R"({"rrsets":[{"name":"x.other.","type":"A","changetype":"REPLACE","ttl":1,"records":[{"content":"1.2.3.4"}]}]})", 422,
       "Name is out of zone"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"FAFAFA","changetype":"REPLACE","ttl":1,"records":[]}]})", 422, "unknown type"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"A","changetype":"EXTEND","ttl":1,"records":[]}]})", 422, "Changetype"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"A","changetype":"REPLACE","records":[{"content":"1.2.3.4"}]}]})", 422, "ttl"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"A","changetype":"REPLACE","ttl":1,"records":[{"content":"1.2.3.4"},{"content":"1.2.3.4"}]}]})",
       422, "Duplicate record"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"A","changetype":"REPLACE","ttl":1,"records":[{"content":"1.2.3.4","disabled":true}]}]})",
       422, "disabled"},
      {R"({"rrsets":[{"name":"target.t.test.","type":"CNAME","changetype":"REPLACE","ttl":1,"records":[{"content":"x.example."}]}]})",
       422, "Conflicts with pre-existing RRset"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"A","changetype":"REPLACE","ttl":1,"records":[{"content":"1.2.3.4\n$INCLUDE /etc/passwd"}]}]})",
       422, "Not in expected format"},
      {R"({"rrsets":[{"name":"x.t.test.","type":"TYPE65401","changetype":"REPLACE","ttl":1,"records":[]}]})", 422, "invalid type"},
      {R"({"rrsets":[{"name":"t.test.","type":"SOA","changetype":"DELETE"}]})", 422, "SOA"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    control::ApiResponse r = call(f, "PATCH", "/api/v1/servers/localhost/zones/t.test.", c.body);
    CHECK(r.status == c.status);
    if (c.status >= 400) CHECK(json::parse(r.body).at("error").as_string().find(c.words) != json::string::npos);
    CHECK(f.z->serial() == 7);
  }
}

TEST_CASE("tag RRs: tagged_zone_rrs and tagged_to_records keep cf_tags through wire form") {
  std::shared_ptr<const zone::Zone> z = compile(zone_text);
  std::vector<zone::JournalRR> rrs = zone::tagged_zone_rrs(*z);
  size_t tags = std::count_if(rrs.begin(), rrs.end(), [](const zone::JournalRR& rr) { return rr.type == zone::tag_rrtype; });
  CHECK(tags == 2);  // www proxied, alias flattened (the apex is flattened by the zone's mode: no tag)
  auto again = zone::compile_zone(z->origin(), zone::tagged_to_records(rrs, nullptr), "t.zone");
  CHECK(again->proxied_count() == z->proxied_count());
  std::vector<zone::JournalRR> back = zone::tagged_zone_rrs(*again);
  std::sort(rrs.begin(), rrs.end(), zone::canonical_less);
  std::sort(back.begin(), back.end(), zone::canonical_less);
  CHECK(back == rrs);
  // records_to_text writes the comments, so a file made from them reads back tagged.
  std::string text = zone::records_to_text(zone::tagged_to_records(rrs, nullptr), "copy");
  CHECK(text.find("192.0.2.1 ; cf_tags=cf-proxied:true") != std::string::npos);
  auto reread = zone::compile_zone(z->origin(), zone::load_zone_text(text, z->origin(), "copy.zone"), "copy.zone");
  std::vector<zone::JournalRR> third = zone::tagged_zone_rrs(*reread);
  std::sort(third.begin(), third.end(), zone::canonical_less);
  CHECK(third == rrs);
}
