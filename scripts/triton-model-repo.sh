#!/usr/bin/env bash
# Writes a ready Triton model repository for LM_BACKEND_REMOTE:
#   OUT/face_landmark_u8/config.pbtxt
#   OUT/face_landmark_u8/1/model.onnx   (models/face_landmark_468_u8.onnx: uint8 NHWC crops in)
# Serve it with:  tritonserver --model-repository OUT   (gRPC on :8001)
# usage: scripts/triton-model-repo.sh OUT
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
model="$out/face_landmark_u8"
mkdir -p "$model/1"
cp "$root/models/face_landmark_468_u8.onnx" "$model/1/model.onnx"
cat > "$model/config.pbtxt" <<'PBTXT'
# lmbatch's face landmark model (MediaPipe Face Mesh, 468 points), taking the uint8 crops that
# LM_BACKEND_REMOTE sends as they are: 110,592 bytes a face.
name: "face_landmark_u8"
backend: "onnxruntime"
max_batch_size: 32
input [
  {
    name: "input"
    data_type: TYPE_UINT8
    dims: [ 192, 192, 3 ]
  }
]
output [
  {
    name: "landmarks"
    data_type: TYPE_FP32
    dims: [ 468, 3 ]
  },
  {
    name: "face_score"
    data_type: TYPE_FP32
    dims: [ 1 ]
  }
]
# Batches from many lmbatch clients (each sending up to 32 faces, two requests in flight) are
# merged here; the queue delay is short so a lone face is not held back.
dynamic_batching {
  preferred_batch_size: [ 32 ]
  max_queue_delay_microseconds: 500
}
# One model instance on each GPU. On a server without a GPU, use instead:
#   instance_group [ { count: 2, kind: KIND_CPU } ]
instance_group [
  {
    count: 1
    kind: KIND_GPU
  }
]
PBTXT
echo "wrote $model (serve with: tritonserver --model-repository $out)"
