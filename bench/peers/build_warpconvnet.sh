#!/usr/bin/env bash
# Builds WarpConvNet 1.8.2's CUDA extension in place for the H100 alone (sm_90a, which also enables
# its WGMMA backends), offline, from the kit (the sdist with its CUTLASS headers, its runtime wheels
# and the build tools a torch venv lacks). Needs python3 with a CUDA build of torch and the CUDA
# toolkit (nvcc, cuBLAS); no pip and no network.
#
#   bash build_warpconvnet.sh KIT.tar.xz LOG_DIR
#
# KIT.tar.xz: the source distribution (pip download --no-binary :all: warpconvnet==1.8.2, unpacked
# as warpconvnet-1.8.2/) beside wheels/ (jaxtyping, wadler_lindig, msgpack, typing_extensions) and
# buildwheels/ (setuptools-scm, pybind11, ninja, packaging, setuptools), fetched where there is a
# network.
#
# Logs to LOG_DIR/warpconvnet-build.log; the last line printed is the PYTHONPATH to run with.
# Run again after an interruption: the unpacked tree is kept, so ninja goes on where it stopped.
# MAX_JOBS (default 16; each nvcc of a mask-GEMM unit takes 5-7 GB), PYTHON, CUDA_HOME and WCN_DIR (where
# to unpack, default /tmp/wcn) can be set.
set -euo pipefail

kit=${1:?usage: build_warpconvnet.sh KIT.tar.xz LOG_DIR}
logdir=${2:?usage: build_warpconvnet.sh KIT.tar.xz LOG_DIR}
W=${WCN_DIR:-/tmp/wcn}
SRC=$W/warpconvnet-1.8.2
PY=${PYTHON:-$(command -v python3)}
mkdir -p "$logdir"
log=$(cd "$logdir" && pwd)/warpconvnet-build.log
say() { echo "build_warpconvnet: $*" | tee -a "$log" >&2; }
die() { say "ERROR: $*"; exit 1; }
: > "$log"

[[ -f $kit ]] || die "no kit at $kit"
[[ -x $PY ]] || die "no python3 (set PYTHON)"
say "start $(date -u); python $PY"

# 1. Unpack, unless an earlier call did (keeping its build/ objects).
if [[ -f $SRC/.kit-unpacked ]]; then
  say "reusing $SRC (unpacked by an earlier call)"
else
  mkdir -p $W
  tar xJf "$kit" -C $W || die "could not unpack $kit"
  [[ -f $SRC/setup.py ]] || die "$kit holds no warpconvnet-1.8.2/setup.py"
  touch $SRC/.kit-unpacked
fi

# 2. Wheels: each one whose module the venv lacks is unzipped (runtime ones into site/, build tools
# into buildsite/), so that none shadows what torch's venv already has.
module_of() {  # the import name of a wheel file
  local dist=${1##*/}; dist=${dist%%-*}; echo "${dist,,}"
}
unzip_missing() {  # DIR_OF_WHEELS TARGET
  mkdir -p "$2"
  local w m
  for w in "$1"/*.whl; do
    m=$(module_of "$w")
    if [[ $m != ninja ]] && env -u PYTHONPATH "$PY" -c "import $m" 2>/dev/null; then
      say "$m: the venv's own"
    else
      "$PY" -m zipfile -e "$w" "$2" || die "could not unzip $w"
      say "$m: from ${w##*/}"
    fi
  done
}
unzip_missing $W/wheels $W/site
unzip_missing $W/buildwheels $W/buildsite

