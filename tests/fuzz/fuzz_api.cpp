// libFuzzer: the PowerDNS-compatible API's JSON (control/pdns_api) for PATCH and POST bodies and
// request targets, against a small zone: never a crash, always a status with a JSON error or
// none, and an accepted PATCH leaves a zone that compiles with its SOA.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "control/pdns_api.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"

using namespace apexd;
namespace asio = boost::asio;

namespace {

std::shared_ptr<const zone::Zone> make_zone() {
  static const std::string origin = *wire::name_from_text("t.test.");
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  auto records = zone::load_zone_text(
      "$TTL 300\n@ SOA ns1 host 1 3600 600 86400 60\n@ NS ns1\n@ CNAME target\nns1 A 192.0.2.1\ntarget A 192.0.2.5\n"
      "www A 192.0.2.10 ; cf_tags=cf-proxied:true\nmail MX 10 ns1\nc CNAME www ; cf_tags=cf-flatten-cname\n",
      o, "fuzz.zone");
  return zone::compile_zone(o, std::move(records), "fuzz.zone");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const zone::Zone> base = make_zone();
  if (size < 1) return 0;
  std::shared_ptr<const zone::Zone> z = base;
  control::ApiBackend b;
  b.zones = [&] { return std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{z}); };
  b.edit = [&](std::string, zone::MakeEdit make) -> asio::awaitable<std::pair<uint16_t, std::string>> {
    zone::ZoneEdit e = make(*z);
    if (e.rcode == 0 && e.after) {
      bool soa = false;
      for (const zone::JournalRR& rr : *e.after) soa |= rr.type == wire::rrtype::SOA;
      if (!soa) __builtin_trap();  // a PATCH never loses the SOA
      try {
        z = zone::compile_zone(z->origin(), zone::tagged_to_records(*e.after, nullptr), "fuzz.zone");
      } catch (const zone::ZoneError&) {
        e.rcode = 5;
      }
    }
    co_return std::pair<uint16_t, std::string>{e.rcode, e.why};
  };
  b.create = [&](std::string origin_text, std::string text) -> asio::awaitable<std::pair<unsigned, std::string>> {
    try {
      std::string o = *wire::name_from_text(origin_text);
      wire::NameView ov(reinterpret_cast<const uint8_t*>(o.data()), o.size());
      (void)zone::compile_zone(ov, zone::load_zone_text(text, ov, "api"), "api");
    } catch (const std::exception& e) {
      co_return std::pair<unsigned, std::string>{422, e.what()};
    }
    co_return std::pair<unsigned, std::string>{0, ""};
  };
  b.remove = [&](std::string) -> asio::awaitable<std::pair<unsigned, std::string>> {
    co_return std::pair<unsigned, std::string>{0, ""};
  };
  b.notify = [](std::shared_ptr<const zone::Zone>) {};
  b.now = [] { return int64_t(1700000000); };
  static const char* methods[] = {"PATCH", "POST", "GET", "PUT", "DELETE"};
  static const char* targets[] = {"/api/v1/servers/localhost/zones/t.test.", "/api/v1/servers/localhost/zones",
                                  "/api/v1/servers/localhost/zones/t.test./export"};
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string target = targets[(data[0] >> 3) % 3];
  if ((data[0] >> 5) == 7) target = body.substr(0, body.find(' '));  // a fuzzed target
  control::ApiRequest req{methods[data[0] % 5], target, body, {}};
  asio::io_context io;
  auto fut = asio::co_spawn(io, control::handle_api(req, b), asio::use_future);
  io.run();
  control::ApiResponse r = fut.get();
  if (r.status < 200 || r.status > 599) __builtin_trap();
  return 0;
}
