#!/usr/bin/env python3
"""End-to-end throughput through the Python API, the same run as the Rust e2e bench
(benches/e2e.rs, per-id consumer): P producer threads enqueue the evaluation set's faces as fast
as they are accepted (QueueFull: sleep 500 us), one consumer pop_waits each accepted id in turn.
The last line is one JSON object.

    python bindings/python/bench/e2e.py [--backend cpu] [--producers 4] [--seconds 20]
                                        [--max-wait-us 10000] [--max-batch 32]
"""

from __future__ import annotations

import argparse
import json
import queue
import resource
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import lmbatch  # noqa: E402
from evalset import eval_faces  # noqa: E402


def cpu_seconds() -> float:
    """CPU seconds (user + system) of every thread of the process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-wait-us", type=int, default=10_000)
    ap.add_argument("--max-batch", type=int, default=32)
    a = ap.parse_args()
    faces = eval_faces()
    sent: "queue.Queue[Optional[Tuple[int, float]]]" = queue.Queue()
    rejected = [0] * a.producers
    with lmbatch.Pipeline(backend=a.backend, max_batch=a.max_batch, max_wait_ms=a.max_wait_us / 1000.0) as p:
        start = time.perf_counter()
        cpu_start = cpu_seconds()
        deadline = start + a.seconds

        def produce(k: int) -> None:
            event_id = k << 40
            while time.perf_counter() < deadline:
                f = faces[event_id % len(faces)]
                t0 = time.perf_counter()
                try:
                    p.enqueue(event_id, f.frame, f.box, fmt=f.fmt)  # type: ignore[arg-type]
                    sent.put((event_id, t0))
                except lmbatch.QueueFull:
                    rejected[k] += 1
                    time.sleep(0.0005)
                event_id += 1

        popped, failed = 0, 0
        total_us: List[float] = []

        def consume() -> None:
            nonlocal popped, failed
            while True:
                item = sent.get()
                if item is None:
                    return
                event_id, t0 = item
                try:
                    p.pop_wait(event_id, timeout=60.0)
                    popped += 1
                    total_us.append((time.perf_counter() - t0) * 1e6)
                except lmbatch.LmbatchError:
                    failed += 1

        consumer = threading.Thread(target=consume)
        consumer.start()
        producers = [threading.Thread(target=produce, args=(k,)) for k in range(a.producers)]
        for t in producers:
            t.start()
        for t in producers:
            t.join()
        sent.put(None)
        consumer.join()
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
        stats = p.stats()
        backend = p.model_info().backend
    total_us.sort()
    p50 = total_us[len(total_us) // 2] if total_us else 0.0
    p99 = total_us[min(len(total_us) - 1, int(len(total_us) * 0.99))] if total_us else 0.0
    fps = popped / elapsed
    print(f"python e2e: backend {backend}, {a.producers} producers, {elapsed:.1f} s")
    print(f"faces/s {fps:.1f}; popped {popped}, failed {failed}, rejected queue-full {sum(rejected)}")
    # What the process spent per face, every thread: noisy neighbours change faces/s far more.
    print(f"cpu ms per face {cpu * 1e3 / max(popped, 1):.3f} ({cpu:.1f} CPU s over {elapsed:.1f} s)")
    print(f"total latency p50 {p50:.0f} us, p99 {p99:.0f} us; batches {stats.batches}")
    print(json.dumps({"api": "python", "backend": backend, "faces_per_s": round(fps, 1),
                      "popped": popped, "failed": failed,
                      "cpu_ms_per_face": round(cpu * 1e3 / max(popped, 1), 3), "p50_us": round(p50), "p99_us": round(p99)}))


if __name__ == "__main__":
    main()