# 3. Tools: ninja (the wheel's binary), nvcc and the libraries setup.py links (-lcudart -lcublas -lcuda).
shopt -s nullglob
found=($W/buildsite/ninja-*.data/scripts/ninja)
(( ${#found[@]} )) || die "the ninja wheel's binary is missing"
NINJA=$(dirname "${found[0]}")
chmod +x "$NINJA/ninja"
export PATH=$NINJA:$PATH
ninja --version >/dev/null || die "ninja does not run"

if [[ -z ${CUDA_HOME:-} ]]; then
  if command -v nvcc >/dev/null; then CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  elif [[ -x /usr/local/cuda/bin/nvcc ]]; then CUDA_HOME=/usr/local/cuda
  else CUDA_HOME=$(ls -d /usr/local/cuda-* 2>/dev/null | sort -V | tail -1 || true); fi
fi
[[ -n $CUDA_HOME && -x $CUDA_HOME/bin/nvcc ]] || die "no nvcc (set CUDA_HOME)"
export CUDA_HOME PATH=$CUDA_HOME/bin:$PATH  # setup.py takes the toolkit from `which nvcc`
linkdir=$W/linklibs; mkdir -p $linkdir
libdirs=("$CUDA_HOME/lib64" "$CUDA_HOME/targets/x86_64-linux/lib")
find_lib() {  # NAME: a directory that holds libNAME.so for the linker, made if need be
  local d f
  for d in "${libdirs[@]}"; do [[ -e $d/lib$1.so ]] && { echo "$d"; return; }; done
  # A toolkit from pip wheels ships libNAME.so.MAJOR only (under site-packages/nvidia).
  f=$("$PY" -c "import glob, os, nvidia; print(([f for p in list(nvidia.__path__) for f in sorted(glob.glob(os.path.join(p, '**', 'lib$1.so.*'), recursive=True))] + [''])[0])" 2>/dev/null || true)
  if [[ -n $f ]]; then ln -sf "$f" $linkdir/lib$1.so; echo $linkdir; fi
}
extra=""
for lib in cudart cublas; do
  d=$(find_lib $lib); [[ -n $d ]] || die "no lib$lib.so under $CUDA_HOME or the venv's nvidia packages"
  say "lib$lib.so: $d"; extra=$extra:$d
done
if ldconfig -p 2>/dev/null | grep ' libcuda\.so ' >/dev/null; then
  say "libcuda.so: the driver's"
else
  for d in "$CUDA_HOME/lib64/stubs" "$CUDA_HOME/targets/x86_64-linux/lib/stubs"; do
    [[ -e $d/libcuda.so ]] && { say "libcuda.so: the stub in $d (the driver's is loaded at run time)"; extra=$extra:$d; break; }
  done
fi
export LIBRARY_PATH=${extra#:}${LIBRARY_PATH:+:$LIBRARY_PATH}
[[ -f $CUDA_HOME/include/cublas_v2.h ]] || say "warning: no cublas_v2.h in $CUDA_HOME/include"

# setup.py asks for C++17, which the ATen headers of torch 2.13 and later refuse.
aten=$("$PY" -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'include', 'ATen', 'ATen.h'))")
if grep 'C++20 or later' "$aten" >/dev/null 2>&1 && grep '"-std=c++17"' $SRC/setup.py >/dev/null; then
  sed -i 's/"-std=c++17"/"-std=c++20"/' $SRC/setup.py
  say "this torch's ATen needs C++20: setup.py's -std=c++17 changed to -std=c++20"
fi

# 4. The build: one exact target, 9.0a (build_arch.py emits -gencode for sm_90a only and defines
# WARPCONVNET_SM80_ENABLED and WARPCONVNET_SM90_ENABLED); version from the kit, not git.
export TORCH_CUDA_ARCH_LIST=9.0a MAX_JOBS=${MAX_JOBS:-16} SETUPTOOLS_SCM_PRETEND_VERSION=1.8.2
export PYTHONPATH=$W/buildsite${PYTHONPATH:+:$PYTHONPATH}
{
  echo "== $(date -u) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $7}') GB available"
  nvcc --version | tail -2 || true; ${CXX:-c++} --version | head -1 || true; ninja --version
  "$PY" -c "import torch, setuptools; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'setuptools', setuptools.__version__)" || true
  echo "CUDA_HOME=$CUDA_HOME LIBRARY_PATH=$LIBRARY_PATH TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS"
} >> "$log" 2>&1
say "building (log: $log) ..."
start=$(date +%s)
if ! (cd $SRC && "$PY" setup.py build_ext --inplace) >> "$log" 2>&1; then
  { grep -E "^FAILED|error:|fatal" "$log" | cut -c1-300 | head -20; tail -3 "$log"; } >&2 || true
  die "setup.py build_ext failed after $(( $(date +%s) - start )) s; see $log"
fi
found=($SRC/warpconvnet/_C*.so)
(( ${#found[@]} )) || die "the build left no warpconvnet/_C*.so"
so=${found[0]}
say "built ${so##*/} in $(( $(date +%s) - start )) s"

# 5. It imports (this needs the GPU's driver).
RUNPATH=$SRC:$W/site
if PYTHONPATH=$RUNPATH WARPCONVNET_BENCHMARK_CACHE_DIR=$W/import-check "$PY" -c "import warpconvnet; from warpconvnet.nn.modules.sparse_conv import SparseConv3d" >> "$log" 2>&1; then
  say "import warpconvnet: ok"
else
  die "import warpconvnet failed; see $log"
fi
say "done $(date -u)"
echo "PYTHONPATH=$RUNPATH"
