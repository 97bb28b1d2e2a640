// Config parsing with toml++: strict keys, typed values, file:line and key path in every error.
#include "server/config.hpp"

#include <arpa/inet.h>
#include <glob.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <toml++/toml.h>

#include "crypto/hmac.hpp"
#include "server/zone_list_cache.hpp"
#include "zone/origin_index.hpp"
#include "zone/wire/name.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace {

[[noreturn]] void fail(const std::string& path, const toml::source_region& where, const std::string& key,
                       const std::string& why) {
  throw ConfigError(path + ":" + std::to_string(where.begin.line) + ": " + key + ": " + why);
}

void check_keys(const std::string& path, const toml::table& t, const std::string& prefix,
                std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : t) {
    std::string_view key = k.str();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(path, v.source(), prefix + std::string(key), "unknown key");
  }
}

// base/file, normalised; plain paths (no "." or ".." components, no "//") skip std::filesystem,
// which costs microseconds a zone when a config lists 100,000 of them.
std::string join_path(const std::string& base, const std::string& file) {
  bool plain = file.find("/.") == std::string::npos && file.find("//") == std::string::npos &&
               file.compare(0, 2, "./") != 0 && file.compare(0, 3, "../") != 0 && file != "." && file != "..";
  if (plain && !file.empty() && file[0] == '/') return file;
  if (plain && !file.empty() && (base.empty() || base == "/" || base.find("/.") == std::string::npos))
    return base.empty() ? file : base + (base.back() == '/' ? "" : "/") + file;
  std::filesystem::path f(file);
  return (f.is_relative() ? std::filesystem::path(base) / f : f).lexically_normal().string();
}

const toml::table* table_at(const std::string& path, const toml::table& root, const char* name) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) fail(path, n->source(), name, "must be a table");
  return n->as_table();
}

std::string get_string(const std::string& path, const toml::node& n, const std::string& key) {
  if (!n.is_string()) fail(path, n.source(), key, "must be a string");
  return n.as_string()->get();
}

bool get_bool(const std::string& path, const toml::node& n, const std::string& key) {
  if (!n.is_boolean()) fail(path, n.source(), key, "must be true or false");
  return n.as_boolean()->get();
}

int64_t get_int(const std::string& path, const toml::node& n, const std::string& key, int64_t lo, int64_t hi) {
  if (!n.is_integer()) fail(path, n.source(), key, "must be an integer");
  int64_t v = n.as_integer()->get();
  if (v < lo || v > hi) fail(path, n.source(), key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

// A size in bytes: an integer, or a string with a K, M or G suffix (powers of 1024): "16M".
uint64_t get_size(const std::string& path, const toml::node& n, const std::string& key) {
  constexpr int64_t max = int64_t(1) << 50;
  if (n.is_integer()) return uint64_t(get_int(path, n, key, 0, max));
  std::string t = get_string(path, n, key);
  uint64_t mult = 1;
  if (!t.empty() && std::strchr("kKmMgG", t.back())) {
    char c = char(std::tolower(static_cast<unsigned char>(t.back())));
    mult = c == 'k' ? 1024 : c == 'm' ? 1024 * 1024 : 1024 * 1024 * 1024;
    t.pop_back();
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || v > uint64_t(max) / mult)
    fail(path, n.source(), key, "must be a size: bytes, or a number with K, M or G (\"16M\")");
  return v * mult;
}

std::chrono::milliseconds get_duration(const std::string& path, const toml::node& n, const std::string& key) {
  try {
    if (n.is_integer()) return std::chrono::seconds(get_int(path, n, key, 0, 86400 * 365));
    return parse_duration(get_string(path, n, key));
  } catch (const std::invalid_argument& e) {
    fail(path, n.source(), key, e.what());
  }
}

void parse_server(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "server.", {"listen", "threads", "tcp_idle_timeout", "tcp_max_connections", "tcp_max_per_client",
                                  "udp_payload", "answer_cache", "user", "state_dir"});
  if (const toml::node* n = t.get("state_dir")) {
    std::string dir = get_string(path, *n, "server.state_dir");
    if (dir.empty()) fail(path, n->source(), "server.state_dir", "must not be empty");
    c.state_dir = join_path(std::filesystem::path(path).parent_path().string(), dir);
  }
  if (const toml::node* n = t.get("tcp_max_per_client"))
    c.tcp_max_per_client = unsigned(get_int(path, *n, "server.tcp_max_per_client", 1, 1000000));
  if (const toml::node* n = t.get("user")) {
    c.user = get_string(path, *n, "server.user");
    if (c.user.empty()) fail(path, n->source(), "server.user", "must not be empty (leave it out to keep the user)");
  }
  if (const toml::node* n = t.get("listen")) {
    const toml::array* arr = n->as_array();
    if (!arr) fail(path, n->source(), "server.listen", "must be an array of \"address:port\" strings");
    c.listen.clear();
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      std::string key = "server.listen[" + std::to_string(i) + "]";
      try {
        c.listen.push_back(parse_listen(get_string(path, e, key)));
      } catch (const std::invalid_argument& ex) {
        fail(path, e.source(), key, ex.what());
      }
    }
    if (c.listen.empty()) fail(path, n->source(), "server.listen", "needs at least one address");
  }
  if (const toml::node* n = t.get("threads")) c.threads = unsigned(get_int(path, *n, "server.threads", 0, 256));
  if (const toml::node* n = t.get("tcp_idle_timeout")) c.tcp_idle_timeout = get_duration(path, *n, "server.tcp_idle_timeout");
  if (const toml::node* n = t.get("tcp_max_connections"))
    c.tcp_max_connections = unsigned(get_int(path, *n, "server.tcp_max_connections", 1, 1000000));
  if (const toml::node* n = t.get("udp_payload")) c.udp_payload = uint16_t(get_int(path, *n, "server.udp_payload", 512, 4096));
  if (const toml::node* n = t.get("answer_cache"))
    c.answer_cache = unsigned(get_int(path, *n, "server.answer_cache", 0, 1 << 24));
}

