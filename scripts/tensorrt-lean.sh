#!/usr/bin/env bash
# Fetches NVIDIA's TensorRT lean runtimes from PyPI (wheels tensorrt-lean-cu12-libs, unpacked
# under target/, not installed) for the loading tests on machines without a GPU, and prints two
# lines for the shell: the library of the major the shim is built for (11) and one of major 10.
#   eval "$(scripts/tensorrt-lean.sh)"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${CARGO_TARGET_DIR:-$root/target}/tensorrt-lean"
pip=(python3 -m pip)
[ -x "$root/bench/.venv/bin/pip" ] && pip=("$root/bench/.venv/bin/pip")
fetch() { # version major -> path of libnvinfer_lean.so.<major>
    local dir="$work/$1"
    if [ ! -f "$dir/tensorrt_lean_libs/libnvinfer_lean.so.$2" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        "${pip[@]}" download --quiet --no-deps --dest "$dir" "tensorrt-lean-cu12-libs==$1" >&2
        python3 -m zipfile -e "$dir"/tensorrt_lean_cu12_libs-*.whl "$dir" >&2
    fi
    echo "$dir/tensorrt_lean_libs/libnvinfer_lean.so.$2"
}
echo "export LMBATCH_TRT_LEAN_LIB='$(fetch 11.4.0.106 11)'"
echo "export LMBATCH_TRT_LEAN10_LIB='$(fetch 10.16.1.11 10)'"
