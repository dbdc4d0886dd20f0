#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: checks what this repository cannot check in CI.
#   1. The CUDA half (driver + NVRTC only, no TensorRT needed): pinned staging, the async copies
#      and the u8 -> f32 conversion on the GPU and on the host, against the CPU reference.
#   2. With TensorRT installed: builds the engine from the bundled ONNX, the plan cache and given
#      plans, then the conformance suite (accuracy on the evaluation set, batch invariance in all
#      32 slots) on TensorRT.
#   3. A table of throughput and latency for batch sizes 1, 8 and 32 through the C ABI (with the
#      raw engine ceiling), next to trtexec on the same plan when trtexec is on the PATH.
# Usage: scripts/gpu-check.sh [seconds per bench run, default 10]
# TensorRT's headers: TENSORRT_INCLUDE_DIR, else the standard install paths, else NVIDIA's 11.4
# headers from crates.io (right only where the installed libnvinfer is 11.x).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
if [ -z "${TENSORRT_INCLUDE_DIR:-}" ]; then
  # The folders build.rs searches (find_tensorrt_headers), in its order.
  for d in /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu /usr/include \
    /usr/local/tensorrt/include /usr/local/TensorRT/include /opt/tensorrt/include; do
    [ -f "$d/NvInfer.h" ] && TENSORRT_INCLUDE_DIR="$d" && break
  done
  [ -n "${TENSORRT_INCLUDE_DIR:-}" ] || TENSORRT_INCLUDE_DIR="$(scripts/tensorrt-headers.sh)"
fi
export TENSORRT_INCLUDE_DIR LMBATCH_REQUIRE_TENSORRT_SHIM=1
major="$(sed -n 's/^#define NV_TENSORRT_MAJOR \([0-9]*\).*/\1/p; s/^#define TRT_MAJOR_ENTERPRISE \([0-9]*\).*/\1/p' \
  "$TENSORRT_INCLUDE_DIR/NvInferVersion.h" | head -n 1)"
echo "TensorRT headers: $TENSORRT_INCLUDE_DIR (major $major)"

echo "== 1. CUDA staging and conversion"
LMBATCH_TEST_CUDA=1 cargo test --release --test gpu_cuda -- --nocapture

lib="${LMBATCH_TENSORRT_LIB:-libnvinfer.so.$major}"
if ! python3 -c "import ctypes,sys; ctypes.CDLL(sys.argv[1])" "$lib" 2>/dev/null; then
  echo "== TensorRT: $lib does not load here; steps 2 and 3 need TensorRT $major.x installed"
  exit 0
fi

echo "== 2. TensorRT: plan build, cache, given plans; conformance suite"
export LMBATCH_TEST_TENSORRT=1
cargo test --release --test gpu_tensorrt --test accuracy --test batch_invariance -- --nocapture

echo "== 3. Throughput and latency (C ABI, 4 producers as fast as accepted, ${seconds}s each)"
cache="$(mktemp -d)"
for batch in 1 8 32; do
  echo "-- max_batch $batch"
  cargo bench --bench e2e -- --backend tensorrt --max-batch "$batch" --seconds "$seconds" \
    --cache-dir "$cache/b$batch"
  if command -v trtexec >/dev/null; then
    plan="$(ls "$cache/b$batch"/*.plan | head -n 1)"
    echo "-- trtexec on the same plan, batch $batch"
    trtexec --loadEngine="$plan" --shapes="input:${batch}x3x192x192" --duration="$seconds" 2>&1 \
      | grep -E "Throughput|Latency: min|GPU Compute Time: min" || true
  else
    echo "(trtexec is not on the PATH: no side-by-side engine figure)"
  fi
done
rm -rf "$cache"