void parse_log(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "log.", {"level", "file", "queries"});
  if (const toml::node* n = t.get("file")) c.log_file = get_string(path, *n, "log.file");
  if (const toml::node* n = t.get("queries")) c.log_queries = get_bool(path, *n, "log.queries");
  if (const toml::node* n = t.get("level")) {
    c.log_level = get_string(path, *n, "log.level");
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(c.log_level))
      fail(path, n->source(), "log.level", "must be one of trace, debug, info, warn, error, critical, off");
  }
}

std::vector<std::string> get_string_array(const std::string& path, const toml::node& n, const std::string& key) {
  const toml::array* arr = n.as_array();
  if (!arr) fail(path, n.source(), key, "must be an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < arr->size(); ++i) out.push_back(get_string(path, *arr->get(i), key + "[" + std::to_string(i) + "]"));
  return out;
}

void parse_zones(const std::string& path, const toml::node& n, Config& c);
ZoneConfig parse_zone_like(const std::string& path, toml::table t, const std::string& prefix);

void parse_control(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "control.", {"listen", "api_key", "api_key_file", "zone_defaults"});
  if (const toml::node* n = t.get("listen")) {
    try {
      c.control = parse_listen(get_string(path, *n, "control.listen"));
    } catch (const std::invalid_argument& e) {
      fail(path, n->source(), "control.listen", e.what());
    }
  }
  const toml::node* key = t.get("api_key");
  const toml::node* key_file = t.get("api_key_file");
  if (key && key_file) fail(path, key_file->source(), "control.api_key_file", "give api_key or api_key_file, not both");
  if (key) c.api.key = get_string(path, *key, "control.api_key");
  if (key_file) {
    std::string file = join_path(std::filesystem::path(path).parent_path().string(),
                                 get_string(path, *key_file, "control.api_key_file"));
    std::ifstream in(file);
    if (!in) fail(path, key_file->source(), "control.api_key_file", "cannot read " + file);
    std::getline(in, c.api.key);
    while (!c.api.key.empty() && std::isspace(static_cast<unsigned char>(c.api.key.back()))) c.api.key.pop_back();
    if (c.api.key.empty()) fail(path, key_file->source(), "control.api_key_file", file + " holds no key");
  }
  if ((key || key_file) && c.api.key.size() < 16)
    fail(path, (key ? key : key_file)->source(), key ? "control.api_key" : "control.api_key_file",
         "too short: use at least 16 characters (e.g. `openssl rand -hex 16`)");
  if ((key || key_file) && !c.control)
    fail(path, (key ? key : key_file)->source(), key ? "control.api_key" : "control.api_key_file",
         "the API needs control.listen");
  if (const toml::node* n = t.get("zone_defaults")) {
    const toml::table* d = n->as_table();
    if (!d) fail(path, n->source(), "control.zone_defaults", "must be a table of [[zone]] keys");
    for (const char* k : {"origin", "file", "primaries"})
      if (d->contains(k)) fail(path, d->get(k)->source(), std::string("control.zone_defaults.") + k,
                               "is set per zone by the API, not by the defaults");
    std::ostringstream text;
    text << toml::toml_formatter(*d);
    c.api.zone_defaults = text.str() + "\n";
    // Validated here, as one zone's table would be (errors point at the config).
    toml::table probe = *d;
    probe.insert_or_assign("origin", "zone-defaults.invalid.");
    c.api.defaults = parse_zone_like(path, std::move(probe), "control.zone_defaults.");
  }
}

// A table that is not a [[zone]] but holds a zone's keys ([control.zone_defaults], [catalog]),
// parsed as one [[zone]] table (without a file), errors naming it by `prefix`.
ZoneConfig parse_zone_like(const std::string& path, toml::table t, const std::string& prefix) {
  t.insert_or_assign("file", "/dev/null");
  toml::array one;
  one.push_back(std::move(t));
  Config scratch;
  try {
    parse_zones(path, one, scratch);
  } catch (const ConfigError& e) {
    std::string what = e.what();
    size_t at = what.find("zone[0].");
    if (at != std::string::npos) what.replace(at, 8, prefix);
    throw ConfigError(what);
  }
  return std::move(scratch.zones[0]);
}

// [catalog]: parsed as a [[zone]] table would be (errors point at the config), without a file.
void parse_catalog(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "catalog.", {"origin", "allow_transfer", "notify", "notify_key"});
  if (!t.contains("origin")) fail(path, t.source(), "catalog.origin", "missing (the catalog zone's name, e.g. \"catalog.invalid.\")");
  c.catalog = parse_zone_like(path, t, "catalog.");
  c.catalog->file.clear();
  c.catalog->line = t.source().begin.line;
}

