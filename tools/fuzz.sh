#!/usr/bin/env bash
# The hardening run (docs/reliability.md): a clang-22 build with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-sanitize/), the unit tests under it, then every libFuzzer
# target of test/fuzz for SECONDS each (default 20) from the committed documents and regression
# inputs. A finding is written under build-sanitize/test/fuzz/<target>/findings/; once fixed, keep
# it as test/fuzz/regressions/<target>/<what-it-is>.json.
#   tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS per fuzz target, a positive integer]" >&2
  exit 2
fi
for tool in clang-22 clang++-22; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (Debian: clang-22 libclang-rt-22-dev)" >&2; exit 1; }
done
echo "== sanitizer build (build-sanitize/, clang-22, ASan + UBSan)"
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-22 \
  -DCMAKE_CXX_COMPILER=clang++-22 -DSPARSEKGEN_BUILD_GENERATOR=OFF -DSPARSEKGEN_BUILD_RUNTIME=OFF \
  -DSPARSEKGEN_SANITIZE=ON -DSPARSEKGEN_FUZZ=ON -DSPARSEKGEN_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build-sanitize
echo "== unit tests under ASan + UBSan, then each fuzz target for ${seconds} s"
ctest --test-dir build-sanitize -L 'unit|fuzz' --output-on-failure
