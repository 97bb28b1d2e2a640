// The part of a worker both transports share: finishing queries that waited for the resolver.
#include "server/worker.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace apexd::server {

boost::asio::awaitable<HandleResult> answer_after_resolution(WorkerContext& ctx, std::span<const uint8_t> request,
                                                            std::span<uint8_t> out, Transport t, HandleResult r) {
  // Two rounds at most: the second pass finds the answer unless the zones changed meanwhile.
  for (int round = 0; r.needs_resolution && ctx.resolver && round < 2; ++round) {
    ctx.stats.resolutions_waited.fetch_add(1, std::memory_order_relaxed);
    ++ctx.pending_resolutions;
    resolver::Resolution res = co_await ctx.resolver->resolve(r.target.view(), r.target_type);
    --ctx.pending_resolutions;
    ResolvedTarget resolved{r.target, r.target_type, &res};
    HandlerOptions o = ctx.options(t);
    o.alias.resolved = &resolved;
    r = handle_query(ctx.zones.get(), request, out, o);
  }
  if (r.needs_resolution) r = HandleResult{};
  co_return r;
}

}  // namespace apexd::server
