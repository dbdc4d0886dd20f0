#!/usr/bin/env python3
"""Makes the I010 (yuv420p10le) cases of tests/data/faces_yuv from the faces set's frames.

  bench/setup-venv.sh                                   # numpy + onnxruntime (bench/.venv)
  bench/.venv/bin/python scripts/make-i010-cases.py     # [--ffmpeg PATH] [--model ONNX]

For each case below: the source frame of tests/data/faces (gray replicated, alpha dropped, BGR
swapped to RGB) -> Debian's ffmpeg CLI (libswscale, the same flags as the set's other ffmpeg cases,
-pix_fmt yuv420p10le) -> the three planes, optionally cut to an odd size and re-laid with padded
strides -> NAME.y.raw / NAME.u.raw / NAME.v.raw. The references come from yuv_oracle.py (the decode
definition: I010 samples clamped to 1023, / 4) and onnxruntime on its crops, mapped to frame pixels
as every other case of the set; the per-face sensitivity figures and the set's summaries are
recomputed the same way. manifest.json keeps every other case as it is; cases of the same name are
replaced, so running this again re-makes the same files (with the same ffmpeg build: the command and
version are recorded per case).
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACES = os.path.join(ROOT, "tests", "data", "faces")
OUT = os.path.join(ROOT, "tests", "data", "faces_yuv")
sys.path.insert(0, OUT)
import yuv_oracle as O  # noqa: E402  (the decode definition itself)

MATRIX = {1: ("bt709", "BT.709"), 5: ("bt601", "BT.601"), 9: ("bt2020", "BT.2020")}
RANGE = {1: ("tv", "limited"), 2: ("pc", "full")}

# name suffix _i010; matrix/range as H.273 codes; strides: None = contiguous as ffmpeg writes them,
# else bytes per row of Y, U, V (padding filled with seeded random bytes, so stray reads of it see
# samples far above 1023).
CASES = [
    dict(source="hopper128_rgb8_native", matrix=9, range=1, strides=None),
    dict(source="astronaut_bgr8_edge_left", matrix=1, range=2, strides=(640, 320, 352)),
    dict(source="obama_gray8_small36", matrix=5, range=1, strides=None),
]


def source_rgb(sc):
    """The faces set's frame as (h, w, 3) uint8 RGB."""
    n = {"RGB8": 3, "BGR8": 3, "RGBA8": 4, "BGRA8": 4, "GRAY8": 1}[sc["pixel_format"]]
    b = np.fromfile(os.path.join(FACES, sc["raw_file"]), np.uint8).reshape(sc["height"], sc["stride_bytes"])
    a = b[:, :sc["width"] * n].reshape(sc["height"], sc["width"], n)
    if n == 1:
        return np.repeat(a, 3, 2)
    a = a[..., :3]
    return np.ascontiguousarray(a[..., ::-1] if sc["pixel_format"].startswith("BGR") else a)


def ffmpeg_version(ffmpeg):
    line = subprocess.run([ffmpeg, "-version"], check=True, capture_output=True, text=True).stdout.splitlines()[0]
    return line.split(" Copyright")[0]


def ffmpeg_i010(ffmpeg, rgb, matrix, rng):
    """rgb (even h x w) -> (command, Y, U, V) as uint16 arrays, through the ffmpeg CLI."""
    h, w, _ = rgb.shape
    cmd = (f"ffmpeg -f rawvideo -pix_fmt rgb24 -s {w}x{h} -i INPUT.rgb -vf scale=out_color_matrix={MATRIX[matrix][0]}"
           f":out_range={RANGE[rng][0]}:flags=accurate_rnd+full_chroma_int+bitexact -pix_fmt yuv420p10le -f rawvideo OUTPUT.yuv")
    with tempfile.TemporaryDirectory() as t:
        src, dst = os.path.join(t, "INPUT.rgb"), os.path.join(t, "OUTPUT.yuv")
        rgb.tofile(src)
        argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"] + cmd.split()[1:]
        argv = [src if a == "INPUT.rgb" else dst if a == "OUTPUT.yuv" else a for a in argv]
        subprocess.run(argv, check=True)
        s = np.fromfile(dst, "<u2")
    cw, ch = (w + 1) // 2, (h + 1) // 2
    assert s.size == w * h + 2 * cw * ch, s.size
    y = s[:w * h].reshape(h, w)
    u = s[w * h:w * h + cw * ch].reshape(ch, cw)
    v = s[w * h + cw * ch:].reshape(ch, cw)
    assert int(s.max()) <= 1023
    return cmd, y, u, v


