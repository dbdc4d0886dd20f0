#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: checks what this repository cannot check in CI.
#   1. The CUDA half (driver + NVRTC only, no TensorRT needed): pinned staging, the async copies,
#      the batch-end events (blocking sync, no timing), and the u8 -> f32 conversion on the GPU
#      (NVRTC chosen by the driver's CUDA version) and on the host, against the CPU reference.
#      (The GPU tests are #[ignore]d in plain `cargo test`; this runs them with --ignored and
#      fails unless each one really ran and passed.)
#   2. With TensorRT installed: builds the engine from the bundled ONNX, the plan cache (written
#      only after the self-check passed; a damaged file rebuilt) and given plans, an ONNX the
#      parser calls broken (MODEL_ERROR), then the conformance suite (accuracy on the evaluation
#      set, batch invariance in all 32 slots) on TensorRT.
#   3. A table of throughput and latency for batch sizes 1, 8 and 32 through the C ABI (with the
#      raw engine ceiling), next to trtexec on the same plan when trtexec is on the PATH.
# Usage: scripts/gpu-check.sh [seconds per bench run, default 10]
#   LMBATCH_GPU_CHECK_CUDA_ONLY=1: stop after step 1 (a machine with CUDA but no TensorRT);
#   without it, a TensorRT that does not load is a failure, not a skip.
# TensorRT's headers: TENSORRT_INCLUDE_DIR, else the folders build.rs searches (same list, same
# rule: scripts/tensorrt-find-headers.sh), else NVIDIA's 11.4 headers from crates.io (right only
# where the installed libnvinfer is 11.x).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
if [ -z "${TENSORRT_INCLUDE_DIR:-}" ]; then
  TENSORRT_INCLUDE_DIR="$(scripts/tensorrt-find-headers.sh || scripts/tensorrt-headers.sh)"
fi
export TENSORRT_INCLUDE_DIR LMBATCH_REQUIRE_TENSORRT_SHIM=1
major="$(sed -n 's/^#define NV_TENSORRT_MAJOR \([0-9]*\).*/\1/p; s/^#define TRT_MAJOR_ENTERPRISE \([0-9]*\).*/\1/p' \
  "$TENSORRT_INCLUDE_DIR/NvInferVersion.h" | head -n 1)"
echo "TensorRT headers: $TENSORRT_INCLUDE_DIR (major $major)"

# Runs ignored GPU tests one by one (--ignored --exact); fails unless each really ran and passed:
# a name that matches nothing gives "0 passed", which fails here as it should. (Not a grep for
# "test NAME ... ok": with --nocapture the test's own output lands inside that line.)
run_gpu_tests() { # target test-name...
  local target="$1" name log status
  shift
  log="$(mktemp)"
  for name in "$@"; do
    set +e
    cargo test --release --test "$target" -- --ignored --exact "$name" --nocapture 2>&1 | tee "$log"
    status="${PIPESTATUS[0]}"
    set -e
    if [ "$status" -ne 0 ] || ! grep -q '^test result: ok\. 1 passed; 0 failed' "$log"; then
      echo "== FAILED: $target::$name did not run and pass (cargo test exit $status)"
      rm -f "$log"
      exit 1
    fi
  done
  rm -f "$log"
}

echo "== 1. CUDA staging and conversion"
run_gpu_tests gpu_cuda staging_and_conversion_match_the_cpu_reference

if [ "${LMBATCH_GPU_CHECK_CUDA_ONLY:-0}" = 1 ]; then
  echo "== LMBATCH_GPU_CHECK_CUDA_ONLY=1: steps 2 and 3 (TensorRT) NOT run"
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "== FAILED: python3 is needed to probe libnvinfer; steps 2 and 3 NOT run"
  exit 1
fi
lib="${LMBATCH_TENSORRT_LIB:-libnvinfer.so.$major}"
if ! python3 -c "import ctypes,sys; ctypes.CDLL(sys.argv[1])" "$lib" 2>/dev/null; then
  echo "== FAILED: $lib does not load here; steps 2 and 3 need TensorRT $major.x installed"
  echo "   (LMBATCH_GPU_CHECK_CUDA_ONLY=1 checks only the CUDA half)"
  exit 1
fi

echo "== 2. TensorRT: plan build, cache, given plans; conformance suite"
run_gpu_tests gpu_tensorrt plan_build_cache_and_given_plans
export LMBATCH_TEST_TENSORRT=1
cargo test --release --test accuracy --test batch_invariance -- --nocapture

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
