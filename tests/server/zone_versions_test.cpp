// Tests for server/zone_versions and Zone::with_serial: a zone with secondaries gets a new
// version (serial moved by its policy) when the addresses its flattened apex transfers change,
// and not when only a TTL does.
#include "server/zone_versions.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "support/dns_test.hpp"
#include "zone/loader.hpp"

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
