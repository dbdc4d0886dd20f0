"""The vendored evaluation sets (tests/data/faces, tests/data/faces_yuv) as numpy arrays, and
NME as the Rust tests compute it (tests/common/mod.rs, tests/yuv.rs): mean 2-D point distance
to the reference over the inter-ocular distance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import numpy.typing as npt

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"

CHANNELS = {"BGR8": 3, "RGB8": 3, "BGRA8": 4, "RGBA8": 4, "GRAY8": 1}
FMT = {"BGR8": "bgr", "RGB8": "rgb", "BGRA8": "bgra", "RGBA8": "rgba", "GRAY8": "gray"}


@dataclass
class Face:
    case: str
    frame: npt.NDArray[np.uint8]
    fmt: str
    box: Tuple[float, float, float, float]
    reference: npt.NDArray[np.float64]
    inter_ocular: float
    face_score: float
    low_confidence: bool = False

    def nme(self, points: npt.NDArray[np.float32]) -> float:
        d = np.hypot(points[:, 0] - self.reference[:, 0], points[:, 1] - self.reference[:, 1])
        return float(d.mean() / self.inter_ocular)


def frame_view(raw: bytes, width: int, height: int, stride: int, channels: int) -> npt.NDArray[np.uint8]:
    """The frame as the raw file stores it (padded rows included), viewed without a copy."""
    buffer = np.frombuffer(raw, dtype=np.uint8)
    if channels == 1:
        return np.lib.stride_tricks.as_strided(buffer, (height, width), (stride, 1))
    return np.lib.stride_tricks.as_strided(
        buffer, (height, width, channels), (stride, channels, 1)
    )


def eval_faces() -> List[Face]:
    folder = DATA / "faces"
    manifest = json.loads((folder / "manifest.json").read_text())
    faces = []
    for case in manifest["cases"]:
        name = case["pixel_format"]
        frame = frame_view(
            (folder / case["raw_file"]).read_bytes(),
            case["width"],
            case["height"],
            case["stride_bytes"],
            CHANNELS[name],
        )
        for b in case["boxes"]:
            faces.append(
                Face(
                    case=case["name"],
                    frame=frame,
                    fmt=FMT[name],
                    box=(b["box"][0], b["box"][1], b["box"][2], b["box"][3]),
                    reference=np.asarray(b["landmarks"], dtype=np.float64),
                    inter_ocular=float(b["inter_ocular"]),
                    face_score=float(b["face_score"]),
                )
            )
    return faces


@dataclass
class YuvCase:
    name: str
    format: str
    planes: List[npt.NDArray[np.uint8]]
    color_matrix: int
    color_range: int
    chroma_location: int
    faces: List[Face]


def yuv_cases(formats: Tuple[str, ...] = ("NV12", "NV21", "I420")) -> List[YuvCase]:
    """The 8-bit cases of tests/data/faces_yuv: planes as (rows, row bytes) arrays."""
    folder = DATA / "faces_yuv"
    manifest = json.loads((folder / "manifest.json").read_text())
    cases = []
    for c in manifest["cases"]:
        if c["format"] not in formats:
            continue
        planes = []
        for p in c["planes"]:
            raw = (folder / p["file"]).read_bytes()
            planes.append(frame_view(raw, p["row_bytes"], p["height"], p["stride_bytes"], 1))
        faces = [
            Face(
                case=c["name"],
                frame=planes[0],
                fmt="yuv",
                box=(b["box"][0], b["box"][1], b["box"][2], b["box"][3]),
                reference=np.asarray(b["landmarks"], dtype=np.float64),
                inter_ocular=float(b["inter_ocular"]),
                face_score=float(b["face_score"]),
                low_confidence=bool(b["low_confidence"]),
            )
            for b in c["boxes"]
        ]
        cases.append(
            YuvCase(
                c["name"], c["format"], planes, c["color_matrix"], c["color_range"],
                c["chroma_location"], faces,
            )
        )
    return cases


def to_nv12_bt601_full(frame: npt.NDArray[np.uint8], fmt: str) -> Tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """A packed frame as NV12 (BT.601 full range, chroma averaged over each 2x2 block, which is
    the CENTER chroma location): the Y plane and the interleaved UV plane."""
    if fmt == "gray":
        y = np.ascontiguousarray(frame)
        h, w = y.shape
        uv = np.full(((h + 1) // 2, 2 * ((w + 1) // 2)), 128, dtype=np.uint8)
        return y, uv
    rgb = frame[..., :3].astype(np.float64)
    if fmt.startswith("bgr"):
        rgb = rgb[..., ::-1]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - luma) / 1.772 + 128.0
    v = (r - luma) / 1.402 + 128.0
    h, w = luma.shape
    ph, pw = (h + 1) // 2 * 2, (w + 1) // 2 * 2

    def half(plane: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        padded = np.pad(plane, ((0, ph - h), (0, pw - w)), mode="edge")
        return padded.reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3))  # type: ignore[no-any-return]

    uv = np.stack([half(u), half(v)], axis=-1).reshape(ph // 2, pw)
    def as_u8(a: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)

    return as_u8(luma), as_u8(uv)


def summary(rows: List[Tuple[str, float, float]]) -> Optional[str]:
    lines = [f"{'case':<32} {'NME %':>8} {'score':>8}"]
    lines += [f"{c:<32} {n * 100:8.4f} {s:8.4f}" for c, n, s in rows]
    return "\n".join(lines)
