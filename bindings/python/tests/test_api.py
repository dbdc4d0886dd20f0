"""The API's contract: hostile inputs, statuses as exceptions, stats, model info, logging."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import numpy.typing as npt
import pytest

import lmbatch
from evalset import eval_faces

GOOD_BOX = (20.0, 20.0, 44.0, 44.0)


def gray_frame() -> npt.NDArray[np.uint8]:
    return np.full((64, 64, 3), 128, dtype=np.uint8)


def test_hostile_arrays_are_clean_exceptions_and_counted(pipeline: lmbatch.Pipeline) -> None:
    frame = gray_frame()
    wide = np.zeros((64, 64, 6), dtype=np.uint8)
    cases: List[tuple[str, Callable[[], Any], str]] = [
        ("float frame", lambda: pipeline.enqueue(1, frame.astype(np.float32), GOOD_BOX), "dtype float32"),
        ("int16 frame", lambda: pipeline.enqueue(1, frame.astype(np.int16), GOOD_BOX), "dtype int16"),
        ("1-D frame", lambda: pipeline.enqueue(1, frame.reshape(-1), GOOD_BOX), "shape"),
        ("4-D frame", lambda: pipeline.enqueue(1, frame[None], GOOD_BOX), "shape"),
        ("5 channels", lambda: pipeline.enqueue(1, np.zeros((8, 8, 5), np.uint8), GOOD_BOX), "shape"),
        ("zero-size", lambda: pipeline.enqueue(1, frame[:0], GOOD_BOX), "empty"),
        ("zero-width", lambda: pipeline.enqueue(1, frame[:, :0], GOOD_BOX), "empty"),
        ("channel axis strided", lambda: pipeline.enqueue(1, wide[..., ::2], GOOD_BOX), "channel axis"),
        ("broadcast to 40,000 columns", lambda: pipeline.enqueue(1, np.broadcast_to(frame[:, :1], (64, 40000, 3)), GOOD_BOX), "more than 32768"),
        ("not an array", lambda: pipeline.enqueue(1, [[1, 2, 3]], GOOD_BOX), "numpy.ndarray"),  # type: ignore[arg-type]
        ("box outside", lambda: pipeline.enqueue(1, frame, (100.0, 100.0, 140.0, 140.0)), "does not overlap"),
        ("NaN in the box", lambda: pipeline.enqueue(1, frame, (float("nan"), 1.0, 30.0, 30.0)), "non-finite"),
        ("inverted box", lambda: pipeline.enqueue(1, frame, (40.0, 40.0, 20.0, 20.0)), "empty or inverted"),
        ("box of 3 numbers", lambda: pipeline.enqueue(1, frame, (1.0, 2.0, 3.0)), "4 numbers"),
        ("wrong fmt", lambda: pipeline.enqueue(1, frame, GOOD_BOX, fmt="bgra"), "does not fit"),
        ("unknown fmt", lambda: pipeline.enqueue(1, frame, GOOD_BOX, fmt="yuv"), "not one of"),  # type: ignore[arg-type]
        ("NaN roll", lambda: pipeline.enqueue(1, frame, GOOD_BOX, roll=float("nan")), "roll"),
        ("nv12 uv of odd shape", lambda: pipeline.enqueue_nv12(1, frame[..., 0], frame[:5, :7, 0], GOOD_BOX), "plane"),
        ("nv12 float y", lambda: pipeline.enqueue_nv12(1, frame[..., 0].astype(float), frame[:32, :, 0], GOOD_BOX), "dtype float64"),
    ]
    for n, (name, call, needle) in enumerate(cases, start=1):
        with pytest.raises(lmbatch.InvalidArgument) as info:
            call()
        assert needle in str(info.value), f"{name}: {info.value}"
        assert isinstance(info.value, lmbatch.LmbatchError) and isinstance(info.value, ValueError)
        assert info.value.event_id == 1, name
        assert pipeline.stats().rejected_invalid == n, name
    stats = pipeline.stats()
    assert stats.accepted == 0
    # The pipeline still works.
    pipeline.enqueue(2, frame, GOOD_BOX)
    assert pipeline.pop_wait(2, timeout=60.0).points.shape == (468, 3)


def test_statuses_are_exceptions_with_the_library_message(pipeline: lmbatch.Pipeline) -> None:
    face = eval_faces()[0]
    with pytest.raises(lmbatch.NotFound) as nf:
        pipeline.pop(12345)
    assert nf.value.event_id == 12345 and "12345" in str(nf.value)
    pipeline.enqueue(7, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
    with pytest.raises(lmbatch.DuplicateId):
        pipeline.enqueue(7, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
    lm = pipeline.pop_wait(7, timeout=60.0)
    assert lm.quality.overall > 0.0 and np.isfinite(lm.yaw)
    with pytest.raises(lmbatch.NotFound):
        pipeline.pop(7)
    with pytest.raises(lmbatch.InvalidArgument):
        pipeline.pop_wait(7, timeout=-1.0)
    assert pipeline.pop_next(timeout=0.0) is None


def test_timeout_and_pending_on_a_slow_item() -> None:
    # A long batching deadline keeps a lone face queued: pop answers Pending, pop_wait Timeout.
    face = eval_faces()[0]
    with lmbatch.Pipeline(backend="cpu", max_wait_ms=3000.0) as p:
        p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
        with pytest.raises(lmbatch.Pending):
            p.pop(1)
        with pytest.raises(lmbatch.Timeout) as info:
            p.pop_wait(1, timeout=0.05)
        assert info.value.event_id == 1
        assert p.pop_wait(1, timeout=60.0).event_id == 1


def test_queue_full_is_raised_and_counted() -> None:
    face = eval_faces()[0]
    with lmbatch.Pipeline(backend="cpu", max_batch=1, queue_capacity=1, max_wait_ms=0.0) as p:
        accepted, full = [], 0
        for i in range(200):
            try:
                p.enqueue(i, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
                accepted.append(i)
            except lmbatch.QueueFull as e:
                assert e.event_id == i
                full += 1
        assert full > 0
        assert p.stats().rejected_full == full
        for i in accepted:
            p.pop_wait(i, timeout=60.0)


def test_stats_and_model_info(pipeline: lmbatch.Pipeline) -> None:
    info = pipeline.model_info()
    assert (info.backend, info.num_points, info.input_width, info.dims, info.scheme) == (
        "cpu-tract", 468, 192, 3, "mediapipe468"
    )
    assert info.precision == "fp32" and "tract" in repr(info)
    faces = eval_faces()
    for i, f in enumerate(faces):
        pipeline.enqueue(i, f.frame, f.box, fmt=f.fmt)  # type: ignore[arg-type]
    for i in range(len(faces)):
        pipeline.pop_wait(i, timeout=60.0)
    s = pipeline.stats()
    assert s.accepted == len(faces) and s.popped == len(faces)
    assert s.accepted == s.queued + s.in_flight + s.ready + s.popped + s.expired + s.cancelled
    assert sum(n * c for n, c in enumerate(s.batch_size_hist)) == len(faces)
    assert s.batches >= 1 and s.infer_us_p50 > 0


def test_bad_config_is_invalid_argument() -> None:
    bad: List[Tuple[Dict[str, Any], str]] = [
        ({"backend": "gpu"}, "backend"),
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch": 33}, "max_batch"),
        ({"precision": "int8"}, "precision"),
        ({"max_wait_ms": -1.0}, "max_wait_ms"),
        ({"queue_capacity": 0}, "queue_capacity"),
    ]
    for kwargs, needle in bad:
        with pytest.raises(lmbatch.InvalidArgument) as info:
            lmbatch.Pipeline(backend="cpu", **kwargs) if "backend" not in kwargs else lmbatch.Pipeline(**kwargs)
        assert needle in str(info.value), kwargs
    with pytest.raises(lmbatch.ModelError):
        lmbatch.Pipeline(backend="cpu", model="/nonexistent/model.onnx")


def test_library_log_lines_reach_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lmbatch")
    with lmbatch.Pipeline(backend="cpu") as p:
        with pytest.raises(lmbatch.InvalidArgument):
            p.enqueue(99, gray_frame(), (float("nan"), 0.0, 1.0, 1.0))
    # close() joined the delivery thread: every line is in by now.
    messages = [r.getMessage() for r in caplog.records if r.name == "lmbatch"]
    assert any("lmbatch ready: backend cpu-tract" in m for m in messages), messages
    assert any("id 99 refused" in m and "non-finite" in m for m in messages), messages
    assert all(r.levelno in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR) for r in caplog.records)


def test_log_handler_runs_on_a_thread_holding_no_library_lock() -> None:
    # A handler that calls back into the pipeline (stats takes the store's lock) would deadlock
    # if the library called it with that lock held.
    seen: List[int] = []
    holder: List[lmbatch.Pipeline] = []

    class Reentrant(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if holder and not holder[0].closed:
                try:
                    seen.append(holder[0].stats().rejected_invalid)
                except lmbatch.ShuttingDown:
                    pass

    handler = Reentrant()
    logger = logging.getLogger("lmbatch")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with lmbatch.Pipeline(backend="cpu") as p:
            holder.append(p)
            with pytest.raises(lmbatch.InvalidArgument):
                p.enqueue(5, gray_frame(), (1e9, 1e9, 2e9, 2e9))
            deadline = time.monotonic() + 60
            while not seen and time.monotonic() < deadline:
                time.sleep(0.01)
        assert seen and seen[-1] >= 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_calls_after_close_raise() -> None:
    p = lmbatch.Pipeline(backend="cpu")
    p.close()
    p.close()  # idempotent
    assert p.closed
    for call in (
        lambda: p.enqueue(1, gray_frame(), GOOD_BOX),
        lambda: p.pop(1),
        lambda: p.pop_wait(1, 1.0),
        lambda: p.pop_next(0.1),
        lambda: p.stats(),
        lambda: p.model_info(),
        lambda: p.cancel(1),
    ):
        with pytest.raises(lmbatch.ShuttingDown, match="closed"):
            call()


def test_close_wakes_a_waiting_pop() -> None:
    face = eval_faces()[0]
    p = lmbatch.Pipeline(backend="cpu", max_wait_ms=60000.0, drain_timeout_ms=0.0)
    p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
    errors: List[BaseException] = []

    def wait() -> None:
        try:
            p.pop_wait(1, timeout=120.0)
        except lmbatch.LmbatchError as e:
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    p.close()
    t.join(timeout=60)
    assert not t.is_alive()
    print(f"close with a waiter took {time.monotonic() - started:.3f} s")
    assert len(errors) == 1 and isinstance(errors[0], (lmbatch.Cancelled, lmbatch.ShuttingDown, lmbatch.NotFound))


def test_the_aligned_chip_is_an_array_in_the_asked_channel_order() -> None:
    face = next(f for f in eval_faces() if f.case == "astronaut_rgb8_native")
    chips = {}
    for chip_format in ("rgb", "bgr"):
        with lmbatch.Pipeline(backend="cpu", chip_size=112, chip_format=chip_format) as p:
            p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
            chip = p.pop_wait(1, timeout=60.0).chip
            assert chip is not None
            assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
            chips[chip_format] = chip
    np.testing.assert_array_equal(chips["rgb"], chips["bgr"][..., ::-1])
    assert chips["rgb"].std() > 10  # a picture, not a fill
    with lmbatch.Pipeline(backend="cpu") as p:
        p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
        assert p.pop_wait(1, timeout=60.0).chip is None
    with pytest.raises(lmbatch.InvalidArgument, match="chip_format"):
        lmbatch.Pipeline(backend="cpu", chip_size=112, chip_format="yuv")  # type: ignore[arg-type]
    with pytest.raises(lmbatch.InvalidArgument):
        lmbatch.Pipeline(backend="cpu", chip_size=100_000)
