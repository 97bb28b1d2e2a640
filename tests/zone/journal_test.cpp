// Tests for zone/journal: diff of versions, condensation against brute force, applying, and the
// journal file (reopen, size bound, discontinuity, torn and corrupt tails, I/O failure).
#include "zone/journal.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "zone/wire/name.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using zone::Changeset;
using zone::JournalRR;
namespace rrtype = wire::rrtype;

namespace {

std::string name(const std::string& text) {
  auto n = wire::name_from_text(text);
  if (!n) throw std::invalid_argument("bad name in test: " + text);
  return wire::name_lower({reinterpret_cast<const uint8_t*>(n->data()), n->size()});
}

void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char(uint8_t(v >> shift)));
}

JournalRR soa(uint32_t serial, uint32_t ttl = 3600, uint32_t refresh = 7200) {
  std::string rdata = name("ns1.example.") + name("hostmaster.example.");
  for (uint32_t v : {serial, refresh, 3600u, 1209600u, 60u}) put_u32(rdata, v);
  return {name("example."), rrtype::SOA, ttl, rdata};
}

JournalRR a(const std::string& owner, uint8_t last, uint32_t ttl = 300) {
  return {name(owner), rrtype::A, ttl, std::string{char(192), char(0), char(2), char(last)}};
}

JournalRR txt(const std::string& owner, const std::string& text, uint32_t ttl = 300) {
  return {name(owner), rrtype::TXT, ttl, char(text.size()) + text};
}

std::vector<JournalRR> sorted(std::vector<JournalRR> v) {
  std::sort(v.begin(), v.end(), zone::canonical_less);
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<JournalRR> tail(const std::vector<JournalRR>& v) { return {v.begin() + 1, v.end()}; }

void check_shape(const Changeset& cs) {
  REQUIRE(!cs.removed.empty());
  REQUIRE(!cs.added.empty());
  CHECK(cs.removed.front().type == rrtype::SOA);
  CHECK(cs.added.front().type == rrtype::SOA);
  auto removed = tail(cs.removed), added = tail(cs.added);
  CHECK(std::adjacent_find(removed.begin(), removed.end(), [](auto& x, auto& y) { return !zone::canonical_less(x, y); }) ==
        removed.end());
  CHECK(std::adjacent_find(added.begin(), added.end(), [](auto& x, auto& y) { return !zone::canonical_less(x, y); }) ==
        added.end());
  std::vector<JournalRR> both;
  std::set_intersection(removed.begin(), removed.end(), added.begin(), added.end(), std::back_inserter(both),
                        zone::canonical_less);
  CHECK(both.empty());
}

/// A scratch folder under /tmp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/apexd_journal_test.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& leaf) const { return path + "/" + leaf; }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

/// Versions 0..n-1 of a small zone, serials 10, 11, …: each adds one A record and changes a TTL.
std::vector<std::vector<JournalRR>> make_versions(size_t n, uint32_t first_serial = 10) {
  std::vector<std::vector<JournalRR>> versions;
  std::vector<JournalRR> rrs = {a("www.example.", 1), txt("example.", "v=0")};
  for (size_t i = 0; i < n; ++i) {
    std::vector<JournalRR> v = rrs;
    v.push_back(soa(first_serial + uint32_t(i)));
    versions.push_back(v);
    rrs.push_back(a("h" + std::to_string(i) + ".example.", uint8_t(i)));
    rrs[0].ttl += 60;
  }
  return versions;
}

std::vector<Changeset> diffs_of(const std::vector<std::vector<JournalRR>>& versions) {
  std::vector<Changeset> out;
  for (size_t i = 0; i + 1 < versions.size(); ++i) out.push_back(zone::diff_versions(versions[i], versions[i + 1]));
  return out;
}

}  // namespace

TEST_CASE("crc32c: the RFC 3720 check value") {
  CHECK(zone::crc32c("123456789") == 0xE3069283u);
  CHECK(zone::crc32c("") == 0u);
  CHECK(zone::crc32c(std::string(32, '\0')) == 0x8A9136AAu);  // RFC 3720 §B.4, 32 zero bytes
}

