"""``SessionDBSessionService``: ADK's ``BaseSessionService`` on a SessionDB store."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from google.adk.events.event import Event as AdkEvent
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session as AdkSession
from pydantic_core import to_jsonable_python

from ...errors import ConflictError, ExpiredError, NotFoundError
from .._bridge import resolve
from ._convert import from_adk, timestamp, to_adk

if TYPE_CHECKING:
    from datetime import timedelta

    from ..._async_store import AsyncSessionStore
    from ...models import Event, Session
    from ...store import SessionStore

try:
    from google.adk.errors import StaleSessionError
except ImportError:  # pragma: no cover - ADK releases before StaleSessionError
    StaleSessionError = ValueError  # type: ignore[assignment,misc]
try:
    from google.adk.errors.already_exists_error import AlreadyExistsError
except ImportError:  # pragma: no cover
    AlreadyExistsError = ValueError  # type: ignore[assignment,misc]
try:
    from google.adk.errors.session_not_found_error import SessionNotFoundError
except ImportError:  # pragma: no cover
    SessionNotFoundError = ValueError  # type: ignore[assignment,misc]

STALE_MESSAGE = ("The session has been modified in storage since it was loaded. "
                 "Please reload the session before appending more events.")
_MARKER = "sessiondb:"
_HAS_MARKER = "_storage_update_marker" in getattr(AdkSession, "__private_attributes__", {})


def _set_version(session: AdkSession, version: int) -> None:
    if _HAS_MARKER:
        session._storage_update_marker = f"{_MARKER}{version}"
    else:  # pragma: no cover - older ADK
        object.__setattr__(session, "__sessiondb_version__", version)


def _version(session: AdkSession) -> int | None:
    """The store version ``session`` was read at, if this service handed it out."""
    if _HAS_MARKER:
        marker = session._storage_update_marker
        if isinstance(marker, str) and marker.startswith(_MARKER):
            return int(marker[len(_MARKER):])
        return None
    return getattr(session, "__sessiondb_version__", None)  # pragma: no cover


class SessionDBSessionService(BaseSessionService):
    """ADK sessions, events and scoped state (``app:``, ``user:``, ``temp:``)
    in SessionDB.

    ``store`` is an :class:`~sessiondb.AsyncSessionStore` (or a sync
    :class:`~sessiondb.SessionStore`, called directly on the event loop).
    ``idle_ttl`` / ``max_lifetime`` apply to the sessions it creates.
    ``default_window`` bounds the events ``get_session`` returns without a
    ``GetSessionConfig.num_recent_events``; ``None`` (the default, what ADK
    expects) returns the whole history, read a bounded page at a time.

    Each ``append_event`` is one atomic ``store.append`` of the event with its
    state delta, guarded by the version of the session object it is given:
    a session that another writer changed since it was read raises ADK's
    ``StaleSessionError``.
    """

    def __init__(
        self,
        store: AsyncSessionStore | SessionStore,
        *,
        idle_ttl: float | timedelta | None = None,
        max_lifetime: float | timedelta | None = None,
        default_window: int | None = None,
    ) -> None:
        self.store = store
        self.idle_ttl = idle_ttl
        self.max_lifetime = max_lifetime
        self.default_window = default_window
        limits = getattr(store, "limits", None)
        self._window: int = getattr(limits, "max_window", 1000)
        self._page: int = getattr(limits, "max_page", 1000)
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary())
        self._owns_store = False

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: Any) -> SessionDBSessionService:
        """A service on a new async store for ``url`` (see
        :func:`sessiondb.open_async_store`); :meth:`close` closes it."""
        from ... import open_async_store

        service = cls(open_async_store(url), **kwargs)
        service._owns_store = True
        return service

    async def close(self) -> None:
        """Close the store if this service opened it (``from_url``)."""
        if self._owns_store:
            await resolve(self.store.close())

    # -- sessions ----------------------------------------------------------------
    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AdkSession:
        session_id = session_id.strip() if session_id else None
        values = to_jsonable_python(state) if state else None
        for _ in range(2):
            try:
                created = await resolve(self.store.create(
                    app_name, user_id, session_id or None, state=values,
                    idle_ttl=self.idle_ttl, max_lifetime=self.max_lifetime))
                return _adk_session(created, [])
            except ConflictError:
                assert session_id is not None
                if not await self._drop_if_expired(app_name, user_id, session_id):
                    break
        raise AlreadyExistsError(f"Session with id {session_id} already exists.")

    async def _drop_if_expired(self, app: str, user: str, sid: str) -> bool:
        """Delete the session if it expired (not purged yet): ADK sees it as
        gone, so its id is free again. Whether it was."""
        try:
            await resolve(self.store.get(app, user, sid, last=0))
        except ExpiredError:
            await resolve(self.store.delete(app, user, sid))
            return True
        except NotFoundError:
            return True  # deleted meanwhile
        return False

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> AdkSession | None:
        limit = config.num_recent_events if config else None
        after = config.after_timestamp if config else None
        if limit is None:
            limit = self.default_window
        if limit is not None and limit < 0:
            raise ValueError("num_recent_events must be greater than or equal to 0.")
        try:
            stored, events = await self._read(app_name, user_id, session_id, limit, after)
        except (NotFoundError, ExpiredError):
            return None
        return _adk_session(stored, [to_adk(e) for e in events])

    async def _read(self, app: str, user: str, sid: str, limit: int | None,
                    after: float | None) -> tuple[Session, list[Event]]:
        """The session and its newest events, at most ``limit`` of them and
        none older than ``after`` (inclusive), read one bounded window at a
        time from the newest backwards."""
        if limit == 0:
            return await resolve(self.store.get(app, user, sid, last=0)), []
        asked = self._window if limit is None else min(limit, self._window)
        if after is not None:
            asked = min(asked, 100)  # most reads after a time want few events
        stored = await resolve(self.store.get(app, user, sid, last=asked))
        chunk = list(stored.events)
        newest_first: list[Event] = []
        while True:
            for event in reversed(chunk):
                if (limit is not None and len(newest_first) >= limit) or (
                        after is not None and timestamp(event) < after):
                    return stored, newest_first[::-1]
                newest_first.append(event)
            start = chunk[0].seq - 1 if chunk else 0  # seqs are gap-free from 1
            full = limit is not None and len(newest_first) >= limit
            if full or len(chunk) < asked or start <= 0:
                return stored, newest_first[::-1]
            asked = min(self._window, start)
            if limit is not None:
                asked = min(asked, limit - len(newest_first))
            page = await resolve(self.store.events(app, user, sid, after_seq=start - asked,
                                                limit=asked))
            chunk = list(page.items)

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """Every live session (state merged, no events), oldest update first,
        read one bounded page at a time. Use :meth:`list_sessions_page` to
        page through many sessions yourself."""
        found: list[AdkSession] = []
        cursor: str | None = None
        while True:
            sessions, cursor = await self.list_sessions_page(
                app_name=app_name, user_id=user_id, page_size=self._page, cursor=cursor)
            found.extend(sessions)
            if cursor is None:
                break
        found.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=found)

    async def list_sessions_page(
        self, *, app_name: str, user_id: str | None = None, page_size: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[AdkSession], str | None]:
        """One page of sessions in creation order, and the cursor of the next
        page (``None`` on the last one)."""
        page = await resolve(self.store.sessions(app_name, user_id, limit=page_size,
                                              cursor=cursor))
        return [_adk_session(s, []) for s in page.items], page.next_cursor

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        await resolve(self.store.delete(app_name, user_id, session_id))

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's ``user:`` state, without the prefix. Read through one of
        the user's live sessions: ``{}`` when the user has none."""
        page = await resolve(self.store.sessions(app_name, user_id, limit=1))
        if not page.items:
            return {}
        return {k[5:]: v for k, v in page.items[0].state.items() if k.startswith("user:")}

    # -- events ------------------------------------------------------------------
    async def append_event(self, session: AdkSession, event: AdkEvent) -> AdkEvent:
        if event.partial:
            return event
        # As ADK does: temp: keys reach the in-memory session, never the store.
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        if not event.id:
            event.id = AdkEvent.new_id()
        stored = from_adk(event)
        key = (session.app_name, session.user_id, session.id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        # One in-process writer per session at a time, so two appends through
        # the same session object never race each other's version.
        async with lock:
            expected = _version(session)
            if expected is None:
                expected = await self._version_from_events(session)
            try:
                version = await resolve(self.store.append(*key, [stored],
                                                       expected_version=expected))
            except ConflictError as exc:
                raise StaleSessionError(STALE_MESSAGE) from exc
            except (NotFoundError, ExpiredError) as exc:
                raise SessionNotFoundError(f"Session {session.id} not found.") from exc
            _set_version(session, version)
        session.last_update_time = event.timestamp
        return self._commit_event_to_session(session, event)

    async def _version_from_events(self, session: AdkSession) -> int:
        """For a session this service did not hand out: the stored version if
        the store's last event is the session's last event, else stale."""
        try:
            stored = await resolve(self.store.get(session.app_name, session.user_id, session.id,
                                               last=1))
        except (NotFoundError, ExpiredError) as exc:
            raise SessionNotFoundError(f"Session {session.id} not found.") from exc
        last_stored = stored.events[-1].id if stored.events else None
        last_held = session.events[-1].id if session.events else None
        if last_stored != last_held:
            raise StaleSessionError(STALE_MESSAGE)
        return stored.version


def _adk_session(stored: Session, events: list[AdkEvent]) -> AdkSession:
    session = AdkSession(id=stored.id, app_name=stored.app, user_id=stored.user_id,
                         state=dict(stored.state), events=events,
                         last_update_time=stored.updated_at)
    _set_version(session, stored.version)
    return session