void parse_proxy(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "proxy.", {"ipv4", "ipv6", "ttl"});
  auto addresses = [&](const char* name, int family) {
    std::vector<std::string> out;
    const toml::node* n = t.get(name);
    if (!n) return out;
    std::string key = std::string("proxy.") + name;
    out = get_string_array(path, *n, key);
    for (size_t i = 0; i < out.size(); ++i) {
      unsigned char buf[16];
      if (inet_pton(family, out[i].c_str(), buf) != 1)
        fail(path, n->as_array()->get(i)->source(), key + "[" + std::to_string(i) + "]",
             "\"" + out[i] + "\" is not an " + (family == AF_INET ? "IPv4" : "IPv6") + " address");
    }
    return out;
  };
  c.proxy.ipv4 = addresses("ipv4", AF_INET);
  c.proxy.ipv6 = addresses("ipv6", AF_INET6);
  if (const toml::node* n = t.get("ttl")) c.proxy.ttl = uint32_t(get_int(path, *n, "proxy.ttl", 0, 604800));
}

void parse_resolver(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "resolver.", {"upstreams", "timeout", "deadline", "cache_size", "min_ttl", "max_ttl", "serve_stale",
                                    "failure_recheck", "max_inflight"});
  ResolverConfig& r = c.resolver;
  if (const toml::node* n = t.get("upstreams")) {
    auto list = get_string_array(path, *n, "resolver.upstreams");
    for (size_t i = 0; i < list.size(); ++i) {
      try {
        r.upstreams.push_back(parse_listen(list[i]));
      } catch (const std::invalid_argument& e) {
        fail(path, n->as_array()->get(i)->source(), "resolver.upstreams[" + std::to_string(i) + "]", e.what());
      }
    }
  }
  if (const toml::node* n = t.get("max_inflight")) r.max_inflight = unsigned(get_int(path, *n, "resolver.max_inflight", 1, 1000000));
  if (const toml::node* n = t.get("timeout")) r.timeout = get_duration(path, *n, "resolver.timeout");
  if (const toml::node* n = t.get("deadline")) r.deadline = get_duration(path, *n, "resolver.deadline");
  if (const toml::node* n = t.get("cache_size")) r.cache_size = size_t(get_int(path, *n, "resolver.cache_size", 16, 100000000));
  if (const toml::node* n = t.get("min_ttl")) r.min_ttl = uint32_t(get_int(path, *n, "resolver.min_ttl", 0, 86400));
  if (const toml::node* n = t.get("max_ttl")) r.max_ttl = uint32_t(get_int(path, *n, "resolver.max_ttl", 1, 604800 * 4));
  if (const toml::node* n = t.get("serve_stale"))
    r.serve_stale = std::chrono::duration_cast<std::chrono::seconds>(get_duration(path, *n, "resolver.serve_stale"));
  if (const toml::node* n = t.get("failure_recheck"))
    r.failure_recheck = std::chrono::duration_cast<std::chrono::seconds>(get_duration(path, *n, "resolver.failure_recheck"));
  if (r.min_ttl > r.max_ttl) fail(path, t.source(), "resolver.min_ttl", "is larger than resolver.max_ttl");
  if (r.timeout.count() == 0 || r.deadline < r.timeout)
    fail(path, t.source(), "resolver.deadline", "must be at least resolver.timeout, which must be above 0");
}

void parse_rrl(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "rrl.", {"responses_per_second", "slip", "whitelist", "table_size"});
  if (const toml::node* n = t.get("responses_per_second"))
    c.rrl.responses_per_second = uint32_t(get_int(path, *n, "rrl.responses_per_second", 0, 1000000));
  if (const toml::node* n = t.get("slip")) c.rrl.slip = uint32_t(get_int(path, *n, "rrl.slip", 0, 100));
  if (const toml::node* n = t.get("table_size")) c.rrl.table_size = uint32_t(get_int(path, *n, "rrl.table_size", 64, 1 << 24));
  if (const toml::node* n = t.get("whitelist")) {
    auto list = get_string_array(path, *n, "rrl.whitelist");
    for (size_t i = 0; i < list.size(); ++i) {
      try {
        c.rrl.whitelist.push_back(parse_prefix(list[i]));
      } catch (const std::invalid_argument& e) {
        fail(path, n->as_array()->get(i)->source(), "rrl.whitelist[" + std::to_string(i) + "]", e.what());
      }
    }
  }
}

// "192.0.2.0/24", "2001:db8::1", "key:xfr-key" or both, space-separated ("192.0.2.0/24 key:xfr-key").
zone::AccessEntry parse_access_entry(const std::string& text) {
  zone::AccessEntry e;
  std::istringstream words(text);
  std::string w;
  bool any = false;
  while (words >> w) {
    any = true;
    if (w.starts_with("key:")) {
      if (!e.key.empty()) throw std::invalid_argument("\"" + text + "\" names two keys");
      std::string name = w.substr(4);
      if (!name.empty() && name.back() != '.') name += '.';
      auto wire = wire::name_from_text(name);
      if (!wire || name == ".") throw std::invalid_argument("\"" + w + "\" is not a key name");
      e.key = wire::name_lower({reinterpret_cast<const uint8_t*>(wire->data()), wire->size()});
    } else {
      if (e.family) throw std::invalid_argument("\"" + text + "\" has two address prefixes");
      Prefix p = parse_prefix(w);
      e.family = p.family == AF_INET ? 4 : 6;
      e.prefix_len = p.length;
      std::copy(std::begin(p.bytes), std::end(p.bytes), e.address.begin());
    }
  }
  if (!any) throw std::invalid_argument("is empty (an address prefix, \"key:NAME\", or both)");
  return e;
}