def rgb_crop(rgb, box):
    """The same crop rule on an RGB frame (bilinear at pixel centres, clamped taps, no antialiasing)."""
    x0, y0, side = O.crop_geom(box)
    t = (np.arange(192) + 0.5) * side / 192
    X, Y = np.meshgrid(x0 + t, y0 + t)
    p = rgb.astype(np.float64)
    out = np.stack([O.bilinear(p[..., k], X - 0.5, Y - 0.5) for k in range(3)], -1)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def crop_float32(planes, case, box):
    """The decode definition in float32 arithmetic (sensitivity variant float32_decode)."""
    f = np.float32
    x0, y0, side = O.crop_geom(box)
    t = (np.arange(192, dtype=f) + f(0.5)) * f(side) / f(192)
    X, Y = np.meshgrid(f(x0) + t, f(y0) + t)
    Yp, Up, Vp = (p.astype(f) for p in planes)

    def bil(p, xs, ys):
        H, W = p.shape
        fx, fy = np.floor(xs), np.floor(ys)
        ax, ay = xs - fx, ys - fy
        fx, fy = fx.astype(np.int64), fy.astype(np.int64)
        xa, xb = np.clip(fx, 0, W - 1), np.clip(fx + 1, 0, W - 1)
        ya, yb = np.clip(fy, 0, H - 1), np.clip(fy + 1, 0, H - 1)
        return (f(1) - ay) * ((f(1) - ax) * p[ya, xa] + ax * p[ya, xb]) + ay * ((f(1) - ax) * p[yb, xa] + ax * p[yb, xb])

    loc = case["chroma_location"]
    yv = bil(Yp, X - f(0.5), Y - f(0.5))
    cx = (X - f(0.5)) / f(2) if loc in (1, 3) else (X - f(1)) / f(2)
    cy = (Y - f(1)) / f(2) if loc in (1, 2) else (Y - f(0.5)) / f(2)
    u = bil(Up, cx, cy) - f(128)
    v = bil(Vp, cx, cy) - f(128)
    ky, yo, rv, gu, gv, bu = (f(c) for c in O.coeffs(case["color_matrix"], case["color_range"]))
    yy = ky * (yv - yo)
    rgb = np.stack([yy + rv * v, yy + gu * u + gv * v, yy + bu * u], -1)
    return np.clip(np.floor(rgb + f(0.5)), 0, 255).astype(np.uint8)


class Model:
    def __init__(self, path):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.runtime = f"onnxruntime {ort.__version__} CPUExecutionProvider, 1 thread, batch 1 per face"

    def run(self, crop, xywh):
        """-> (468 x 3 frame-pixel landmarks, face_score), mapped as the set's references."""
        lm, sc = self.sess.run(["landmarks", "face_score"],
                               {"input": (crop.astype(np.float32) / np.float32(255)).transpose(2, 0, 1)[None].copy()})
        x0, y0, s = xywh
        lm = lm[0].astype(np.float64)
        lm[:, 0] = x0 + lm[:, 0] * s / 192
        lm[:, 1] = y0 + lm[:, 1] * s / 192
        lm[:, 2] = lm[:, 2] * s / 192
        return lm, float(sc[0, 0])


def sensitivity(model, planes, case, box, xywh, ref, ref_score, iod):
    """The set's five variants: NME and |d face_score| vs the reference, crop pixel max/mean abs diff."""
    ref_crop = O.crop(planes, case, box).astype(np.int64)
    other = {1: 5, 5: 1, 9: 1}[case["color_matrix"]]
    variants = {
        "float32_decode": lambda: crop_float32(planes, case, box),
        "wrong_chroma_location": lambda: O.crop(planes, dict(case, chroma_location=2 if case["chroma_location"] != 2 else 1), box),
        "wrong_matrix": lambda: O.crop(planes, dict(case, color_matrix=other), box),
        "wrong_range": lambda: O.crop(planes, dict(case, color_range=3 - case["color_range"]), box),
        "convert_frame_then_rgb_crop": lambda: rgb_crop(O.decode_frame(planes, case), box),
    }
    out = {}
    for k, make in variants.items():
        cr = make()
        lm, sc = model.run(cr, xywh)
        d = np.abs(cr.astype(np.int64) - ref_crop)
        out[f"nme_{k}"] = round(O.nme(lm, ref, iod), 7)
        out[f"face_score_delta_{k}"] = round(abs(sc - ref_score), 7)
        out[f"px_maxdiff_{k}"] = int(d.max())
        out[f"px_meandiff_{k}"] = round(float(d.mean()), 4)
    return out


