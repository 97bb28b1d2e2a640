#!/usr/bin/env bash
# Builds apexd (Release) and runs it on the sample config: answers on 127.0.0.1:5353 and [::1]:5353.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build --target apexd
exec ./build/apexd --config zones/apexd.toml "$@"
