#!/usr/bin/env bash
# Runs tests/remote_real.rs against REAL Open Inference Protocol servers on 127.0.0.1: Triton (the
# tritonserver binary of the nvidia-pytriton wheel, model run by a Python callable over
# onnxruntime) and MLServer (a small custom runtime over onnxruntime), and a second Triton that
# serves gRPC over TLS with a server certificate made here, for this run, by a test CA (openssl
# CLI); and, where LMBATCH_PYTHON names a Python with the package installed, its REMOTE tests.
# Starts each server in its own process group, hands the test its PID (the failover test
# stops Triton by that PID mid-stream), and stops whatever is left by PID on exit.
#
# Without the servers' packages (no venv and LMBATCH_REMOTE_VENV unset) the tests are skipped
# with the reason, unless LMBATCH_REQUIRE_REMOTE_SERVERS=1 (as .ci/run sets): then it fails.
# usage: scripts/test-remote-servers.sh [VENV]   (scripts/remote-venv.sh makes one)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${LMBATCH_REMOTE_VENV:-$root/target/remote-venv}}"
py="$venv/bin/python"
# (pytriton and mlserver each register protobuf package `inference`: import them apart.)
if ! [ -x "$py" ] || ! "$py" -c "import pytriton, onnxruntime" 2>/dev/null \
   || ! "$py" -c "import mlserver" 2>/dev/null || ! command -v openssl >/dev/null; then
  why="no venv with nvidia-pytriton, mlserver and onnxruntime at $venv (make one with scripts/remote-venv.sh), or no openssl (scripts/system-packages.txt)"
  if [ "${LMBATCH_REQUIRE_REMOTE_SERVERS:-0}" = 1 ]; then
    echo "remote servers: $why" >&2
    exit 1
  fi
  echo "remote servers: SKIPPED: $why"
  exit 0
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    # Each server leads its own process group (setsid): stop the group, then make sure.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
model="$root/models/face_landmark_468_u8.onnx"
libdir="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"

# Triton (pytriton): its Python backend stub needs this Python's libpython.
tg="$(free_port)"; th="$(free_port)"; tm="$(free_port)"
# The plain Triton also serves the shipped 478-point model as its descriptor describes it.
LMBATCH_MODEL_478="$root/models/face_landmarks_478.onnx" \
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" setsid "$py" \
  "$root/tests/remote_servers/pytriton_server.py" "$tg" "$th" "$tm" "$model" \
  >"$work/triton.log" 2>&1 &
triton_pid=$!
pids+=("$triton_pid")

# Triton over TLS: a test CA, a certificate for 127.0.0.1 signed by it, and an unrelated CA (the
# wrong one a test trusts).
tls="$work/tls"
mkdir -p "$tls"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tls/leaf.ext"
for ca in ca wrong-ca; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=lmbatch test $ca" \
    -keyout "$tls/$ca.key" -out "$tls/$ca.pem" 2>/dev/null
done
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/key.pem" \
  -out "$tls/leaf.csr" 2>/dev/null
openssl x509 -req -in "$tls/leaf.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
  -days 1 -extfile "$tls/leaf.ext" -out "$tls/cert.pem" 2>/dev/null
sg="$(free_port)"; sh="$(free_port)"; sm="$(free_port)"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" setsid "$py" \
  "$root/tests/remote_servers/pytriton_server.py" "$sg" "$sh" "$sm" "$model" \
  "$tls/cert.pem" "$tls/key.pem" >"$work/triton-tls.log" 2>&1 &
triton_tls_pid=$!
pids+=("$triton_tls_pid")

# MLServer: the served model and one of the wrong shape (for the MODEL_ERROR test).
mg="$(free_port)"; mh="$(free_port)"; mm="$(free_port)"
repo="$work/mlserver"
for name in face_landmark_u8 face_landmark_wrong_shape; do
  mkdir -p "$repo/$name"
  cp "$root/tests/remote_servers/mlserver/runtime.py" "$repo/$name/"
  sed -e "s|MODEL_PATH|$model|" -e "s|\"face_landmark_u8\"|\"$name\"|" \
    "$root/tests/remote_servers/mlserver/model-settings.json" >"$repo/$name/model-settings.json"
