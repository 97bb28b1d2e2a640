// libFuzzer: TOML text through config parsing (errors must be ConfigError, never a crash).
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // `include` globs read real files (an absolute "/proc/*" would read the machine); the included
  // files' parsing is parse_config's own, fuzzed here through the main text.
  if (text.find("include") != std::string::npos) return 0;
  try {
    apexd::server::Config c = apexd::server::parse_config(text, "/nonexistent/fuzz.toml");
    if (c.zones.empty()) __builtin_trap();  // parse_config refuses a config without zones
  } catch (const apexd::server::ConfigError&) {
  }
  return 0;
}
