// Tests for server/journals: the data fingerprint, start-up against the journal left on disk
// (continued, SOA-only step, restarted), recording new versions, and reopening.
#include "server/journals.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using test::view;
using zone::JournalRR;

namespace {

const std::string origin = test::wire_name("example.test.");

std::string zone_text(uint32_t serial, const std::string& www = "192.0.2.80", const std::string& extra = "",
                      const std::string& soa_rest = "7200 3600 1209600 300", const std::string& soa_ttl = "3600") {
  return "$ORIGIN example.test.\n$TTL 3600\n@ " + soa_ttl + " SOA ns1 hostmaster " + std::to_string(serial) + " " +
         soa_rest + "\n@ NS ns1\nns1 A 192.0.2.1\nwww A " + www + "\n" + extra;
}

zone::ZoneOptions primary_options() {
  zone::ZoneOptions o;
  o.allow_transfer.push_back(zone::AccessEntry{});  // anyone: the zone has secondaries
  return o;
}

zone::ZoneOptions secondary_options() {
  zone::ZoneOptions o = primary_options();
  o.primaries.push_back({"192.0.2.99", 53});
  return o;
}

std::shared_ptr<const zone::Zone> compile(const std::string& text, const zone::ZoneOptions& o = primary_options()) {
  return zone::compile_zone(view(origin), zone::load_zone_text(text, view(origin), "example.test.zone"),
                            "example.test.zone", o);
}

std::shared_ptr<const zone::ZoneSet> set_of(std::shared_ptr<const zone::Zone> z) {
  return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{std::move(z)});
}

std::string lname(const std::string& text) { return wire::name_lower(view(test::wire_name(text))); }

JournalRR www(const std::string& addr, uint32_t ttl = 3600) {
  std::string rd;
  for (size_t i = 0, j; i <= addr.size(); i = j + 1) {
    j = addr.find('.', i);
    if (j == std::string::npos) j = addr.size();
    rd += char(std::stoi(addr.substr(i, j - i)));
  }
  return {lname("www.example.test."), wire::rrtype::A, ttl, rd};
}

uint32_t soa_serial(const JournalRR& rr) {
  const auto* p = reinterpret_cast<const uint8_t*>(rr.rdata.data());
  size_t at = wire::name_wire_length({p, rr.rdata.size()});
  at += wire::name_wire_length({p + at, rr.rdata.size() - at});
  return uint32_t(p[at]) << 24 | uint32_t(p[at + 1]) << 16 | uint32_t(p[at + 2]) << 8 | p[at + 3];
}

// A state dir, an io_context, the zones cell and a Journals over them.
struct Fixture {
  test::TempDir state;
  std::string dir = (state.path() / "journal").string();
  boost::asio::io_context io;
  server::SnapshotCell<zone::ZoneSet> zones{std::make_shared<const zone::ZoneSet>()};

  std::unique_ptr<server::Journals> open() {
    return std::make_unique<server::Journals>(dir, io, zones, nullptr, nullptr);
  }
  // Journals the version `before` → `after` and waits for it.
  void record(server::Journals& j, std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after) {
    bool done = false;
    j.record(std::move(before), std::move(after), [&] { done = true; });
    io.restart();
    io.run();
    CHECK(done);
  }
  // A journal holding one entry, serial 10 → 11 (www 192.0.2.80 → 192.0.2.81).
  void prepare(const zone::ZoneOptions& o = primary_options()) {
    auto j = open();
    auto z10 = compile(zone_text(10), o);
    auto z11 = compile(zone_text(11, "192.0.2.81"), o);
    CHECK(j->startup(set_of(z10))->zones()[0] == z10);  // no journal yet: nothing to continue
    record(*j, z10, z11);
    REQUIRE(j->entries_written() == 1);
    REQUIRE(j->since(origin, 10, 11).has_value());
  }
};

}  // namespace

