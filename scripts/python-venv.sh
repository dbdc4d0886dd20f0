#!/usr/bin/env bash
# Makes target/python-venv (if missing) with what the Python package's build and tests need
# (bindings/python/requirements-dev.txt: maturin, pytest, mypy, numpy). Prints the venv's python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/python-venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$root/bindings/python/requirements-dev.txt" >&2
echo "$venv/bin/python"
