#!/usr/bin/env bash
# compute-sanitizer over the GPU test suite, on a machine with a GPU:
#   tools/sanitize-gpu.sh [BUILD_DIR] [LOG_DIR]
# memcheck, racecheck, initcheck and synccheck over every kernel of the default catalog (forward and
# backward, on SPARSEKGEN_SWEEP=small inputs, each kernel checked against the float64 reference
# under the tool) and over one run of each bundled network, plus the executor's hostile-input tests
# under memcheck. Catalog runs are split into gtest shards and everything runs at once: racecheck
# over the catalog takes about 4 minutes per shard of 76 kernels on an H200. Exit status 0 only if
# every run passed its tests with no sanitizer report. Logs and summary.txt go to LOG_DIR.
set -u
BUILD=$(realpath "${1:-build}"); LOGS=$(realpath -m "${2:-$BUILD/sanitizer-logs}"); mkdir -p "$LOGS"
SOURCE=$(realpath "$(dirname "$0")/..")
export SPARSEKGEN_SOURCE_DIR=$SOURCE SPARSEKGEN_TEST_DATA=${SPARSEKGEN_TEST_DATA:-$SOURCE/test/data}
TESTS=$BUILD/test/sparsekgen-gpu-tests
SANITIZER=${COMPUTE_SANITIZER:-/usr/local/cuda/bin/compute-sanitizer}
SHARDS=${SANITIZER_SHARDS:-3}; LIMIT=${SANITIZER_TIMEOUT:-540}

run() { # name command...: in the background, with its exit status and time appended to its log
  local name=$1; shift
  ( start=$(date +%s); timeout "$LIMIT" "$@" > "$LOGS/$name.log" 2>&1
    echo "$name rc=$? in $(( $(date +%s) - start ))s" >> "$LOGS/$name.log" ) &
}
run hostile-memcheck "$SANITIZER" --tool memcheck --error-exitcode 9 "$TESTS" --gtest_filter='HostileInput.*:-*TwentyMillion*'
for tool in memcheck racecheck initcheck synccheck; do
  for ((i = 0; i < SHARDS; ++i)); do
    GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$i SPARSEKGEN_SWEEP=small run "catalog-$tool-$i" \
      "$SANITIZER" --tool "$tool" --error-exitcode 9 "$TESTS" --gtest_filter='*EveryKernel*:*EveryBackwardKernel*'
  done
  run "networks-$tool" "$SANITIZER" --tool "$tool" --error-exitcode 9 "$TESTS" --gtest_filter='*EveryNetwork*'
done
wait

for log in "$LOGS"/*.log; do
  line="$(basename "$log" .log): $(grep -E ' rc=' "$log" | tail -1 | sed 's/^[^ ]* //') | "
  line+="$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1 | sed 's/=* *//') | "
  line+="$(grep -E '^\[  PASSED  \]|^\[  FAILED  \] [0-9]' "$log" | tr '\n' ' ')"
  echo "$line"
done | tee "$LOGS/summary.txt"
# Every run's status line must say rc=0 (a timeout is 124, a sanitizer report 9, a test failure 1).
! grep -h ' rc=' "$LOGS"/*.log | grep -qv ' rc=0 '

