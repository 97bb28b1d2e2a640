// Tests for xfr/catalog: a produced catalog reads back to its members, labels are stable, and
// a catalog that is not version 2 is refused (RFC 9432 §4.3).
#include "xfr/catalog.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"

using namespace apexd;
using test::view;

TEST_CASE("build_catalog → catalog_members round trip; stable labels; version 2 only") {
  std::vector<std::string> members{test::wire_name("a.test."), test::wire_name("b.example.")};
  auto cat = xfr::build_catalog(test::wire_name("cat.invalid."), members, 42, {});
  CHECK(cat->serial() == 42);
  std::string error;
  std::vector<std::string> back = xfr::catalog_members(*cat, error);  // in the zone's (label) order
  std::sort(back.begin(), back.end());
  CHECK(back == members);
  CHECK(error.empty());
  CHECK(xfr::catalog_member_label(members[0]) == xfr::catalog_member_label(test::wire_name("a.test.")));
  CHECK(xfr::catalog_member_label(members[0]) != xfr::catalog_member_label(members[1]));
  CHECK(xfr::catalog_member_label(members[0]).size() == 16);

  std::string origin = test::wire_name("cat.knot.");
  auto v1 = zone::compile_zone(view(origin),
                               zone::load_zone_text("@ 0 IN SOA invalid. invalid. 1 1 1 1 0\n@ 0 IN NS invalid.\n"
                                                    "version 0 IN TXT \"1\"\nx.zones 0 IN PTR a.test.\n",
                                                    view(origin), "v1"),
                               "v1");
  CHECK(xfr::catalog_members(*v1, error).empty());
  CHECK(error.find("version 2") != std::string::npos);
  // Properties below a member, and a member with two PTRs, are not members (§4.4.1).
  auto v2 = zone::compile_zone(view(origin),
                               zone::load_zone_text("@ 0 IN SOA invalid. invalid. 1 1 1 1 0\n@ 0 IN NS invalid.\n"
                                                    "version 0 IN TXT \"2\"\nx.zones 0 IN PTR A.Test.\n"
                                                    "group.x.zones 0 IN TXT \"g\"\n"
                                                    "y.zones 0 IN PTR b.test.\ny.zones 0 IN PTR c.test.\n",
                                                    view(origin), "v2"),
                               "v2");
  error.clear();
  CHECK(xfr::catalog_members(*v2, error) == std::vector<std::string>{test::wire_name("a.test.")});
}
