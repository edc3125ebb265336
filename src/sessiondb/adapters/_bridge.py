"""Calling either kind of store from async framework code."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def resolve(value: Awaitable[T] | T) -> T:
    """The result of a store method: awaited for an ``AsyncSessionStore``,
    taken as it is from a sync ``SessionStore`` (whose calls are short enough
    to run on the event loop: SQLite appends take tens of microseconds)."""
    if inspect.isawaitable(value):
        return await value
    return value
