// libFuzzer: zone-file text through the loader (both the fast path and ldns) and the compiler.
#include <cstddef>
#include <cstdint>
#include <string>

#include "zone/loader.hpp"
#include "zone/zone.hpp"

using namespace apexd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string origin = *wire::name_from_text("example.com.");
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  zone::ZoneOptions opts;
  opts.flatten = zone::FlattenMode(data[0] % 3);
  try {
    // $INCLUDE is relative to the source; point it at a folder with nothing in it.
    auto records = zone::load_zone_text(text, o, "/nonexistent/fuzz.zone", nullptr, (data[0] & 0x80) == 0);
    auto z = zone::compile_zone(o, std::move(records), "fuzz.zone", opts);
    if (z->record_count() == 0) __builtin_trap();  // a compiled zone has at least its SOA
  } catch (const zone::ZoneError&) {
  }
  return 0;
}
