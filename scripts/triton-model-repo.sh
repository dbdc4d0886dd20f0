#!/usr/bin/env bash
# Writes a ready Triton model repository for LM_BACKEND_REMOTE.
#
#   scripts/triton-model-repo.sh OUT
#     The bundled model as its uint8 wrapper (what REMOTE sends as it is, 110,592 bytes a face):
#     OUT/face_landmark_u8/config.pbtxt and OUT/face_landmark_u8/1/model.onnx
#     (models/face_landmark_468_u8.onnx).
#
#   scripts/triton-model-repo.sh OUT MODEL.onnx [DESCRIPTOR.lmbatch.toml] [NAME]
#     A described model (docs/models.md): OUT/NAME/config.pbtxt and OUT/NAME/1/model.onnx. NAME
#     defaults to the model file's stem, the descriptor to its sidecar <stem>.lmbatch.toml. The
#     input comes from the descriptor (input.name, dtype, size, layout, channels, transpose) and
#     is checked against the ONNX; the outputs points.output and score.output take the ONNX's
#     shapes. REMOTE then checks the served ModelMetadata against the same descriptor; give
#     lm_create the same descriptor (model_desc_path) and remote_model = NAME. Needs a Python
#     with `onnx` (PYTHON=...; scripts/convention-venv.sh makes one) for the ONNX shapes.
#
# Serve it with:  tritonserver --model-repository OUT   (gRPC on :8001)
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 4 ]; then
  echo "usage: $0 OUT [MODEL.onnx [DESCRIPTOR.lmbatch.toml] [NAME]]" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"

# Batches from many lmbatch clients (each sending up to 32 faces, two requests in flight) are
# merged by Triton; the queue delay is short so a lone face is not held back.
batching='dynamic_batching {
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
]'

if [ $# -ge 2 ]; then
  onnx_file="$2"
  stem="$(basename "$onnx_file" .onnx)"
  desc="${3:-$(dirname "$onnx_file")/$stem.lmbatch.toml}"
  name="${4:-$stem}"
  py="${PYTHON:-python3}"
  if ! "$py" -c "import onnx, tomllib" 2>/dev/null; then
    echo "$0: $py lacks the onnx package (or is older than 3.11): set PYTHON to one that has it (scripts/convention-venv.sh prints one)" >&2
    exit 1
  fi
  [ -f "$desc" ] || { echo "$0: no descriptor $desc (give it as the third argument)" >&2; exit 1; }
  model="$out/$name"
  mkdir -p "$model/1"
  cp "$onnx_file" "$model/1/model.onnx"
  "$py" - "$onnx_file" "$desc" "$name" >"$model/config.pbtxt" <<'PY'
import sys, tomllib
import onnx

onnx_path, desc_path, name = sys.argv[1:4]
with open(desc_path, "rb") as f:
    d = tomllib.load(f)
graph = onnx.load(onnx_path, load_external_data=False).graph
fail = lambda why: sys.exit(f"{desc_path}: {why}")
i = d["input"]
width, height = i["size"]
channels = 1 if i["channels"] == "GRAY" else 3
rows, columns = (width, height) if i.get("transpose") else (height, width)
dims = [channels, rows, columns] if i["layout"] == "NCHW" else [rows, columns, channels]
dtype = {"f32": "TYPE_FP32", "f16": "TYPE_FP16", "u8": "TYPE_UINT8"}[i["dtype"]]
onnx_dtype = {"f32": onnx.TensorProto.FLOAT, "f16": onnx.TensorProto.FLOAT16,
              "u8": onnx.TensorProto.UINT8}[i["dtype"]]

def shape(t):
    return [d.dim_value if d.HasField("dim_value") else -1 for d in t.type.tensor_type.shape.dim]

def tensor(tensors, tname, key):
    found = [t for t in tensors if t.name == tname]
    if not found:
        fail(f"{key} = {tname!r} is not in the model (it has {[t.name for t in tensors]})")
    s = shape(found[0])
    if not s or s[0] != -1:
        fail(f"{key} = {tname!r} has shape {s}: Triton batches it only with a dynamic batch dimension first")
    return found[0], s

t, s = tensor(graph.input, i["name"], "input.name")
if t.type.tensor_type.elem_type != onnx_dtype:
    fail(f"input.dtype = {i['dtype']!r}, but the model's input {i['name']!r} has ONNX type {t.type.tensor_type.elem_type}")
if any(v != -1 and v != w for v, w in zip(s[1:], dims)) or len(s) != 4:
    fail(f"input.size, layout, channels and transpose give [N, {', '.join(map(str, dims))}], but the model's input is {s}")
outputs = [(d["points"]["output"], "points.output")]
if "score" in d:
    outputs.append((d["score"]["output"], "score.output"))
fmt = lambda v: ", ".join(str(x) for x in v)
print(f"# {name}: {onnx_path} as its descriptor {desc_path} describes it, written by")
print("# scripts/triton-model-repo.sh; LM_BACKEND_REMOTE checks the served metadata against it.")
print(f'name: "{name}"')
print('backend: "onnxruntime"')
print("max_batch_size: 32")
print("input [")
print(f'  {{\n    name: "{i["name"]}"\n    data_type: {dtype}\n    dims: [ {fmt(dims)} ]\n  }}')
print("]")
print("output [")
entries = []
for oname, key in outputs:
    _, os_ = tensor(graph.output, oname, key)
    if any(v < 0 for v in os_[1:]):
        fail(f"{key} = {oname!r} has shape {os_}: only the batch dimension may be dynamic")
    entries.append(f'  {{\n    name: "{oname}"\n    data_type: TYPE_FP32\n    dims: [ {fmt(os_[1:])} ]\n  }}')
print(",\n".join(entries))
print("]")
PY
  echo "$batching" >>"$model/config.pbtxt"
  echo "wrote $model (serve with: tritonserver --model-repository $out; remote_model = \"$name\")"
  exit 0
fi

model="$out/face_landmark_u8"
mkdir -p "$model/1"
cp "$root/models/face_landmark_468_u8.onnx" "$model/1/model.onnx"
cat > "$model/config.pbtxt" <<PBTXT
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
$batching
PBTXT
echo "wrote $model (serve with: tritonserver --model-repository $out)"
