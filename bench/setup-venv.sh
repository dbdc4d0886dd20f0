#!/usr/bin/env bash
# Create bench/.venv (if missing) and install the pinned Python peers' dependencies.
# Prints the onnxruntime and openvino versions and the absolute paths of the libonnxruntime.so*
# and libopenvino_c.so* shipped inside the wheels (the Rust side loads them at run time).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements.txt"

"$VENV/bin/python" - <<'PY'
import glob, os
import onnxruntime
capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
libs = sorted(p for p in glob.glob(os.path.join(capi, "libonnxruntime.so*"))
              if "providers" not in os.path.basename(p))
print("onnxruntime", onnxruntime.__version__)
if not libs:
    raise SystemExit("libonnxruntime.so* not found under " + capi)
for p in libs:
    print("libonnxruntime:", os.path.realpath(p))
import openvino
ov_libs = sorted(glob.glob(os.path.join(os.path.dirname(openvino.__file__), "libs", "libopenvino_c.so*")))
print("openvino", openvino.__version__)
if not ov_libs:
    raise SystemExit("libopenvino_c.so* not found in the openvino wheel")
for p in ov_libs:
    print("libopenvino_c:", os.path.realpath(p))
PY