TEST_CASE("canonical_less: RFC 4034 §6.1 owner order, then type, rdata, ttl") {
  // The owner order of the RFC's own example (lowercased).
  const std::vector<std::string> owners = {"example.",       "a.example.",      "yljkjljk.a.example.",
                                           "z.a.example.",   "zabc.a.example.", "z.example.",
                                           "\\001.z.example.", "*.z.example.",  "\\200.z.example."};
  for (size_t i = 0; i + 1 < owners.size(); ++i) {
    CAPTURE(owners[i]);
    CHECK(zone::canonical_less(a(owners[i], 1), a(owners[i + 1], 1)));
    CHECK_FALSE(zone::canonical_less(a(owners[i + 1], 1), a(owners[i], 1)));
  }
  CHECK(zone::canonical_less(a("x.example.", 9), txt("x.example.", "a")));   // type 1 < 16
  CHECK(zone::canonical_less(a("x.example.", 1), a("x.example.", 200)));     // rdata unsigned
  CHECK(zone::canonical_less(txt("x.example.", "a"), txt("x.example.", "ab")));  // shorter first
  CHECK(zone::canonical_less(a("x.example.", 1, 300), a("x.example.", 1, 600)));
  CHECK_FALSE(zone::canonical_less(a("x.example.", 1), a("x.example.", 1)));
}

TEST_CASE("diff_versions: hand cases") {
  struct Case {
    const char* what;
    std::vector<JournalRR> before, after, removed, added;
    uint32_t serial_from = 1, serial_to = 2;
  };
  const std::vector<Case> cases = {
      {"unchanged: only the SOAs",
       {soa(1), a("www.example.", 1), txt("example.", "x")},
       {txt("example.", "x"), soa(2), a("www.example.", 1)},
       {soa(1)},
       {soa(2)}},
      {"a TTL change is a removal and an addition",
       {soa(1), a("www.example.", 1, 300)},
       {soa(2), a("www.example.", 1, 600)},
       {soa(1), a("www.example.", 1, 300)},
       {soa(2), a("www.example.", 1, 600)}},
      {"SOA-only change (its TTL and refresh)",
       {soa(1, 3600, 7200), a("www.example.", 1)},
       {soa(2, 600, 100), a("www.example.", 1)},
       {soa(1, 3600, 7200)},
       {soa(2, 600, 100)}},
      {"rdata change",
       {soa(1), a("www.example.", 1), a("www.example.", 2)},
       {soa(2), a("www.example.", 3), a("www.example.", 2)},
       {soa(1), a("www.example.", 1)},
       {soa(2), a("www.example.", 3)}},
      {"the rest in canonical order; an RR listed twice counts once",
       {a("z.example.", 1), soa(7), a("b.example.", 1), a("a.example.", 1), a("a.example.", 1)},
       {soa(9), txt("c.example.", "x"), a("a.b.example.", 1), a("example.", 4)},
       {soa(7), a("a.example.", 1), a("b.example.", 1), a("z.example.", 1)},
       {soa(9), a("example.", 4), a("a.b.example.", 1), txt("c.example.", "x")},
       7,
       9},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Changeset cs = zone::diff_versions(c.before, c.after);
    CHECK(cs.removed == c.removed);
    CHECK(cs.added == c.added);
    CHECK(cs.serial_from == c.serial_from);
    CHECK(cs.serial_to == c.serial_to);
    auto applied = zone::apply_changeset(c.before, cs);
    REQUIRE(applied);
    CHECK(*applied == sorted(c.after));
  }
}

TEST_CASE("diff_versions: a side without exactly one SOA, or an SOA without a serial, is refused") {
  CHECK_THROWS_AS(zone::diff_versions({a("x.example.", 1)}, {soa(2)}), std::invalid_argument);
  CHECK_THROWS_AS(zone::diff_versions({soa(1)}, {soa(2), soa(3)}), std::invalid_argument);
  JournalRR bad = soa(1);
  bad.rdata.resize(bad.rdata.size() - 1);
  CHECK_THROWS_AS(zone::diff_versions({bad}, {soa(2)}), std::invalid_argument);
}

