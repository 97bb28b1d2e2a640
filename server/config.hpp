// apexd's TOML configuration: what it serves and where it listens. Errors name the key path.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/dnssec_key.hpp"
#include "server/rrl.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

/// A config file that cannot be used; what() is "file:line: key.path: reason".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ListenAddress {
  std::string host;  ///< literal IPv4 or IPv6 address
  uint16_t port = 0;
  std::string text() const { return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port); }
};

struct ZoneConfig {
  std::string origin;  ///< wire form, lowercase
  std::string origin_text;
  std::string file;    ///< resolved against the config file's folder
  unsigned line = 0;   ///< line of the [[zone]] table, for messages
  zone::ZoneOptions options;  ///< flatten mode and proxied names (absolute, lowercase wire)
  std::shared_ptr<const std::string> config_file;  ///< the file the table is in (the config or an included file)
  unsigned index = 0;         ///< its position among that file's [[zone]] tables
  unsigned origin_line = 0;   ///< line of its `origin` key
  bool api = false;           ///< created through the HTTP API (its table is in state_dir/zones/)
  bool from_catalog = false;  ///< a member of a consumed catalog (its table is in state_dir/catalogs/)
  /// dnssec = true: where its BIND key files are (resolved; empty = state_dir/keys) and the
  /// algorithm of a key apexd generates when there is none.
  std::string key_dir;
  crypto::DnssecAlgorithm dnssec_algorithm = crypto::DnssecAlgorithm::ecdsap256sha256;
};

/// `[[key]]`: a TSIG key (RFC 8945) for transfers and NOTIFY, in the form `tsig-keygen` and
/// `keymgr -t` print (name, algorithm, base64 secret).
struct KeyConfig {
  std::string name;       ///< lowercase wire form
  std::string name_text;
  std::string algorithm;  ///< "hmac-sha256", "hmac-sha512", "hmac-sha1", "hmac-sha224", "hmac-sha384"
  std::string secret;     ///< base64, as written
  unsigned line = 0;
};

/// Parsed zone lists, reused while unchanged: a reload of 100,000 zones re-parses only the
/// included files that changed, and of the config file itself only the [[zone]] tables in the
/// place where its text changed.
class ZoneListCache;

struct ConfigCache {
  struct Part {
    zone::FileStamp stamp;
    std::vector<ZoneConfig> zones;
  };
  std::unordered_map<std::string, Part> parts;  ///< by included file path
  std::shared_ptr<ZoneListCache> zone_list;  ///< the config file's own [[zone]] tables
};

/// `[dnssec]`: online signing settings shared by every signed zone.
struct DnssecConfig {
  size_t signature_cache = 200000;  ///< signatures kept (LRU), shared by the workers
  /// Fresh signatures per second per worker for UDP answers; past it, answers needing one go
  /// out with TC=1 (0 = no limit). One P-256 signature costs ~30 µs: 5,000/s is ~15 % of a core.
  unsigned signing_budget = 5000;
  bool test_corrupt_signatures = false;  ///< test hook: every signature sent is wrong
};

/// `[proxy]`: the edge addresses proxied names answer with.
struct ProxyConfig {
  std::vector<std::string> ipv4, ipv6;  ///< presentation form, validated
  uint32_t ttl = 300;
};

/// `[resolver]`: where flattening targets outside our zones are resolved, and the cache.
struct ResolverConfig {
  std::vector<ListenAddress> upstreams;  ///< recursive resolvers, tried in turn
  std::chrono::milliseconds timeout{800};   ///< one try
  std::chrono::milliseconds deadline{1500}; ///< a whole resolution; keep it under stub timeouts (2 s+)
  size_t cache_size = 100000;
  unsigned max_inflight = 1000;  ///< upstream queries in flight at once; beyond: SERVFAIL or stale
  uint32_t min_ttl = 5;
  uint32_t max_ttl = 86400;
  std::chrono::seconds serve_stale{86400};
  std::chrono::seconds failure_recheck{30};  ///< no new upstream attempt for a failed name this long (RFC 8767 §5)
};

