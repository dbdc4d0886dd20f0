"""Lifetimes: garbage collection with items in flight, interpreter exit with an open pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import lmbatch
        from evalset import eval_faces
        faces = eval_faces()
        """
    ) + textwrap.dedent(body)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    print(f"subprocess: rc {done.returncode} in {time.monotonic() - started:.2f} s\n{done.stdout}{done.stderr}")
    return done


def test_a_pipeline_dropped_with_items_in_flight_neither_hangs_nor_crashes() -> None:
    done = run_script(
        """
        import gc
        for round in range(3):
            p = lmbatch.Pipeline(backend="cpu", max_wait_ms=5.0, queue_capacity=64)
            for i in range(40):
                f = faces[i % len(faces)]
                try:
                    p.enqueue(i, f.frame, f.box, fmt=f.fmt)
                except lmbatch.QueueFull:
                    pass
            del p
            gc.collect()
        print("dropped three pipelines")
        """
    )
    assert done.returncode == 0
    assert "dropped three pipelines" in done.stdout


def test_interpreter_exit_with_an_open_pipeline_is_clean() -> None:
    done = run_script(
        """
        import asyncio, logging, threading
        logging.basicConfig(level=logging.DEBUG)
        p = lmbatch.Pipeline(backend="cpu", max_wait_ms=50.0, queue_capacity=64)
        for i in range(30):
            f = faces[i % len(faces)]
            p.enqueue(i, f.frame, f.box, fmt=f.fmt)
        # A daemon thread still waiting in pop_wait, on a pipeline held by a reference cycle.
        class Holder: pass
        h = Holder(); h.me = h; h.p = lmbatch.Pipeline(backend="cpu", max_wait_ms=60000.0)
        h.p.enqueue(1, faces[0].frame, faces[0].box, fmt=faces[0].fmt)
        threading.Thread(target=lambda: h.p.pop_wait(1, timeout=None), daemon=True).start()
        print("exiting with open pipelines")
        """
    )
    assert done.returncode == 0, done.stderr
    assert "exiting with open pipelines" in done.stdout
    assert "Fatal Python error" not in done.stderr and "panicked" not in done.stderr
