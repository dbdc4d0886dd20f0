#!/usr/bin/env bash
# One command, one table: lmbatch against what a user would otherwise run, on the same faces (the
# evaluation set, all pixel formats) and the same cores, measured one after another in one run.
#   1. onnxruntime called directly from Python with batches (best batch size), bench/peers.py
#   2. the original Python design lmbatch replaces (queue + per-item timeouts + one call per crop)
#   3. OpenVINO called directly (bench/openvino_peer.py: best of LATENCY sync and THROUGHPUT async,
#      batch 8 and 32, FP32 and BF16), twice: inference only (inputs made once, untimed), and with
#      the crop and the mapping back of 1. timed as well ("crop+decode")
#   4. lmbatch through the C ABI with each CPU backend (tract; ONNX Runtime and OpenVINO from the
#      same wheels; OpenVINO in FP32 and REDUCED)
# Usage: bench/compare.sh [SECONDS_PER_RUN=20] [all|openvino]   (output also saved under
# bench/results/). `openvino` runs only what issue 16 compares: ONNX Runtime direct, OpenVINO
# direct and lmbatch on OpenVINO (FP32, REDUCED) and ONNX Runtime, at batch 8 and 32.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
set_="${2:-all}"
mkdir -p bench/results
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
raw="bench/results/compare-$stamp.txt"

bench/setup-venv.sh >/dev/null
ORT_DYLIB_PATH="$(find "$PWD/bench/.venv" -name 'libonnxruntime.so*' ! -name '*providers*' | sort | head -n 1)"
export ORT_DYLIB_PATH
OPENVINO_LIB_PATH="$(dirname "$(find "$PWD/bench/.venv" -name 'libopenvino_c.so*' | sort | head -n 1)")"
export OPENVINO_LIB_PATH
cargo bench --locked --bench e2e --no-run 2>/dev/null
e2e() { cargo bench --locked --bench e2e -q -- "$@" 2>/dev/null; }

{
  echo "# bench/compare.sh $seconds, $stamp"
  echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; onnxruntime $(bench/.venv/bin/python -c 'import onnxruntime; print(onnxruntime.__version__)'); openvino $(bench/.venv/bin/python -c 'import openvino; print(openvino.get_version())')"
  if [ "$set_" = openvino ]; then
    bench/.venv/bin/python bench/peers.py --seconds "$seconds" --peers direct --batch-sizes 8,32
  else
    bench/.venv/bin/python bench/peers.py --seconds "$seconds"
  fi
  # Sixteen runs (4 modes x 2 batch sizes x 2 precisions): each gets a quarter of the budget.
  bench/.venv/bin/python bench/openvino_peer.py --seconds "$(python3 -c "print(max(2.0, $seconds / 4))")" --batch-sizes 8,32 --crop
  for precision in fp32 reduced; do
    for max_batch in 8 32; do
      e2e --backend openvino --precision "$precision" --max-batch "$max_batch" --seconds "$seconds" --producers 4
    done
  done
  backends="onnxruntime cpu"
  [ "$set_" = openvino ] && backends="onnxruntime"
  for backend in $backends; do
    for max_batch in 8 32; do
      e2e --backend "$backend" --max-batch "$max_batch" --seconds "$seconds" --producers 4
    done
  done
} 2>&1 | tee "$raw"

echo
echo "== summary ($raw)"
python3 - "$raw" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{") and '"faces_per_s"' in line:
        rows.append(json.loads(line))
direct = next((r for r in rows if r["name"] == "onnxruntime-direct"), None)
original = next((r for r in rows if r["name"] == "original-design"), None)
ov = {p: next((r for r in rows if r["name"] == "openvino-direct " + p), None) for p in ("FP32", "BF16")}
ov_crop = {p: next((r for r in rows if r["name"] == f"openvino-direct {p} crop+decode"), None)
           for p in ("FP32", "BF16")}
print(f'{"":44} {"faces/s":>9} {"p50 ms":>8} {"p99 ms":>8} {"x direct":>9} {"x original":>11} {"x OV infer":>11} {"x OV +crop":>11} {"e2e/raw":>8}')
for r in rows:
    ratio = lambda base: f'{r["faces_per_s"] / base["faces_per_s"]:.2f}' if base else "-"
    raw = f'{r["faces_per_s"] / r["raw_faces_per_s"]:.3f}' if "raw_faces_per_s" in r else ""
    # lmbatch on OpenVINO against OpenVINO direct at the precision that ran.
    # lmbatch on OpenVINO against OpenVINO direct at the precision that ran: inference only, and
    # with the same crop and mapping back as the ONNX Runtime peer.
    lm_ov = r["name"].startswith("lmbatch-") and "openvino" in r["name"]
    key = "BF16" if "BF16" in r["name"] else "FP32"
    peer, peer_crop = (ov[key], ov_crop[key]) if lm_ov else (None, None)
    print(f'{r["name"]:44} {r["faces_per_s"]:9.1f} {r["p50_ms"]:8.1f} {r["p99_ms"]:8.1f} {ratio(direct):>9} {ratio(original):>11} {ratio(peer):>11} {ratio(peer_crop):>11} {raw:>8}')
PY
