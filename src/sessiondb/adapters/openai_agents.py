"""OpenAI Agents SDK sessions on SessionDB.

    from sessiondb.adapters.openai_agents import SessionDBSession

    session = SessionDBSession.from_url("chat-42", "sqlite:///agents.db", user_id="alice")
    result = await Runner.run(agent, "Hello", session=session)

:class:`SessionDBSession` implements the ``agents.memory.Session`` protocol
(``get_items``, ``add_items``, ``pop_item``, ``clear_session``) and adds what
the SDK's sessions lack: a scoped JSON state, listing a user's sessions, idle
and absolute expiry, metadata. Each item is one SessionDB event holding the
item dict unchanged in ``data["openai_item"]``; ``pop_item`` appends a marker
(``data["openai_pop"]``, the popped event's ``seq``) since the log is
append-only, and ``clear_session`` deletes the session for good.

Needs the ``openai-agents`` extra (``pip install 'sessiondb[openai-agents]'``).
See docs/integrations/openai_agents.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigurationError, ConflictError, ExpiredError, NotFoundError
from ._bridge import resolve

try:
    from agents.memory.session_settings import SessionSettings, resolve_session_limit
except ImportError as exc:  # pragma: no cover - exercised with the module hidden
    raise ConfigurationError(
        "sessiondb.adapters.openai_agents needs the OpenAI Agents SDK: "
        "pip install 'sessiondb[openai-agents]'") from exc

if TYPE_CHECKING:
    from datetime import timedelta

    from .._async_store import AsyncSessionStore
    from ..models import Event, Page, Session
    from ..store import SessionStore

__all__ = ["DATA_KEY", "DEFAULT_APP", "POP_KEY", "SessionDBSession"]

DATA_KEY = "openai_item"
POP_KEY = "openai_pop"
DEFAULT_APP = "openai-agents"
_RETRIES = 16
T = TypeVar("T")


class SessionDBSession:
    """One conversation of the OpenAI Agents SDK, stored in SessionDB.

    Addressed by ``(app, user_id, session_id)``; created on the first write
    with ``idle_ttl``, ``max_lifetime`` and ``metadata``. ``store`` is an
    :class:`~sessiondb.AsyncSessionStore` or a sync
    :class:`~sessiondb.SessionStore`. Every read is bounded: ``get_items(limit)``
    reads a window of the newest events, never the whole history.
    """

    def __init__(
        self,
        session_id: str,
        store: AsyncSessionStore | SessionStore,
        *,
        app: str = DEFAULT_APP,
        user_id: str = "default",
        idle_ttl: float | timedelta | None = None,
        max_lifetime: float | timedelta | None = None,
        metadata: Mapping[str, str] | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.store = store
        self.app = app
        self.user_id = user_id
        self.idle_ttl = idle_ttl
        self.max_lifetime = max_lifetime
        self.metadata = dict(metadata or {})
        self.session_settings = session_settings
        limits = getattr(store, "limits", None)
        self._window: int = getattr(limits, "max_window", 1000)
        self._batch: int = getattr(limits, "max_events_per_append", 100)
        self._owns_store = False

    @classmethod
    def from_url(cls, session_id: str, url: str | None = None, **kwargs: Any) -> SessionDBSession:
        """A session on a new async store for ``url`` (see
        :func:`sessiondb.open_async_store`); :meth:`close` closes the store."""
        from .. import open_async_store

        session = cls(session_id, open_async_store(url), **kwargs)
        session._owns_store = True
        return session

    async def close(self) -> None:
        """Close the store if this session opened it (``from_url``)."""
        if self._owns_store:
            await resolve(self.store.close())

    @property
    def _key(self) -> tuple[str, str, str]:
        return self.app, self.user_id, self.session_id

    # -- the agents.memory.Session protocol ------------------------------------
    async def get_items(self, limit: int | None = None) -> list[Any]:
        """The latest ``limit`` items (all when ``None``), oldest first."""
        limit = resolve_session_limit(limit, self.session_settings)
        if limit == 0:
            return []
        try:
            _, found = await self._latest(limit if limit is None or limit > 0 else None)
        except (NotFoundError, ExpiredError):
            return []
        return [item for _, item in found]

    async def add_items(self, items: list[Any]) -> None:
        """Store ``items`` in order; each batch of up to
        ``limits.max_events_per_append`` items is one atomic append."""
        events = [_event(item) for item in items]
        for start in range(0, len(events), self._batch):
            await self._write(lambda batch=events[start:start + self._batch]: self.store.append(
                *self._key, batch))

    async def pop_item(self) -> Any | None:
        """Remove and return the newest item (``None`` if there is none).

        Appends a marker naming the popped event, guarded by the version the
        item was read at, so a concurrent write makes it read again rather
        than pop the wrong item."""
        for _ in range(_RETRIES):
            try:
                version, found = await self._latest(1)
                if not found:
                    return None
                seq, item = found[-1]
                await resolve(self.store.append(
                    *self._key, [{"role": "system", "kind": "custom", "data": {POP_KEY: seq}}],
                    expected_version=version))
                return item
            except (NotFoundError, ExpiredError):
                return None
            except ConflictError:
                continue
        raise ConflictError(f"session {self.session_id!r} kept changing while popping; retry")

    async def clear_session(self) -> None:
        """Delete the session: its items, its own state and its metadata
        (``app:`` and ``user:`` state stay). The next write starts afresh."""
        await resolve(self.store.delete(*self._key))

    # -- SessionDB extras ------------------------------------------------------
    async def state(self) -> dict[str, Any]:
        """The merged state: own keys, ``user:`` and ``app:`` keys (``{}``
        before the first write)."""
        info = await self.info()
        return dict(info.state) if info else {}

    async def update_state(self, delta: Mapping[str, Any],
                           expected_version: int | None = None) -> int:
        """Apply a state delta (``None`` deletes a key; ``temp:`` keys are
        dropped); the new version. ``ConflictError`` if ``expected_version``
        is given and stale."""
        return await self._write(lambda: self.store.update_state(
            *self._key, delta, expected_version=expected_version))

    async def info(self) -> Session | None:
        """The stored session without its events (version, state, metadata,
        times, ``expires_at``), or ``None`` if it does not exist or expired."""
        try:
            return await resolve(self.store.get(*self._key, last=0))
        except (NotFoundError, ExpiredError):
            return None

    async def touch(self) -> float | None:
        """Slide the idle expiry; the new ``expires_at``."""
        return await resolve(self.store.touch(*self._key))

    @classmethod
    async def list_sessions(
        cls,
        store: AsyncSessionStore | SessionStore,
        user_id: str | None = None,
        *,
        app: str = DEFAULT_APP,
        metadata: Mapping[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Session]:
        """One page of the live sessions of ``app`` (of one user if given),
        oldest first, without events; pass ``next_cursor`` back for more."""
        return await resolve(store.sessions(app, user_id, metadata=metadata, limit=limit,
                                          cursor=cursor))

    # -- internals -------------------------------------------------------------
    async def _write(self, write: Any) -> Any:
        """Run ``write()``, creating the session first if it is missing, or
        replacing it if it expired."""
        try:
            return await resolve(write())
        except NotFoundError:
            pass
        except ExpiredError:
            await resolve(self.store.delete(*self._key))
        with contextlib.suppress(ConflictError):  # created meanwhile by another writer
            await resolve(self.store.create(*self._key, idle_ttl=self.idle_ttl,
                                          max_lifetime=self.max_lifetime,
                                          metadata=self.metadata or None))
        return await resolve(write())

    async def _latest(self, limit: int | None) -> tuple[int, list[tuple[int, Any]]]:
        """The session's version and its newest ``limit`` live items as
        ``(seq, item)``, oldest first, read window by window backwards.

        Each pop marker removes the newest item before it that is not
        removed already, so reading backwards a counter of pending markers
        says which items are gone."""
        asked = self._window if limit is None else min(self._window, limit + 4)
        stored = await resolve(self.store.get(*self._key, last=asked))
        chunk: list[Event] = list(stored.events)
        found: list[tuple[int, Any]] = []
        pending = 0
        while True:
            for event in reversed(chunk):
                data = event.data
                if not data:
                    continue
                if POP_KEY in data:
                    pending += 1
                elif DATA_KEY in data:
                    if pending:
                        pending -= 1
                        continue
                    found.append((event.seq, data[DATA_KEY]))
                    if limit is not None and len(found) >= limit:
                        return stored.version, found[::-1]
            start = chunk[0].seq - 1 if chunk else 0  # seqs are gap-free from 1
            if len(chunk) < asked or start <= 0:
                return stored.version, found[::-1]
            asked = min(self._window, start)
            page = await resolve(self.store.events(*self._key, after_seq=start - asked,
                                                 limit=asked))
            chunk = list(page.items)

    def __repr__(self) -> str:
        return f"<SessionDBSession {self.app}/{self.user_id}/{self.session_id}>"


def _event(item: Any) -> dict[str, Any]:
    """The SessionDB event holding one SDK item."""
    kind = item.get("type") if isinstance(item, Mapping) else None
    role = item.get("role") if isinstance(item, Mapping) else None
    if isinstance(kind, str) and kind.endswith("_output"):
        output = item.get("output")
        return {"role": "tool", "kind": "tool_result",
                "content": output if isinstance(output, str) else None,
                "data": {DATA_KEY: item}}
    if isinstance(kind, str) and kind.endswith("_call"):
        return {"role": "assistant", "kind": "tool_call", "content": item.get("name"),
                "data": {DATA_KEY: item}}
    if isinstance(role, str) and kind in (None, "message"):
        return {"role": role, "kind": "message", "content": _text(item.get("content")),
                "data": {DATA_KEY: item}}
    return {"role": "assistant", "kind": "custom", "data": {DATA_KEY: item}}


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [str(p.get("text") or p.get("refusal") or "") for p in content
                 if isinstance(p, Mapping)]
        return "\n".join(t for t in texts if t) or None
    return None
