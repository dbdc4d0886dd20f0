#!/usr/bin/env bash
# Makes target/convention-venv (if missing) with what scripts/make-convention-models.py needs
# (scripts/convention-requirements.txt: onnx, numpy). Prints the venv's python, the value
# tests/conventions.rs reads from LMBATCH_CONVENTION_PYTHON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/convention-venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$root/scripts/convention-requirements.txt" >&2
echo "$venv/bin/python"
