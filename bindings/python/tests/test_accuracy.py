"""Every face of the evaluation sets through the Python API, scored as the Rust tests score them
(tests/accuracy.rs, tests/yuv.rs): every face NME <= 1%, the set mean <= 0.25%."""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

import lmbatch
from evalset import eval_faces, summary, to_nv12_bt601_full, yuv_cases


def check(rows: List[Tuple[str, float, float]], label: str) -> None:
    print(f"{label}\n{summary(rows)}")
    worst = max(n for _, n, _ in rows)
    mean = sum(n for _, n, _ in rows) / len(rows)
    print(f"{label}: {len(rows)} faces, set mean NME {mean * 100:.4f}%, worst {worst * 100:.4f}%")
    for case, nme, _ in rows:
        assert nme <= 0.01, f"{label} {case}: NME {nme * 100:.3f}% > 1%"
    assert mean <= 0.0025, f"{label}: set mean NME {mean * 100:.3f}% > 0.25%"


def test_every_face_through_enqueue(pipeline: lmbatch.Pipeline) -> None:
    faces = eval_faces()
    assert len(faces) == 14
    for i, face in enumerate(faces):
        pipeline.enqueue(i, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
    rows = []
    for i, face in enumerate(faces):
        lm = pipeline.pop_wait(i, timeout=60.0)
        assert lm.event_id == i
        assert lm.points.shape == (468, 3) and lm.points.dtype == np.float32
        assert abs(lm.face_score - face.face_score) <= 0.005, face.case
        rows.append((face.case, face.nme(lm.points), lm.face_score))
    check(rows, "enqueue")


def test_every_face_through_enqueue_nv12(pipeline: lmbatch.Pipeline) -> None:
    # The packed frames converted to NV12 here (BT.601 full range, 2x2 chroma means): the chroma
    # is halved, so the references of the packed frames are approached, not met exactly.
    faces = eval_faces()
    converted = {}
    for i, face in enumerate(faces):
        if face.case not in converted:
            converted[face.case] = to_nv12_bt601_full(face.frame, face.fmt)
        y, uv = converted[face.case]
        pipeline.enqueue_nv12(i, y, uv, face.box, color_matrix=5, color_range=2, chroma_location=2)
    rows = [(f.case, f.nme(pipeline.pop_wait(i, timeout=60.0).points), 0.0) for i, f in enumerate(faces)]
    check(rows, "enqueue_nv12 (converted here)")


def test_decoder_frames_match_their_references(pipeline: lmbatch.Pipeline) -> None:
    # tests/data/faces_yuv's 8-bit cases, exactly as a decoder gives them.
    rows = []
    event_id = 0
    expected = []
    for case in yuv_cases():
        cm, cr, cl = case.color_matrix, case.color_range, case.chroma_location
        for face in case.faces:
            if case.format == "I420":
                y, u, v = case.planes
                pipeline.enqueue_i420(
                    event_id, y, u, v, face.box, color_matrix=cm, color_range=cr, chroma_location=cl
                )
            else:
                y, uv = case.planes
                pipeline.enqueue_nv12(
                    event_id, y, uv, face.box, nv21=case.format == "NV21",
                    color_matrix=cm, color_range=cr, chroma_location=cl,
                )
            expected.append((event_id, face))
            event_id += 1
    for event_id, face in expected:
        lm = pipeline.pop_wait(event_id, timeout=60.0)
        assert abs(lm.face_score - face.face_score) <= 0.005, face.case
        if not face.low_confidence:
            rows.append((face.case, face.nme(lm.points), lm.face_score))
    assert len(rows) >= 10
    check(rows, "decoder frames (NV12, NV21, I420)")


def test_strided_views_read_the_same_pixels(pipeline: lmbatch.Pipeline) -> None:
    """A slice of a bigger frame, a vertical and a horizontal negative-stride view, and reversed
    channels: the same pixels give the same points as the packed array. The negative strides are
    read in place as a mirrored frame (the same source points; a bilinear weight rounded the other
    way may move a crop level), so their points agree to a thousandth of a pixel, the others
    exactly."""
    face = next(f for f in eval_faces() if f.case == "astronaut_rgb8_native")
    frame = np.ascontiguousarray(face.frame[..., ::-1])  # BGR
    x1, y1, x2, y2 = face.box
    big = np.zeros((frame.shape[0] + 100, frame.shape[1] + 60, 3), dtype=np.uint8)
    big[40:40 + frame.shape[0], 20:20 + frame.shape[1]] = frame
    views = {
        "packed": (frame, None),
        "slice of a bigger frame": (big[40:40 + frame.shape[0], 20:20 + frame.shape[1]], None),
        "rows reversed in memory": (np.ascontiguousarray(frame[::-1])[::-1], None),
        "columns reversed in memory": (np.ascontiguousarray(frame[:, ::-1])[:, ::-1], None),
        "rows, columns and channels reversed in memory, in a bigger frame": (
            np.ascontiguousarray(big[::-1, ::-1, ::-1])[::-1, ::-1, ::-1][
                40:40 + frame.shape[0], 20:20 + frame.shape[1]], None),
        "channels reversed (RGB memory read as BGR)": (np.ascontiguousarray(frame[..., ::-1])[..., ::-1], None),
        "every other column of a doubled frame": (np.repeat(frame, 2, axis=1)[:, ::2], None),
    }
    for i, (name, (view, fmt)) in enumerate(views.items()):
        assert np.array_equal(view, frame), name
        pipeline.enqueue(i, view, (x1, y1, x2, y2), fmt=fmt)
    points = [pipeline.pop_wait(i, timeout=60.0).points for i in range(len(views))]
    for name, p in zip(views, points):
        if "reversed in memory" in name and "channels reversed (" not in name:
            np.testing.assert_allclose(p, points[0], rtol=0, atol=1e-3, err_msg=name)
        else:
            np.testing.assert_array_equal(p, points[0], err_msg=name)
    assert face.nme(points[0]) <= 0.01