TEST_CASE("zone_data_fingerprint: the same for another serial, different for any other change") {
  auto z = compile(zone_text(10));
  uint64_t fp = server::zone_data_fingerprint(*z);
  CHECK(server::zone_data_fingerprint(*z->with_serial(11)) == fp);
  CHECK(server::zone_data_fingerprint(*z->with_serial(4000000000u)) == fp);
  CHECK(server::zone_data_fingerprint(*compile(zone_text(99))) == fp);
  CHECK(server::zone_data_fingerprint(*compile(zone_text(10), {})) == fp);  // options are not data

  struct Case {
    std::string what;
    std::string text;
  } cases[] = {
      {"an address", zone_text(10, "192.0.2.81")},
      {"a record added", zone_text(10, "192.0.2.80", "mail A 192.0.2.2\n")},
      {"a record added to an RRset", zone_text(10, "192.0.2.80", "www A 192.0.2.81\n")},
      {"a TTL", "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 hostmaster 10 7200 3600 1209600 300\n@ NS ns1\n"
                "ns1 A 192.0.2.1\nwww 60 A 192.0.2.80\n"},
      {"a name", "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 hostmaster 10 7200 3600 1209600 300\n@ NS ns1\n"
                 "ns1 A 192.0.2.1\nwww2 A 192.0.2.80\n"},
      {"the SOA refresh", zone_text(10, "192.0.2.80", "", "7201 3600 1209600 300")},
      {"the SOA retry", zone_text(10, "192.0.2.80", "", "7200 3601 1209600 300")},
      {"the SOA expire", zone_text(10, "192.0.2.80", "", "7200 3600 1209601 300")},
      {"the SOA minimum", zone_text(10, "192.0.2.80", "", "7200 3600 1209600 301")},
      {"the SOA TTL", zone_text(10, "192.0.2.80", "", "7200 3600 1209600 300", "60")},
      {"the SOA MNAME", "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns2 hostmaster 10 7200 3600 1209600 300\n@ NS ns1\n"
                        "ns1 A 192.0.2.1\nwww A 192.0.2.80\n"},
      {"the SOA RNAME", "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 admin 10 7200 3600 1209600 300\n@ NS ns1\n"
                        "ns1 A 192.0.2.1\nwww A 192.0.2.80\n"},
      {"an NSEC3 record kept aside",
       zone_text(10, "192.0.2.80", "2vptu5timamqttgl4luu9kg21e0aor3s NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s A\n")},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    CHECK(server::zone_data_fingerprint(*compile(c.text)) != fp);
  }
  // The serial is skipped by position, not by value: moving it changes nothing else.
  auto nsec3 = compile(zone_text(10, "192.0.2.80", "2vptu5timamqttgl4luu9kg21e0aor3s NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s A\n"));
  auto nsec3_ttl = compile(zone_text(10, "192.0.2.80", "2vptu5timamqttgl4luu9kg21e0aor3s 60 NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s A\n"));
  CHECK(server::zone_data_fingerprint(*nsec3) != server::zone_data_fingerprint(*nsec3_ttl));
}

TEST_CASE("Journals::record: the difference is journaled, done is called after it, since() reads it") {
  Fixture f;
  auto j = f.open();
  auto z10 = compile(zone_text(10));
  auto z11 = compile(zone_text(11, "192.0.2.81"));
  auto z12 = compile(zone_text(12, "192.0.2.82", "mail A 192.0.2.2\n"));
  (void)j->startup(set_of(z10));
  bool done = false;
  j->record(z10, z11, [&] { done = true; });
  CHECK_FALSE(done);  // on the io_context
  f.io.run();
  CHECK(done);
  CHECK(j->entries_written() == 1);

  auto cs = j->since(origin, 10, 11);
  REQUIRE(cs.has_value());
  CHECK(cs->serial_from == 10);
  CHECK(cs->serial_to == 11);
  REQUIRE(cs->removed.size() == 2);
  REQUIRE(cs->added.size() == 2);
  CHECK(soa_serial(cs->removed[0]) == 10);
  CHECK(soa_serial(cs->added[0]) == 11);
  CHECK(cs->removed[1] == www("192.0.2.80"));
  CHECK(cs->added[1] == www("192.0.2.81"));

  CHECK_FALSE(j->since(origin, 9, 11).has_value());   // an unknown serial
  CHECK_FALSE(j->since(origin, 11, 11).has_value());  // nothing to send
  CHECK_FALSE(j->since(origin, 10, 12).has_value());  // the journal does not end at the current serial
  CHECK_FALSE(j->since(lname("other.test."), 10, 11).has_value());

  f.record(*j, z11, z12);
  CHECK(j->entries_written() == 2);
  auto both = j->since(origin, 10, 12);
  REQUIRE(both.has_value());
  CHECK(both->removed.size() == 2);  // SOA 10, www .80
  CHECK(both->added.size() == 3);    // SOA 12, mail, www .82
  auto last = j->since(origin, 11, 12);
  REQUIRE(last.has_value());
  CHECK(last->removed == std::vector<JournalRR>{last->removed[0], www("192.0.2.81")});

  SUBCASE("a new Journals on the same folder keeps the entries") {
    j.reset();
    auto again = f.open();
    auto set = again->startup(set_of(z12));
    CHECK(set->zones()[0] == z12);  // the file is the journal's last version: nothing changes
    auto cs2 = again->since(origin, 10, 12);
    REQUIRE(cs2.has_value());
    CHECK(*cs2 == *both);
    CHECK(again->since(origin, 11, 12) == last);
  }
}

