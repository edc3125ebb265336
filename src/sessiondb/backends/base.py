"""The protocol every backend implements, documented once.

A backend stores; it holds no policy. Stores validate input into requests
(:mod:`sessiondb._core.requests`); the backend opens a transaction, reads what
it needs, asks :mod:`sessiondb._core.decisions` what to do, and writes it.
Driver exceptions are translated to :mod:`sessiondb.errors` here, at the
boundary, keeping the original as ``__cause__``.

The async protocol has the same methods, as coroutines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from .._core.requests import (
    AppendRequest,
    CreateRequest,
    EventsRequest,
    ForkRequest,
    GetRequest,
    Key,
    ListRequest,
)
from ..models import Event, Session

Record = dict[str, Any]


class Backend(Protocol):
    def create(self, request: CreateRequest) -> Session:
        """Create a session; ``ConflictError`` if its id is taken."""
        ...

    def get(self, request: GetRequest) -> Session:
        """The session with its merged state and the requested window."""
        ...

    def append(self, request: AppendRequest) -> int:
        """Atomically store events with their state delta; the new version."""
        ...

    def events(self, request: EventsRequest) -> list[Event]:
        """Up to ``limit + 1`` events after ``after_seq``, oldest first."""
        ...

    def sessions(self, request: ListRequest) -> list[Session]:
        """Up to ``limit + 1`` live sessions (no events), in
        ``(created_at, user_id, id)`` order after ``request.after``."""
        ...

    def fork(self, request: ForkRequest) -> Session:
        """A new session holding events up to ``at_seq`` and the session
        state as it was then."""
        ...

    def delete(self, key: Key) -> bool:
        """Delete one session; whether it existed."""
        ...

    def delete_user(self, app: str, user_id: str) -> int:
        """Delete a user's sessions and ``user:`` state; how many sessions."""
        ...

    def touch(self, key: Key, now: float) -> float | None:
        """Slide a live session's idle expiry; its new ``expires_at``."""
        ...

    def purge_expired(self, now: float, limit: int) -> int:
        """Delete up to ``limit`` sessions expired at ``now``; how many."""
        ...

    def dump(self, app: str | None) -> Iterator[Record]:
        """Every record (of one app, or all), in the export format."""
        ...

    def restore(self, records: Iterable[Record]) -> int:
        """Load records made by :meth:`dump`; how many sessions."""
        ...

    def close(self) -> None: ...