TEST_CASE("condense: hand cases") {
  std::vector<JournalRR> v0 = {soa(1), a("x.example.", 1), a("y.example.", 1)};
  std::vector<JournalRR> v1 = {soa(2), a("x.example.", 1), a("z.example.", 1)};  // -y +z
  std::vector<JournalRR> v2 = {soa(3), a("x.example.", 1), a("y.example.", 1)};  // -z +y
  std::vector<Changeset> chain = {zone::diff_versions(v0, v1), zone::diff_versions(v1, v2)};
  Changeset c = zone::condense(chain);
  CHECK(c.serial_from == 1);
  CHECK(c.serial_to == 3);
  CHECK(c.removed == std::vector<JournalRR>{soa(1)});  // y removed then re-added: neither
  CHECK(c.added == std::vector<JournalRR>{soa(3)});    // z added then removed: neither

  SUBCASE("a break in the serials") {
    chain[1].serial_from = 5;
    CHECK_THROWS_AS(zone::condense(chain), std::invalid_argument);
  }
  SUBCASE("an empty chain") { CHECK_THROWS_AS(zone::condense({}), std::invalid_argument); }
  SUBCASE("removing an RR twice has no net effect") {
    chain[1].removed.push_back(a("y.example.", 1));
    CHECK_THROWS_AS(zone::condense(chain), std::invalid_argument);
  }
  SUBCASE("one changeset condenses to itself") {
    CHECK(zone::condense(std::span(chain).first(1)) == chain[0]);
  }
}

TEST_CASE("apply_changeset: removals must be present, additions absent") {
  std::vector<JournalRR> v = {soa(1), a("x.example.", 1)};
  Changeset ok{1, 2, {soa(1), a("x.example.", 1)}, {soa(2), a("x.example.", 1, 900)}};
  auto applied = zone::apply_changeset(v, ok);
  REQUIRE(applied);
  CHECK(*applied == sorted({soa(2), a("x.example.", 1, 900)}));

  Changeset missing{1, 2, {soa(1), a("y.example.", 1)}, {soa(2)}};
  CHECK_FALSE(zone::apply_changeset(v, missing));
  Changeset present{1, 2, {soa(1)}, {soa(2), a("x.example.", 1)}};
  CHECK_FALSE(zone::apply_changeset(v, present));
  Changeset wrong_soa{1, 2, {soa(5)}, {soa(2)}};
  CHECK_FALSE(zone::apply_changeset(v, wrong_soa));
  Changeset removed_twice{1, 2, {soa(1), a("x.example.", 1), a("x.example.", 1)}, {soa(2)}};
  CHECK_FALSE(zone::apply_changeset(v, removed_twice));
  Changeset readded{1, 2, {soa(1), a("x.example.", 1)}, {soa(2), a("x.example.", 1)}};
  CHECK(zone::apply_changeset(v, readded) == sorted({soa(2), a("x.example.", 1)}));
}

TEST_CASE("condense: equals the direct diff, and applies, for every range of random versions") {
  // A small universe so RRs come and go and come back; TTLs vary so TTL changes happen.
  std::vector<JournalRR> universe;
  for (const char* owner : {"example.", "a.example.", "b.example.", "a.b.example.", "*.example."})
    for (uint32_t ttl : {300u, 3600u})
      for (uint8_t last : {1, 2}) {
        universe.push_back(a(owner, last, ttl));
        universe.push_back(txt(owner, std::string(last, 'x'), ttl));
      }
  const uint32_t steps[] = {1, 2, 1000, 0x7FFFFFFF};  // the largest step wraps the serial around
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    std::vector<std::vector<JournalRR>> versions;
    uint32_t serial = rng();
    for (int i = 0; i < 24; ++i) {
      std::vector<JournalRR> v;
      for (const JournalRR& rr : universe)
        if (rng() % 3 == 0) v.push_back(rr);
      std::shuffle(v.begin(), v.end(), rng);
      v.insert(v.begin() + std::ptrdiff_t(rng() % (v.size() + 1)), soa(serial, 3600 + rng() % 2));
      versions.push_back(v);
      serial += steps[rng() % 4];
    }
    std::vector<Changeset> diffs = diffs_of(versions);
    for (size_t i = 0; i < diffs.size(); ++i) {
      check_shape(diffs[i]);
      CHECK(zone::apply_changeset(versions[i], diffs[i]) == sorted(versions[i + 1]));
    }
    for (size_t from = 0; from < diffs.size(); ++from) {
      for (size_t to = from + 1; to <= diffs.size(); ++to) {
        CAPTURE(from);
        CAPTURE(to);
        Changeset c = zone::condense(std::span<const Changeset>(diffs).subspan(from, to - from));
        check_shape(c);
        auto applied = zone::apply_changeset(versions[from], c);
        REQUIRE(applied);
        CHECK(*applied == sorted(versions[to]));
        CHECK(c == zone::diff_versions(versions[from], versions[to]));
      }
    }
  }
}

