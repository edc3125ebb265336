"""Where a store gets the time. Expiry is decided only against this clock,
so tests (and simulations) can drive time by hand."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from datetime import timedelta

__all__ = ["Clock", "FrozenClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """The current time in Unix seconds."""
        ...


class SystemClock:
    """The wall clock (``time.time``)."""

    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to; safe to share between threads."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float | timedelta) -> float:
        """Move forward by ``seconds`` and return the new time."""
        step = seconds.total_seconds() if hasattr(seconds, "total_seconds") else float(seconds)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)
