// The HTTP control endpoint: GET /metrics, GET /healthz, GET /zones, POST /reload, the API under /api (Boost.Beast).
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>

#include "control/pdns_api.hpp"
#include "server/config.hpp"

namespace apexd::server {

inline constexpr auto control_timeout = std::chrono::seconds(10);  // per request, read to write
inline constexpr size_t control_max_body = 4 << 20;  // an API POST carries a whole zone; beyond: 413
inline constexpr unsigned api_max_key_failures = 10;   // wrong API keys from one address per window; then 429
inline constexpr auto api_failure_window = std::chrono::seconds(60);

/// What the endpoint serves; each returns the response body.
struct ControlHandlers {
  std::function<std::string()> metrics;    ///< Prometheus text
  std::function<std::string()> zones;      ///< JSON array
  std::function<std::string()> health;     ///< "ok\n" or "degraded: …\n" (always HTTP 200)
  /// Runs a reload (elsewhere: the endpoint keeps answering meanwhile); completes with whether
  /// every zone loaded and the JSON report.
  std::function<boost::asio::awaitable<std::pair<bool, std::string>>()> reload;
  /// The PowerDNS-compatible API under /api (control/pdns_api.hpp); off when `api_key` is empty.
  std::string api_key;
  std::function<boost::asio::awaitable<control::ApiResponse>(const control::ApiRequest&)> api;
};

/// Listens on `addr` (only there) and serves requests on `io` until it stops.
void start_control(boost::asio::io_context& io, const ListenAddress& addr, ControlHandlers handlers);

}  // namespace apexd::server
