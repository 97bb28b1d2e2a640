// libFuzzer: an upstream response through the resolver's parser and into the cache.
#include <cstddef>
#include <cstdint>
#include <string>

#include "resolver/cache.hpp"
#include "resolver/response.hpp"

using namespace apexd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static resolver::Cache cache(resolver::CacheOptions{});
  static const std::string name = *wire::name_from_text("app.platform.test.");
  wire::NameView n(reinterpret_cast<const uint8_t*>(name.data()), name.size());
  uint16_t id = size >= 2 ? uint16_t(data[0] << 8 | data[1]) : 0;  // matches: the fuzzer can pass the check
  for (uint16_t type : {uint16_t(1), uint16_t(28)}) {
    resolver::ParsedResponse p = resolver::parse_response({data, size}, id, n, type);
    if (p.kind == resolver::ResponseKind::answered) {
      for (const std::string& rd : p.resolution.rdata)
        if (rd.size() != (type == 1 ? 4u : 16u)) __builtin_trap();
      cache.insert(n, type, p.resolution, resolver::Clock::now());
    }
  }
  return 0;
}
