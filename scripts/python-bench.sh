#!/usr/bin/env bash
# Faces/s through the Python API vs through the Rust e2e bench, same backend, same settings, one
# run: Rust, Python, Rust, Python, ... (A-B-A-B, so drift on a shared machine shows), then the
# ratio of the means and the median of the rounds' ratios; and the CPU time each process spent per
# face (all its threads), which a busy neighbour moves far less than faces/s. Needs the wheel installed by
# bindings/python/run-tests.sh (or pip install).
#   scripts/python-bench.sh [--backend cpu] [--seconds 15] [--producers 4] [--rounds 2]
set -euo pipefail
cd "$(dirname "$0")/.."
backend=cpu seconds=15 producers=4 rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --producers) producers="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
python="$(scripts/python-venv.sh)"
cargo bench --locked --bench e2e --no-run >&2
args=(--backend "$backend" --seconds "$seconds" --producers "$producers")
rust=() py=() rust_cpu=() py_cpu=()
for round in $(seq "$rounds"); do
  out="$(cargo bench --locked --bench e2e -- "${args[@]}" 2>/dev/null)"
  rust+=("$(grep -o '^faces/s [0-9.]*' <<<"$out" | awk '{print $2}')")
  rust_cpu+=("$(grep -o '^cpu ms per face [0-9.]*' <<<"$out" | awk '{print $5}')")
  out="$("$python" bindings/python/bench/e2e.py "${args[@]}")"
  py+=("$(grep -o '^faces/s [0-9.]*' <<<"$out" | awk '{print $2}')")
  py_cpu+=("$(grep -o '^cpu ms per face [0-9.]*' <<<"$out" | awk '{print $5}')")
done
python3 - "${rust[*]}" "${py[*]}" "${rust_cpu[*]}" "${py_cpu[*]}" <<'PY'
import statistics, sys
rust, py, rust_cpu, py_cpu = ([float(v) for v in a.split()] for a in sys.argv[1:5])
print("| round | Rust e2e faces/s | Python faces/s | Python / Rust | Rust CPU ms/face | Python CPU ms/face | Rust / Python CPU |")
print("|---|---:|---:|---:|---:|---:|---:|")
for i, (r, p, rc, pc) in enumerate(zip(rust, py, rust_cpu, py_cpu), 1):
    print(f"| {i} | {r:.1f} | {p:.1f} | {p / r:.3f} | {rc:.3f} | {pc:.3f} | {rc / pc:.3f} |")
print(f"| mean | {statistics.mean(rust):.1f} | {statistics.mean(py):.1f} | {sum(py) / sum(rust):.3f} "
      f"| {statistics.mean(rust_cpu):.3f} | {statistics.mean(py_cpu):.3f} | {sum(rust_cpu) / sum(py_cpu):.3f} |")
print(f"| median of the rounds' ratios | | | {statistics.median(p / r for r, p in zip(rust, py)):.3f} "
      f"| | | {statistics.median(r / p for r, p in zip(rust_cpu, py_cpu)):.3f} |")
PY