TEST_CASE("Journals::record: a zone without secondaries keeps no journal; done is called at once") {
  Fixture f;
  auto j = f.open();
  for (zone::ZoneOptions o : {zone::ZoneOptions{}, [] {
                                zone::ZoneOptions o = primary_options();
                                o.journal_max = 0;
                                return o;
                              }()}) {
    auto z10 = compile(zone_text(10), o);
    auto z11 = compile(zone_text(11, "192.0.2.81"), o);
    CHECK(j->startup(set_of(z10))->zones()[0] == z10);
    bool done = false;
    j->record(z10, z11, [&] { done = true; });
    CHECK(done);  // before the io_context runs
    f.io.restart();
    f.io.run();
    CHECK(j->entries_written() == 0);
    CHECK_FALSE(j->since(origin, 10, 11).has_value());
  }
  CHECK_FALSE(std::filesystem::exists(f.dir));  // nothing written
  bool done = false;
  j->record(nullptr, nullptr, [&] { done = true; });
  CHECK(done);
}

TEST_CASE("Journals::record: a new zone (no version before) starts the journal again") {
  Fixture f;
  f.prepare();
  auto j = f.open();
  auto z11 = compile(zone_text(11, "192.0.2.81"));
  (void)j->startup(set_of(z11));
  REQUIRE(j->since(origin, 10, 11).has_value());
  f.record(*j, nullptr, z11);
  CHECK_FALSE(j->since(origin, 10, 11).has_value());
}

TEST_CASE("Journals::startup: the file still holds the journal's last version") {
  Fixture f;
  f.prepare();
  auto data11 = [](uint32_t serial, const zone::ZoneOptions& o = primary_options()) {
    return compile(zone_text(serial, "192.0.2.81"), o);
  };

  SUBCASE("under the same serial: nothing changes") {
    auto j = f.open();
    auto z = data11(11);
    auto set = set_of(z);
    CHECK(j->startup(set) == set);
    CHECK(j->since(origin, 10, 11).has_value());
  }
  SUBCASE("the journal's serial is greater: the zone is served with it") {
    auto j = f.open();
    auto set = j->startup(set_of(data11(5)));
    REQUIRE(set->zones().size() == 1);
    CHECK(set->zones()[0]->serial() == 11);
    CHECK(server::zone_data_fingerprint(*set->zones()[0]) == server::zone_data_fingerprint(*data11(5)));
    CHECK(j->since(origin, 10, 11).has_value());  // IXFR from 10 still works
  }
  SUBCASE("the file's serial is greater: an SOA-only step to it") {
    auto j = f.open();
    auto z = data11(20);
    auto set = set_of(z);
    CHECK(j->startup(set)->zones()[0] == z);  // served as loaded
    auto step = j->since(origin, 11, 20);
    REQUIRE(step.has_value());
    REQUIRE(step->removed.size() == 1);
    REQUIRE(step->added.size() == 1);
    CHECK(soa_serial(step->removed[0]) == 11);
    CHECK(soa_serial(step->added[0]) == 20);
    auto all = j->since(origin, 10, 20);
    REQUIRE(all.has_value());
    CHECK(all->removed.size() == 2);
    CHECK(all->added.size() == 2);
    CHECK(all->added[1] == www("192.0.2.81"));
    j.reset();
    auto again = f.open();  // and the step is on disk
    CHECK(again->startup(set_of(data11(20)))->zones()[0]->serial() == 20);
    CHECK(again->since(origin, 11, 20).has_value());
  }
  SUBCASE("a secondary zone keeps the serial it was given") {
    Fixture s;
    s.prepare(secondary_options());
    auto j = s.open();
    auto z = data11(5, secondary_options());
    CHECK(j->startup(set_of(z))->zones()[0]->serial() == 5);
  }
}

TEST_CASE("Journals::startup: the data changed while stopped: the journal starts again") {
  Fixture f;
  f.prepare();
  auto changed = [](uint32_t serial, const zone::ZoneOptions& o = primary_options()) {
    return compile(zone_text(serial, "192.0.2.99"), o);
  };
  SUBCASE("the file's serial is greater: kept") {
    auto j = f.open();
    auto z = changed(30);
    CHECK(j->startup(set_of(z))->zones()[0] == z);
    CHECK_FALSE(j->since(origin, 10, 30).has_value());
    CHECK_FALSE(j->since(origin, 10, 11).has_value());  // cleared
    // and the next version continues from here
    f.record(*j, z, changed(31));
    CHECK(j->since(origin, 30, 31).has_value());
  }
  SUBCASE("the file's serial is not greater: the serial after the journal's") {
    for (uint32_t serial : {5u, 11u}) {
      CAPTURE(serial);
      Fixture g;
      g.prepare();
      auto j = g.open();
      auto set = j->startup(set_of(changed(serial)));
      CHECK(set->zones()[0]->serial() == zone::next_serial(11, zone::SerialPolicy::increment, 0));
      CHECK(set->zones()[0]->serial() == 12);
      CHECK_FALSE(j->since(origin, 10, 11).has_value());
    }
  }
  SUBCASE("a secondary zone keeps the serial it was given") {
    Fixture s;
    s.prepare(secondary_options());
    auto j = s.open();
    auto z = changed(5, secondary_options());
    CHECK(j->startup(set_of(z))->zones()[0] == z);
    CHECK_FALSE(j->since(origin, 10, 11).has_value());
  }
}
