// The PowerDNS Authoritative HTTP API (v1), the subset its clients use (lego, external-dns,
// octoDNS, DNSControl, Caddy, PowerDNS-Admin), answered from apexd's zones. JSON by Boost.JSON.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "zone/zone_records.hpp"
#include "zone/zone_set.hpp"

namespace apexd::control {

/// The version reported by /api/v1/servers/localhost: PowerDNS's form X.Y.Z, all numbers, since
/// clients parse it to pick features (octoDNS: `[int(p) for p in version.split('.')]`, 4.5+
/// for primary/secondary kinds). The API answered is the one PowerDNS 4.7 documents.
inline constexpr const char* pdns_compatible_version = "4.7.4";

struct ApiRequest {
  std::string_view method;  ///< "GET", "POST", "PATCH", "PUT", "DELETE"
  std::string_view target;  ///< path and query, as sent
  std::string_view body;
  std::string_view accept;  ///< the Accept header
};

struct ApiResponse {
  unsigned status = 200;
  std::string body;  ///< empty for 204
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What the API does to zones, handed in by the server (control/ knows no server).
struct ApiBackend {
  std::function<std::shared_ptr<const zone::ZoneSet>()> zones;
  /// Applies an edit to the zone `origin` (lowercase wire) through the one change path:
  /// computed on the change thread from the zone as it is then, durable before it completes.
  /// Completes with the rcode (NOERROR, or why not in `why`).
  std::function<boost::asio::awaitable<std::pair<uint16_t, std::string>>(std::string origin, zone::MakeEdit edit)> edit;
  /// Creates a zone from master-file text; completes with 0 or an HTTP status and its error.
  std::function<boost::asio::awaitable<std::pair<unsigned, std::string>>(std::string origin_text, std::string text)> create;
  /// Deletes an API-created zone; completes with 0 or an HTTP status and its error.
  std::function<boost::asio::awaitable<std::pair<unsigned, std::string>>(std::string origin)> remove;
  /// Sends NOTIFY for the zone to its secondaries.
  std::function<void(std::shared_ptr<const zone::Zone>)> notify;
  std::function<int64_t()> now;  ///< unix seconds, for serials
};

/// Answers one API request (the key was checked by the caller). Never throws: bad input is
/// 400/404/422 with PowerDNS's `{"error": "..."}` body.
boost::asio::awaitable<ApiResponse> handle_api(const ApiRequest& req, const ApiBackend& backend);

/// The value of `key` in `query` (a URL's part after '?'), %XX and '+' decoded; empty when absent.
std::string query_param(std::string_view query, std::string_view key);
/// `s` with %XX escapes decoded (malformed ones kept as they are).
std::string percent_decode(std::string_view s);

/// A zone's id in URLs as PowerDNS makes it: the name with a trailing dot, bytes other than
/// letters, digits, '.' and '-' as "=XX" (uppercase hex).
std::string zone_id(std::string_view name_text);
/// The inverse; a missing trailing dot is added (clients send "example.org" too). nullopt for
/// a bad escape.
std::optional<std::string> zone_id_to_name(std::string_view id);

}  // namespace apexd::control