/// `[control]`'s API settings: the PowerDNS-compatible HTTP API (control/pdns_api.hpp) is on
/// when a key is set. Zones it creates live in state_dir/zones/ (a `[[zone]]` table and a zone
/// file each), read by every start and reload like an included file.
struct ApiConfig {
  std::string key;  ///< the X-API-Key every request must carry (from api_key or api_key_file); empty: API off
  /// The `[[zone]]` keys an API-created zone starts with (`[control.zone_defaults]`: notify,
  /// allow_transfer, allow_update, serial, flatten…), as TOML text, already validated.
  std::string zone_defaults;
  std::optional<ZoneConfig> defaults;  ///< zone_defaults parsed (its keys checked like a zone's)
  bool enabled() const { return !key.empty(); }
};

struct Config {
  std::string path;
  std::vector<ListenAddress> listen{{"127.0.0.1", 53}};
  unsigned threads = 0;  ///< 0 = one per core
  std::chrono::milliseconds tcp_idle_timeout{10000};
  unsigned tcp_max_connections = 1024;
  uint16_t udp_payload = 1232;
  unsigned answer_cache = 8192;  ///< slots per worker for repeated UDP answers (0 = off)
  std::string user;      ///< drop to this user after binding the sockets (empty = stay)
  /// Where apexd keeps what it writes itself: IXFR journals (journal/), later run-time changes.
  std::string state_dir = "/var/lib/apexd";
  std::string log_level = "info";
  std::string log_file;  ///< empty = standard error
  bool log_queries = false;
  std::optional<ListenAddress> control;  ///< the HTTP control endpoint, off unless set
  ApiConfig api;  ///< the PowerDNS-compatible API on the control endpoint
  ProxyConfig proxy;
  ResolverConfig resolver;
  RrlConfig rrl;
  DnssecConfig dnssec;
  unsigned tcp_max_per_client = 64;  ///< connections from one address, across workers
  std::vector<KeyConfig> keys;
  std::vector<ZoneConfig> zones;
  std::vector<std::string> api_shadowed;  ///< API-created zones the config lists too (the config's are served)
  /// `[catalog]`: the catalog zone (RFC 9432) apexd produces, listing every primary zone it
  /// serves; origin and options (allow_transfer, notify, notify_key) as a [[zone]]'s, no file.
  std::optional<ZoneConfig> catalog;
};

/// Problems worth a warning that do not stop the server (e.g. proxied names without edges).
std::vector<std::string> config_warnings(const Config& c, size_t proxied_names);

/// Reads and validates `path`. Unknown keys are errors (a typo must not pass silently).
/// `include = ["zones.d/*.toml"]` (globs relative to the config's folder) adds the [[zone]]
/// tables of every matching file, in name order; with `cache`, files unchanged since the
/// previous call (same mtime and size) are not parsed again.
Config load_config(const std::string& path, ConfigCache* cache = nullptr);
/// The same from text; `path` anchors relative zone files and names the source in messages.
Config parse_config(const std::string& text, const std::string& path, ConfigCache* cache = nullptr);

/// Where the DNSSEC keys of a signed zone are: its key_dir, or state_dir/keys.
std::string zone_key_dir(const Config& c, const ZoneConfig& z);

/// Where API-created zones keep their `[[zone]]` tables and zone files.
std::string api_zone_dir(const Config& c);

/// Where the member zones of consumed catalogs keep their `[[zone]]` tables (one file per
/// catalog) and their copies (a folder per catalog).
std::string catalog_member_dir(const Config& c);

/// The `[[zone]]` table of an API-created zone (a file in api_zone_dir), parsed as a reload will.
ZoneConfig read_api_zone(const std::string& path);

/// Parses "127.0.0.1:53", "[::1]:53" or a bare address (port 53).
ListenAddress parse_listen(const std::string& text);
/// Parses "800ms", "10s", "5m", "1h", "1d" or a bare number of seconds.
std::chrono::milliseconds parse_duration(const std::string& text);

}  // namespace apexd::server
