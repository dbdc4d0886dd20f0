"""lmbatch: batched facial landmarks. Enqueue numpy frames without blocking, pop results by event id.

    import lmbatch, numpy as np
    with lmbatch.Pipeline(backend="cpu") as p:
        p.enqueue(1, frame, (x1, y1, x2, y2))      # frame: (H, W, 3) uint8 BGR
        lm = p.pop_wait(1, timeout=1.0)             # lm.points: (468, 3) float32
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from os import PathLike
from typing import TYPE_CHECKING, Any, Dict, Literal, Mapping, Optional, TypeVar, Union

from ._errors import (
    BackendUnavailable,
    BufferTooSmall,
    Cancelled,
    DuplicateId,
    Expired,
    InferenceFailed,
    Internal,
    InvalidArgument,
    LmbatchError,
    ModelError,
    NotFound,
    Panic,
    Pending,
    QueueFull,
    ShuttingDown,
    Timeout,
)
from ._lmbatch import API_VERSION, Landmarks, ModelInfo, Quality, Stats, _Pipeline

__all__ = [
    "API_VERSION",
    "BackendUnavailable",
    "BufferTooSmall",
    "Cancelled",
    "DuplicateId",
    "Expired",
    "InferenceFailed",
    "Internal",
    "InvalidArgument",
    "Landmarks",
    "LmbatchError",
    "ModelError",
    "ModelInfo",
    "NotFound",
    "Panic",
    "Pending",
    "Pipeline",
    "Quality",
    "QueueFull",
    "ShuttingDown",
    "Stats",
    "Timeout",
]

# What pop_async popped but could not hand over (its await was cancelled at that instant): kept
# per pipeline and answered by the next pop, pop_wait, pop_next or pop_async.
_Outcome = Union[Landmarks, LmbatchError]
_P = TypeVar("_P", bound="Pipeline")


class Pipeline(_Pipeline):
    """A landmark pipeline: enqueue faces from any thread, pop results by event id.

    Use it as a context manager (or call close()): closing lets queued work finish for up to
    drain_timeout_ms and joins the library's threads; later calls raise ShuttingDown.
    """

    _kept: Dict[int, "_Outcome"]
    _kept_lock: threading.Lock

    if TYPE_CHECKING:
        # The native constructor's signature (the stubs' _Pipeline.__new__), for type checkers.
        def __init__(
            self,
            backend: Literal["auto", "cpu", "tract", "tensorrt", "onnxruntime", "ort", "openvino", "remote"] = "auto",
            model: Optional[Union[str, "PathLike[str]"]] = None,
            desc: Optional[Union[str, "PathLike[str]"]] = None,
            max_batch: int = 32,
            max_wait_ms: float = 10.0,
            cpu_threads: Optional[int] = None,
            precision: Literal["default", "fp32", "reduced"] = "default",
            queue_capacity: Optional[int] = None,
            result_capacity: int = 4096,
            result_ttl_ms: Optional[float] = 30000.0,
            drain_timeout_ms: float = 1000.0,
            device_id: int = 0,
            engine_cache_dir: Optional[Union[str, "PathLike[str]"]] = None,
            opt_batch: Optional[int] = None,
            self_check: bool = True,
            chip_size: int = 0,
            chip_format: Literal["rgb", "bgr"] = "rgb",
            remote_endpoints: Optional[str] = None,
            remote_model: Optional[str] = None,
            remote_model_version: Optional[str] = None,
            remote_timeout_ms: int = 0,
            remote_connect_timeout_ms: int = 0,
            remote_headers: Optional[Mapping[str, str]] = None,
            remote_ca_file: Optional[Union[str, "PathLike[str]"]] = None,
        ) -> None: ...

    else:

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._kept = {}
            self._kept_lock = threading.Lock()
            _open_pipelines.add(self)

    def __enter__(self: _P) -> _P:
        return self

    def _take_kept(self, event_id: Optional[int] = None) -> Optional[_Outcome]:
        if not self._kept:
            return None
        with self._kept_lock:
            if event_id is None:
                if not self._kept:
                    return None
                return self._kept.pop(next(iter(self._kept)))
            return self._kept.pop(event_id, None)

    @staticmethod
    def _give(outcome: _Outcome) -> Landmarks:
        if isinstance(outcome, LmbatchError):
            raise outcome
        return outcome

    def pop(self, event_id: int) -> Landmarks:
        kept = self._take_kept(event_id)
        if kept is not None:
            return self._give(kept)
        return super().pop(event_id)

    def pop_wait(self, event_id: int, timeout: Optional[float] = None) -> Landmarks:
        kept = self._take_kept(event_id)
        if kept is not None:
            return self._give(kept)
        return super().pop_wait(event_id, timeout)

    def pop_next(self, timeout: Optional[float] = None) -> Optional[Landmarks]:
        kept = self._take_kept()
        if kept is not None:
            return self._give(kept)
        return super().pop_next(timeout)

    async def pop_async(self, event_id: int) -> Landmarks:
        """Awaits the final state of event_id without a thread: the library's ready callback
        wakes the running loop (call_soon_threadsafe). Cancelling the await cancels nothing in
        the library: the result stays poppable."""
        kept = self._take_kept(event_id)
        if kept is not None:
            return self._give(kept)
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[_Outcome]" = loop.create_future()

        def settle() -> None:
            if future.done():
                return
            try:
                outcome: _Outcome = _Pipeline.pop(self, event_id)
            except Pending:
                return
            except LmbatchError as error:
                outcome = error
            future.set_result(outcome)

        # Watch first, then look: a state that became final in between is seen by the look.
        token = self._watch(event_id, loop, settle)
        try:
            settle()
            outcome = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Popped for this await just as it was cancelled: keep it for the next pop.
                with self._kept_lock:
                    self._kept[event_id] = future.result()
            raise
        finally:
            self._unwatch(event_id, token)
        return self._give(outcome)


_open_pipelines: "weakref.WeakSet[Pipeline]" = weakref.WeakSet()


@atexit.register
def _close_open_pipelines() -> None:
    # Before the interpreter finalizes, while the library's delivery threads can still take the
    # GIL: a pipeline left open at exit is closed like one leaving a `with` block.
    for pipeline in list(_open_pipelines):
        pipeline.close()
