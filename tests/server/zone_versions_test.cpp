// Tests for server/zone_versions and Zone::with_serial: a zone with secondaries gets a new
// version (serial moved by its policy) when the addresses its flattened apex transfers change,
// and not when only a TTL does.
#include "server/zone_versions.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "server/transfer_view.hpp"
#include "support/dns_test.hpp"
#include "tests/resolver/fake_upstream.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using test::view;

namespace {

std::shared_ptr<const zone::Zone> compile(const std::string& origin_text, const std::string& text,
                                          zone::ZoneOptions options = {}) {
  std::string origin = test::wire_name(origin_text);
  auto records = zone::load_zone_text(text, view(origin), origin_text + "zone");
  return zone::compile_zone(view(origin), std::move(records), origin_text + "zone", options);
}

zone::ZoneOptions with_secondaries() {
  zone::ZoneOptions o;
  o.allow_transfer.push_back({});  // anyone: it has secondaries
  return o;
}

const std::string customer =
    "$TTL 3600\n@ SOA ns1 hostmaster 41 7200 3600 1209600 300\n@ NS ns1\n@ CNAME app.platform.test.\nns1 A 192.0.2.1\n";

std::string platform(const std::string& address, unsigned ttl = 300) {
  return "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.9\napp " +
         std::to_string(ttl) + " A " + address + "\n";
}

std::shared_ptr<const zone::ZoneSet> set_of(std::shared_ptr<const zone::Zone> a, std::shared_ptr<const zone::Zone> b) {
  return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{std::move(a), std::move(b)});
}

void run_round(server::ZoneVersions& v) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, v.round(), boost::asio::use_future);
  io.run();
  f.get();
}

uint32_t served_serial(server::SnapshotCell<zone::ZoneSet>& cell) {
  return cell.load()->find_exact(view(test::wire_name("example.test.")))->serial();
}

}  // namespace

TEST_CASE("Zone::with_serial changes the SOA serial and nothing else") {
  auto z = compile("example.test.", customer);
  auto v = z->with_serial(77);
  CHECK(z->serial() == 41);
  CHECK(v->serial() == 77);
  auto soa = v->rdata(v->soa(), 0);
  CHECK(soa[soa.size() - 20] == 0);
  CHECK(soa[soa.size() - 17] == 77);
  CHECK(v->nodes().size() == z->nodes().size());
  CHECK(v->record_count() == z->record_count());
  CHECK(z->rdata(z->soa(), 0)[z->rdata(z->soa(), 0).size() - 17] == 41);  // the original is untouched
}

TEST_CASE("next_serial: every policy moves forward in RFC 1982 arithmetic") {
  int64_t now = 1796297000;  // 2026-12-03
  CHECK(zone::next_serial(41, zone::SerialPolicy::increment, now) == 42);
  CHECK(zone::next_serial(0xFFFFFFFFu, zone::SerialPolicy::increment, now) == 0);
  CHECK(zone::next_serial(1, zone::SerialPolicy::unixtime, now) == uint32_t(now));
  CHECK(zone::next_serial(2026120301, zone::SerialPolicy::unixtime, now) == 2026120302);  // now is "smaller"
  CHECK(zone::next_serial(1, zone::SerialPolicy::dateserial, now) == 2026120300);
  CHECK(zone::next_serial(2026120300, zone::SerialPolicy::dateserial, now) == 2026120301);
  CHECK(zone::serial_greater(0, 0xFFFFFFFFu));
  CHECK_FALSE(zone::serial_greater(5, 5));
}

TEST_CASE("ZoneVersions: a moved flattened target makes a new version; a TTL change does not") {
  auto cust = compile("example.test.", customer, with_secondaries());
  server::SnapshotCell<zone::ZoneSet> cell(set_of(cust, compile("platform.test.", platform("198.51.100.7"))));
  int notified = 0;
  server::ZoneVersions versions(cell, nullptr, nullptr, [&](auto before, auto after) {
    ++notified;
    CHECK(after->serial() == before->serial() + 1);
  });
  run_round(versions);  // the baseline
  CHECK(versions.versions_made() == 0);
  CHECK(served_serial(cell) == 41);

  cell.publish(set_of(cust, compile("platform.test.", platform("198.51.100.7", 60))));
  run_round(versions);
  CHECK(versions.versions_made() == 0);  // only the TTL moved

  cell.publish(set_of(cust, compile("platform.test.", platform("198.51.100.8"))));
  run_round(versions);
  CHECK(versions.versions_made() == 1);
  CHECK(notified == 1);
  CHECK(served_serial(cell) == 42);

  cell.publish(set_of(cell.load()->find_exact(view(test::wire_name("example.test.")))->with_serial(42),
                      compile("platform.test.", platform("198.51.100.9"))));
  run_round(versions);  // a zone replaced (as by a reload) starts a new baseline: no version
  CHECK(versions.versions_made() == 1);
}

