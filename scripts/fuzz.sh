#!/usr/bin/env bash
# Runs the cargo-fuzz targets, each for a bounded time (default 60 s), where a nightly toolchain exists;
# says why it is skipped otherwise. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: no nightly toolchain (cargo +nightly does not run)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  if ! cargo +nightly install --locked cargo-fuzz >/dev/null 2>&1 && ! cargo +nightly install cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: cargo-fuzz could not be installed"
    exit 0
  fi
fi
cd fuzz
# The turned crops twice: on this CPU's widest SIMD form, then (where that is AVX-512) on AVX2.
for run in frame_and_box turned_crop turned_crop:avx2; do
  target="${run%%:*}"
  no_avx512=""; [ "$run" = "turned_crop:avx2" ] && no_avx512=1
  echo "fuzz: $run for ${seconds} s"
  LMBATCH_NO_AVX512="$no_avx512" cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 5
done