void parse_keys(const std::string& path, const toml::node& n, Config& c) {
  const toml::array* arr = n.as_array();
  if (!arr) fail(path, n.source(), "key", "must be an array of tables ([[key]])");
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    std::string prefix = "key[" + std::to_string(i) + "].";
    const toml::table* t = e.as_table();
    if (!t) fail(path, e.source(), "key[" + std::to_string(i) + "]", "must be a table");
    check_keys(path, *t, prefix, {"name", "algorithm", "secret"});
    KeyConfig k;
    k.line = e.source().begin.line;
    for (const char* field : {"name", "algorithm", "secret"})
      if (!t->get(field)) fail(path, e.source(), prefix + field, "missing");
    k.name_text = get_string(path, *t->get("name"), prefix + "name");
    if (!k.name_text.empty() && k.name_text.back() != '.') k.name_text += '.';
    auto wire = wire::name_from_text(k.name_text);
    if (!wire || k.name_text == ".") fail(path, t->get("name")->source(), prefix + "name", "not a domain name");
    k.name = wire::name_lower({reinterpret_cast<const uint8_t*>(wire->data()), wire->size()});
    k.algorithm = get_string(path, *t->get("algorithm"), prefix + "algorithm");
    if (k.algorithm.ends_with(".")) k.algorithm.pop_back();
    static const std::set<std::string> known = {"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
                                                "hmac-sha512"};
    if (!known.count(k.algorithm))
      fail(path, t->get("algorithm")->source(), prefix + "algorithm",
           "\"" + k.algorithm + "\" is not one of hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1, hmac-md5");
    k.secret = get_string(path, *t->get("secret"), prefix + "secret");
    if (k.secret.empty()) fail(path, t->get("secret")->source(), prefix + "secret", "is empty");
    if (!crypto::base64_decode(k.secret))
      fail(path, t->get("secret")->source(), prefix + "secret", "is not base64 (as tsig-keygen prints it)");
    for (const KeyConfig& other : c.keys)
      if (other.name == k.name)
        fail(path, t->get("name")->source(), prefix + "name",
             "key " + k.name_text + " is defined twice (first at line " + std::to_string(other.line) + ")");
    c.keys.push_back(std::move(k));
  }
}

void parse_dnssec(const std::string& path, const toml::table& t, Config& c) {
  check_keys(path, t, "dnssec.", {"signature_cache", "signing_budget", "test_corrupt_signatures"});
  if (const toml::node* n = t.get("signature_cache"))
    c.dnssec.signature_cache = size_t(get_int(path, *n, "dnssec.signature_cache", 1000, int64_t(1) << 30));
  if (const toml::node* n = t.get("signing_budget"))
    c.dnssec.signing_budget = unsigned(get_int(path, *n, "dnssec.signing_budget", 0, 10000000));
  if (const toml::node* n = t.get("test_corrupt_signatures"))
    c.dnssec.test_corrupt_signatures = get_bool(path, *n, "dnssec.test_corrupt_signatures");
}

