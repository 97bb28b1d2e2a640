// Tests for server/config: a valid sample, errors naming file:line and the key path, durations
// and listen addresses.
#include "server/config.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/dns_test.hpp"

using namespace apexd;
using namespace std::chrono_literals;
using server::ConfigError;

namespace {

const std::string path = "/etc/apexd/apexd.toml";

std::string error_of(const std::string& text) {
  try {
    server::parse_config(text, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string one_zone =
    "[[zone]]\n"
    "origin = \"example.com.\"\n"
    "file = \"example.com.zone\"\n";

const std::string key_table =
    "[[key]]\n"
    "name = \"xfr-key\"\n"
    "algorithm = \"hmac-sha256\"\n"
    "secret = \"Ym9ndXMgc2VjcmV0IGZvciB0ZXN0cyBvbmx5\"\n";

}  // namespace

TEST_CASE("parse_config: keys, allow_transfer and notify") {
  server::Config c = server::parse_config(key_table + one_zone +
                                              "allow_transfer = [\"192.0.2.0/24\", \"key:xfr-key\", \"2001:db8::/32 key:XFR-Key.\"]\n"
                                              "notify = [\"192.0.2.2:53\", \"[2001:db8::2]:5300\", \"192.0.2.3\"]\n",
                                          path);
  REQUIRE(c.keys.size() == 1);
  CHECK(c.keys[0].name_text == "xfr-key.");
  CHECK(c.keys[0].name == test::wire_name("xfr-key."));
  CHECK(c.keys[0].algorithm == "hmac-sha256");
  const auto& acl = c.zones[0].options.allow_transfer;
  REQUIRE(acl.size() == 3);
  CHECK(acl[0].family == 4);
  CHECK(acl[0].prefix_len == 24);
  CHECK(acl[0].key.empty());
  CHECK(acl[1].family == 0);
  CHECK(acl[1].key == test::wire_name("xfr-key."));
  CHECK(acl[2].family == 6);
  CHECK(acl[2].prefix_len == 32);
  CHECK(acl[2].key == test::wire_name("xfr-key."));  // names are compared without case
  const auto& notify = c.zones[0].options.notify;
  REQUIRE(notify.size() == 3);
  CHECK(notify[1].host == "2001:db8::2");
  CHECK(notify[1].port == 5300);
  CHECK(notify[2].port == 53);
  CHECK(c.zones[0].options.serial == zone::SerialPolicy::increment);
  CHECK(server::parse_config(one_zone + "serial = \"dateserial\"\n", path).zones[0].options.serial ==
        zone::SerialPolicy::dateserial);
}

TEST_CASE("parse_config: a valid sample") {
  const std::string text =
      "# apexd sample\n"
      "[server]\n"
      "listen = [\"127.0.0.1:5353\", \"[::1]:5353\", \"192.0.2.1\"]\n"
      "threads = 4\n"
      "tcp_idle_timeout = \"2500ms\"\n"
      "tcp_max_connections = 200\n"
      "udp_payload = 1400\n"
      "\n"
      "[log]\n"
      "level = \"debug\"\n"
      "\n"
      "[[zone]]\n"
      "origin = \"Example.COM.\"\n"
      "file = \"zones/example.com.zone\"\n"
      "\n"
      "[[zone]]\n"
      "origin = \"platform.test.\"\n"
      "file = \"/var/lib/apexd/platform.test.zone\"\n"
      "\n"
      "[[zone]]\n"
      "origin = \"up.test.\"\n"
      "file = \"../shared/up.test.zone\"\n";
  server::Config c = server::parse_config(text, path);
  CHECK(c.path == path);
  REQUIRE(c.listen.size() == 3);
  CHECK(c.listen[0].host == "127.0.0.1");
  CHECK(c.listen[0].port == 5353);
  CHECK(c.listen[1].host == "::1");
  CHECK(c.listen[1].port == 5353);
  CHECK(c.listen[1].text() == "[::1]:5353");
  CHECK(c.listen[2].text() == "192.0.2.1:53");
  CHECK(c.threads == 4);
  CHECK(c.tcp_idle_timeout == 2500ms);
  CHECK(c.tcp_max_connections == 200);
  CHECK(c.udp_payload == 1400);
  CHECK(c.log_level == "debug");
  REQUIRE(c.zones.size() == 3);
  // Origins are stored lowercase, in wire form and as text.
  CHECK(c.zones[0].origin == test::wire_name("example.com."));
  CHECK(c.zones[0].origin_text == "example.com.");
  CHECK(c.zones[0].line == 12);
  // Relative zone files are resolved against the config file's folder.
  CHECK(c.zones[0].file == "/etc/apexd/zones/example.com.zone");
  CHECK(c.zones[1].file == "/var/lib/apexd/platform.test.zone");
  CHECK(c.zones[2].file == "/etc/shared/up.test.zone");
  CHECK(c.zones[2].line == 20);
}

TEST_CASE("parse_config: defaults") {
  server::Config c = server::parse_config(one_zone, path);
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].text() == "127.0.0.1:53");
  CHECK(c.threads == 0);
  CHECK(c.tcp_idle_timeout == 10s);
  CHECK(c.tcp_max_connections == 1024);
  CHECK(c.udp_payload == 1232);
  CHECK(c.log_level == "info");
  REQUIRE(c.zones.size() == 1);
  CHECK(c.zones[0].file == "/etc/apexd/example.com.zone");
}

TEST_CASE("parse_config: a relative config path anchors relative zone files") {
  server::Config c = server::parse_config(one_zone, "conf/apexd.toml");
  REQUIRE(c.zones.size() == 1);
  CHECK(c.zones[0].file == "conf/example.com.zone");
  server::Config bare = server::parse_config(one_zone, "apexd.toml");
  CHECK(bare.zones[0].file == "example.com.zone");
}

TEST_CASE("parse_config: errors name file:line and the key path") {
  struct Case {
    std::string what;
    std::string text;
    std::string prefix;  // "line: key" after the file name
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"unknown key in [server]", "[server]\nlisen = [\"127.0.0.1:53\"]\n" + one_zone, "2: server.lisen", "unknown key"},
      {"unknown top-level key", "verbose = true\n" + one_zone, "1: verbose", "unknown key"},
      {"unknown table", one_zone + "[metrics]\nport = 9100\n", "4: metrics", "unknown key"},
      {"unknown key in a zone", one_zone + "orign = \"x.\"\n", "4: zone[0].orign", "unknown key"},
      {"unknown key in [log]", "[log]\nlevel = \"info\"\nfiles = \"/tmp/x\"\n" + one_zone, "3: log.files", "unknown key"},
      {"log.queries not a boolean", "[log]\nqueries = \"yes\"\n" + one_zone, "2: log.queries", "true or false"},
      {"unknown key in [control]", "[control]\nlisten = \"127.0.0.1:8053\"\nport = 1\n" + one_zone, "3: control.port", "unknown key"},
      {"bad control address", "[control]\nlisten = \"localhost:8053\"\n" + one_zone, "2: control.listen", "not an IP address"},
      {"empty server.user", "[server]\nuser = \"\"\n" + one_zone, "2: server.user", "must not be empty"},
      {"bad proxy address", "[proxy]\nipv4 = [\"2001:db8::1\"]\n" + one_zone, "2: proxy.ipv4[0]", "not an IPv4 address"},
      {"bad flatten mode", "[[zone]]\norigin = \"example.com.\"\nfile = \"x\"\nflatten = \"some\"\n", "4: zone[0].flatten", "\"apex\", \"all\" or \"none\""},
      {"proxied outside the zone", "[[zone]]\norigin = \"example.com.\"\nfile = \"x\"\nproxied = [\"www.example.org.\"]\n", "4: zone[0].proxied[0]", "outside the zone"},
      {"min_ttl above max_ttl", "[resolver]\nmin_ttl = 600\nmax_ttl = 60\n" + one_zone, "1: resolver.min_ttl", "larger than"},
      {"bad upstream", "[resolver]\nupstreams = [\"resolver.example\"]\n" + one_zone, "2: resolver.upstreams[0]", "not an IP address"},
      {"threads is a string", "[server]\nthreads = \"4\"\n" + one_zone, "2: server.threads", "must be an integer"},
      {"threads out of range", "[server]\nthreads = 1000\n" + one_zone, "2: server.threads", "between 0 and 256"},
      {"udp_payload below 512", "[server]\nudp_payload = 100\n" + one_zone, "2: server.udp_payload",
       "between 512 and 4096"},
      {"listen is a string", "[server]\nlisten = \"127.0.0.1:53\"\n" + one_zone, "2: server.listen", "must be an array"},
      {"listen is empty", "[server]\nlisten = []\n" + one_zone, "2: server.listen", "at least one address"},
      {"listen entry not a string", "[server]\nlisten = [53]\n" + one_zone, "2: server.listen[0]", "must be a string"},
      {"bad address", "[server]\nlisten = [\"127.0.0.1:53\", \"1.2.3:53\"]\n" + one_zone, "2: server.listen[1]",
       "not an IP address"},
      {"host name instead of an address", "[server]\nlisten = [\"localhost:53\"]\n" + one_zone, "2: server.listen[0]",
       "not an IP address"},
      {"bad port", "[server]\nlisten = [\"127.0.0.1:70000\"]\n" + one_zone, "2: server.listen[0]", "not a port number"},
      {"bad duration", "[server]\ntcp_idle_timeout = \"10 seconds\"\n" + one_zone, "2: server.tcp_idle_timeout",
       "unit"},
      {"negative duration", "[server]\ntcp_idle_timeout = -5\n" + one_zone, "2: server.tcp_idle_timeout", "between"},
      {"server is not a table", "server = 5\n" + one_zone, "1: server", "must be a table"},
      {"bad log level", "[log]\nlevel = \"verbose\"\n" + one_zone, "2: log.level", "must be one of"},
      {"log level not a string", "[log]\nlevel = 3\n" + one_zone, "2: log.level", "must be a string"},
      {"no zone at all", "[log]\nlevel = \"info\"\n", "1: zone", "no [[zone]] configured"},
      {"zone is not an array of tables", "zone = \"example.com.\"\n", "1: zone", "array of tables"},
      {"missing origin", "[[zone]]\nfile = \"x.zone\"\n", "1: zone[0].origin", "missing"},
      {"missing file", "[[zone]]\norigin = \"example.com.\"\n", "1: zone[0].file", "missing"},
      {"origin not absolute", "[[zone]]\norigin = \"example.com\"\nfile = \"x.zone\"\n", "2: zone[0].origin",
       "absolute"},
      {"origin not a string", "[[zone]]\norigin = 5\nfile = \"x.zone\"\n", "2: zone[0].origin", "must be a string"},
      {"duplicate zone, case differs",
       one_zone + "\n[[zone]]\norigin = \"EXAMPLE.com.\"\nfile = \"other.zone\"\n", "6: zone[1].origin",
       "listed twice"},
      {"bad flatten mode", one_zone + "flatten = \"sometimes\"\n", "4: zone[0].flatten", "\"apex\", \"all\" or \"none\""},
      {"TOML syntax error", "[server\nthreads = 4\n", "1", ""},
      {"bad allow_transfer prefix", one_zone + "allow_transfer = [\"192.0.2.0/33\"]\n", "4: zone[0].allow_transfer[0]",
       "at most /32"},
      {"allow_transfer names an unknown key", one_zone + "allow_transfer = [\"key:nokey\"]\n", "1: zone[0].allow_transfer",
       "key nokey. is not defined"},
      {"allow_transfer entry empty", one_zone + "allow_transfer = [\" \"]\n", "4: zone[0].allow_transfer[0]", "is empty"},
      {"allow_transfer with two keys", key_table + one_zone + "allow_transfer = [\"key:xfr-key key:xfr-key\"]\n",
       "8: zone[0].allow_transfer[0]", "two keys"},
      {"bad serial policy", one_zone + "serial = \"date\"\n", "4: zone[0].serial", "\"increment\", \"unixtime\""},
      {"key secret not base64", "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"not base64!\"\n" + one_zone,
       "4: key[0].secret", "not base64"},
      {"bad notify target", one_zone + "notify = [\"secondary.example:53\"]\n", "4: zone[0].notify[0]",
       "not an IP address"},
      {"key without a secret", "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\n" + one_zone, "1: key[0].secret",
       "missing"},
      {"key with an unknown algorithm", "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha3-256\"\nsecret = \"YQ==\"\n" + one_zone,
       "3: key[0].algorithm", "not one of"},
      {"key defined twice", key_table + key_table + one_zone, "6: key[1].name", "defined twice"},
      {"unknown key in [[key]]", "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"YQ==\"\nsalt = 1\n" + one_zone,
       "5: key[0].salt", "unknown key"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::string message = error_of(c.text);
    CAPTURE(message);
    CHECK(message.rfind(path + ":" + c.prefix + ":", 0) == 0);
    CHECK(message.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("parse_config: an empty listen port is an error, not port 53") {
  CHECK_THROWS_AS(server::parse_listen("127.0.0.1:"), std::invalid_argument);
  CHECK_THROWS_AS(server::parse_listen("[::1]:"), std::invalid_argument);
}

TEST_CASE("parse_config: a duration too large for milliseconds is an error") {
  CHECK_THROWS_AS(server::parse_duration("999999999999d"), std::invalid_argument);
  std::string message = error_of("[server]\ntcp_idle_timeout = \"999999999999d\"\n" + one_zone);
  CHECK(message.rfind(path + ":2: server.tcp_idle_timeout: ", 0) == 0);
}

TEST_CASE("parse_duration") {
  struct Case {
    std::string text;
    std::chrono::milliseconds expected;
  };
  const std::vector<Case> cases = {
      {"800ms", 800ms}, {"10s", 10s}, {"5m", 5min}, {"1h", 1h}, {"1d", 24h},
      {"42", 42s},      {"0", 0s},    {"0ms", 0ms}, {"007s", 7s}, {"86400", 24h},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(server::parse_duration(c.text) == c.expected);
  }
  for (const std::string bad : {"", "s", "ms", "10x", "10 s", "-5", "1.5s", "5M", "10sec", "1h30m", "1234567890123"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(server::parse_duration(bad), std::invalid_argument);
  }
}

TEST_CASE("parse_listen") {
  struct Case {
    std::string text;
    std::string host;
    uint16_t port;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:53", "127.0.0.1", 53},
      {"0.0.0.0:5353", "0.0.0.0", 5353},
      {"192.0.2.1", "192.0.2.1", 53},
      {"[::1]:5353", "::1", 5353},
      {"[2001:db8::1]", "2001:db8::1", 53},
      {"::1", "::1", 53},
      {"2001:db8::53", "2001:db8::53", 53},
      {"127.0.0.1:65535", "127.0.0.1", 65535},
      {"127.0.0.1:1", "127.0.0.1", 1},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    server::ListenAddress a = server::parse_listen(c.text);
    CHECK(a.host == c.host);
    CHECK(a.port == c.port);
  }
  for (const std::string bad : {"", "localhost", "localhost:53", "1.2.3:53", "256.1.1.1", "127.0.0.1:0",
                                "127.0.0.1:65536", "127.0.0.1:123456", "127.0.0.1:5x", "127.0.0.1:-1", "[::1",
                                "[::1]5353", "[::1]:abc", "[127.0.0.1:53", "fe80::1%eth0", ":53"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(server::parse_listen(bad), std::invalid_argument);
  }
}

TEST_CASE("load_config: a missing file is an error naming it") {
  std::string message;
  try {
    server::load_config("/nonexistent/apexd.toml");
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message.rfind("/nonexistent/apexd.toml: ", 0) == 0);
  CHECK(message.find("cannot open") != std::string::npos);

  test::TempDir dir;
  std::string p = dir.write("apexd.toml", one_zone);
  server::Config c = server::load_config(p);
  REQUIRE(c.zones.size() == 1);
  CHECK(c.zones[0].file == (dir.path() / "example.com.zone").string());
}

TEST_CASE("load_config: include adds the zones of every matching file, parsed again only when changed") {
  test::TempDir dir;
  const std::string main = dir.write("apexd.toml", "include = [\"zones.d/*.toml\"]\n" + one_zone);
  dir.write("zones.d/b.toml", "[[zone]]\norigin = \"b.test.\"\nfile = \"b.zone\"\n");
  dir.write("zones.d/a.toml", "[[zone]]\norigin = \"a.test.\"\nfile = \"../zones/a.zone\"\n"
                              "[[zone]]\norigin = \"a2.test.\"\nfile = \"/abs/a2.zone\"\n");
  dir.write("zones.d/ignored.txt", "not toml");
  server::ConfigCache cache;
  server::Config c = server::load_config(main, &cache);
  std::vector<std::string> origins;
  for (const auto& z : c.zones) origins.push_back(z.origin_text);
  CHECK(origins == std::vector<std::string>{"example.com.", "a.test.", "a2.test.", "b.test."});  // file name order
  CHECK(c.zones[1].file == (dir.path() / "zones/a.zone").string());  // relative to the included file
  CHECK(c.zones[2].file == "/abs/a2.zone");
  CHECK(*c.zones[3].config_file == (dir.path() / "zones.d/b.toml").string());
  REQUIRE(cache.parts.size() == 2);

  // An unchanged file is taken from the cache, a changed one is read again.
  cache.parts[(dir.path() / "zones.d/a.toml").string()].zones[0].origin_text = "cached.";
  dir.write("zones.d/b.toml", "[[zone]]\norigin = \"b3.test.\"\nfile = \"b.zone\"\n# longer\n");
  c = server::load_config(main, &cache);
  CHECK(c.zones[1].origin_text == "cached.");
  CHECK(c.zones[3].origin_text == "b3.test.");
  // A removed file is forgotten.
  std::filesystem::remove(dir.path() / "zones.d/b.toml");
  c = server::load_config(main, &cache);
  CHECK(c.zones.size() == 3);
  CHECK(cache.parts.size() == 1);
}

TEST_CASE("load_config: errors in included files name that file, duplicates name both places") {
  test::TempDir dir;
  const std::string main = dir.write("apexd.toml", "include = [\"zones.d/*.toml\"]\n" + one_zone);
  const std::string bad = dir.write("zones.d/bad.toml", "[[zone]]\norigin = \"x.test.\"\nfile = \"x.zone\"\nflatten = 3\n");
  std::string message;
  try {
    server::load_config(main);
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message.rfind(bad + ":4: zone[0].flatten", 0) == 0);

  dir.write("zones.d/bad.toml", "[server]\nthreads = 2\n");
  message.clear();
  try {
    server::load_config(main);
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message.rfind(bad + ":1: server: unknown key", 0) == 0);

  const std::string dup = dir.write("zones.d/bad.toml", "[[zone]]\norigin = \"Example.COM.\"\nfile = \"x.zone\"\n");
  message.clear();
  try {
    server::load_config(main);
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message.rfind(dup + ":2: zone[0].origin: zone example.com. is listed twice (first at " + main + ":3)", 0) == 0);

  // A folder matched by the glob is refused, not read.
  std::filesystem::create_directories(dir.path() / "zones.d/sub.toml");
  message.clear();
  try {
    server::load_config(main);
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message.find("sub.toml: included path is not a regular file") != std::string::npos);
  std::filesystem::remove(dir.path() / "zones.d/sub.toml");

  // Only included zones: fine; no zone anywhere: an error.
  const std::string only = dir.write("only.toml", "include = [\"zones.d/*.toml\"]\n");
  CHECK(server::load_config(only).zones.size() == 1);
  const std::string none = dir.write("none.toml", "include = [\"nothing.d/*.toml\"]\n");
  CHECK_THROWS_AS(server::load_config(none), ConfigError);
}

TEST_CASE("parse_config: secondary zones: primaries, primary_key, allow_notify, max_zone_size") {
  server::Config c = server::parse_config(key_table + one_zone +
                                              "primaries = [\"192.0.2.1\", \"192.0.2.2:5300\", \"[2001:db8::1]:53\", \"2001:db8::2\"]\n"
                                              "primary_key = \"XFR-key\"\n"
                                              "max_zone_size = \"20K\"\n",
                                          path);
  REQUIRE(c.zones.size() == 1);
  const zone::ZoneOptions& o = c.zones[0].options;
  CHECK(o.is_secondary());
  CHECK_FALSE(o.has_secondaries());
  REQUIRE(o.primaries.size() == 4);
  CHECK(o.primaries[0] == zone::NotifyTarget{"192.0.2.1", 53});
  CHECK(o.primaries[1] == zone::NotifyTarget{"192.0.2.2", 5300});
  CHECK(o.primaries[2] == zone::NotifyTarget{"2001:db8::1", 53});
  CHECK(o.primaries[3] == zone::NotifyTarget{"2001:db8::2", 53});
  CHECK(o.primary_key == test::wire_name("xfr-key."));
  CHECK(o.max_zone_size == 20480);
  // allow_notify defaults to the primaries' addresses, no key (RFC 1996 §3.10).
  server::Config explicit_acl = server::parse_config(
      one_zone + "primaries = [\"192.0.2.1\"]\nallow_notify = [\"192.0.2.1\", \"2001:db8::1\"]\n", path);
  server::Config default_acl = server::parse_config(one_zone + "primaries = [\"192.0.2.1\", \"[2001:db8::1]:5300\"]\n", path);
  const auto& acl = default_acl.zones[0].options.allow_notify;
  REQUIRE(acl.size() == 2);
  CHECK(acl == explicit_acl.zones[0].options.allow_notify);
  CHECK(acl[0].family == 4);
  CHECK(acl[0].prefix_len == 32);
  CHECK(acl[0].key.empty());
  CHECK(acl[1].family == 6);
  CHECK(acl[1].prefix_len == 128);
  CHECK(acl[1].key.empty());
  // An explicit allow_notify replaces the default.
  server::Config keyed = server::parse_config(key_table + one_zone + "primaries = [\"192.0.2.1\"]\nallow_notify = [\"key:xfr-key\"]\n", path);
  REQUIRE(keyed.zones[0].options.allow_notify.size() == 1);
  CHECK(keyed.zones[0].options.allow_notify[0].family == 0);
  CHECK(keyed.zones[0].options.allow_notify[0].key == test::wire_name("xfr-key."));
  server::Config nobody = server::parse_config(one_zone + "primaries = [\"192.0.2.1\"]\nallow_notify = []\n", path);
  CHECK(nobody.zones[0].options.allow_notify.empty());
}

TEST_CASE("parse_config: defaults of the secondary and journal keys") {
  server::Config c = server::parse_config(one_zone, path);
  const zone::ZoneOptions& o = c.zones[0].options;
  CHECK_FALSE(o.is_secondary());
  CHECK(o.primaries.empty());
  CHECK(o.primary_key.empty());
  CHECK(o.allow_notify.empty());
  CHECK(o.max_zone_size == uint64_t(512) << 20);
  CHECK(o.journal_max == uint64_t(16) << 20);
  CHECK(c.state_dir == "/var/lib/apexd");
}

TEST_CASE("parse_config: sizes: max_zone_size and journal_max") {
  struct Case {
    std::string value;
    uint64_t bytes;
  } cases[] = {
      {"20480", 20480},     {"\"20K\"", 20480},         {"\"20k\"", 20480},     {"\"16M\"", uint64_t(16) << 20},
      {"\"2G\"", uint64_t(2) << 30}, {"\"123\"", 123}, {"0", 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    server::Config z = server::parse_config(one_zone + "primaries = [\"192.0.2.1\"]\nmax_zone_size = " + c.value + "\n", path);
    CHECK(z.zones[0].options.max_zone_size == c.bytes);
    server::Config j = server::parse_config(one_zone + "journal_max = " + c.value + "\n", path);
    CHECK(j.zones[0].options.journal_max == c.bytes);
  }
  CHECK(server::parse_config(one_zone + "allow_transfer = [\"192.0.2.0/24\"]\njournal_max = 0\n", path)
            .zones[0]
            .options.journal_max == 0);
  for (std::string bad : {"\"12Q\"", "-1", "\"\"", "\"-1\"", "\"K\"", "\"1.5M\"", "\" 1K\"", "\"1K \"", "\"1KB\"",
                          "\"99999999999G\"", "true", "1.5"}) {
    CAPTURE(bad);
    std::string m = error_of(one_zone + "primaries = [\"192.0.2.1\"]\nmax_zone_size = " + bad + "\n");
    CHECK(m.rfind(path + ":5: zone[0].max_zone_size: ", 0) == 0);
    std::string j = error_of(one_zone + "journal_max = " + bad + "\n");
    CHECK(j.rfind(path + ":4: zone[0].journal_max: ", 0) == 0);
  }
}

TEST_CASE("parse_config: notify_min_interval: seconds, 30 by default, refused with file:line otherwise") {
  CHECK(server::parse_config(one_zone, path).zones[0].options.notify_min_interval == 30);
  struct Case {
    std::string value;
    uint32_t seconds;
  } cases[] = {{"5", 5}, {"0", 0}, {"\"90s\"", 90}, {"\"2m\"", 120}, {"\"1h\"", 3600}, {"86400", 86400}};
  for (const Case& c : cases) {
    CAPTURE(c.value);
    CHECK(server::parse_config(one_zone + "notify_min_interval = " + c.value + "\n", path).zones[0].options.notify_min_interval ==
          c.seconds);
  }
  for (std::string bad : {"\"1500ms\"", "86401", "\"2d\"", "-1", "\"soon\"", "true"}) {
    CAPTURE(bad);
    CHECK(error_of(one_zone + "notify_min_interval = " + bad + "\n").rfind(path + ":4: zone[0].notify_min_interval: ", 0) == 0);
  }
}

TEST_CASE("parse_config: errors in the secondary keys name file:line and the key path") {
  struct Case {
    std::string what;
    std::string text;
    std::string prefix;  // "line: key" after the file name
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"primaries empty", one_zone + "primaries = []\n", "4: zone[0].primaries", "is empty"},
      {"primaries not an array", one_zone + "primaries = \"192.0.2.1\"\n", "4: zone[0].primaries", "must be an array"},
      {"primary a host name", one_zone + "primaries = [\"primary.example:53\"]\n", "4: zone[0].primaries[0]",
       "not an IP address"},
      {"primary with a bad port", one_zone + "primaries = [\"192.0.2.1:99999\"]\n", "4: zone[0].primaries[0]",
       "not a port number"},
      {"primary_key undefined", one_zone + "primaries = [\"192.0.2.1\"]\nprimary_key = \"nokey\"\n",
       "1: zone[0].primary_key", "key nokey. is not defined"},
      {"primary_key undefined, after a key table", key_table + one_zone + "primaries = [\"192.0.2.1\"]\nprimary_key = \"other\"\n",
       "5: zone[0].primary_key", "key other. is not defined"},
      {"primary_key not a name", one_zone + "primaries = [\"192.0.2.1\"]\nprimary_key = \".\"\n", "5: zone[0].primary_key",
       "not a key name"},
      {"allow_notify names an undefined key", one_zone + "primaries = [\"192.0.2.1\"]\nallow_notify = [\"key:nokey\"]\n",
       "1: zone[0].allow_notify", "key nokey. is not defined"},
      {"bad allow_notify prefix", one_zone + "primaries = [\"192.0.2.1\"]\nallow_notify = [\"192.0.2.0/40\"]\n",
       "5: zone[0].allow_notify[0]", "at most /32"},
      {"primary_key without primaries", key_table + one_zone + "primary_key = \"xfr-key\"\n", "8: zone[0].primary_key",
       "only for a secondary zone"},
      {"allow_notify without primaries", one_zone + "allow_notify = [\"192.0.2.1\"]\n", "4: zone[0].allow_notify",
       "only for a secondary zone"},
      {"max_zone_size without primaries", one_zone + "max_zone_size = \"20K\"\n", "4: zone[0].max_zone_size",
       "only for a secondary zone"},
      {"empty state_dir", "[server]\nstate_dir = \"\"\n" + one_zone, "2: server.state_dir", "must not be empty"},
      {"state_dir not a string", "[server]\nstate_dir = 5\n" + one_zone, "2: server.state_dir", "must be a string"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::string message = error_of(c.text);
    CAPTURE(message);
    CHECK(message.rfind(path + ":" + c.prefix + ":", 0) == 0);
    CHECK(message.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("parse_config: [server] state_dir is relative to the config file's folder") {
  CHECK(server::parse_config("[server]\nstate_dir = \"state\"\n" + one_zone, path).state_dir == "/etc/apexd/state");
  CHECK(server::parse_config("[server]\nstate_dir = \"/srv/apexd\"\n" + one_zone, path).state_dir == "/srv/apexd");
  CHECK(server::parse_config("[server]\nstate_dir = \"../lib/apexd\"\n" + one_zone, path).state_dir ==
        "/etc/lib/apexd");
  CHECK(server::parse_config("[server]\nstate_dir = \"state\"\n" + one_zone, "conf/apexd.toml").state_dir == "conf/state");
  CHECK(server::parse_config("[server]\nstate_dir = \"state\"\n" + one_zone, "apexd.toml").state_dir == "state");
}

TEST_CASE("[control] API keys, [control.zone_defaults] and [catalog]: errors name file:line and the key") {
  const std::string listen = "[control]\nlisten = \"127.0.0.1:8053\"\n";
  struct Case {
    std::string text, want;
  } cases[] = {
      {listen + "api_key = \"short\"\n" + one_zone, "apexd.toml:3: control.api_key: too short"},
      {"[control]\napi_key = \"0123456789abcdef0\"\n" + one_zone, "control.api_key: the API needs control.listen"},
      {listen + "api_key = \"0123456789abcdef0\"\napi_key_file = \"k\"\n" + one_zone, "give api_key or api_key_file"},
      {listen + "api_key = \"0123456789abcdef0\"\n[control.zone_defaults]\norigin = \"x.\"\n" + one_zone,
       "control.zone_defaults.origin: is set per zone"},
      {listen + "api_key = \"0123456789abcdef0\"\n[control.zone_defaults]\nflatten = \"sometimes\"\n" + one_zone,
       "control.zone_defaults.flatten: must be"},
      {listen + "api_key = \"0123456789abcdef0\"\n[control.zone_defaults]\nallow_update = [{ key = \"nokey\" }]\n" +
           one_zone,
       "key nokey. is not defined by a [[key]]"},
      {"[catalog]\nallow_transfer = [\"192.0.2.1\"]\n" + one_zone, "catalog.origin: missing"},
      {"[catalog]\norigin = \"example.com.\"\n" + one_zone, "catalog.origin: example.com. is also a [[zone]]"},
      {"[catalog]\norigin = \"cat.invalid.\"\nfile = \"x\"\n" + one_zone, "catalog.file"},
      {one_zone + "consume_catalog = true\n", "consume_catalog: only for a secondary zone"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(error_of(c.text).find(c.want) != std::string::npos);
  }
  // api_key_file: the first line, white space trimmed, relative to the config's folder.
  std::string dir = std::filesystem::temp_directory_path() / ("apexd-cfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir + "/api.key") << "0123456789abcdef0123  \n";
    std::ofstream(dir + "/empty.key") << "\n";
  }
  server::Config kf = server::parse_config(listen + "api_key_file = \"api.key\"\n", dir + "/apexd.toml");
  CHECK(kf.api.key == "0123456789abcdef0123");
  try {
    server::parse_config(listen + "api_key_file = \"empty.key\"\n", dir + "/apexd.toml");
    CHECK(false);
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("holds no key") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
  // With the API on, no [[zone]] at all is fine: the API creates them.
  server::Config cfg = server::parse_config(listen + "api_key = \"0123456789abcdef0\"\n", path);
  CHECK(cfg.api.enabled());
  CHECK(cfg.zones.empty());
  server::Config cat = server::parse_config("[catalog]\norigin = \"cat.invalid.\"\nnotify = [\"192.0.2.9:53\"]\n" + one_zone, path);
  REQUIRE(cat.catalog);
  CHECK(cat.catalog->origin_text == "cat.invalid.");
  CHECK(cat.catalog->options.notify.size() == 1);
}
