#!/usr/bin/env python3
"""Writes models/face_landmark_468_u8.onnx: the bundled landmark model wrapped to take the staged
crops as they are, uint8 [N,192,192,3] RGB (NHWC), so that a remote server receives 110,592 bytes
a face instead of 442,368. Inside the graph: Cast to float32, x (1/255), Transpose to NCHW, then
the original network. Checks the result against the original with onnxruntime (when installed).

usage: python3 scripts/make-u8-model.py [ORIGINAL.onnx] [OUT.onnx]   (needs the `onnx` package)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "face_landmark_468.onnx")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "models", "face_landmark_468_u8.onnx")
SIDE = 192


def wrap(model):
    graph = model.graph
    (original_input,) = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    inner = original_input.name + "_f32_nchw"
    # The original network now reads the converted tensor.
    for node in graph.node:
        node.input[:] = [inner if name == original_input.name else name for name in node.input]
    scale = numpy_helper.from_array(np.array(1.0 / 255.0, dtype=np.float32), "u8_scale")
    graph.initializer.append(scale)
    front = [
        helper.make_node("Cast", [original_input.name], ["u8_as_f32"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["u8_as_f32", "u8_scale"], ["u8_scaled"]),
        helper.make_node("Transpose", ["u8_scaled"], [inner], perm=[0, 3, 1, 2]),
    ]
    nodes = front + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    new_input = helper.make_tensor_value_info(
        original_input.name, TensorProto.UINT8, ["N", SIDE, SIDE, 3])
    graph.input.remove(original_input)
    graph.input.insert(0, new_input)
    for out in graph.output:
        out.type.tensor_type.shape.dim[0].dim_param = "N"
    model.doc_string = ("MediaPipe Face Mesh landmarks (see models/README.md), wrapped by "
                        "scripts/make-u8-model.py to take uint8 NHWC crops")
    return model


def check(original_path, wrapped_path):
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: equality not checked")
        return
    rng = np.random.default_rng(7)
    crops = rng.integers(0, 256, size=(4, SIDE, SIDE, 3), dtype=np.uint8)
    a = ort.InferenceSession(original_path, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(wrapped_path, providers=["CPUExecutionProvider"])
    planar = (crops.astype(np.float32) * np.float32(1.0 / 255.0)).transpose(0, 3, 1, 2)
    ra = a.run(None, {a.get_inputs()[0].name: np.ascontiguousarray(planar)})
    rb = b.run(None, {b.get_inputs()[0].name: crops})
    worst = max(float(np.abs(x - y).max()) for x, y in zip(ra, rb))
    print(f"wrapped vs original on 4 random crops: max |difference| {worst:.3g}")
    if worst > 1e-4:
        raise SystemExit("the wrapped model differs from the original by more than 1e-4")


def main():
    model = wrap(onnx.load(SRC))
    onnx.checker.check_model(model)
    onnx.save(model, OUT)
    print(f"wrote {OUT}: input {model.graph.input[0].name} uint8 [N,{SIDE},{SIDE},3]")
    check(SRC, OUT)


if __name__ == "__main__":
    main()