void parse_zones(const std::string& path, const toml::node& n, Config& c) {
  const toml::array* arr = n.as_array();
  if (!arr) fail(path, n.source(), "zone", "must be an array of tables ([[zone]])");
  std::string base = std::filesystem::path(path).parent_path().string();
  auto config_file = std::make_shared<const std::string>(path);
  c.zones.reserve(c.zones.size() + arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    std::string prefix = "zone[" + std::to_string(i) + "].";
    const toml::table* t = e.as_table();
    if (!t) fail(path, e.source(), "zone[" + std::to_string(i) + "]", "must be a table");
    check_keys(path, *t, prefix, {"origin", "file", "flatten", "proxied", "allow_transfer", "notify", "notify_key", "serial",
                                      "primaries", "primary_key", "allow_notify", "max_zone_size", "journal_max", "notify_min_interval",
                                      "allow_update", "consume_catalog", "dnssec", "key_dir", "dnssec_algorithm",
                                      "transfer_unsigned"});
    ZoneConfig z;
    z.line = e.source().begin.line;
    const toml::node* origin = t->get("origin");
    if (!origin) fail(path, e.source(), prefix + "origin", "missing");
    z.origin_text = get_string(path, *origin, prefix + "origin");
    auto wire = wire::name_from_text(z.origin_text);
    if (!wire) fail(path, origin->source(), prefix + "origin", "not an absolute domain name (end it with a dot)");
    z.origin = wire::name_lower({reinterpret_cast<const uint8_t*>(wire->data()), wire->size()});
    z.origin_text = wire::name_to_text({reinterpret_cast<const uint8_t*>(z.origin.data()), z.origin.size()});
    z.config_file = config_file;
    z.index = unsigned(i);
    z.origin_line = origin->source().begin.line;
    const toml::node* file = t->get("file");
    if (!file) fail(path, e.source(), prefix + "file", "missing");
    z.file = join_path(base, get_string(path, *file, prefix + "file"));
    if (const toml::node* fl = t->get("flatten")) {
      std::string mode = get_string(path, *fl, prefix + "flatten");
      if (mode == "apex") z.options.flatten = zone::FlattenMode::apex;
      else if (mode == "all") z.options.flatten = zone::FlattenMode::all;
      else if (mode == "none") z.options.flatten = zone::FlattenMode::none;
      else fail(path, fl->source(), prefix + "flatten", "must be \"apex\", \"all\" or \"none\"");
    }
    if (const toml::node* px = t->get("proxied")) {
      auto names = get_string_array(path, *px, prefix + "proxied");
      wire::NameView origin_view(reinterpret_cast<const uint8_t*>(z.origin.data()), z.origin.size());
      for (size_t k = 0; k < names.size(); ++k) {
        auto w = wire::name_from_text(names[k], origin_view);
        std::string key = prefix + "proxied[" + std::to_string(k) + "]";
        if (!w) fail(path, px->as_array()->get(k)->source(), key, "\"" + names[k] + "\" is not a domain name");
        wire::NameView wv(reinterpret_cast<const uint8_t*>(w->data()), w->size());
        if (!wire::name_is_subdomain(wv, origin_view))
          fail(path, px->as_array()->get(k)->source(), key, "\"" + names[k] + "\" is outside the zone " + z.origin_text);
        z.options.proxied.push_back(wire::name_lower(wv));
      }
    }
    auto access_list = [&](const char* field, std::vector<zone::AccessEntry>& out) {
      const toml::node* n = t->get(field);
      if (!n) return false;
      auto entries = get_string_array(path, *n, prefix + field);
      for (size_t k = 0; k < entries.size(); ++k) {
        try {
          out.push_back(parse_access_entry(entries[k]));
        } catch (const std::invalid_argument& e) {
          fail(path, n->as_array()->get(k)->source(), prefix + field + "[" + std::to_string(k) + "]", e.what());
        }
      }
      return true;
    };
    auto address_list = [&](const char* field, std::vector<zone::NotifyTarget>& out) {
      const toml::node* n = t->get(field);
      if (!n) return;
      auto targets = get_string_array(path, *n, prefix + field);
      for (size_t k = 0; k < targets.size(); ++k) {
        try {
          ListenAddress a = parse_listen(targets[k]);
          out.push_back({a.host, a.port});
        } catch (const std::invalid_argument& e) {
          fail(path, n->as_array()->get(k)->source(), prefix + field + "[" + std::to_string(k) + "]", e.what());
        }
      }
    };
    auto key_name = [&](const char* field, std::string& out) {
      const toml::node* nk = t->get(field);
      if (!nk) return;
      std::string name = get_string(path, *nk, prefix + field);
      if (!name.empty() && name.back() != '.') name += '.';
      auto wire = wire::name_from_text(name);
      if (!wire || name == ".") fail(path, nk->source(), prefix + field, "not a key name");
      out = wire::name_lower({reinterpret_cast<const uint8_t*>(wire->data()), wire->size()});
    };
    access_list("allow_transfer", z.options.allow_transfer);
    key_name("notify_key", z.options.notify_key);
    key_name("primary_key", z.options.primary_key);
    address_list("primaries", z.options.primaries);
    if (const toml::node* n = t->get("primaries"); n && z.options.primaries.empty())
      fail(path, n->source(), prefix + "primaries", "is empty (leave it out for a primary zone)");
    if (!access_list("allow_notify", z.options.allow_notify)) {
      // RFC 1996 §3.10: by default, NOTIFY is taken from the primaries' addresses, signed or not
      // (as BIND's allow-notify): it only makes us send an SOA query, which primary_key signs.
      for (const zone::NotifyTarget& p : z.options.primaries) z.options.allow_notify.push_back(parse_access_entry(p.host));
    }
    if (!z.options.is_secondary()) {
      for (const char* f : {"primary_key", "allow_notify", "max_zone_size"})
        if (const toml::node* n = t->get(f)) fail(path, n->source(), prefix + f, "only for a secondary zone (one with primaries)");
    }
    if (const toml::node* n = t->get("allow_update")) {
      // [{ key = "acme", names = ["_acme-challenge.*"], types = ["TXT"] }, ...]
      const toml::array* arr = n->as_array();
      if (!arr) fail(path, n->source(), prefix + "allow_update", "must be an array of { key, names, types } tables");
      for (size_t k = 0; k < arr->size(); ++k) {
        std::string at = prefix + "allow_update[" + std::to_string(k) + "]";
        const toml::table* g = arr->get(k)->as_table();
        if (!g) fail(path, arr->get(k)->source(), at, "must be a table { key = \"NAME\", names = [...], types = [...] }");
        check_keys(path, *g, at + ".", {"key", "names", "types"});
        zone::UpdateGrant grant;
        const toml::node* kn = g->get("key");
        if (!kn) fail(path, arr->get(k)->source(), at + ".key", "missing");
        std::string kname = get_string(path, *kn, at + ".key");
        if (!kname.empty() && kname.back() != '.') kname += '.';
        auto kw = wire::name_from_text(kname);
        if (!kw || kname == ".") fail(path, kn->source(), at + ".key", "not a key name");
        grant.key = wire::name_lower({reinterpret_cast<const uint8_t*>(kw->data()), kw->size()});
        if (const toml::node* nn = g->get("names")) {
          for (std::string name : get_string_array(path, *nn, at + ".names")) {
            if (name.empty()) fail(path, nn->source(), at + ".names", "an empty pattern");
            for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
            if (name != "@" && name.back() == '.') {
              // An absolute pattern: made relative to the origin.
              std::string o = z.origin_text == "." ? "" : "." + z.origin_text;
              if (name.size() <= o.size() || !name.ends_with(o))
                fail(path, nn->source(), at + ".names", "\"" + name + "\" is not inside " + z.origin_text);
              name = name.substr(0, name.size() - o.size());
            }
            grant.names.push_back(name);
          }
        }
        if (const toml::node* tn = g->get("types")) {
          for (const std::string& type : get_string_array(path, *tn, at + ".types")) {
            std::optional<uint16_t> code = wire::type_from_text(type);
            if (!code) fail(path, tn->source(), at + ".types", "\"" + type + "\" is not a record type");
            grant.types.push_back(*code);
          }
        }
        z.options.allow_update.push_back(std::move(grant));
      }
    }
    if (const toml::node* n = t->get("consume_catalog")) {
      z.options.catalog_consumer = get_bool(path, *n, prefix + "consume_catalog");
      if (z.options.catalog_consumer && !z.options.is_secondary())
        fail(path, n->source(), prefix + "consume_catalog", "only for a secondary zone (a catalog copied from its primaries)");
    }
    if (const toml::node* n = t->get("max_zone_size")) z.options.max_zone_size = get_size(path, *n, prefix + "max_zone_size");
    if (const toml::node* n = t->get("journal_max")) z.options.journal_max = get_size(path, *n, prefix + "journal_max");
    if (const toml::node* n = t->get("notify_min_interval")) {
      auto ms = get_duration(path, *n, prefix + "notify_min_interval");
      if (ms.count() % 1000 != 0 || ms > std::chrono::hours(24))
        fail(path, n->source(), prefix + "notify_min_interval", "must be whole seconds, at most a day (\"30s\", 30)");
      z.options.notify_min_interval = uint32_t(ms.count() / 1000);
    }
    if (const toml::node* sp = t->get("serial")) {
      std::string policy = get_string(path, *sp, prefix + "serial");
      if (policy == "increment") z.options.serial = zone::SerialPolicy::increment;
      else if (policy == "unixtime") z.options.serial = zone::SerialPolicy::unixtime;
      else if (policy == "dateserial") z.options.serial = zone::SerialPolicy::dateserial;
      else fail(path, sp->source(), prefix + "serial", "must be \"increment\", \"unixtime\" or \"dateserial\"");
    }
    address_list("notify", z.options.notify);
    if (const toml::node* n = t->get("dnssec")) z.options.dnssec = get_bool(path, *n, prefix + "dnssec");
    if (const toml::node* n = t->get("key_dir")) {
      std::string dir = get_string(path, *n, prefix + "key_dir");
      if (dir.empty()) fail(path, n->source(), prefix + "key_dir", "must not be empty");
      z.key_dir = join_path(base, dir);
    }
    if (const toml::node* n = t->get("dnssec_algorithm")) {
      std::string alg = get_string(path, *n, prefix + "dnssec_algorithm");
      if (!crypto::dnssec_algorithm_from_text(alg))
        fail(path, n->source(), prefix + "dnssec_algorithm", "must be \"ecdsap256sha256\" or \"ed25519\"");
      z.dnssec_algorithm = *crypto::dnssec_algorithm_from_text(alg);
    }
    if (const toml::node* n = t->get("transfer_unsigned"))
      z.options.transfer_unsigned = get_bool(path, *n, prefix + "transfer_unsigned");
    for (const char* f : {"key_dir", "dnssec_algorithm", "transfer_unsigned"})
      if (const toml::node* n = t->get(f); n && !z.options.dnssec)
        fail(path, n->source(), prefix + f, "only for a signed zone (dnssec = true)");
    c.zones.push_back(std::move(z));
  }
}

}  // namespace