TEST_CASE("condense: a long chain of small steps") {
  // Five thousand steps, each adding a host, removing the one added two steps before and
  // changing a TTL: the chain condenses to the direct diff of its ends.
  auto version = [](uint32_t k) {
    return std::vector<JournalRR>{soa(10 + k), a("www.example.", 1, 300 + k), a("h" + std::to_string(k) + ".example.", 1),
                                  a("h" + std::to_string(k + 1) + ".example.", 1)};
  };
  std::vector<Changeset> chain;
  for (uint32_t k = 0; k < 5000; ++k) chain.push_back(zone::diff_versions(version(k), version(k + 1)));
  CHECK(zone::condense(chain) == zone::diff_versions(version(0), version(5000)));
}

TEST_CASE("Journal: append, reopen, since") {
  TempDir dir;
  const std::string path = dir.file("example.com.jnl");
  auto versions = make_versions(6);
  auto diffs = diffs_of(versions);
  {
    auto j = zone::Journal::open(path, 0);
    CHECK(j.empty());
    CHECK(j.damage().empty());
    CHECK(j.path() == path);
    CHECK(j.size_bytes() == std::filesystem::file_size(path));
    CHECK_FALSE(j.since(10));
    for (size_t i = 0; i < diffs.size(); ++i) j.append(diffs[i], 1000 + i);
    CHECK(j.size_bytes() == std::filesystem::file_size(path));
  }
  auto j = zone::Journal::open(path, 0);
  CHECK(j.damage().empty());
  CHECK(j.entries() == 5);
  CHECK(j.first_serial() == 10);
  CHECK(j.last_serial() == 15);
  CHECK(j.last_tag() == 1004);
  CHECK(j.size_bytes() == std::filesystem::file_size(path));
  for (uint32_t s = 10; s < 15; ++s) {
    CAPTURE(s);
    auto c = j.since(s);
    REQUIRE(c);
    CHECK(*c == zone::diff_versions(versions[s - 10], versions.back()));
  }
  CHECK_FALSE(j.since(15));  // already current
  CHECK_FALSE(j.since(9));   // before the journal
  CHECK_FALSE(j.since(99));

  zone::Journal moved = std::move(j);
  CHECK(moved.entries() == 5);
  moved.clear();
  CHECK(moved.empty());
  CHECK(moved.size_bytes() == std::filesystem::file_size(path));
  CHECK(zone::Journal::open(path, 0).empty());
}

TEST_CASE("Journal: a discontinuity clears it") {
  TempDir dir;
  const std::string path = dir.file("j");
  auto j = zone::Journal::open(path, 0);
  auto diffs = diffs_of(make_versions(3));
  j.append(diffs[0], 1);
  j.append(diffs[1], 2);
  auto other = diffs_of(make_versions(2, 500));
  j.append(other[0], 3);
  CHECK(j.entries() == 1);
  CHECK(j.first_serial() == 500);
  CHECK(j.last_serial() == 501);
  CHECK_FALSE(j.since(10));
  auto reopened = zone::Journal::open(path, 0);
  CHECK(reopened.entries() == 1);
  CHECK(reopened.last_tag() == 3);
}

TEST_CASE("Journal: max_bytes drops the oldest entries") {
  TempDir dir;
  auto versions = make_versions(8);
  auto diffs = diffs_of(versions);
  std::vector<uint64_t> sizes;  // file size after each append, unbounded
  {
    auto j = zone::Journal::open(dir.file("sizes"), 0);
    sizes.push_back(j.size_bytes());
    for (const Changeset& cs : diffs) {
      j.append(cs, 0);
      sizes.push_back(j.size_bytes());
    }
  }
  // Room for the last three entries exactly.
  const uint64_t header = sizes[0];
  const uint64_t max = header + (sizes[7] - sizes[4]);
  const std::string path = dir.file("bounded");
  {
    auto j = zone::Journal::open(path, max);
    for (size_t i = 0; i < diffs.size(); ++i) {
      j.append(diffs[i], i);
      CHECK(j.size_bytes() <= max);
      CHECK(j.size_bytes() == std::filesystem::file_size(path));
    }
    CHECK(j.entries() == 3);
    CHECK(j.first_serial() == 14);
    CHECK(j.last_serial() == 17);
    CHECK(j.since(14) == zone::diff_versions(versions[4], versions[7]));
    CHECK_FALSE(j.since(13));
  }
  std::vector<std::string> leftovers;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) leftovers.push_back(e.path().filename());
  std::sort(leftovers.begin(), leftovers.end());
  CHECK(leftovers == std::vector<std::string>{"bounded", "sizes"});  // no temp file left behind

  auto j = zone::Journal::open(path, max);
  CHECK(j.entries() == 3);
  CHECK(j.damage().empty());

  SUBCASE("a smaller bound at open trims it") {
    auto small = zone::Journal::open(path, header + (sizes[7] - sizes[6]));
    CHECK(small.entries() == 1);
    CHECK(small.first_serial() == 16);
    CHECK(std::filesystem::file_size(path) == small.size_bytes());
  }
  SUBCASE("a changeset larger than max_bytes is kept alone") {
    auto tiny = zone::Journal::open(path, 10);
    CHECK(tiny.entries() == 1);  // the newest step is always there
    Changeset big = zone::diff_versions(versions[7], versions[7]);
    big.serial_to = 18;
    big.added[0] = soa(18);
    tiny.append(big, 42);
    CHECK(tiny.entries() == 1);
    CHECK(tiny.first_serial() == 17);
    CHECK(tiny.last_tag() == 42);
    CHECK(zone::Journal::open(path, 10).last_serial() == 18);
  }
}

