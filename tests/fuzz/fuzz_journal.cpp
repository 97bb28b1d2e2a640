// libFuzzer: a journal file as found on disk after a crash, a bad disk or an attacker with write
// access to state_dir: open() must keep a valid prefix and never crash; what it keeps must
// condense from its first serial.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "zone/journal.hpp"

using namespace apexd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/apexd-fuzz-journal-" + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    zone::Journal j = zone::Journal::open(path, 1 << 20);
    if (!j.empty()) {
      if (j.entries() == 0) __builtin_trap();
      (void)j.since(j.first_serial());
    }
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  ::unlink(path.c_str());
  return 0;
}
