#!/usr/bin/env python3
"""Writes the bundled landmark network wrapped in graph ops, once per descriptor convention, each
with its descriptor beside it (the sidecar `<name>.lmbatch.toml`), for tests/conventions.rs.

Every wrapper converts its own convention to the bundled model's input (float32 NCHW RGB, byte/255)
in front of the network and its outputs from the bundled ones (landmarks [N,468,3] in input px,
face_score [N,1] a probability) behind it, so a correct descriptor must give the bundled model's
points. The tensors are renamed (image, points, score): only the descriptor can say what they are.

usage: python3 scripts/make-convention-models.py OUT_DIR [ORIGINAL.onnx]   (needs `onnx`, `numpy`)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE = 192

# The bundled model's descriptor with the names a wrapper uses; {…} fields are per convention.
DESCRIPTOR = """\
# Written by scripts/make-convention-models.py: {what}
[input]
name = "image"
size = [{width}, {height}]
layout = "{layout}"
dtype = "{dtype}"
channels = "{channels}"
mean = {mean}
std = {std}
transpose = {transpose}

[crop]
scale = 1.5
rotate = true

[points]
output = "points"
count = 468
dims = {dims}
order = "{order}"
space = "{space}"
{score}
[scheme]
name = "mediapipe468"
"""

SCORE = """
[score]
output = "score"
kind = "{kind}"
index = {index}
"""


class Wrapper:
    """The bundled graph with its input and outputs renamed to inner names; `front` and `back`
    add the ops that make the convention."""

    def __init__(self, path):
        self.model = onnx.load(path)
        g = self.model.graph
        # The network reads "inner_input"; "inner_landmarks" and "inner_score" are its results.
        rename = {"input": "inner_input", "landmarks": "inner_landmarks", "face_score": "inner_score"}
        for node in g.node:
            node.input[:] = [rename.get(n, n) for n in node.input]
            node.output[:] = [rename.get(n, n) for n in node.output]
        (sigmoid,) = [n for n in g.node if "inner_score" in n.output]
        assert sigmoid.op_type == "Sigmoid", sigmoid.op_type
        self.logit = sigmoid.input[0]  # the presence logit the bundled Sigmoid reads
        self.front, self.back = [], []
        del g.input[:]
        del g.output[:]
        self.count = 0

    def const(self, values, dtype=np.float32):
        self.count += 1
        name = f"conv_const_{self.count}"
        self.model.graph.initializer.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def op(self, where, op_type, inputs, output, **attrs):
        where.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def finish(self, input_type, input_shape, points_shape, score_shape):
        g = self.model.graph
        nodes = self.front + list(g.node) + self.back
        del g.node[:]
        g.node.extend(nodes)
        g.input.append(helper.make_tensor_value_info("image", input_type, input_shape))
        g.output.append(helper.make_tensor_value_info("points", TensorProto.FLOAT, points_shape))
        if score_shape is not None:
            g.output.append(helper.make_tensor_value_info("score", TensorProto.FLOAT, score_shape))
        self.model.doc_string = "the bundled landmark model wrapped by scripts/make-convention-models.py"
        onnx.checker.check_model(self.model)
        return self.model


# Each convention: what the front takes and does, what the back gives. Front ops end in
# "inner_input" (float32 NCHW RGB /255); back ops start from "inner_landmarks" / the logit.
def build(path, conv):
    w = Wrapper(path)
    f, b = w.front, w.back
    layout, dtype, channels = conv.get("layout", "NCHW"), conv.get("dtype", "f32"), conv.get("channels", "RGB")
    mean, std = conv.get("mean", [0.0] * 3), conv.get("std", [255.0] * 3)
    width, height = conv.get("size", [SIDE, SIDE])
    x = "image"
    if dtype == "f16":
        x = w.op(f, "Cast", [x], "front_f32", to=TensorProto.FLOAT)
    if dtype == "u8":
        x = w.op(f, "Cast", [x], "front_cast", to=TensorProto.FLOAT)
        x = w.op(f, "Mul", [x, w.const(1.0 / 255.0)], "front_scaled")
    elif mean != [0.0] * 3 or std != [255.0] * 3:
        # value = (byte − mean) / std back to byte / 255: × (std / 255) + mean / 255, per channel.
        shape = [1, 3, 1, 1] if layout == "NCHW" else [1, 1, 1, 3]
        scale = np.array(std, np.float32).reshape(shape) / np.float32(255.0)
        offset = np.array(mean, np.float32).reshape(shape) / np.float32(255.0)
        x = w.op(f, "Mul", [x, w.const(scale)], "front_unscaled")
        x = w.op(f, "Add", [x, w.const(offset)], "front_unshifted")
    if layout == "NHWC":
        x = w.op(f, "Transpose", [x], "front_nchw", perm=[0, 3, 1, 2])
    if conv.get("transpose"):
        # The tensor's rows are the crop's columns: swap H and W back.
        x = w.op(f, "Transpose", [x], "front_untransposed", perm=[0, 1, 3, 2])
    if channels == "BGR":
        x = w.op(f, "Gather", [x, w.const([2, 1, 0], np.int64)], "front_rgb", axis=1)
    if (width, height) != (SIDE, SIDE):
        # The square crop sampled at width x height, resampled to the network's 192 x 192
        # (linear, half-pixel centres: the same crop positions, interpolated once more).
        scales = w.const([1.0, 1.0, SIDE / height, SIDE / width])
        x = w.op(f, "Resize", [x, "", scales], "front_square", mode="linear",
                 coordinate_transformation_mode="half_pixel")
    w.op(f, "Identity", [x], "inner_input")

    p = "inner_landmarks"  # [N, 468, 3] in input px
    if (width, height) != (SIDE, SIDE):
        # To pixels of the width x height input: x (and z, on x's scale) by width, y by height.
        p = w.op(b, "Mul", [p, w.const([width / SIDE, height / SIDE, width / SIDE])], "back_wide")
    space, dims, order = conv.get("space", "input_px"), conv.get("dims", 3), conv.get("order", "interleaved")
    if space == "unit":
        p = w.op(b, "Mul", [p, w.const([1.0 / width, 1.0 / height, 1.0 / width])], "back_unit")
    elif space == "signed_unit":
        # x, y: v / (side / 2) − 1; z on x's scale: z / (width / 2).
        p = w.op(b, "Mul", [p, w.const([2.0 / width, 2.0 / height, 2.0 / width])], "back_half")
        p = w.op(b, "Sub", [p, w.const([1.0, 1.0, 0.0])], "back_signed")
    if dims == 2:
        p = w.op(b, "Slice", [p, w.const([0], np.int64), w.const([2], np.int64), w.const([2], np.int64)],
                 "back_xy")
    if order == "planar":
        p = w.op(b, "Transpose", [p], "back_planar", perm=[0, 2, 1])
    w.op(b, "Identity", [p], "points")
    points_shape = ["N", dims, 468] if order == "planar" else ["N", 468, dims]

    kind = conv.get("score", "probability")
    score_shape = ["N", 1]
    if kind == "probability":
        w.op(b, "Identity", ["inner_score"], "score")
    elif kind == "logit":
        w.op(b, "Identity", [w.logit], "score")
    elif kind == "softmax":
        # [background, face] logits whose softmax column 1 is sigmoid(logit): [0, logit].
        zero = w.op(b, "Sub", [w.logit, w.logit], "back_zero")
        w.op(b, "Concat", [zero, w.logit], "score", axis=1)
        score_shape = ["N", 2]
    else:
        score_shape = None

    input_type = {"u8": TensorProto.UINT8, "f16": TensorProto.FLOAT16}.get(dtype, TensorProto.FLOAT)
    rows, columns = (width, height) if conv.get("transpose") else (height, width)
    input_shape = ["N", rows, columns, 3] if layout == "NHWC" else ["N", 3, rows, columns]
    model = w.finish(input_type, input_shape, points_shape, score_shape)
    if kind == "none":
        # The bundled score branch now leads nowhere; drop the nodes no output needs.
        model = prune(model)

    fmt = lambda v: "[" + ", ".join(f"{float(x)}" for x in v) + "]"
    score = "" if kind == "none" else SCORE.format(kind=kind, index=1 if kind == "softmax" else 0)
    desc = DESCRIPTOR.format(
        what=conv["what"], width=width, height=height, layout=layout, dtype=dtype, channels=channels, mean=fmt(mean), std=fmt(std),
        transpose=str(bool(conv.get("transpose"))).lower(), dims=dims, order=order, space=space,
        score=score)
    return model, desc


def prune(model):
    g = model.graph
    needed = {o.name for o in g.output}
    kept = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    del g.node[:]
    g.node.extend(reversed(kept))
    used = {i for n in g.node for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    onnx.checker.check_model(model)
    return model


# One model per convention (the rest stays the bundled one's), and one with many at once.
CONVENTIONS = {
    "nhwc": {"what": "NHWC input", "layout": "NHWC"},
    "bgr": {"what": "BGR channel order", "channels": "BGR"},
    "signed_input": {"what": "input (byte - 127.5) / 127.5", "mean": [127.5] * 3, "std": [127.5] * 3},
    "u8": {"what": "uint8 input (NCHW)", "dtype": "u8", "std": [1.0] * 3},
    "f16": {"what": "float16 input (byte / 255)", "dtype": "f16"},
    "transposed": {"what": "transposed input (rows = x)", "transpose": True},
    "planar": {"what": "planar point order", "order": "planar"},
    "unit": {"what": "points in [0,1] of the crop", "space": "unit"},
    "signed_unit": {"what": "points in [-1,1] of the crop", "space": "signed_unit"},
    "logit": {"what": "a logit score", "score": "logit"},
    "softmax": {"what": "a [N,2] background/face softmax score, column 1", "score": "softmax"},
    "no_score": {"what": "no score output", "score": "none"},
    "xy_only": {"what": "2-D points (x, y only)", "dims": 2},
    "wide": {"what": "a 256 x 192 input (the square crop sampled wider than high)", "size": [256, 192]},
    "wide_transposed_unit": {
        "what": "a 256 x 192 input, transposed, NHWC, points in [0,1]",
        "size": [256, 192], "transpose": True, "layout": "NHWC", "space": "unit",
    },
    "combined": {
        "what": "NHWC, BGR, per-channel mean/std, transposed, planar, signed_unit, softmax",
        "layout": "NHWC", "channels": "BGR", "mean": [123.7, 116.3, 103.5], "std": [58.4, 57.1, 57.4],
        "transpose": True, "order": "planar", "space": "signed_unit", "score": "softmax",
    },
}


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "models", "face_landmark_468.onnx")
    os.makedirs(out, exist_ok=True)
    for name, conv in CONVENTIONS.items():
        model, desc = build(src, conv)
        onnx.save(model, os.path.join(out, f"{name}.onnx"))
        with open(os.path.join(out, f"{name}.lmbatch.toml"), "w") as f:
            f.write(desc)
        print(f"wrote {name}.onnx: {conv['what']}")


if __name__ == "__main__":
    main()