TEST_CASE("Journal: a torn or corrupt last entry is cut off") {
  TempDir dir;
  const std::string path = dir.file("j");
  auto versions = make_versions(4);
  auto diffs = diffs_of(versions);
  uint64_t start = 0, end = 0;
  {
    auto j = zone::Journal::open(path, 0);
    j.append(diffs[0], 1);
    j.append(diffs[1], 2);
    start = j.size_bytes();
    j.append(diffs[2], 3);
    end = j.size_bytes();
  }
  const std::string good = read_file(path);
  REQUIRE(good.size() == end);
  auto check_cut = [&](const std::string& bytes, bool expect_damage) {
    write_file(path, bytes);
    auto j = zone::Journal::open(path, 0);
    CHECK(j.entries() == 2);
    CHECK(j.last_serial() == 12);
    CHECK(j.last_tag() == 2);
    CHECK(j.damage().empty() == !expect_damage);
    if (expect_damage) CHECK(j.damage().rfind(path + ": offset " + std::to_string(start) + ": ", 0) == 0);
    CHECK(std::filesystem::file_size(path) == start);
    CHECK(j.since(10) == zone::diff_versions(versions[0], versions[2]));
  };
  for (uint64_t cut = start; cut < end; ++cut) {
    CAPTURE(cut);
    check_cut(good.substr(0, cut), cut != start);
  }
  for (uint64_t at = start; at < end; ++at) {
    CAPTURE(at);
    for (uint8_t flip : {0x01, 0xFF}) {
      std::string bad = good;
      bad[at] = char(uint8_t(bad[at]) ^ flip);
      check_cut(bad, true);
    }
  }
  // After the cut the journal goes on as before.
  write_file(path, good.substr(0, end - 1));
  {
    auto j = zone::Journal::open(path, 0);
    j.append(diffs[2], 3);
  }
  auto j = zone::Journal::open(path, 0);
  CHECK(j.damage().empty());
  CHECK(j.entries() == 3);
  CHECK(read_file(path) == good);
}

