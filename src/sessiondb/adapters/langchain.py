"""LangChain chat history on SessionDB: ``SessionDBChatMessageHistory``.

    >>> import sessiondb
    >>> from sessiondb.adapters.langchain import SessionDBChatMessageHistory
    >>> store = sessiondb.open_store("sqlite:///chats.db")          # doctest: +SKIP
    >>> history = SessionDBChatMessageHistory(store, "chat-1", window=20)  # doctest: +SKIP

A ``langchain_core.chat_history.BaseChatMessageHistory``: use it with
``RunnableWithMessageHistory`` or the classic memory classes
(``ConversationBufferMemory(chat_memory=history)``). Each message is one
SessionDB event: ``role`` from the message type (``user``, ``assistant``,
``system``, ``tool``…), ``content`` the message content, ``data`` the rest
of LangChain's own dict form (``{"type": ..., "data": {...}}``, fields at
their empty defaults left out), so a round trip is lossless, tool calls and
ids included. With ``window=N`` reads return the last N messages and read
only those. Needs ``pip install 'sessiondb[langchain]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

from .. import (
    AsyncSessionStore,
    ConfigurationError,
    ConflictError,
    Event,
    ExpiredError,
    NotFoundError,
    SessionStore,
)

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        ChatMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        messages_from_dict,
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ConfigurationError(
        "sessiondb.adapters.langchain needs LangChain: "
        "pip install 'sessiondb[langchain]'") from exc

__all__ = ["SessionDBChatMessageHistory"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
          "function": "function", "remove": "system"}
_ROLE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_ID = re.compile(r"[A-Za-z0-9_.:@+\-]{1,128}")
T = TypeVar("T")


def message_event(message: BaseMessage) -> dict[str, Any]:
    """The SessionDB event of a LangChain message."""
    kind = message.type
    base = kind.removesuffix("MessageChunk").lower() if kind.endswith("Chunk") else kind
    base = {"aimessage": "ai", "humanmessage": "human"}.get(base, base)
    role = _ROLES.get(base)
    if role is None:
        role = str(getattr(message, "role", "")) if base == "chat" else "chat"
        role = role if _ROLE.fullmatch(role) else "chat"
    fields = {k: v for k, v in message.model_dump().items() if k not in ("content", "type")
              and v is not None and not (type(v) in (dict, list) and not v)}
    event_kind = "tool_call" if getattr(message, "tool_calls", None) else (
        "tool_result" if base == "tool" else "message")
    return {"role": role, "kind": event_kind, "content": message.content,
            "data": {"type": kind, "data": fields}}


def event_message(event: Event) -> BaseMessage | None:
    """The LangChain message of an event (``None`` for state and other
    non-message events). Events written by something else become the message
    class their role suggests."""
    data = event.data or {}
    if isinstance(data.get("type"), str) and isinstance(data.get("data"), dict):
        fields = {**data["data"], "content": "" if event.content is None else event.content}
        return messages_from_dict([{"type": data["type"], "data": fields}])[0]
    if event.kind in ("state", "custom"):
        return None
    content = event.content if isinstance(event.content, str | list) else (
        "" if event.content is None else json.dumps(event.content, ensure_ascii=False))
    if event.role == "user":
        return HumanMessage(content)
    if event.role == "assistant":
        return AIMessage(content)
    if event.role == "system":
        return SystemMessage(content)
    if event.role == "tool":
        return ToolMessage(content, tool_call_id=str(data.get("tool_call_id", "")))
    return ChatMessage(content=content, role=event.role)


class SessionDBChatMessageHistory(BaseChatMessageHistory):
    """A chat history kept as one SessionDB session.

    ``store`` is a :class:`~sessiondb.SessionStore` (sync and async methods
    work; the async ones run the store call in a worker thread) or an
    :class:`~sessiondb.AsyncSessionStore` (async methods only; the sync ones
    raise :class:`~sessiondb.ConfigurationError`). The session is
    ``(app, user_id, session_id)``; a ``session_id`` that is not a valid
    SessionDB id is stored as ``lc.<hash>``. It is created on the first
    message, with ``idle_ttl`` / ``max_lifetime``; an expired history reads
    empty. ``window=N`` makes reads return (and read) only the last N
    messages; ``clear()`` deletes the session.
    """

    def __init__(
        self,
        store: SessionStore | AsyncSessionStore,
        session_id: str,
        *,
        app: str = "langchain",
        user_id: str = "default",
        window: int | None = None,
        idle_ttl: float | None = None,
        max_lifetime: float | None = None,
    ) -> None:
        if not isinstance(store, SessionStore | AsyncSessionStore):
            raise ConfigurationError(
                "SessionDBChatMessageHistory needs a sessiondb.SessionStore or "
                f"AsyncSessionStore, not {type(store).__name__}")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                                   or window < 1):
            raise ValueError("window must be a positive number of messages or None")
        self.store = store
        self.app = app
        self.user_id = user_id
        self.session_id = str(session_id)
        self.window = window
        self.idle_ttl = idle_ttl
        self.max_lifetime = max_lifetime
        self._sid = self.session_id if _ID.fullmatch(self.session_id) else \
            "lc." + hashlib.sha256(self.session_id.encode()).hexdigest()[:32]
        self._page = min(store.limits.max_window, 1000)
        self._batch = store.limits.max_events_per_append

    @property
    def _key(self) -> tuple[str, str, str]:
        return (self.app, self.user_id, self._sid)

    def _sync(self) -> SessionStore:
        if isinstance(self.store, AsyncSessionStore):
            raise ConfigurationError(
                "this SessionDBChatMessageHistory was given an AsyncSessionStore, so only "
                "its async methods work (aget_messages, aadd_messages, aclear); for sync use "
                "give it a SessionStore (sessiondb.open_store)")
        return self.store

    # -- the operations, once, as plans of store calls ---------------------
    def _read(self) -> _Plan[list[BaseMessage]]:
        events: list[Event] = []
        try:
            if self.window is not None:  # the newest events, backwards by pages
                before = None
                while len(events) < self.window:
                    size = min(self.window - len(events), self._page)
                    got = (yield ("get", self._key, {"last": size, "before_seq": before})).events
                    events[:0] = got
                    if len(got) < size:
                        break
                    before = got[0].seq
            else:
                after = 0
                while True:
                    page = yield ("events", self._key, {"after_seq": after, "limit": self._page})
                    events.extend(page.items)
                    if page.next_cursor is None or not page.items:
                        break
                    after = page.items[-1].seq
        except (NotFoundError, ExpiredError):
            return []
        return [m for m in map(event_message, events) if m is not None]

    def _add(self, messages: Sequence[BaseMessage]) -> _Plan[None]:
        events = [message_event(m) for m in messages]
        for start in range(0, len(events), self._batch):
            batch = events[start:start + self._batch]
            try:
                yield ("append", self._key, {"events": batch})
            except (NotFoundError, ExpiredError) as exc:
                if isinstance(exc, ExpiredError):
                    yield ("delete", self._key, {})
                with contextlib.suppress(ConflictError):  # created meanwhile: fine
                    yield ("create", self._key, {
                        "idle_ttl": self.idle_ttl, "max_lifetime": self.max_lifetime,
                        "metadata": {"lc.session": self.session_id[:512]}})
                yield ("append", self._key, {"events": batch})

    def _clear(self) -> _Plan[None]:
        yield ("delete", self._key, {})

    # -- sync -----------------------------------------------------------------
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The messages, oldest first (the last ``window`` of them, if set)."""
        return _run(self._sync(), self._read())

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages``: one atomic append per 100 messages."""
        _run(self._sync(), self._add(messages))

    def clear(self) -> None:
        """Delete the history (its session)."""
        _run(self._sync(), self._clear())

    # -- async ----------------------------------------------------------------
    async def aget_messages(self) -> list[BaseMessage]:
        return await _arun(self.store, self._read())

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await _arun(self.store, self._add(messages))

    async def aclear(self) -> None:
        await _arun(self.store, self._clear())

    def __repr__(self) -> str:
        return (f"<SessionDBChatMessageHistory app={self.app!r} user={self.user_id!r} "
                f"session={self.session_id!r} window={self.window}>")


_Plan = Generator[tuple[str, tuple[str, str, str], dict[str, Any]], Any, T]


def _run(store: SessionStore, plan: _Plan[T]) -> T:
    """Run a plan's store calls on a sync store."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            name, args, kwargs = plan.throw(error) if error else plan.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = getattr(store, name)(*args, **kwargs)
        except Exception as exc:  # handed to the plan, which decides
            error = exc


async def _arun(store: SessionStore | AsyncSessionStore, plan: _Plan[T]) -> T:
    """Run a plan's store calls on an async store, or on a sync one with a
    worker-thread hop per call."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            name, args, kwargs = plan.throw(error) if error else plan.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        method = getattr(store, name)
        try:
            if isinstance(store, AsyncSessionStore):
                value = await method(*args, **kwargs)
            else:
                value = await asyncio.to_thread(method, *args, **kwargs)
        except Exception as exc:
            error = exc
