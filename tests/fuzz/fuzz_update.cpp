// libFuzzer: an RFC 2136 UPDATE (after its TSIG was verified) evaluated against a small zone:
// prerequisites, grants, prescan and the update section must never crash, and what an update
// that is taken produces must compile (or be refused as invalid) with an SOA still at the apex.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "server/update.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"

using namespace apexd;

namespace {

std::shared_ptr<const zone::Zone> make_zone() {
  static const std::string origin = *wire::name_from_text("up.test.");
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  zone::ZoneOptions opts;
  opts.allow_update.push_back({*wire::name_from_text("k."), {}, {}});
  opts.allow_update.push_back({*wire::name_from_text("acme."), {"_acme-challenge.*"}, {wire::rrtype::TXT}});
  auto records = zone::load_zone_text(
      "$TTL 300\n@ SOA ns1 host 1 3600 600 86400 60\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n"
      "www A 192.0.2.10 ; cf_tags=cf-proxied:true\nmail MX 10 ns1\nc CNAME www\ntxt TXT \"a\" \"b\"\n*.wild A 192.0.2.3\n",
      o, "fuzz.zone");
  return zone::compile_zone(o, std::move(records), "fuzz.zone", opts);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const zone::Zone> z = make_zone();
  if (size < 1) return 0;
  const std::string key = *wire::name_from_text(data[0] & 1 ? "k." : "acme.");
  server::UpdateResult r = server::evaluate_update({data + 1, size - 1}, *z, key, 1700000000);
  if (!r.after) return 0;
  bool soa = false;
  for (const zone::JournalRR& rr : *r.after) soa |= rr.type == wire::rrtype::SOA && rr.owner == std::string(reinterpret_cast<const char*>(z->origin().data()), z->origin().size());
  if (!soa) __builtin_trap();  // an update never removes the apex SOA (RFC 2136 §3.4.2.3)
  try {
    (void)server::recompile_zone(*z, std::move(*r.after));
  } catch (const zone::ZoneError&) {
  }
  return 0;
}
