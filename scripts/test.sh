#!/usr/bin/env bash
# Builds apexd and its tests with warnings as errors and ASan/UBSan, then runs every test
# (unit tests and integration tests against real knotd, dig and kdig) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAPEXD_WERROR=ON -DAPEXD_SANITIZE=ON >/dev/null
cmake --build build-test
cd build-test
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --output-on-failure --timeout 900 "$@"
