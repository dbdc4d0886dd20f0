#!/usr/bin/env bash
# Soak (not CI): the release build at saturation for SECONDS (default 600) with RSS and thread
# count sampled every second. Usage: scripts/soak.sh [SECONDS] [PRODUCERS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked --example soak -- "${1:-600}" "${2:-4}"
