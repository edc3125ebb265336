"""The async session store. The sync :class:`SessionStore` in ``store.py`` is
generated from this file by ``scripts/unasync.py``: edit here, then run it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._core import paging, requests
from ._core.limits import Limits
from ._core.state import shared_view
from .backends import masked
from .clock import Clock, SystemClock
from .models import Event, Page, Session

if TYPE_CHECKING:
    from datetime import timedelta

    from ._core.records import Record

EventInput = Event | Mapping[str, Any]


class AsyncSessionStore:
    """Sessions scoped by app and user, with merged state and an event log.

    Open one with :func:`sessiondb.open_async_store`. Every method validates
    its input first (``InvalidInputError`` / ``LimitExceededError``, nothing
    written) and then makes one call to the backend, which runs it as one
    atomic operation. Expiry is judged against :attr:`clock`.
    """

    def __init__(self, backend: Any, *, clock: Clock | None = None,
                 limits: Limits | None = None, url: str = "") -> None:
        self._backend = backend
        self.clock: Clock = clock or SystemClock()
        self.limits = limits or Limits()
        self.url = masked(url)
        """The store's URL, with any password masked."""

    def _now(self) -> float:
        return float(self.clock.now())

    async def create(
        self,
        app: str,
        user_id: str,
        session_id: str | None = None,
        state: Mapping[str, Any] | None = None,
        idle_ttl: float | timedelta | None = None,
        max_lifetime: float | timedelta | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Session:
        """Create a session (a random 128-bit id unless ``session_id`` is
        given; ``ConflictError`` if it is taken). ``state`` may hold
        ``app:``/``user:`` keys, which go to the shared scopes."""
        return await self._backend.create(requests.create(
            app, user_id, session_id, state, idle_ttl, max_lifetime, metadata,
            self._now(), self.limits))

    async def get(
        self,
        app: str,
        user_id: str,
        session_id: str,
        *,
        last: int | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> Session:
        """The session with its merged state and a bounded window of events.

        The window holds at most ``last`` events (default
        ``limits.default_window``): the first ones after ``after_seq`` when
        that is given, else the newest ones before ``before_seq`` (or the
        end). Raises ``NotFoundError`` or ``ExpiredError``.
        """
        return await self._backend.get(requests.get(
            app, user_id, session_id, last, after_seq, before_seq, self._now(),
            self.limits))

    async def append(
        self,
        app: str,
        user_id: str,
        session_id: str,
        events: Iterable[EventInput],
        state_delta: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Append ``events`` and apply ``state_delta`` atomically; the new version.

        ``expected_version`` → ``ConflictError`` unless the session is still
        at that version. A retry with the same ``idempotency_key`` returns the
        first call's version and stores nothing again (``ConflictError`` if
        the key was used for a different request).
        """
        return await self._backend.append(requests.append(
            app, user_id, session_id, events, state_delta, expected_version, idempotency_key,
            self._now(), self.limits))

    async def update_state(
        self,
        app: str,
        user_id: str,
        session_id: str,
        delta: Mapping[str, Any],
        expected_version: int | None = None,
    ) -> int:
        """Apply a state delta alone (recorded as one ``state`` event); the
        new version. ``None`` values delete keys."""
        return await self._backend.append(requests.update_state(
            app, user_id, session_id, delta, expected_version, self._now(), self.limits))

    async def events(
        self,
        app: str,
        user_id: str,
        session_id: str,
        after_seq: int = 0,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Event]:
        """A page of events after ``after_seq``, oldest first; pass
        ``next_cursor`` back as ``cursor`` for the next page."""
        request = requests.events(
            app, user_id, session_id, after_seq, limit, cursor, self._now(), self.limits)
        return paging.events_page(await self._backend.events(request), request)

    async def sessions(
        self,
        app: str,
        user_id: str | None = None,
        updated_after: float | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Session]:
        """A page of live sessions of an app (or one user), without events,
        oldest first (by creation, so pages never shift while you read
        them); ``updated_after`` keeps those written since a time."""
        request = requests.sessions(
            app, user_id, updated_after, metadata, limit, cursor, self._now(), self.limits)
        return paging.sessions_page(await self._backend.sessions(request), request)

    async def fork(
        self,
        app: str,
        user_id: str,
        session_id: str,
        at_seq: int,
        new_session_id: str | None = None,
    ) -> Session:
        """A new session with the events up to ``at_seq`` and the session
        state as it was then (``app:``/``user:`` state is shared, not copied)."""
        return await self._backend.fork(requests.fork(
            app, user_id, session_id, at_seq, new_session_id, self._now()))

    async def delete(self, app: str, user_id: str, session_id: str) -> bool:
        """Delete a session with its events and state; whether it existed."""
        return await self._backend.delete(requests.key(app, user_id, session_id))

    async def delete_user(self, app: str, user_id: str) -> int:
        """Delete all of a user's sessions and ``user:`` state; how many sessions."""
        requests.key(app, user_id, "-")
        return await self._backend.delete_user(app, user_id)

    async def shared_state(self, app: str, user_id: str | None = None) -> dict[str, Any]:
        """The shared state of an app (its ``app:`` keys) or, given
        ``user_id``, of one user (their ``user:`` keys), named without the
        prefix: ``{"theme": "dark"}`` for ``user:theme``. ``{}`` when none is
        stored: shared state lives apart from sessions, none is needed."""
        return shared_view(await self._backend.shared(
            requests.shared(app, user_id, self._now())))

    async def update_shared_state(
        self, app: str, delta: Mapping[str, Any], user_id: str | None = None
    ) -> dict[str, Any]:
        """Set (``None``: delete) keys of an app's or, given ``user_id``, a
        user's shared state, atomically; the scope's state afterwards. Keys
        are named without prefix (one with ``app:``/``user:``/``temp:`` is
        refused); each key is last-writer-wins, as when a session writes it,
        and every session of the scope sees the change."""
        return shared_view(await self._backend.update_shared(
            requests.update_shared(app, delta, user_id, self._now(), self.limits)))

    async def touch(self, app: str, user_id: str, session_id: str) -> float | None:
        """Slide the idle expiry without writing; the new ``expires_at``."""
        return await self._backend.touch(requests.key(app, user_id, session_id),
                                         self._now())

    async def purge_expired(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` expired sessions; how many were deleted."""
        requests.positive(limit, "limit", 1_000_000)
        return await self._backend.purge_expired(self._now(), limit)

    async def export(self, app: str | None = None) -> AsyncIterator[Record]:
        """Every record of the store (or of one app) in the export format
        (see :mod:`sessiondb._core.records`)."""
        if app is not None:
            requests.key(app, "-", "-")
        async for record in self._backend.dump(app):
            yield record

    async def import_records(self, records: Iterable[Record]) -> int:
        """Load exported records; how many sessions. ``ConflictError`` if a
        session exists already (the sessions before it stay imported)."""
        return await self._backend.restore(records)

    async def close(self) -> None:
        await self._backend.close()

    async def __aenter__(self) -> AsyncSessionStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


__all__ = ["AsyncSessionStore"]
