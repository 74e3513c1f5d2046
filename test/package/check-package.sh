#!/usr/bin/env bash
# The CMake package as an application sees it (ctest: package_install, package_subdirectory).
#   check-package.sh install BUILD WORK       cmake --install BUILD into WORK/prefix, then build the
#                                             consumer against it with find_package and run it
#   check-package.sh subdirectory BUILD WORK  build the consumer with the source tree added as a
#                                             subdirectory (BUILD's CLI and default bundle) and run it
set -euo pipefail
mode=$1 build=$(realpath "$2") work=$3
source_dir=$(realpath "$(dirname "$0")/../..")
consumer=$source_dir/test/package/consumer
rm -rf "$work" && mkdir -p "$work"
work=$(realpath "$work")
cuda=${CUDA_HOME:-/usr/local/cuda}

if [[ $mode == install ]]; then
  cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
  for file in lib/libsparsekgen_runtime.a lib/libsparsekgen_runtime_cpu.a lib/libsparsekgen_runtime.so \
              include/sparsekgen/Context.h include/sparsekgen/Version.h bin/sparsekgen bin/sparsekgen-tune \
              lib/sparsekgen/bundle/libsparsekgen_kernels.a lib/sparsekgen/bundle/sparsekgen_kernels.h \
              share/sparsekgen/schemas/kernel-catalog.schema.json lib/cmake/sparsekgen/sparsekgenConfig.cmake \
              lib/cmake/sparsekgen/sparsekgenConfigVersion.cmake; do
    [[ -e $work/prefix/$file ]] || { echo "not installed: $file" >&2; exit 1; }
  done
  # The shared runtime exports the sparsekgen namespace and nothing of the libraries inside it.
  exported=$(nm -D --defined-only "$work/prefix/lib/libsparsekgen_runtime.so" | awk '{print $3}')
  ours='^_Z(T[ISVT])?NK?10sparsekgen|^_ZThn[0-9]+_NK?10sparsekgen'
  if grep -Ev "$ours" <<<"$exported" | grep -q .; then
    echo "libsparsekgen_runtime.so exports symbols outside the sparsekgen namespace:" >&2
    grep -Ev "$ours" <<<"$exported" | head >&2
    exit 1
  fi
  grep -Eq "$ours" <<<"$exported" || { echo "libsparsekgen_runtime.so exports nothing of sparsekgen" >&2; exit 1; }
  "$work/prefix/bin/sparsekgen" --version
  "$work/prefix/bin/sparsekgen-tune" --version
  cmake -S "$consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
else
  cmake -S "$consumer" -B "$work/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSPARSEKGEN_SOURCE_DIR="$source_dir" -DSPARSEKGEN_CLI="$build/tools/sparsekgen" \
    -DSPARSEKGEN_PREBUILT_BUNDLE="$build/bundle" -DSPARSEKGEN_CUDA_ARCHITECTURES=80 \
    -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" >"$work/configure.log"
fi
cmake --build "$work/consumer"
"$work/consumer/consumer-static"
"$work/consumer/consumer-shared"
