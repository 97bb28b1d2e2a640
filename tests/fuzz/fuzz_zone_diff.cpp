// libFuzzer, differential: zone text through the loader's fast path and through ldns alone must
// agree — both accept with identical records (owner, type, TTL, wire RDATA), or both refuse at
// the same line. The fast path may never be laxer than ldns, nor encode differently.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "zone/loader.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;

namespace {

struct Outcome {
  std::vector<zone::Record> records;
  std::optional<unsigned> error_line;  // set when the text is refused
};

Outcome load(const std::string& text, wire::NameView origin, bool fast_path) {
  Outcome out;
  try {
    // $INCLUDE is relative to the source; point it at a folder with nothing in it.
    out.records = zone::load_zone_text(text, origin, "/nonexistent/fuzz.zone", nullptr, fast_path);
  } catch (const zone::ZoneError& e) {
    out.error_line = e.line();
  }
  return out;
}

// The one deliberate difference: a character-string over 255 bytes is split by the fast path
// (as knotd does) and refused by ldns. Inputs with a run that long are left out.
bool has_long_run(const std::string& text) {
  size_t run = 0;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    bool blank = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    run = (blank && !quoted) || c == '"' ? 0 : run + 1;  // quoted blanks belong to the string
    if (run > 255) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (has_long_run(text)) return 0;
  static const std::string origin = *wire::name_from_text("example.com.");
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  Outcome fast = load(text, o, true);
  Outcome ldns = load(text, o, false);
  // APEXD_FUZZ_EXPLAIN=1 prints where the two differ before stopping (for a crash input).
  static const bool explain = std::getenv("APEXD_FUZZ_EXPLAIN") != nullptr;
  auto differ = [&](const char* what, const zone::Record* r) {
    if (explain) {
      std::fprintf(stderr, "fast path and ldns differ: %s (errors at line %d / %d)", what,
                   fast.error_line ? int(*fast.error_line) : -1, ldns.error_line ? int(*ldns.error_line) : -1);
      if (r) std::fprintf(stderr, " at line %u: %s", r->line, wire::type_to_text(r->type).c_str());
      std::fprintf(stderr, "\n");
    }
    __builtin_trap();
  };
  if (fast.error_line != ldns.error_line) differ("verdict", nullptr);
  if (fast.records.size() != ldns.records.size()) differ("record count", nullptr);
  for (size_t i = 0; i < fast.records.size(); ++i) {
    const zone::Record& a = fast.records[i];
    const zone::Record& b = ldns.records[i];
    if (a.owner != b.owner || a.type != b.type || a.ttl != b.ttl || a.rdata != b.rdata) differ("record", &a);
  }
  return 0;
}
