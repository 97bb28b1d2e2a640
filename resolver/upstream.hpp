// Asking recursive resolvers (forward mode): UDP with random ID and port, TCP on TC, failover.
#pragma once
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "resolver/resolution.hpp"
#include "zone/wire/name.hpp"

namespace apexd::resolver {

/// Anything that resolves a name's addresses (the real forwarder, or a scripted fake in tests).
class UpstreamClient {
 public:
  virtual ~UpstreamClient() = default;
  /// Resolves `lower_name`/`type` (A or AAAA), following CNAMEs; never throws, always completes.
  virtual boost::asio::awaitable<Resolution> resolve(wire::NameView lower_name, uint16_t type) = 0;
};

struct UpstreamOptions {
  std::vector<boost::asio::ip::udp::endpoint> servers;
  std::chrono::milliseconds try_timeout{800};  ///< one exchange with one server
  std::chrono::milliseconds deadline{1500};    ///< the whole resolution, all tries and links
  unsigned max_inflight = 1000;                ///< resolutions at once; beyond, fail at once (no queue)
};

struct UpstreamStats {
  std::atomic<uint64_t> queries{0}, timeouts{0}, tcp_retries{0}, mismatched{0}, failures{0}, overloaded{0};
  std::atomic<uint64_t> response_us_total{0}, responses{0};
};

/// Forwards to `servers` in turn; a server that times out or fails is followed by the next.
class ForwardUpstream final : public UpstreamClient {
 public:
  explicit ForwardUpstream(UpstreamOptions opts) : opts_(std::move(opts)) {}
  boost::asio::awaitable<Resolution> resolve(wire::NameView lower_name, uint16_t type) override;
  const UpstreamStats& stats() const { return stats_; }

 private:
  UpstreamOptions opts_;
  UpstreamStats stats_;
  std::atomic<unsigned> next_server_{0};
  std::atomic<unsigned> inflight_{0};
};

}  // namespace apexd::resolver
