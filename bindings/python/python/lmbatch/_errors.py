"""The library's statuses as exceptions. Every one derives from LmbatchError and carries the
library's message and, where one applies, the event id."""

from __future__ import annotations

from typing import Optional


class LmbatchError(Exception):
    """Base class of every lmbatch exception."""

    def __init__(self, message: str, event_id: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.event_id = event_id


class InvalidArgument(LmbatchError, ValueError):
    """Bad input: a frame, box, configuration value or timeout the library refuses."""


class QueueFull(LmbatchError):
    """The worker is behind; nothing was kept. Retry later or drop the face."""


class NotFound(LmbatchError):
    """Unknown event id, or its final state was already delivered."""


class Expired(LmbatchError):
    """The result was evicted (time-to-live or capacity) before it was popped."""


class Cancelled(LmbatchError):
    """The item was cancelled while a pop waited on it."""


class InferenceFailed(LmbatchError):
    """The backend failed on this item's batch."""


class DuplicateId(LmbatchError):
    """The event id is still pending or unpopped."""


class Timeout(LmbatchError):
    """pop_wait: the item was still pending when the timeout ran out."""


class Pending(LmbatchError):
    """pop: the item is accepted and not finished yet."""


class BufferTooSmall(LmbatchError):
    """Not raised by the Python API (its arrays always fit); kept for the library's full set."""


class BackendUnavailable(LmbatchError):
    """The requested backend cannot run here."""


class ModelError(LmbatchError):
    """The model or its descriptor is missing or unusable."""


class ShuttingDown(LmbatchError):
    """The pipeline is closed (or closing)."""


class Panic(LmbatchError):
    """A library bug was caught at the boundary."""


class Internal(LmbatchError):
    """An internal error (a thread could not start, ...)."""
