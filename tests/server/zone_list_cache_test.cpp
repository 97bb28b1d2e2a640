// Tests for server/zone_list_cache: a config re-parsed through the cache must give exactly what
// a whole-file parse gives (zones, lines, positions, errors), for generated edits of every kind,
// including the texts a cut could misread (strings holding "[[zone]]", tables after the zones).
#include "server/zone_list_cache.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "server/config.hpp"

using namespace apexd;

namespace {

const std::string path = "/etc/apexd/apexd.toml";

// Either the zones or the error message.
struct Outcome {
  std::vector<server::ZoneConfig> zones;
  std::string error;
  unsigned threads = 0;
};

Outcome parse(const std::string& text, server::ConfigCache* cache) {
  Outcome o;
  try {
    server::Config c = server::parse_config(text, path, cache);
    o.zones = std::move(c.zones);
    o.threads = c.threads;
  } catch (const server::ConfigError& e) {
    o.error = e.what();
  }
  return o;
}

void check_same(const Outcome& cached, const Outcome& whole, const std::string& text) {
  INFO("config text:\n", text);
  REQUIRE(cached.error == whole.error);
  CHECK(cached.threads == whole.threads);
  REQUIRE(cached.zones.size() == whole.zones.size());
  for (size_t i = 0; i < whole.zones.size(); ++i) {
    const server::ZoneConfig& a = cached.zones[i];
    const server::ZoneConfig& b = whole.zones[i];
    INFO("zone ", i);
    CHECK(a.origin == b.origin);
    CHECK(a.origin_text == b.origin_text);
    CHECK(a.file == b.file);
    CHECK(a.line == b.line);
    CHECK(a.origin_line == b.origin_line);
    CHECK(a.index == b.index);
    CHECK(*a.config_file == *b.config_file);
    CHECK(a.options == b.options);
  }
}

std::string zone_table(unsigned id, std::mt19937& rng) {
  std::string t = "[[zone]]\norigin = \"z" + std::to_string(id) + ".example.\"\n";
  switch (rng() % 8) {
    case 0: t += "# a comment line\n"; break;
    case 1: t += "flatten = \"all\"\n"; break;
    case 2: t += "proxied = [\n  \"www\",\n  \"api\",\n]\n"; break;  // a multi-line array
    case 3: t += "\n"; break;
    default: break;
  }
  t += "file = \"zones/z" + std::to_string(id) + ".zone\"\n";
  return t;
}

// Pieces that a naive cut would get wrong, or that are errors: each must give what toml++ on the
// whole file gives.
const std::vector<std::string> odd_tables = {
    "[[zone]]\norigin = \"s.example.\"\nfile = \"s.zone\"\nnote = '''\n[[zone]]\n'''\n",  // unknown key, header in a string
    "[[zone]]\norigin = \"t.example.\"\nfile = \"t.zone\"\nproxied = [\n[\"x\"]]\n",          // a nested array line
    "[[zone]]   # with a comment\norigin = \"c.example.\"\nfile = \"c.zone\"\n",
    "[[zone]]\norigin = \"bad\"\nfile = \"b.zone\"\n",                                         // not absolute
    "[[zone]]\norigin = \"u.example.\"\n",                                                     // no file
    "[[zone]]\norigin = \"v.example.\"\nfile = \"v.zone\"\n[zone.sub]\nx = 1\n",              // a sub-table
    "  [[zone]]\norigin = \"i.example.\"\nfile = \"i.zone\"\n",                               // an indented header
    "[[zone]]\norigin = \"w.example.\"\nfile = \"w.zone\n",                                    // unterminated string
    "[[zone]]\r\norigin = \"r.example.\"\r\nfile = \"r.zone\"\r\n",                            // CRLF
};

}  // namespace

TEST_CASE("ZoneListCache: every generated edit parses as the whole file does") {
  std::mt19937 rng(20261203);  // fixed: a failure names its text and reruns the same
  for (int run = 0; run < 60; ++run) {
    std::string head = "[server]\nthreads = " + std::to_string(1 + run % 3) + "\n\n";
    std::vector<std::string> tables;
    unsigned next_id = 0;
    for (unsigned i = 0; i < 12; ++i) tables.push_back(zone_table(next_id++, rng));
    server::ConfigCache cache;
    for (int step = 0; step < 40; ++step) {
      switch (rng() % 9) {
        case 0: tables.insert(tables.begin() + rng() % (tables.size() + 1), zone_table(next_id++, rng)); break;
        case 1: if (tables.size() > 1) tables.erase(tables.begin() + rng() % tables.size()); break;
        case 2: tables[rng() % tables.size()] = zone_table(next_id++, rng); break;
        case 3: std::swap(tables[rng() % tables.size()], tables[rng() % tables.size()]); break;
        case 4: tables.insert(tables.begin() + rng() % (tables.size() + 1), odd_tables[rng() % odd_tables.size()]); break;
        case 5: head = "[server]\nthreads = " + std::to_string(rng() % 4 + 1) + "\n"; break;
        case 6: tables.push_back("[log]\nlevel = \"debug\"\n"); break;  // a table after the zones
        case 7: tables.push_back(tables[rng() % tables.size()]); break;  // a duplicate origin
        default: {  // undo what makes the file invalid, so that valid states follow
          std::erase_if(tables, [](const std::string& t) { return t.find("[[zone]]\norigin") != 0; });
          std::vector<std::string> seen;
          std::erase_if(tables, [&](const std::string& t) {
            bool dup = std::find(seen.begin(), seen.end(), t) != seen.end();
            seen.push_back(t);
            return dup;
          });
          if (tables.empty()) tables.push_back(zone_table(next_id++, rng));
        }
      }
      std::string text = head;
      for (const std::string& t : tables) text += t;
      check_same(parse(text, &cache), parse(text, nullptr), text);
    }
  }
}

TEST_CASE("ZoneListCache: a change in one place re-parses that place only") {
  std::mt19937 rng(7);
  std::string head = "[server]\nthreads = 2\n";
  std::vector<std::string> tables;
  for (unsigned i = 0; i < 3000; ++i) tables.push_back(zone_table(i, rng));
  auto text_of = [&] {
    std::string t = head;
    for (const std::string& s : tables) t += s;
    return t;
  };
  server::ZoneListCache cache;
  std::string first = text_of();
  server::Config whole = server::parse_config(first, path);
  cache.remember(first, whole.zones);
  REQUIRE(cache.valid());
  int parsed = 0;
  auto count = [&](std::string_view piece) -> std::optional<server::ZoneConfig> {
    ++parsed;
    server::Config one = server::parse_config(std::string(piece), path);  // lines from the piece's own first
    return one.zones[0];
  };
  tables.insert(tables.begin() + 1500, zone_table(5000, rng));
  std::string second = text_of();
  auto up = cache.update(second, count);
  REQUIRE(up);
  CHECK(parsed <= 2);  // the new table, and at most the one its text runs into
  CHECK(up->zones.size() == 3001);
  CHECK(up->zones[1500].origin_text == "z5000.example.");
  server::Config again = server::parse_config(second, path);
  CHECK(up->zones[2999].line == again.zones[2999].line);
  CHECK(up->zones[2999].index == 2999);
  CHECK(up->head == head);

  parsed = 0;
  head = "[server]\nthreads = 3\n";  // the settings changed: parse the whole file
  CHECK_FALSE(cache.update(text_of(), count));
  CHECK(parsed == 0);
}