ListenAddress parse_listen(const std::string& text) {
  ListenAddress a;
  std::string host = text, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) throw std::invalid_argument("missing ']' in \"" + text + "\"");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') throw std::invalid_argument("expected ':port' after ']' in \"" + text + "\"");
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1)
    throw std::invalid_argument("\"" + host + "\" is not an IP address");
  a.host = host;
  a.port = 53;
  bool port_given = text.size() > host.size() + (text[0] == '[' ? 2 : 0);
  if (port_given && port.empty()) throw std::invalid_argument("empty port in \"" + text + "\"");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoul(port) == 0 || std::stoul(port) > 65535)
      throw std::invalid_argument("\"" + port + "\" is not a port number");
    a.port = uint16_t(std::stoul(port));
  }
  return a;
}

std::chrono::milliseconds parse_duration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) throw std::invalid_argument("\"" + text + "\" is not a duration (like 800ms, 10s, 5m, 1h, 1d)");
  uint64_t v = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  uint64_t ms_per_unit = 0;
  if (unit == "ms") ms_per_unit = 1;
  else if (unit == "" || unit == "s") ms_per_unit = 1000;
  else if (unit == "m") ms_per_unit = 60000;
  else if (unit == "h") ms_per_unit = 3600000;
  else if (unit == "d") ms_per_unit = 86400000;
  else throw std::invalid_argument("\"" + text + "\" has an unknown unit (use ms, s, m, h or d)");
  constexpr uint64_t max_ms = 10ULL * 366 * 86400000;  // ten years: longer is a typo
  if (v > max_ms / ms_per_unit) throw std::invalid_argument("\"" + text + "\" is longer than ten years");
  return std::chrono::milliseconds(v * ms_per_unit);
}

namespace {

toml::table parse_toml(const std::string& text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw ConfigError(path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
}

std::string read_config_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open " + what);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One included file: [[zone]] tables only; relative zone files are relative to it.
std::vector<ZoneConfig> parse_included(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))  // a folder or a device (/dev/zero) is no zone list
    throw ConfigError(file + ": included path is not a regular file");
  std::string text = read_config_file(file, "included config file");
  toml::table root = parse_toml(text, file);
  check_keys(file, root, "", {"zone"});
  Config part;
  if (const toml::node* n = root.get("zone")) parse_zones(file, *n, part);
  return std::move(part.zones);
}

