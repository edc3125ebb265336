"""``SessionDBMemoryService``: ADK's ``BaseMemoryService`` on a SessionDB store.

What a session adds to memory is copied into one memory session per user,
``(f"{app_name}.memory", user_id, "memory")``, so it outlives the session it
came from. Each event with content becomes one SessionDB event (its text as
``content``, the ADK content and provenance in ``data["adk_memory"]``). A
watermark per source session (in the memory session's state, written in the
same append) makes adding a session again add only its new events.
``search_memory`` is keyword search for now: events sharing the most words
with the query, read a bounded page at a time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.adk.memory.base_memory_service import BaseMemoryService, SearchMemoryResponse
from google.adk.memory.memory_entry import MemoryEntry
from google.genai import types

from ...errors import ConflictError, NotFoundError
from .._bridge import resolve

if TYPE_CHECKING:
    from google.adk.events.event import Event as AdkEvent
    from google.adk.sessions.session import Session as AdkSession

    from ..._async_store import AsyncSessionStore
    from ...models import Session
    from ...store import SessionStore

DATA_KEY = "adk_memory"
MEMORY_SESSION = "memory"
_RETRIES = 8


def memory_app(app_name: str) -> str:
    """The SessionDB app holding the memory of ADK app ``app_name``."""
    return f"{app_name}.memory"


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", unicodedata.normalize("NFC", text).lower()))


class SessionDBMemoryService(BaseMemoryService):
    """Long-term memory of a user's conversations, kept in SessionDB."""

    def __init__(self, store: AsyncSessionStore | SessionStore, *, max_results: int = 10) -> None:
        self.store = store
        self.max_results = max_results
        limits = getattr(store, "limits", None)
        self._window: int = getattr(limits, "max_window", 1000)
        self._batch: int = getattr(limits, "max_events_per_append", 100)

    async def add_session_to_memory(self, session: AdkSession) -> None:
        await self._add(session.app_name, session.user_id, session.id, session.events)

    async def add_events_to_memory(
        self,
        *,
        app_name: str,
        user_id: str,
        events: Sequence[AdkEvent],
        session_id: str | None = None,
        custom_metadata: Mapping[str, object] | None = None,
    ) -> None:
        await self._add(app_name, user_id, session_id or "_", events)

    async def _add(self, app_name: str, user_id: str, source: str,
                   events: Sequence[AdkEvent]) -> None:
        events = sorted((e for e in events if e.content and e.content.parts),
                        key=lambda e: e.timestamp)
        if not events:
            return
        app, key = memory_app(app_name), f"ingested:{source}"
        for _ in range(_RETRIES):
            stored = await self._open(app, user_id)
            mark = stored.state.get(key) or {"ts": None, "ids": []}
            new = [e for e in events if mark["ts"] is None or e.timestamp > mark["ts"]
                   or (e.timestamp == mark["ts"] and e.id not in mark["ids"])]
            if not new:
                return
            version = stored.version
            try:
                for start in range(0, len(new), self._batch):
                    batch = new[start:start + self._batch]
                    mark = _advance(mark, batch)
                    version = await resolve(self.store.append(
                        app, user_id, MEMORY_SESSION, [_memory_event(e, source) for e in batch],
                        state_delta={key: mark}, expected_version=version))
                return
            except ConflictError:
                continue  # another writer added to this memory: read it again
        raise ConflictError(f"the memory of user {user_id!r} kept changing; retry")

    async def _open(self, app: str, user_id: str) -> Session:
        try:
            return await resolve(self.store.get(app, user_id, MEMORY_SESSION, last=0))
        except NotFoundError:
            try:
                return await resolve(self.store.create(app, user_id, MEMORY_SESSION))
            except ConflictError:
                return await resolve(self.store.get(app, user_id, MEMORY_SESSION, last=0))

    async def search_memory(
        self, *, app_name: str, user_id: str, query: str
    ) -> SearchMemoryResponse:
        wanted = _words(query)
        scored: list[tuple[int, int, dict[str, Any]]] = []
        cursor: str | None = None
        app = memory_app(app_name)
        while wanted:
            try:
                page = await resolve(self.store.events(app, user_id, MEMORY_SESSION,
                                                    limit=self._window, cursor=cursor))
            except NotFoundError:
                break
            for event in page.items:
                memory = (event.data or {}).get(DATA_KEY)
                if not isinstance(memory, Mapping) or not isinstance(event.content, str):
                    continue
                score = len(wanted & _words(event.content))
                if score:
                    scored.append((-score, event.seq, dict(memory)))
            cursor = page.next_cursor
            if cursor is None:
                break
        scored.sort(key=lambda item: (item[0], item[1]))
        return SearchMemoryResponse(memories=[_entry(m) for _, _, m in
                                              scored[:self.max_results]])


def _advance(mark: dict[str, Any], batch: list[AdkEvent]) -> dict[str, Any]:
    """The watermark after ``batch`` (sorted by time) is stored."""
    top = batch[-1].timestamp
    ids = [e.id for e in batch if e.timestamp == top]
    if mark["ts"] == top:
        ids = [*mark["ids"], *ids]
    return {"ts": top, "ids": ids}


def _memory_event(event: AdkEvent, source: str) -> dict[str, Any]:
    assert event.content is not None
    text = "\n".join(p.text for p in event.content.parts or () if p.text and not p.thought)
    return {
        "role": "user" if event.author == "user" else "assistant",
        "content": text,
        "data": {DATA_KEY: {
            "id": event.id, "author": event.author, "timestamp": event.timestamp,
            "session_id": source,
            "content": event.content.model_dump(mode="json", by_alias=True, exclude_none=True),
        }},
    }


def _entry(memory: Mapping[str, Any]) -> MemoryEntry:
    return MemoryEntry(
        id=memory.get("id"), author=memory.get("author"),
        content=types.Content.model_validate(memory["content"]),
        timestamp=datetime.fromtimestamp(memory["timestamp"]).isoformat(),
        custom_metadata={"session_id": memory.get("session_id")})
