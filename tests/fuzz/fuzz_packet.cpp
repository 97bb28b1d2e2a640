// libFuzzer: a raw packet through parse_query and handle_query (bytes in, bytes out), over UDP
// and TCP limits, against zones with every answer path (flattening, proxied, wildcards, DNAME, cuts);
// and through the AnswerCache, whose answers (first and repeated) must equal handle_query's.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "server/answer_cache.hpp"
#include "server/query_handler.hpp"
#include "tests/fuzz/fuzz_zones.hpp"

using namespace apexd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::World world;
  static std::vector<uint8_t> out(server::max_message_size);
  static std::vector<uint8_t> cached(server::max_message_size);
  static server::AnswerCache cache(64);
  std::span<const uint8_t> request(data, size);
  for (server::Transport t : {server::Transport::udp, server::Transport::tcp}) {
    server::HandlerOptions o = world.options();
    o.transport = t;
    server::HandleResult r = server::handle_query(*world.zones, request, out, o);
    if (r.size > out.size() || (t == server::Transport::udp && r.size > 4096)) __builtin_trap();
    if (t == server::Transport::udp && !r.flattened && !r.needs_resolution) {
      // (Flattened answers come from the resolver's cache, whose TTLs may tick between calls.)
      for (int pass = 0; pass < 2; ++pass) {  // a miss (then kept), then most likely a hit
        server::HandleResult c = cache.answer(*world.zones, 1, request, cached, o);
        if (c.size != r.size || c.rcode != r.rcode || c.needs_resolution != r.needs_resolution ||
            !std::equal(out.begin(), out.begin() + r.size, cached.begin()))
          __builtin_trap();
      }
    }
    if (r.needs_resolution) {
      // The second pass, as a transport would run it after a failed resolution.
      resolver::Resolution failed;
      failed.ede_text = "fuzz";
      server::ResolvedTarget rt{r.target, r.target_type, &failed};
      o.alias.resolved = &rt;
      r = server::handle_query(*world.zones, request, out, o);
      if (r.size > out.size()) __builtin_trap();
    }
  }
  return 0;
}
