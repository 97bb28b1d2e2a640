// The HTTP control endpoint: GET /metrics, GET /healthz, GET /zones, POST /reload (Boost.Beast).
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>

#include "server/config.hpp"

namespace apexd::server {

inline constexpr auto control_timeout = std::chrono::seconds(10);  // per request, read to write
inline constexpr size_t control_max_body = 4096;                    // requests carry no real body

/// What the endpoint serves; each returns the response body.
struct ControlHandlers {
  std::function<std::string()> metrics;    ///< Prometheus text
  std::function<std::string()> zones;      ///< JSON array
  std::function<std::string()> health;     ///< "ok\n" or "degraded: …\n" (always HTTP 200)
  /// Runs a reload (elsewhere: the endpoint keeps answering meanwhile); completes with whether
  /// every zone loaded and the JSON report.
  std::function<boost::asio::awaitable<std::pair<bool, std::string>>()> reload;
};

/// Listens on `addr` (only there) and serves requests on `io` until it stops.
void start_control(boost::asio::io_context& io, const ListenAddress& addr, ControlHandlers handlers);

}  // namespace apexd::server
