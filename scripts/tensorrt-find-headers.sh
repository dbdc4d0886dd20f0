#!/usr/bin/env bash
# Prints the folder build.rs takes TensorRT's headers from when TENSORRT_INCLUDE_DIR is not set:
# the first folder of shim/tensorrt/header-dirs.txt (or of the folders given) holding BOTH
# NvInfer.h and NvOnnxParser.h, the rule of build.rs's find_tensorrt_headers. Exits 1 if none.
#   scripts/tensorrt-find-headers.sh [DIR...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -eq 0 ]; then
  mapfile -t dirs < <(grep -Ev '^[[:space:]]*(#|$)' "$root/shim/tensorrt/header-dirs.txt")
else
  dirs=("$@")
fi
for d in "${dirs[@]}"; do
  if [ -f "$d/NvInfer.h" ] && [ -f "$d/NvOnnxParser.h" ]; then
    echo "$d"
    exit 0
  fi
done
exit 1
