#!/usr/bin/env bash
# Builds apexd and its tests with warnings as errors and ASan/UBSan (gcc), the libFuzzer targets
# (clang, ASan/UBSan), then runs every test through CTest: unit tests, integration tests against
# real knotd, unbound, PowerDNS, dig and kdig, the package install, benchmark smoke runs and
# each fuzz target for APEXD_FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAPEXD_FUZZ=ON \
  -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz --target fuzz_packet fuzz_zone fuzz_zone_diff fuzz_response fuzz_config fuzz_xfr_in \
  fuzz_journal fuzz_update fuzz_api
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAPEXD_WERROR=ON -DAPEXD_SANITIZE=ON \
  -DAPEXD_FUZZ_DIR="$PWD/build-fuzz" -DAPEXD_FUZZ_SECONDS="${APEXD_FUZZ_SECONDS:-60}" >/dev/null
cmake --build build-test
cd build-test
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --output-on-failure --timeout 900 "$@"