TEST_CASE("ZoneVersions: zones without secondaries are left alone") {
  auto cust = compile("example.test.", customer);  // no allow_transfer, no notify
  server::SnapshotCell<zone::ZoneSet> cell(set_of(cust, compile("platform.test.", platform("198.51.100.7"))));
  server::ZoneVersions versions(cell, nullptr, nullptr, {});
  run_round(versions);
  cell.publish(set_of(cust, compile("platform.test.", platform("198.51.100.8"))));
  run_round(versions);
  CHECK(versions.versions_made() == 0);
  CHECK(served_serial(cell) == 41);
}

TEST_CASE("ZoneVersions: changes closer than notify_min_interval are merged; 0 makes each its own version") {
  for (uint32_t interval : {30u, 0u}) {
    INFO("interval := " << interval);
    zone::ZoneOptions o = with_secondaries();
    o.notify_min_interval = interval;
    auto cust = compile("example.test.", customer, o);
    server::SnapshotCell<zone::ZoneSet> cell(set_of(cust, compile("platform.test.", platform("198.51.100.7"))));
    server::ZoneVersions versions(cell, nullptr, nullptr, {});
    run_round(versions);  // the baseline
    auto current = [&] { return std::shared_ptr<const zone::Zone>(cell.load()->zones()[cell.load()->index_of(cust->origin())]); };
    cell.publish(set_of(current(), compile("platform.test.", platform("198.51.100.8"))));
    run_round(versions);
    CHECK(versions.versions_made() == 1);
    cell.publish(set_of(current(), compile("platform.test.", platform("198.51.100.9"))));
    run_round(versions);  // right after the first version
    CHECK(versions.versions_made() == (interval == 0 ? 2 : 1));
    CHECK(served_serial(cell) == (interval == 0 ? 43 : 42));
  }
}

namespace {

// A customer zone whose apex is flattened into a name no zone of ours holds: the resolver's.
const std::string external_customer =
    "$TTL 3600\n@ SOA ns1 hostmaster 41 7200 3600 1209600 300\n@ NS ns1\n@ CNAME app.elsewhere.example.\n"
    "ns1 A 192.0.2.1\n";

std::vector<std::string> apex_a(const xfr::Replacements& r, const zone::Zone& z) {
  for (const auto& [node, sets] : r)
    if (z.nodes()[node].parent == zone::no_node)
      for (const xfr::AddressRRset& s : sets)
        if (s.type == wire::rrtype::A) return s.rdata;
  return {};
}

xfr::Replacements replacements(resolver::AliasResolver& r, const zone::ZoneSet& set, const zone::Zone& z,
                               server::LastKnownAddresses* last_known) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, server::transfer_replacements(&r, nullptr, set, z, last_known), boost::asio::use_future);
  io.run();
  return f.get();
}

}  // namespace

// Issue 11: "a name whose target cannot be resolved when the transfer is built keeps its last
// known addresses; one never resolved is left out" — here past the resolver's stale window.
TEST_CASE("transfer_replacements: a target that fails keeps its last known addresses, once it had any") {
  using namespace std::chrono_literals;
  test::ScriptedUpstream up;
  bool failing = false;
  up.answer = [&](std::string, uint16_t type) {
    if (failing) {
      resolver::Resolution f;
      f.ede_text = "upstream timed out";
      return f;
    }
    return type == wire::rrtype::A ? test::addresses(60, {"\xc6\x33\x64\x07"}) : [] {
      resolver::Resolution r;
      r.outcome = resolver::Outcome::nodata;
      r.ttl = 60;
      return r;
    }();
  };
  test::FakeClock clock;
  resolver::CacheOptions co;
  co.hash_seed = 3;
  co.serve_stale = 0s;      // no stale data: only the last known addresses can help
  co.failure_recheck = 0s;  // every resolution asks the upstream
  resolver::AliasResolver r(co, up, clock.fn());
  auto z = compile("example.test.", external_customer, with_secondaries());
  zone::ZoneSet set({z});
  server::LastKnownAddresses last_known;

  // Never resolved, failing: left out (with or without a memory).
  failing = true;
  CHECK(apex_a(replacements(r, set, *z, &last_known), *z).empty());
  clock.advance(10s);
  failing = false;
  CHECK(apex_a(replacements(r, set, *z, &last_known), *z) == std::vector<std::string>{"\xc6\x33\x64\x07"});
  CHECK(last_known.size() == 1);  // the A; AAAA is NODATA, nothing to keep

  clock.advance(120s);  // past the TTL, no stale window: the resolver has nothing
  failing = true;
  auto kept = replacements(r, set, *z, &last_known);
  CHECK(apex_a(kept, *z) == std::vector<std::string>{"\xc6\x33\x64\x07"});
  CHECK(server::replacements_min_ttl(kept) <= 10);  // asked again soon
  clock.advance(10s);
  CHECK(apex_a(replacements(r, set, *z, nullptr), *z).empty());  // without the memory: left out

  // The zone gone from the set: forgotten.
  last_known.retain(zone::ZoneSet({compile("other.test.", platform("198.51.100.1"))}));
  CHECK(last_known.size() == 0);
}
