from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lmbatch  # noqa: E402


@pytest.fixture
def pipeline() -> Iterator[lmbatch.Pipeline]:
    """tract (always built in), short batching deadline, a queue that holds the whole set."""
    with lmbatch.Pipeline(backend="cpu", max_wait_ms=2.0, queue_capacity=256) as p:
        yield p
