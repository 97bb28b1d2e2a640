// Zone transfers out (AXFR, RFC 5936; IXFR answered in full, RFC 1995 §4) over a TCP session.
#pragma once
#include <sys/socket.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <span>

#include "server/worker.hpp"
#include "zone/wire/query.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

inline constexpr unsigned max_transfers = 16;  // outgoing transfers at once, all workers (BIND's transfers-out is 10)

/// Whether `peer`, signed with `key` (lowercase wire name, empty when unsigned), may transfer a
/// zone with access list `acl`. An empty list allows no one.
bool transfer_allowed(const std::vector<zone::AccessEntry>& acl, const sockaddr_storage& peer, std::string_view key);

/// Serves an AXFR or IXFR request that came over TCP on `socket`: the zone must be one we
/// serve (NOTAUTH otherwise), the request signed as its access list requires (TSIG errors are
/// answered NOTAUTH, RFC 8945 §5.2) and allowed (REFUSED). Flattened and proxied names are sent
/// as the A/AAAA they answer. Every message has a write deadline. Returns false when the
/// connection must close (a write failed or timed out).
boost::asio::awaitable<bool> serve_transfer(WorkerContext& ctx, boost::asio::ip::tcp::socket& socket,
                                            std::span<const uint8_t> request, const wire::Query& q,
                                            const sockaddr_storage& peer);

}  // namespace apexd::server
