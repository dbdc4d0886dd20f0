#!/usr/bin/env bash
# Faces/s through the Python API vs through the Rust e2e bench, same backend, same settings, one
# run: Rust, Python, Rust, Python (A-B-A-B, so drift on a shared machine shows), then the ratio of
# the means. Needs the wheel installed by bindings/python/run-tests.sh (or pip install).
#   scripts/python-bench.sh [--backend cpu] [--seconds 15] [--producers 4]
set -euo pipefail
cd "$(dirname "$0")/.."
backend=cpu seconds=15 producers=4
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --producers) producers="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
python="$(scripts/python-venv.sh)"
cargo bench --locked --bench e2e --no-run >&2
args=(--backend "$backend" --seconds "$seconds" --producers "$producers")
rust=() py=()
for round in 1 2; do
  rust+=("$(cargo bench --locked --bench e2e -- "${args[@]}" 2>/dev/null | grep -o '^faces/s [0-9.]*' | awk '{print $2}')")
  py+=("$("$python" bindings/python/bench/e2e.py "${args[@]}" | grep -o '^faces/s [0-9.]*' | awk '{print $2}')")
done
echo "| round | Rust e2e faces/s | Python faces/s | Python / Rust |"
echo "|---|---:|---:|---:|"
for i in 0 1; do
  awk -v r="${rust[$i]}" -v p="${py[$i]}" -v n=$((i + 1)) 'BEGIN { printf "| %d | %.1f | %.1f | %.3f |\n", n, r, p, p / r }'
done
awk -v r1="${rust[0]}" -v r2="${rust[1]}" -v p1="${py[0]}" -v p2="${py[1]}" \
  'BEGIN { printf "| mean | %.1f | %.1f | %.3f |\n", (r1 + r2) / 2, (p1 + p2) / 2, (p1 + p2) / (r1 + r2) }'
