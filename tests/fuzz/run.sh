#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a scratch copy of its committed seed corpus.
# usage: run.sh FUZZER_BINARY SEED_DIR SECONDS
# A crash leaves its input as crash-* in the scratch folder (printed); turn it into a regression
# test and a seed. Ends with "N passed, N failed".
set -uo pipefail
bin=$1 seeds=$2 seconds=$3
work=$(mktemp -d /tmp/apexd-fuzz-XXXXXX)
mkdir -p "$work/corpus"
cp -r "$seeds"/. "$work/corpus/"
supp=$(cd "$(dirname "$0")" && pwd)/lsan.supp
export LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# libldns has no frame pointers: the slow unwinder gives the full stacks the suppressions match.
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
cd "$work"
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65535 -print_final_stats=1 \
  corpus 2>&1 | tail -n 25
rc=${PIPESTATUS[0]}
if [[ $rc -eq 0 ]]; then
  echo "1 passed, 0 failed"
  rm -rf "$work"
else
  echo "crash inputs kept in $work:"; ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
  echo "0 passed, 1 failed"
fi
exit $rc