// The [[zone]] tables of `files` (in this order) into c.zones; with a cache, files unchanged
// since the previous call are not parsed again. Their entries move from cache->parts to `kept`.
enum class ZoneSource { config, api, catalog };

void add_zone_files(const std::vector<std::string>& files, Config& c, ConfigCache* cache,
                    std::unordered_map<std::string, ConfigCache::Part>& kept, ZoneSource source) {
  for (const std::string& f : files) {
    zone::FileStamp stamp = zone::stamp_file(f);  // before reading: a later change shows next time
    auto hit = cache ? cache->parts.find(f) : decltype(cache->parts.end()){};
    if (cache && hit != cache->parts.end() && hit->second.stamp == stamp && stamp.mtime_ns != 0) {
      c.zones.insert(c.zones.end(), hit->second.zones.begin(), hit->second.zones.end());
      kept[f] = std::move(hit->second);
      continue;
    }
    std::vector<ZoneConfig> zones = parse_included(f);
    for (ZoneConfig& z : zones) {
      z.api = z.options.api_created = source == ZoneSource::api;
      z.from_catalog = source == ZoneSource::catalog;
    }
    c.zones.insert(c.zones.end(), zones.begin(), zones.end());
    if (cache) kept[f] = {stamp, std::move(zones)};
  }
}

std::vector<std::string> glob_files(const std::string& pattern, bool* failed) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<std::string> files(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
  ::globfree(&g);
  *failed = rc != 0 && rc != GLOB_NOMATCH;
  std::sort(files.begin(), files.end());
  return files;
}

void add_includes(const std::string& path, const toml::node* n, Config& c, ConfigCache* cache) {
  std::string base = std::filesystem::path(path).parent_path().string();
  std::unordered_map<std::string, ConfigCache::Part> kept;
  if (n) {
    for (const std::string& pattern : get_string_array(path, *n, "include")) {
      std::string full = join_path(base, pattern);
      bool failed = false;
      std::vector<std::string> files = glob_files(full, &failed);
      if (failed) fail(path, n->source(), "include", "cannot read \"" + full + "\"");
      add_zone_files(files, c, cache, kept, ZoneSource::config);
    }
  }
  // Zones the API created: state_dir/zones/*.toml, read like included files.
  // And the members of consumed catalogs: state_dir/catalogs/*.toml.
  for (auto [dir, source] : {std::pair{api_zone_dir(c), ZoneSource::api}, std::pair{catalog_member_dir(c), ZoneSource::catalog}}) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    bool failed = false;
    std::vector<std::string> files = glob_files(dir + "/*.toml", &failed);
    if (failed) throw ConfigError(dir + ": cannot read the zone tables apexd wrote there");
    add_zone_files(files, c, cache, kept, source);
  }
  if (cache) cache->parts = std::move(kept);  // files no longer included are forgotten
}

// One [[zone]] table of the config cut out by ZoneListCache, parsed on its own.
std::optional<ZoneConfig> parse_zone_piece(std::string_view piece, const std::string& path) {
  try {  // any error: the whole-file parse that follows names it with the file's own line
    toml::table root = toml::parse(piece, path);
    const toml::node* zones = root.get("zone");
    if (root.size() != 1 || !zones || !zones->as_array() || zones->as_array()->size() != 1) return std::nullopt;
    Config one;
    parse_zones(path, *zones, one);
    return std::move(one.zones[0]);
  } catch (const toml::parse_error&) {
    return std::nullopt;
  } catch (const ConfigError&) {
    return std::nullopt;
  }
}

// Every key an access list or notify_key names is a [[key]] of the config.
void check_access_keys(const Config& c) {
  std::vector<const ZoneConfig*> all;
  for (const ZoneConfig& z : c.zones) all.push_back(&z);
  if (c.catalog) all.push_back(&*c.catalog);
  if (c.api.defaults) all.push_back(&*c.api.defaults);  // every zone the API creates gets these keys
  for (const ZoneConfig* zp : all) {
    const ZoneConfig& z = *zp;
    auto check = [&](const std::string& name, const char* field) {
      if (name.empty() || std::any_of(c.keys.begin(), c.keys.end(), [&](const KeyConfig& k) { return k.name == name; }))
        return;
      throw ConfigError(*z.config_file + ":" + std::to_string(z.line) + ": zone[" + std::to_string(z.index) + "]." +
                        field + ": key " +
                        wire::name_to_text({reinterpret_cast<const uint8_t*>(name.data()), name.size()}) +
                        " is not defined by a [[key]]");
    };
    check(z.options.notify_key, "notify_key");
    check(z.options.primary_key, "primary_key");
    for (const zone::AccessEntry& e : z.options.allow_transfer) check(e.key, "allow_transfer");
    for (const zone::AccessEntry& e : z.options.allow_notify) check(e.key, "allow_notify");
    for (const zone::UpdateGrant& g : z.options.allow_update) check(g.key, "allow_update");
  }
}

