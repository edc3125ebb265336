"""Size and count limits. Input over a limit is refused before anything is
written, with a :class:`~sessiondb.LimitExceededError` naming the field."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LimitExceededError

__all__ = ["Limits", "check_limit"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds a store enforces; pass your own to ``open_store(limits=…)``."""

    max_event_bytes: int = 256 * 1024
    """Encoded size of one event's ``content`` plus ``data``."""
    max_events_per_append: int = 100
    max_state_value_bytes: int = 256 * 1024
    """Encoded size of one state value."""
    max_delta_bytes: int = 1024 * 1024
    """Encoded size of all values of one state delta (or initial state)."""
    max_state_keys_per_delta: int = 1000
    max_state_key_length: int = 256
    max_metadata_keys: int = 32
    max_metadata_value_length: int = 512
    max_window: int = 1000
    """Largest number of events one read returns (``last``, ``limit``)."""
    max_page: int = 1000
    """Largest page of a session listing."""
    default_window: int = 100
    """Events returned by ``get`` when no ``last`` is given."""


def check_limit(field: str, actual: int, limit: int, unit: str = "") -> None:
    """Raise :class:`LimitExceededError` when ``actual`` exceeds ``limit``."""
    if actual > limit:
        what = f" {unit}" if unit else ""
        raise LimitExceededError(
            f"{field} is {actual}{what}; the limit is {limit}{what}",
            field=field,
            limit=limit,
            actual=actual,
        )
