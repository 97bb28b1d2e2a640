// Micro-benchmark: handle_query over a query mix, no sockets — userspace cost per query.
// Usage: micro_handle ZONEFILE ORIGIN QUERYFILE [ROUNDS] [cache]   (QUERYFILE lines: "name TYPE")
//   cache: through a worker's AnswerCache, as the UDP path does
// Run under `valgrind --tool=callgrind` for instruction counts that do not drift.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "server/answer_cache.hpp"
#include "server/query_handler.hpp"
#include "zone/wire/name.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"

using namespace apexd;

namespace {

std::vector<uint8_t> make_query(const std::string& name, uint16_t type, uint16_t id) {
  std::vector<uint8_t> q = {uint8_t(id >> 8), uint8_t(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  auto wire = wire::name_from_text(name.back() == '.' ? name : name + ".");
  q.insert(q.end(), wire->begin(), wire->end());
  q.insert(q.end(), {uint8_t(type >> 8), uint8_t(type), 0, 1});
  q.insert(q.end(), {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0});  // OPT, payload 1232
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s ZONEFILE ORIGIN QUERYFILE [ROUNDS]\n", argv[0]);
    return 2;
  }
  auto origin = *wire::name_from_text(argv[2]);
  auto z = zone::load_zone(argv[1], {reinterpret_cast<const uint8_t*>(origin.data()), origin.size()});
  zone::ZoneSet zones({z});
  std::vector<std::vector<uint8_t>> queries;
  std::ifstream in(argv[3]);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string name, type;
    ss >> name >> type;
    queries.push_back(make_query(name, *wire::type_from_text(type), uint16_t(queries.size())));
  }
  int rounds = argc > 4 ? std::atoi(argv[4]) : 10;
  const bool use_cache = argc > 5 && std::string(argv[5]) == "cache";
  server::AnswerCache cache;
  size_t hits = 0;
  std::vector<uint8_t> out(4096);
  server::HandlerOptions opts;
  size_t bytes = 0;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r)
    for (const auto& q : queries) {
      server::HandleResult res = use_cache ? cache.answer(zones, 1, q, out, opts) : server::handle_query(zones, q, out, opts);
      bytes += res.size;
      hits += res.from_cache;
    }
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu queries, %.1f ns/query (%zu bytes answered, %zu from the answer cache)\n",
              queries.size() * rounds, ns / double(queries.size() * rounds), bytes, hits);
  return 0;
}