// A zone both configured and API-created is the configured one: the operator's config wins
// (the API refuses to create a configured zone, but the config may list it later).
// Likewise a catalog's member that is configured or API-created (RFC 9432 §5.1: a consumer does
// not take over a zone it already has), and a member of two catalogs (the first wins).
void drop_shadowed_api_zones(Config& c) {
  auto rank = [](const ZoneConfig& z) { return z.from_catalog ? 2 : z.api ? 1 : 0; };
  std::unordered_map<std::string, int> best;
  for (const ZoneConfig& z : c.zones) {
    auto [it, fresh] = best.emplace(z.origin, rank(z));
    if (!fresh) it->second = std::min(it->second, rank(z));
  }
  std::set<std::string> kept_member;
  std::erase_if(c.zones, [&](const ZoneConfig& z) {
    int r = rank(z);
    if (r == 0) return false;
    bool shadowed = best[z.origin] < r || (z.from_catalog && !kept_member.insert(z.origin).second);
    if (shadowed) c.api_shadowed.push_back(z.origin_text);
    return shadowed;
  });
}

// Every origin once, across the config and its included files.
void check_duplicates(const Config& c) {
  zone::OriginIndex index;
  auto dup = index.build(c.zones.size(), [&](size_t i) { return std::string_view(c.zones[i].origin); });
  if (dup.first == zone::OriginIndex::npos) return;
  const ZoneConfig& first = c.zones[dup.first];
  const ZoneConfig& z = c.zones[dup.second];
  throw ConfigError(*z.config_file + ":" + std::to_string(z.origin_line) + ": zone[" + std::to_string(z.index) +
                    "].origin: zone " + z.origin_text + " is listed twice (first at " + *first.config_file + ":" +
                    std::to_string(first.origin_line) + ")");
}

}  // namespace

Config parse_config(const std::string& text, const std::string& path, ConfigCache* cache) {
  // With a cache, a config whose [[zone]] tables changed in one place is parsed in that place
  // only (zone_list_cache.hpp); its other settings, before the first [[zone]], are parsed anew.
  std::optional<ZoneListCache::Update> quick;
  if (cache) {
    if (!cache->zone_list) cache->zone_list = std::make_shared<ZoneListCache>();
    quick = cache->zone_list->update(text, [&](std::string_view piece) { return parse_zone_piece(piece, path); });
  }
  toml::table root = parse_toml(quick ? std::string(quick->head) : text, path);
  Config c;
  c.path = path;
  check_keys(path, root, "",
             {"server", "log", "control", "proxy", "resolver", "rrl", "key", "zone", "include", "catalog", "dnssec"});
  if (const toml::node* n = root.get("key")) parse_keys(path, *n, c);
  if (const toml::table* t = table_at(path, root, "rrl")) parse_rrl(path, *t, c);
  if (const toml::table* t = table_at(path, root, "control")) parse_control(path, *t, c);
  if (const toml::table* t = table_at(path, root, "server")) parse_server(path, *t, c);
  if (const toml::table* t = table_at(path, root, "log")) parse_log(path, *t, c);
  if (const toml::table* t = table_at(path, root, "proxy")) parse_proxy(path, *t, c);
  if (const toml::table* t = table_at(path, root, "resolver")) parse_resolver(path, *t, c);
  if (const toml::table* t = table_at(path, root, "catalog")) parse_catalog(path, *t, c);
  if (const toml::table* t = table_at(path, root, "dnssec")) parse_dnssec(path, *t, c);
  if (quick) {
    c.zones = std::move(quick->zones);
  } else if (const toml::node* n = root.get("zone")) {
    parse_zones(path, *n, c);
    if (cache) cache->zone_list->remember(text, c.zones);
  }
  add_includes(path, root.get("include"), c, cache);
  drop_shadowed_api_zones(c);
  check_duplicates(c);
  if (c.catalog)
    for (const ZoneConfig& z : c.zones)
      if (z.origin == c.catalog->origin)
        throw ConfigError(path + ":" + std::to_string(c.catalog->line) + ": catalog.origin: " + z.origin_text +
                          " is also a [[zone]] (" + *z.config_file + ":" + std::to_string(z.origin_line) + ")");
  check_access_keys(c);
  if (c.zones.empty() && !c.api.enabled()) throw ConfigError(path + ":1: zone: no [[zone]] configured (in the file or its includes)");
  return c;
}

std::vector<std::string> config_warnings(const Config& c, size_t proxied_names) {
  std::vector<std::string> out;
  if (proxied_names > 0 && c.proxy.ipv4.empty())
    out.push_back(c.path + ": proxy.ipv4: empty, so proxied names answer A queries with NODATA");
  if (proxied_names > 0 && c.proxy.ipv6.empty())
    out.push_back(c.path + ": proxy.ipv6: empty, so proxied names answer AAAA queries with NODATA");
  return out;
}

std::string api_zone_dir(const Config& c) { return c.state_dir + "/zones"; }
std::string zone_key_dir(const Config& c, const ZoneConfig& z) { return z.key_dir.empty() ? c.state_dir + "/keys" : z.key_dir; }
std::string catalog_member_dir(const Config& c) { return c.state_dir + "/catalogs"; }

ZoneConfig read_api_zone(const std::string& path) {
  std::vector<ZoneConfig> zones = parse_included(path);
  if (zones.size() != 1) throw ConfigError(path + ": holds " + std::to_string(zones.size()) + " [[zone]] tables, not one");
  zones[0].api = zones[0].options.api_created = true;
  return std::move(zones[0]);
}

Config load_config(const std::string& path, ConfigCache* cache) {
  return parse_config(read_config_file(path, "config file"), path, cache);
}

}  // namespace apexd::server
