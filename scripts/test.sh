#!/usr/bin/env bash
# Runs every test: the Rust unit and integration tests (C ABI included), then the C/C++ programs
# under ctest against the freshly built library: once plain (plus valgrind memcheck and the
# installed-package consumer), once built with AddressSanitizer; then the Go, C# and Python
# bindings.
set -euo pipefail
cd "$(dirname "$0")/.."

# First, within a second: the system packages (scripts/system-packages.txt). Installed when this
# runs as root or with password-less sudo, else it stops here with the apt-get line to run.
source scripts/system-deps.sh
lmbatch_ensure_system_packages

# The ONNX Runtime and OpenVINO backends are tested with the libraries of the PyPI onnxruntime
# and openvino wheels (loaded at run time): bench/setup-venv.sh installs both into bench/.venv
# unless ORT_DYLIB_PATH and OPENVINO_LIB_PATH are already set.
if [ -z "${ORT_DYLIB_PATH:-}" ] || [ -z "${OPENVINO_LIB_PATH:-}" ]; then
  bench/setup-venv.sh >/dev/null
fi
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  ORT_DYLIB_PATH="$(find "$PWD/bench/.venv" -name 'libonnxruntime.so*' ! -name '*providers*' | sort | head -n 1)"
  export ORT_DYLIB_PATH
fi
echo "ONNX Runtime for the tests: $ORT_DYLIB_PATH"
# The wheel's openvino/libs holds libopenvino_c.so.<version> (no unversioned name): the backend
# takes the folder and finds it.
if [ -z "${OPENVINO_LIB_PATH:-}" ]; then
  OPENVINO_LIB_PATH="$(dirname "$(find "$PWD/bench/.venv" -name 'libopenvino_c.so*' | sort | head -n 1)")"
  export OPENVINO_LIB_PATH
fi
echo "OpenVINO for the tests: $OPENVINO_LIB_PATH"

# The TensorRT shim is compiled against TensorRT's headers (the crates.io package trtx-sys carries
# NVIDIA's 11.4 headers where TensorRT is not installed), and its run-time loading is tested with
# the real lean runtimes from PyPI (no GPU needed: they must fail cleanly).
if [ -z "${TENSORRT_INCLUDE_DIR:-}" ]; then
  TENSORRT_INCLUDE_DIR="$(scripts/tensorrt-headers.sh)"
  export TENSORRT_INCLUDE_DIR
fi
echo "TensorRT headers for the shim: $TENSORRT_INCLUDE_DIR"
eval "$(scripts/tensorrt-lean.sh)"

# tests/conventions.rs wraps the bundled model once per descriptor convention with
# scripts/make-convention-models.py (Python's onnx), from a venv scripts/convention-venv.sh makes
# unless LMBATCH_CONVENTION_PYTHON names a Python; once one is there, the models are required.
if [ -z "${LMBATCH_CONVENTION_PYTHON:-}" ]; then
  if LMBATCH_CONVENTION_PYTHON="$(scripts/convention-venv.sh)"; then
    export LMBATCH_CONVENTION_PYTHON LMBATCH_REQUIRE_CONVENTION_MODELS="${LMBATCH_REQUIRE_CONVENTION_MODELS:-1}"
  else
    echo "convention models: could not make their venv (tests/conventions.rs says SKIPPED)"
  fi
fi

cargo test --locked
# The Python package (PyO3 over the safe Rust API, not the C ABI): its wheel built by maturin
# (--release), pytest, mypy --strict and the camera worker example, in a venv from PyPI.
bindings/python/run-tests.sh
# (That venv, with the package installed, also runs its REMOTE test against the real servers.)
LMBATCH_PYTHON="$(scripts/python-venv.sh)"
export LMBATCH_PYTHON
# LM_BACKEND_REMOTE against real Triton and MLServer servers on 127.0.0.1, from a venv that
# scripts/remote-venv.sh makes from PyPI (unless LMBATCH_REMOTE_VENV names one); skipped with the
# reason where the servers' packages cannot be had, except under LMBATCH_REQUIRE_REMOTE_SERVERS=1
# (.ci/run sets it).
if [ -z "${LMBATCH_REMOTE_VENV:-}" ]; then
  LMBATCH_REMOTE_VENV="$(scripts/remote-venv.sh)" || echo "remote servers: could not make their venv"
  export LMBATCH_REMOTE_VENV
fi
scripts/test-remote-servers.sh
# The shared library the other languages link (dev profile: dependencies at -O3, see Cargo.toml).
cargo build --locked --lib
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
lib_dir="$target_dir/debug"

for variant in plain asan; do
  build_dir="$PWD/target/cpp_examples_$variant"
  sanitize=""
  [ "$variant" = asan ] && sanitize=address
  cmake -S cpp_examples -B "$build_dir" -DLMBATCH_LIB_DIR="$lib_dir" -DLMBATCH_SANITIZE="$sanitize" >/dev/null
  cmake --build "$build_dir" --parallel 2
  ctest --test-dir "$build_dir" --output-on-failure --timeout 1200
done

# The Go (cgo, also under -race) and C# (mono) bindings against the same library.
bindings/go/run-tests.sh "$lib_dir"
bindings/csharp/run-tests.sh "$lib_dir"
