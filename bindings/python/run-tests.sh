#!/usr/bin/env bash
# Builds the Python package's wheel (maturin build --release: abi3, CPython >= 3.9), installs it
# into the venv of scripts/python-venv.sh, and runs its pytest tests and mypy --strict over the
# stubs, the tests, the bench and examples/python. Works from any directory.
#   bindings/python/run-tests.sh [pytest args...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="$("$root/scripts/python-venv.sh")"
venv_bin="$(dirname "$python")"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
wheels="$target_dir/python-wheels"
rm -rf "$wheels"
# maturin takes the target dir from CARGO_TARGET_DIR, so the Rust build is shared with cargo's.
# Not --locked: the extension's Cargo.lock pins what it has, and takes what a new dependency of the
# root crate adds (its own lock is the root's plus PyO3's; a root change need not touch it).
(cd "$here" && "$venv_bin/maturin" build --release --interpreter "$python" --out "$wheels")
"$python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheels"/lmbatch-*.whl
# From outside the source tree, so the installed wheel (not python/lmbatch) is what is imported.
cd "$root"
"$python" -m pytest -q -rs "$here/tests" -p no:cacheprovider "$@"
"$python" -m mypy --strict --no-incremental --cache-dir=/dev/null \
  "$here/tests" "$here/bench" "$root/examples/python"
# The package's own Python (with the stubs of its native module), as its source.
(cd "$here/python" && "$python" -m mypy --strict --no-incremental --cache-dir=/dev/null -p lmbatch)
"$python" "$root/examples/python/camera_worker.py" --frames 5