done
sed -i 's|\[-1, 192, 192, 3\]|[-1, 224, 224, 3]|' "$repo/face_landmark_wrong_shape/model-settings.json"
cat >"$repo/settings.json" <<JSON
{"host": "127.0.0.1", "http_port": $mh, "grpc_port": $mg, "metrics_port": $mm,
 "parallel_workers": 0, "grpc_max_message_length": 67108864, "debug": false}
JSON
(cd "$repo" && exec setsid "$venv/bin/mlserver" start . >"$work/mlserver.log" 2>&1) &
mlserver_pid=$!
pids+=("$mlserver_pid")

wait_ready() { # NAME PORT [CA.pem: TLS]
  for _ in $(seq 1 180); do
    if "$py" - "$2" "${3:-}" <<'PY' 2>/dev/null; then return 0; fi
import sys, tritonclient.grpc as g
ca = sys.argv[2]
c = g.InferenceServerClient(f"127.0.0.1:{sys.argv[1]}", ssl=bool(ca), root_certificates=ca or None)
sys.exit(0 if c.is_model_ready("face_landmark_u8") else 1)
PY
    sleep 0.5
  done
  echo "$1 did not get ready; its log:" >&2
  tail -40 "$work/$1.log" >&2
  return 1
}
wait_ready triton "$tg"
wait_ready mlserver "$mg"
wait_ready triton-tls "$sg" "$tls/ca.pem"
echo "remote servers: triton 127.0.0.1:$tg (pid $triton_pid), mlserver 127.0.0.1:$mg (pid $mlserver_pid), triton over TLS 127.0.0.1:$sg (pid $triton_tls_pid)"

ort="$("$py" -c 'import glob, os, onnxruntime as o; d=os.path.join(os.path.dirname(o.__file__), "capi"); print(sorted(p for p in glob.glob(d + "/libonnxruntime.so*") if "providers" not in p)[0])')"
export LMBATCH_TRITON_URL="http://127.0.0.1:$tg" LMBATCH_TRITON_PGID="$triton_pid" \
  LMBATCH_MLSERVER_URL="http://127.0.0.1:$mg" ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ort}" \
  LMBATCH_TRITON_TLS_URL="https://127.0.0.1:$sg" LMBATCH_TLS_CA="$tls/ca.pem" \
  LMBATCH_TLS_WRONG_CA="$tls/wrong-ca.pem"
# The tests are #[ignore]d (a plain cargo test must not count them as passed): run them here with
# --ignored, and require that they really ran. The failover test stops Triton: it runs last, alone.
run_real() {
  local expect="$1"; shift
  local log="$work/cargo-test.log"
  cargo test --locked --test remote_real -- --ignored --nocapture "$@" 2>&1 | tee "$log"
  grep -q "test result: ok. $expect passed" "$log" || {
    echo "remote servers: expected $expect real-server tests to pass" >&2
    return 1
  }
}
run_real 6 --test-threads=1 --skip stopping_triton
# The Python package's backend="remote" against the same servers, where scripts/test.sh installed
# it (LMBATCH_PYTHON: that venv's python), before the failover test stops Triton.
if [ -n "${LMBATCH_PYTHON:-}" ]; then
  (cd "$root" && "$LMBATCH_PYTHON" -m pytest -q -rs -s -p no:cacheprovider \
    bindings/python/tests/test_remote.py) 2>&1 | tee "$work/pytest.log"
  grep -q "^4 passed" "$work/pytest.log" || {
    echo "remote servers: expected the Python package's 4 REMOTE tests to pass" >&2
    exit 1
  }
fi
run_real 1 --exact stopping_triton_mid_stream_fails_over_to_mlserver_losing_nothing
