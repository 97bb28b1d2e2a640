// Tests for zone/compile, zone/zone and zone/zone_set: nodes in canonical order, empty
// non-terminals, flags, parents, lookups, additional targets and the longest-origin zone choice.
#include "zone/zone.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_set.hpp"

using namespace apexd;
using apexd::test::view;
using apexd::test::wire_name;
namespace rrtype = wire::rrtype;

namespace {

std::shared_ptr<const zone::Zone> compile(const std::string& origin_text, const std::string& text,
                                          const zone::ZoneOptions& options = {}) {
  std::string origin = wire_name(origin_text);
  return zone::compile_zone(view(origin), zone::load_zone_text(text, view(origin), "t.zone"), "t.zone", options);
}

const std::string zone_text = R"ZONE($ORIGIN example.com.
$TTL 300
@        SOA ns1 hostmaster 5 7200 3600 1209600 60
@        NS  ns1
ns1      A   192.0.2.1
a.b.c    A   192.0.2.2
*.w      A   192.0.2.3
deleg    NS  ns.deleg
deleg    NS  ns1
ns.deleg A   192.0.2.4
)ZONE";

std::string name_text(const zone::Zone& z, const zone::Node& n) { return wire::name_to_text(z.name(n)); }

}  // namespace

TEST_CASE("compile_zone: canonical order, empty non-terminals, flags and parents") {
  auto z = compile("Example.COM.", zone_text);
  struct Expected {
    std::string name;
    uint16_t flags;
    uint16_t rrsets;
    std::string parent;  // "" for the apex
  };
  const std::vector<Expected> expected = {
      {"example.com.", zone::node_apex, 2, ""},
      {"c.example.com.", 0, 0, "example.com."},
      {"b.c.example.com.", 0, 0, "c.example.com."},
      {"a.b.c.example.com.", 0, 1, "b.c.example.com."},
      {"deleg.example.com.", zone::node_delegation, 1, "example.com."},
      {"ns.deleg.example.com.", zone::node_nonauth, 1, "deleg.example.com."},
      {"ns1.example.com.", 0, 1, "example.com."},
      {"w.example.com.", zone::node_wildcard_child, 0, "example.com."},
      {"*.w.example.com.", 0, 1, "w.example.com."},
  };
  REQUIRE(z->nodes().size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const zone::Node& n = z->nodes()[i];
    const Expected& e = expected[i];
    CAPTURE(e.name);
    CHECK(name_text(*z, n) == e.name);
    CHECK(n.flags == e.flags);
    CHECK(n.rrset_count == e.rrsets);
    CHECK(n.labels == wire::name_label_count(z->name(n)));
    const zone::Node* p = z->parent(n);
    CHECK((p ? name_text(*z, *p) : std::string()) == e.parent);
  }
  CHECK(z->origin_text() == "example.com.");  // stored lowercase
  CHECK(z->serial() == 5);
  CHECK(z->negative_ttl() == 60);  // min(SOA TTL 300, MINIMUM 60)
  CHECK(z->record_count() == 8);
  const zone::Node& w = z->nodes()[7];
  REQUIRE(z->wildcard_child(w));
  CHECK(name_text(*z, *z->wildcard_child(w)) == "*.w.example.com.");
  CHECK(z->wildcard_child(z->apex()) == nullptr);
}

TEST_CASE("Zone::lookup: exact match or closest encloser") {
  auto z = compile("example.com.", zone_text);
  struct Case {
    std::string qname;  // lowercase
    std::string exact;  // "" when there is no exact match
    std::string encloser;
  };
  const std::vector<Case> cases = {
      {"example.com.", "example.com.", ""},
      {"b.c.example.com.", "b.c.example.com.", ""},
      {"x.a.b.c.example.com.", "", "a.b.c.example.com."},
      {"x.y.b.c.example.com.", "", "b.c.example.com."},
      {"nope.example.com.", "", "example.com."},
      {"q.w.example.com.", "", "w.example.com."},
      {"www.deleg.example.com.", "", "deleg.example.com."},
  };
  for (const Case& c : cases) {
    CAPTURE(c.qname);
    std::string q = wire_name(c.qname);
    zone::Lookup l = z->lookup(view(q));
    CHECK((l.node ? name_text(*z, *l.node) : std::string()) == c.exact);
    CHECK((l.encloser ? name_text(*z, *l.encloser) : std::string()) == c.encloser);
  }
}

