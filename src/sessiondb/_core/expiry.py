"""Idle and absolute expiry, decided against the store's injected clock.

A session expires at the earlier of its last write plus ``idle_ttl`` and its
creation plus ``max_lifetime`` (the *deadline*). Engine-side expiry (Redis
``EXPIRE``, SQL purges) is only garbage collection of what this already says
is expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ExpiredError, InvalidInputError

if TYPE_CHECKING:
    from datetime import timedelta


def to_seconds(value: float | int | timedelta | None, field: str) -> float | None:
    """A positive duration in seconds (``timedelta`` keeps its days), or None."""
    if value is None:
        return None
    if hasattr(value, "total_seconds"):  # a timedelta (datetime is not imported for it)
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidInputError(
            f"{field} must be seconds (a number) or a timedelta", field=field
        )
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidInputError(f"{field} must be a positive, finite duration", field=field)
    return seconds


def expires_at(now: float, idle_ttl: float | None, deadline: float | None) -> float | None:
    """When a session written at ``now`` expires, or None if never."""
    idle = now + idle_ttl if idle_ttl is not None else None
    if idle is None:
        return deadline
    if deadline is None:
        return idle
    return min(idle, deadline)


def is_expired(expires: float | None, now: float) -> bool:
    return expires is not None and now >= expires


def check_live(expires: float | None, now: float, session_id: str) -> None:
    """Raise :class:`ExpiredError` if a session with ``expires`` is expired."""
    if expires is not None and now >= expires:
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        raise ExpiredError(f"session {session_id!r} expired at {when}")