def relay(plane, stride, rng):
    """uint16 plane -> bytes of height*stride, samples first in each row, random padding after."""
    h, w = plane.shape
    buf = rng.integers(0, 256, size=(h, stride), dtype=np.uint8)
    buf[:, :2 * w] = np.ascontiguousarray(plane.astype("<u2")).view(np.uint8).reshape(h, 2 * w)
    return buf


def make_case(spec, sc, ffmpeg, version, model):
    name = spec["source"] + "_i010"
    rgb = source_rgb(sc)
    h, w = rgb.shape[:2]
    construction = [f"source case {sc['name']} of the public face set ({w}x{h} {sc['pixel_format']}, decoded to RGB"
                    + (", gray replicated" if sc["pixel_format"] == "GRAY8" else "") + ")"]
    # ffmpeg gets an even frame: an odd one is padded by repeating its last column/row, and the
    # padding is dropped from the output (chroma planes keep ceil(w/2) x ceil(h/2), so the last
    # chroma column/row covers one real luma column/row, as the definition sites it).
    ew, eh = w + (w & 1), h + (h & 1)
    even = np.pad(rgb, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
    cmd, y, u, v = ffmpeg_i010(ffmpeg, even, spec["matrix"], spec["range"])
    construction.append(f"encoded by Debian's ffmpeg ({version}): {cmd}")
    if (ew, eh) != (w, h):
        construction[-1:-1] = [f"padded to {ew}x{eh} for ffmpeg by repeating the last column/row"]
        construction.append(f"the padding dropped again: Y {w}x{h}, U and V {(w + 1) // 2}x{(h + 1) // 2}; boxes unchanged")
        y = y[:h, :w]
    planes16 = [("Y", "y", y), ("U", "u", u), ("V", "v", v)]
    strides = spec["strides"] or [2 * p.shape[1] for _, _, p in planes16]
    if spec["strides"]:
        construction.append("planes re-laid with padded strides (Y/U/V " + " / ".join(map(str, strides))
                            + " bytes; padding bytes random)")
    prng = np.random.default_rng(1010)
    man_planes = []
    for (content, ext, p), stride in zip(planes16, strides):
        f = f"{name}.{ext}.raw"
        relay(p, stride, prng).tofile(os.path.join(OUT, f))
        man_planes.append({"file": f, "content": content, "width": int(p.shape[1]), "height": int(p.shape[0]),
                           "bytes_per_sample": 2, "samples_per_pixel": 1, "row_bytes": 2 * int(p.shape[1]),
                           "stride_bytes": stride, "size_bytes": stride * int(p.shape[0])})
    case = {
        "name": name, "width": w, "height": h, "format": "I010", "planes": man_planes,
        "color_matrix": spec["matrix"], "color_range": spec["range"], "chroma_location": 2,
        "color_matrix_name": MATRIX[spec["matrix"]][1], "color_range_name": RANGE[spec["range"]][1],
        "chroma_location_name": "CENTER", "source_case": sc["name"], "license_status": sc["license_status"],
        "sources": sc["sources"],
        "encoder": {"kind": "ffmpeg", "version": version, "command": cmd,
                    "note": "libswscale, RGB input: chroma sited at CENTER (swscale default for 4:2:0 output); "
                            "yuv420p10le = I010: 10 significant LOW bits in 16-bit little-endian samples"
                            + ("" if spec["strides"] else "; planes written contiguously (stride = row bytes)")},
        "construction": construction,
    }
    planes = O.load_planes(OUT, case)
    d = np.abs(O.decode_frame(planes, case).astype(np.int64) - rgb)
    case["decoded_vs_source_rgb"] = {"mean_abs": round(float(d.mean()), 4), "max_abs": int(d.max())}
    boxes = []
    for i, sb in enumerate(sc["boxes"]):
        box = sb["box"]
        xywh = list(O.crop_geom(box))
        assert xywh == sb["crop_xywh"][:3]
        cr = O.crop(planes, case, box)
        lm, score = model.run(cr, xywh)
        iod = math.hypot(lm[33, 0] - lm[263, 0], lm[33, 1] - lm[263, 1])  # this reference's own, as the set
        rl, rs = model.run(rgb_crop(rgb, box), xywh)
        b = {
            "box": box, "crop_xywh": sb["crop_xywh"], "face_score": round(score, 6),
            "low_confidence": sb["low_confidence"], "inter_ocular": round(iod, 5),
            "rgb_crop_sha256": hashlib.sha256(cr.tobytes()).hexdigest(),
            "nme_vs_source_landmarks": round(O.nme(lm, sb["landmarks"], sb["inter_ocular"]), 6),
            "nme_vs_rgb_same_rule": round(O.nme(lm, rl, iod), 6),
            "face_score_rgb_same_rule": round(rs, 6),
            "sensitivity": sensitivity(model, planes, case, box, xywh, lm, score, iod),
            "landmarks": np.round(lm, 5).tolist(),
        }
        if i == 0:
            b["crop_file"] = f"{name}.face0.rgb"
            cr.tofile(os.path.join(OUT, b["crop_file"]))
        boxes.append(b)
    case["boxes"] = boxes
    return case


def stats(v):
    v = np.asarray(v, np.float64)
    r = lambda x: round(float(x), 6)  # noqa: E731
    return {"n": int(v.size), "mean": r(v.mean()), "median": r(np.median(v)), "p95": r(np.percentile(v, 95)), "max": r(v.max())}


def summaries(man):
    """sensitivity_summary and colour_conversion_summary over every face of the set."""
    boxes = [b for c in man["cases"] for b in c["boxes"]]
    confident = [b for b in boxes if b["face_score"] >= 0.9]
    keys = list(man["sensitivity_summary"].keys())
    s = {}
    for k in keys:
        if k.startswith("px_maxdiff"):
            s[k] = max(b["sensitivity"][k] for b in boxes)
        elif k.startswith("px_meandiff"):
            s[k] = round(float(np.mean([b["sensitivity"][k] for b in boxes])), 4)
        else:
            s[k] = {"all": stats([b["sensitivity"][k] for b in boxes]),
                    "face_score_ge_0_9": stats([b["sensitivity"][k] for b in confident])}
    man["sensitivity_summary"] = s
    man["colour_conversion_summary"] = {
        "nme_vs_source_landmarks": stats([b["nme_vs_source_landmarks"] for b in boxes]),
        "nme_vs_rgb_same_rule": stats([b["nme_vs_rgb_same_rule"] for b in boxes]),
        "nme_vs_rgb_same_rule_face_score_ge_0_9": stats([b["nme_vs_rgb_same_rule"] for b in confident]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ffmpeg", default="ffmpeg")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "face_landmark_468.onnx"))
    a = ap.parse_args()
    path = os.path.join(OUT, "manifest.json")
    man = json.load(open(path))
    with open(a.model, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == man["model"]["sha256"], "not the set's model"
    faces = {c["name"]: c for c in json.load(open(os.path.join(FACES, "manifest.json")))["cases"]}
    model = Model(a.model)
    version = ffmpeg_version(a.ffmpeg)
    made = [make_case(spec, faces[spec["source"]], a.ffmpeg, version, model) for spec in CASES]
    names = {c["name"] for c in made}
    man["cases"] = [c for c in man["cases"] if c["name"] not in names] + made
    summaries(man)
    with open(path, "w") as fh:
        fh.write(json.dumps(man, separators=(",", ":")))
    for c in made:
        for b in c["boxes"]:
            print(f"{c['name']:32s} {c['width']}x{c['height']} score {b['face_score']:.6f} iod {b['inter_ocular']:.3f} "
                  f"nme_vs_rgb {b['nme_vs_rgb_same_rule'] * 100:.3f}% nme_vs_source {b['nme_vs_source_landmarks'] * 100:.3f}% "
                  f"decoded_vs_source mean {c['decoded_vs_source_rgb']['mean_abs']}")


if __name__ == "__main__":
    main()