TEST_CASE("compile_zone: additional targets; glue below the cut is mandatory") {
  auto z = compile("example.com.", zone_text);
  std::string deleg = wire_name("deleg.example.com.");
  const zone::Node* cut = z->find(view(deleg));
  REQUIRE(cut);
  const zone::RRset* ns = z->rrset(*cut, rrtype::NS);
  REQUIRE(ns);
  auto adds = z->additionals(*ns);
  REQUIRE(adds.size() == 2);
  // Mandatory glue first (RFC 9471), then the in-zone name server outside the cut.
  CHECK(wire::name_to_text(z->additional_name(adds[0])) == "ns.deleg.example.com.");
  CHECK(adds[0].mandatory);
  CHECK(wire::name_to_text(z->additional_name(adds[1])) == "ns1.example.com.");
  CHECK_FALSE(adds[1].mandatory);
  CHECK(name_text(*z, *z->node_at(adds[0].node)) == "ns.deleg.example.com.");

  const zone::RRset* apex_ns = z->rrset(z->apex(), rrtype::NS);
  REQUIRE(apex_ns);
  REQUIRE(z->additionals(*apex_ns).size() == 1);
  CHECK_FALSE(z->additionals(*apex_ns)[0].mandatory);
}

TEST_CASE("compile_zone: identical RRs are one RR (RFC 2181 §5)") {
  auto z = compile("example.com.",
                   "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n"
                   "www A 192.0.2.1\nwww A 192.0.2.1\nWWW A 192.0.2.2\n");
  std::string www = wire_name("www.example.com.");
  const zone::Node* n = z->find(view(www));
  REQUIRE(n);
  const zone::RRset* a = z->rrset(*n, rrtype::A);
  REQUIRE(a);
  CHECK(a->rdata_count == 2);
  CHECK(z->record_count() == 4);
}

TEST_CASE("compile_zone: a CNAME at the apex is accepted for flattening by default") {
  const std::string text =
      "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n@ MX 10 mail\n@ TXT \"v=spf1\"\n"
      "@ CNAME app.platform.test.\n";
  auto z = compile("example.com.", text);
  CHECK(z->rrset(z->apex(), rrtype::CNAME) != nullptr);
  CHECK((z->apex().flags & zone::node_flattened) != 0);
  CHECK_THROWS_AS(compile("example.com.", text, {.flatten = zone::FlattenMode::none}), zone::ZoneError);
}

TEST_CASE("ZoneSet: the longest origin wins") {
  auto parent = compile("example.com.", "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n");
  auto child = compile("child.example.com.", "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n");
  zone::ZoneSet set({parent, child});
  struct Case {
    std::string qname;
    const zone::Zone* suffix;
    const zone::Zone* exact;
  };
  const std::vector<Case> cases = {
      {"example.com.", parent.get(), parent.get()},
      {"www.example.com.", parent.get(), nullptr},
      {"child.example.com.", child.get(), child.get()},
      {"a.b.child.example.com.", child.get(), nullptr},
      {"xchild.example.com.", parent.get(), nullptr},
      {"com.", nullptr, nullptr},
      {".", nullptr, nullptr},
      {"example.org.", nullptr, nullptr},
  };
  for (const Case& c : cases) {
    CAPTURE(c.qname);
    std::string q = wire_name(c.qname);
    CHECK(set.find_suffix(view(q)) == c.suffix);
    CHECK(set.find_exact(view(q)) == c.exact);
  }
  CHECK(set.zones().size() == 2);
  CHECK(zone::ZoneSet().find_suffix(view(wire_name("example.com."))) == nullptr);
}

TEST_CASE("ZoneSet: a failed zone answers for its names when it is the nearest origin") {
  const std::string text = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n";
  auto parent = compile("example.com.", text);
  auto grandchild = compile("deep.child.example.com.", text);
  zone::FailedZone failed{wire_name("child.example.com."), "child.example.com.", "c.zone", "c.zone:3: broken"};
  zone::ZoneSet set({parent, grandchild}, {failed});
  struct Case {
    std::string qname;
    bool failed;  // the failed zone is the nearest
  };
  const std::vector<Case> cases = {
      {"example.com.", false},          {"www.example.com.", false},
      {"child.example.com.", true},     {"x.y.child.example.com.", true},
      {"deep.child.example.com.", false}, {"a.deep.child.example.com.", false},
      {"example.org.", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.qname);
    std::string q = wire_name(c.qname);
    const zone::Zone* z = set.find_suffix(view(q));
    const zone::FailedZone* f = set.failed_below(view(q), z);
    CHECK((f != nullptr) == c.failed);
    if (f) CHECK(f->origin_text == "child.example.com.");
  }
  CHECK(zone::ZoneSet({parent}).failed_below(view(wire_name("a.example.com.")), parent.get()) == nullptr);
}
