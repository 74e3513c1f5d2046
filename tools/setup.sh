#!/usr/bin/env bash
# Set-up on a fresh Debian 12 machine with the CUDA toolkit in /usr/local/cuda (README.md):
#   tools/setup.sh demo   install what is missing, build, generate the default catalog into out/,
#                         print its kernel table and, where a GPU is present, run the demo convolution
#   tools/setup.sh test   install what is missing, build, run every test (GPU tests report skipped
#                         with the reason where no GPU is present), then the hardening run
#                         (tools/fuzz.sh: sanitizer build, unit tests under it, SPARSEKGEN_FUZZ_SECONDS
#                         of each fuzz target, default 20)
set -euo pipefail

mode=${1:-}
if [[ "$mode" != demo && "$mode" != test ]]; then
  echo "usage: $0 demo|test" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
          nlohmann-json3-dev libvalijson-dev libfmt-dev libcli11-dev libgtest-dev python3-dev python3-venv)
# The Python package's tests run on Debian's CPU build of torch; the hardening run (tools/fuzz.sh)
# needs clang-22 and its sanitizer and libFuzzer runtimes.
[[ "$mode" == test ]] && packages+=(python3-torch python3-numpy python3-pytest clang-22 libclang-rt-22-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "== installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$CUDA_HOME/bin:$PATH"
if [[ ! -x "$CUDA_HOME/bin/nvcc" ]]; then
  echo "error: the CUDA toolkit is expected in $CUDA_HOME (nvcc not found); set CUDA_HOME" >&2
  exit 1
fi

# The Python package's extension modules build with nanobind from PyPI, in a virtual environment
# that also sees Debian's python3 packages (torch for the tests).
python_env=build/python-env
if [[ ! -x "$python_env/bin/python" ]] || ! "$python_env/bin/python" -c "import nanobind" 2>/dev/null; then
  echo "== Python build environment ($python_env)"
  /usr/bin/python3 -m venv --system-site-packages "$python_env"
  "$python_env/bin/pip" install -q --disable-pip-version-check "nanobind>=2.0,<4"
fi

echo "== building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" \
  -DSPARSEKGEN_PYTHON=ON -DPython_EXECUTABLE="$PWD/$python_env/bin/python" >/dev/null
cmake --build build

gpu_present() { ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' && nvidia-smi -L >/dev/null 2>&1; }

if [[ "$mode" == demo ]]; then
  echo "== generating the default catalog into out/"
  build/tools/sparsekgen build templates/catalogs/default.json -o out
  echo
  build/tools/sparsekgen inspect out
  echo
  if gpu_present; then
    echo "== demo convolution on test/data/kitti_000008.bin"
    build/runtime/sparsekgen-demo test/data/kitti_000008.bin
  else
    echo "== no GPU on this machine: the demo convolution (build/runtime/sparsekgen-demo) is skipped"
  fi
else
  echo "== tests"
  build/test/sparsekgen-gpu-test-launcher --probe
  ctest --test-dir build --output-on-failure
  tools/fuzz.sh "${SPARSEKGEN_FUZZ_SECONDS:-20}"
fi
