#!/usr/bin/env bash
# Makes target/remote-venv (if missing) with the real Open Inference Protocol servers the REMOTE
# tests run against (tests/remote_servers/requirements.txt): Triton from nvidia-pytriton, MLServer,
# onnxruntime. Prints the venv's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/remote-venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$root/tests/remote_servers/requirements.txt" >&2
echo "$venv"
