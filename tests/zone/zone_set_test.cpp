// Tests for ZoneSet's persistent edits (with_zone, without_zone) over ZoneList and OriginIndex:
// random sequences of replace, add and remove checked against a plain map, across chunk
// boundaries and through index collisions (backward-shift deletion).
#include "zone/zone_set.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"

using namespace apexd;
using test::view;

namespace {

std::shared_ptr<const zone::Zone> make(const std::string& origin_text, uint32_t serial) {
  std::string origin = test::wire_name(origin_text);
  std::string text = "@ 60 IN SOA ns1 h " + std::to_string(serial) + " 1 1 1 1\n@ 60 IN NS ns1\nns1 60 IN A 192.0.2.1\n";
  return zone::compile_zone(view(origin), zone::load_zone_text(text, view(origin), "t.zone"), "t.zone");
}

}  // namespace

TEST_CASE("ZoneSet::with_zone and without_zone agree with a map through 3,000 random edits") {
  std::mt19937 rng(12345);
  std::vector<std::shared_ptr<const zone::Zone>> initial;
  std::map<std::string, uint32_t> want;  // origin text -> serial
  for (int i = 0; i < 1500; ++i) {
    std::string o = "z" + std::to_string(i) + ".test.";
    initial.push_back(make(o, 1));
    want[o] = 1;
  }
  auto set = std::make_shared<const zone::ZoneSet>(initial);
  std::vector<std::shared_ptr<const zone::ZoneSet>> kept{set};  // older sets must stay as they were
  for (int step = 0; step < 3000; ++step) {
    int op = int(rng() % 3);
    std::string o = "z" + std::to_string(rng() % 2500) + ".test.";
    if (op < 2) {
      uint32_t serial = 2 + uint32_t(step);
      set = set->with_zone(make(o, serial));
      want[o] = serial;
    } else {
      set = set->without_zone(view(test::wire_name(o)));
      want.erase(o);
    }
    if (step % 500 == 0) kept.push_back(set);
  }
  REQUIRE(set->zones().size() == want.size());
  for (const auto& [o, serial] : want) {
    const zone::Zone* z = set->find_exact(view(test::wire_name(o)));
    REQUIRE_MESSAGE(z, o);
    CHECK(z->serial() == serial);
    CHECK(set->zones()[set->index_of(z->origin())].get() == z);
  }
  for (int i = 0; i < 2500; ++i) {
    std::string o = "z" + std::to_string(i) + ".test.";
    if (!want.count(o)) CHECK_FALSE(set->find_exact(view(test::wire_name(o))));
  }
  size_t n = 0;
  for (const auto& z : set->zones()) n += z != nullptr;
  CHECK(n == want.size());
  // The first set is untouched by everything after it.
  CHECK(kept.front()->zones().size() == 1500);
  for (int i = 0; i < 1500; ++i) {
    const zone::Zone* z = kept.front()->find_exact(view(test::wire_name("z" + std::to_string(i) + ".test.")));
    REQUIRE(z);
    CHECK(z->serial() == 1);
  }
}

TEST_CASE("ZoneSet edits drop a failed entry of the same origin, and find_suffix still walks up") {
  zone::FailedZone f{test::wire_name("bad.test."), "bad.test.", "bad.zone", "bad.zone:1: broken"};
  auto set = std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{make("a.test.", 1)},
                                                    std::vector<zone::FailedZone>{f});
  CHECK(set->find_failed(view(test::wire_name("bad.test."))));
  auto next = set->with_zone(make("bad.test.", 5));
  CHECK_FALSE(next->find_failed(view(test::wire_name("bad.test."))));
  CHECK(next->find_suffix(view(test::wire_name("www.bad.test.")))->serial() == 5);
  auto gone = next->without_zone(view(test::wire_name("a.test.")));
  CHECK_FALSE(gone->find_suffix(view(test::wire_name("x.a.test."))));
  CHECK(gone->find_exact(view(test::wire_name("bad.test."))));
  CHECK(gone->zones().size() == 1);
}
