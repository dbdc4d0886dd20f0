#!/usr/bin/env python3
"""The per-camera landmark worker of a VMS, done with lmbatch.

Each camera is a thread that reads frames and the detector's boxes and enqueues every face under
an event id; one consumer takes results in completion order (pop_next) and keeps the best face of
each track by quality.overall. Nothing is dropped silently: every face ends as a result, a failed
or expired item, or a refusal (QueueFull) counted where it happened, and the books must balance.

Frames: the still frames of tests/data/faces, each shown by one camera for --frames frames;
boxes: that set's manifest.json (the detector's boxes), moved a little per frame by a detector
stub. Run from the repository root:

    python examples/python/camera_worker.py [--frames 20] [--backend cpu]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

import lmbatch

FACES = Path(__file__).resolve().parents[2] / "tests" / "data" / "faces"
CHANNELS = {"BGR8": 3, "RGB8": 3, "BGRA8": 4, "RGBA8": 4, "GRAY8": 1}
FMT = {"BGR8": "bgr", "RGB8": "rgb", "BGRA8": "bgra", "RGBA8": "rgba", "GRAY8": "gray"}

Box = Tuple[float, float, float, float]


@dataclass
class Camera:
    name: str
    frame: npt.NDArray[np.uint8]
    fmt: str
    boxes: List[Box]


def cameras() -> List[Camera]:
    """One camera per frame of the set: the frame read from its raw file, the boxes from the
    manifest (a file, as a detector's output would be)."""
    manifest = json.loads((FACES / "manifest.json").read_text())
    found = []
    for case in manifest["cases"]:
        raw = np.frombuffer((FACES / case["raw_file"]).read_bytes(), dtype=np.uint8)
        h, w, s = case["height"], case["width"], case["stride_bytes"]
        c = CHANNELS[case["pixel_format"]]
        rows = raw[: s * h].reshape(h, s)[:, : w * c]
        frame = rows if c == 1 else rows.reshape(h, w, c)
        found.append(Camera(case["name"], frame, FMT[case["pixel_format"]], [tuple(b["box"]) for b in case["boxes"]]))
    return found


def detector_stub(box: Box, frame_no: int) -> Box:
    """The box a detector might give on frame `frame_no`: the manifest's box, moved a few px."""
    dx, dy = 2.0 * np.sin(frame_no * 0.7), 2.0 * np.cos(frame_no * 0.5)
    x1, y1, x2, y2 = box
    return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


@dataclass
class Track:
    sent: int = 0
    refused: int = 0
    results: int = 0
    failed: int = 0
    expired: int = 0
    best_overall: float = -1.0
    best_frame: int = -1
    best_yaw_deg: float = float("nan")
    # The aligned 112x112 chip of the best face: what the VMS hands its face recogniser.
    best_chip: Optional[npt.NDArray[np.uint8]] = None


@dataclass
class Books:
    lock: threading.Lock = field(default_factory=threading.Lock)
    tracks: Dict[Tuple[int, int], Track] = field(default_factory=dict)
    accepted: int = 0

    def track(self, camera: int, track: int) -> Track:
        return self.tracks.setdefault((camera, track), Track())


def event_id(camera: int, frame_no: int, track: int) -> int:
    """camera (16 bits) | frame (32 bits) | track (16 bits): unique, and decodable."""
    return (camera << 48) | (frame_no << 16) | track


def decode(eid: int) -> Tuple[int, int, int]:
    return eid >> 48, (eid >> 16) & 0xFFFFFFFF, eid & 0xFFFF


def camera_thread(p: lmbatch.Pipeline, index: int, cam: Camera, frames: int, fps: float, books: Books) -> None:
    for frame_no in range(frames):
        for track, box in enumerate(cam.boxes):
            eid = event_id(index, frame_no, track)
            with books.lock:
                books.track(index, track).sent += 1
            try:
                p.enqueue(eid, cam.frame, detector_stub(box, frame_no), fmt=cam.fmt)  # type: ignore[arg-type]
                with books.lock:
                    books.accepted += 1
            except lmbatch.QueueFull:
                with books.lock:
                    books.track(index, track).refused += 1
        time.sleep(1.0 / fps)


def consume(p: lmbatch.Pipeline, books: Books, cameras_done: threading.Event) -> int:
    taken = 0
    while True:
        with books.lock:
            finished = cameras_done.is_set() and taken == books.accepted
        if finished:
            return taken
        try:
            lm: Optional[lmbatch.Landmarks] = p.pop_next(timeout=0.1)
        except (lmbatch.InferenceFailed, lmbatch.Expired) as e:
            assert e.event_id is not None
            cam, _, track = decode(e.event_id)
            with books.lock:
                t = books.track(cam, track)
                if isinstance(e, lmbatch.Expired):
                    t.expired += 1
                else:
                    t.failed += 1
            taken += 1
            continue
        if lm is None:
            continue
        taken += 1
        cam, frame_no, track = decode(lm.event_id)
        with books.lock:
            t = books.track(cam, track)
            t.results += 1
            if lm.quality.overall > t.best_overall:
                t.best_overall, t.best_frame = lm.quality.overall, frame_no
                t.best_yaw_deg = float(np.degrees(lm.yaw))
                t.best_chip = lm.chip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20, help="frames per camera")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--backend", default="cpu")
    args = parser.parse_args()
    cams = cameras()
    books = Books()
    started = time.monotonic()
    with lmbatch.Pipeline(backend=args.backend, max_wait_ms=5.0, chip_size=112) as p:
        done = threading.Event()
        workers = [
            threading.Thread(target=camera_thread, args=(p, i, c, args.frames, args.fps, books))
            for i, c in enumerate(cams)
        ]
        for w in workers:
            w.start()
        def cameras_finished() -> None:
            for w in workers:
                w.join()
            done.set()

        watcher = threading.Thread(target=cameras_finished)
        watcher.start()
        taken = consume(p, books, done)
        watcher.join()
        stats = p.stats()
        backend = p.model_info().backend
    elapsed = time.monotonic() - started

    print(f"{len(cams)} cameras x {args.frames} frames on {backend}, {elapsed:.1f} s")
    print(f"{'camera':<26} {'track':>5} {'sent':>5} {'refused':>7} {'results':>7} {'failed':>6} "
          f"{'expired':>7} {'best frame':>10} {'overall':>7} {'yaw':>6} {'chip':>8}")
    for (ci, track), t in sorted(books.tracks.items()):
        chip = "x".join(map(str, t.best_chip.shape[:2])) if t.best_chip is not None else "-"
        print(f"{cams[ci].name:<26} {track:>5} {t.sent:>5} {t.refused:>7} {t.results:>7} {t.failed:>6} "
              f"{t.expired:>7} {t.best_frame:>10} {t.best_overall:>7.3f} {t.best_yaw_deg:>6.1f} {chip:>8}")
    totals: Counter[str] = Counter()
    for t in books.tracks.values():
        totals.update(sent=t.sent, refused=t.refused, results=t.results, failed=t.failed, expired=t.expired)
    print(f"faces sent {totals['sent']} = results {totals['results']} + failed {totals['failed']} "
          f"+ expired {totals['expired']} + refused (queue full) {totals['refused']}")
    print(f"library: accepted {stats.accepted}, popped {stats.popped}, rejected_full {stats.rejected_full}, "
          f"batches {stats.batches}")
    balanced = (
        totals["sent"] == totals["results"] + totals["failed"] + totals["expired"] + totals["refused"]
        and taken == books.accepted == stats.accepted
        and stats.rejected_full == totals["refused"]
    )
    print("every face accounted for" if balanced else "BOOKS DO NOT BALANCE")
    return 0 if balanced else 1


if __name__ == "__main__":
    raise SystemExit(main())