TEST_CASE("Journal: damage messages name the offset, the reason and the bytes dropped") {
  TempDir dir;
  const std::string path = dir.file("j");
  auto diffs = diffs_of(make_versions(3));
  std::string header, two;
  {
    auto j = zone::Journal::open(path, 0);
    header = read_file(path);
    j.append(diffs[0], 1);
    j.append(diffs[1], 2);
    two = read_file(path);
  }
  std::string detached;  // an entry from serial 500: it does not continue serial 12
  {
    auto other = zone::Journal::open(dir.file("other"), 0);
    other.append(diffs_of(make_versions(2, 500))[0], 9);
    detached = read_file(dir.file("other")).substr(header.size());
  }
  std::mt19937 rng(7);
  std::string noise(1000, '\0');
  for (char& c : noise) c = char(rng());
  struct Case {
    const char* what;
    std::string bytes;
    size_t entries;
    std::string damage;  // expected prefix; "" = none
  };
  const std::string p = path + ": offset ";
  const std::string at_end = p + std::to_string(two.size()) + ": ";
  const std::vector<Case> cases = {
      {"garbage file", noise, 0, p + "0: not a journal file header, 1000 bytes dropped"},
      {"shorter than the header", "APEX", 0, p + "0: not a journal file header, 4 bytes dropped"},
      {"a newer format", header.substr(0, 11) + "\x02" + header.substr(12), 0, p + "0: unsupported format version 2"},
      {"empty file", "", 0, ""},
      {"header only", header, 0, ""},
      {"garbage after the entries", two + noise, 2, at_end + "bad entry magic, 1000 bytes dropped"},
      {"a short entry header", two + "JRN", 2, at_end + "short entry header, 3 bytes dropped"},
      {"an entry that does not continue", two + detached, 2, at_end + "entry from serial 500 does not continue"},
      {"an absurd length", two + "JRNE\xff\xff\xff\xff" + std::string(8, '\0'), 2, at_end + "entry length"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    write_file(path, c.bytes);
    auto j = zone::Journal::open(path, 0);
    CHECK(j.entries() == c.entries);
    if (c.damage.empty())
      CHECK(j.damage().empty());
    else
      CHECK(j.damage().rfind(c.damage, 0) == 0);
    CHECK(std::filesystem::file_size(path) == j.size_bytes());
    CHECK(zone::Journal::open(path, 0).damage().empty());  // the cut is on disk
    CHECK(j.since(10).has_value() == (c.entries > 0));
  }
}

TEST_CASE("Journal: malformed changesets and unreadable paths are refused") {
  TempDir dir;
  auto j = zone::Journal::open(dir.file("j"), 0);
  Changeset no_soa{1, 2, {a("x.example.", 1)}, {soa(2)}};
  CHECK_THROWS_AS(j.append(no_soa, 0), std::invalid_argument);
  Changeset wrong_serial{1, 3, {soa(1)}, {soa(2)}};
  CHECK_THROWS_AS(j.append(wrong_serial, 0), std::invalid_argument);
  Changeset bad_owner{1, 2, {soa(1)}, {soa(2), JournalRR{"\x05" "ab", rrtype::A, 1, "1234"}}};
  CHECK_THROWS_AS(j.append(bad_owner, 0), std::invalid_argument);
  CHECK(j.empty());

  CHECK_THROWS_AS(zone::Journal::open(dir.file("no/such/folder/j"), 0), std::runtime_error);
  try {
    zone::Journal::open(dir.path, 0);  // a folder, not a file
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).rfind(dir.path + ": ", 0) == 0);
  }
}

TEST_CASE("Journal: a short write throws and leaves memory and file agreeing") {
  TempDir dir;
  const std::string path = dir.file("j");
  auto versions = make_versions(5);
  auto diffs = diffs_of(versions);
  auto j = zone::Journal::open(path, 0);
  j.append(diffs[0], 1);
  j.append(diffs[1], 2);
  const uint64_t before = j.size_bytes();

  // RLIMIT_FSIZE makes the kernel cut the write short (EFBIG), as a full disk would.
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  auto limited_append = [&](zone::Journal& jj, const Changeset& cs, uint64_t limit) {
    struct rlimit lim = saved;
    lim.rlim_cur = limit;
    ::setrlimit(RLIMIT_FSIZE, &lim);
    std::string error;
    try {
      jj.append(cs, 3);
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    return error;
  };
  CHECK(limited_append(j, diffs[2], before + 20) == path + ": write: File too large");
  CHECK(j.entries() == 2);
  CHECK(j.size_bytes() == before);
  CHECK(std::filesystem::file_size(path) == before);
  {
    auto reopened = zone::Journal::open(path, 0);
    CHECK(reopened.entries() == 2);
    CHECK(reopened.damage().empty());
  }
  j.append(diffs[2], 3);
  CHECK(zone::Journal::open(path, 0).entries() == 3);

  SUBCASE("the rewrite that drops old entries fails: the old file stays") {
    j = zone::Journal::open(path, j.size_bytes());  // full: the next append rewrites
    const std::string on_disk = read_file(path);
    CHECK(limited_append(j, diffs[3], 40).rfind(path + ": write temp file: ", 0) == 0);
    CHECK(j.entries() == 3);
    CHECK(read_file(path) == on_disk);
    size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++files;
    CHECK(files == 1);  // the temp file is gone
    j.append(diffs[3], 4);
    CHECK(j.first_serial() == 11);
    CHECK(j.last_serial() == 14);
    CHECK(zone::Journal::open(path, 0).first_serial() == 11);
  }
  ::signal(SIGXFSZ, old_handler);
}
