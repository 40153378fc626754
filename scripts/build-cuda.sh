#!/usr/bin/env bash
# Builds Alambic with `--features cuda` on a machine with no GPU and no system CUDA: NVIDIA's
# compiler and headers come from PyPI wheels unpacked under target/cuda-<version>/ (nothing is
# installed system-wide), and candle's kernels are compiled to PTX for compute capability 9.0
# (H100/H200; the driver JIT-compiles the PTX for newer cards, not for older ones).
#
#   scripts/build-cuda.sh          # target/cuda-release/alambic, a binary to carry to the GPU
#   scripts/build-cuda.sh check    # cargo check --features cuda (what CI runs)
#
# The compiler is pinned to the GPU machine's CUDA version (13.0, driver 580): PTX from a newer
# nvcc may not load on an older driver. Override with CUDA_VERSION / CUDA_COMPUTE_CAP.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-build}
version=${CUDA_VERSION:-13.0}
cap=${CUDA_COMPUTE_CAP:-90}
# The wheels of one CUDA release (their versions differ by package).
declare -A wheels=(
  [nvidia-cuda-nvcc]=13.0.88
  [nvidia-cuda-runtime]=13.0.96
  [nvidia-cuda-crt]=13.0.88
  [nvidia-cuda-cccl]=13.0.85
  [nvidia-nvvm]=13.0.88
)
root=$PWD/target/cuda-$version
home=$root/site/nvidia/cu13

if [ ! -x "$home/bin/nvcc" ]; then
  mkdir -p "$root/wheels" "$root/site"
  for name in "${!wheels[@]}"; do
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      -d "$root/wheels" "$name==${wheels[$name]}"
  done
  for w in "$root"/wheels/*.whl; do
    python3 -m zipfile -e "$w" "$root/site"
  done
  chmod +x "$home"/bin/* "$home"/nvvm/bin/* 2>/dev/null || true
fi
test -x "$home/bin/nvcc" || { echo "no nvcc under $home" >&2; exit 1; }
# candle's MoE kernels link the CUDA runtime by its unversioned name.
ln -sf libcudart.so.13 "$home/lib/libcudart.so"
export LIBRARY_PATH=$home/lib:${LIBRARY_PATH:-}

# nvcc finds its headers, libdevice and cicc relative to itself; candle's build script finds
# nvcc on PATH and the headers through CUDA_ROOT / the include path.
export PATH=$home/bin:$PATH
export CUDA_ROOT=$home CUDA_PATH=$home CUDA_HOME=$home
export CUDA_COMPUTE_CAP=$cap
export NVCC_PREPEND_FLAGS="-I$home/include ${NVCC_PREPEND_FLAGS:-}"
# A separate target folder: the CPU build's artefacts stay as they are.
export CARGO_TARGET_DIR=$PWD/target/cuda

nvcc --version | tail -2
case $mode in
  check) cargo check --release --features cuda --bins ;;
  build)
    cargo build --release --features cuda --bin alambic
    mkdir -p target/cuda-release
    cp target/cuda/release/alambic target/cuda-release/alambic
    strip target/cuda-release/alambic 2>/dev/null || true
    ls -l target/cuda-release/alambic
    ;;
  *) echo "usage: scripts/build-cuda.sh [build|check]" >&2; exit 2 ;;
esac
