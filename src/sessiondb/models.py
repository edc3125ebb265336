"""The values SessionDB hands out: frozen dataclasses holding plain JSON data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = ["EVENT_KINDS", "Event", "Page", "Session"]

#: The kinds an event may have. ``state`` events are written by ``update_state``.
EVENT_KINDS = frozenset({"message", "tool_call", "tool_result", "state", "custom"})

T = TypeVar("T")


class Event(NamedTuple):
    """One immutable entry of a session's event log.

    To append, give ``role`` and ``content`` (and optionally ``kind``, ``data``,
    ``id``, ``state_delta``); ``seq`` and ``created_at`` are assigned by the
    store. ``content`` is any JSON value (usually the message text); ``data``
    is an optional JSON object for structured extras such as tool arguments.

    An immutable named tuple rather than a frozen dataclass: a read builds
    many events, and a tuple is built several times faster.
    """

    role: str
    content: Any = None
    kind: str = "message"
    data: Mapping[str, Any] | None = None
    id: str = ""
    seq: int = 0
    created_at: float = 0.0
    state_delta: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict (the form ``append`` also accepts)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "role": self.role,
            "kind": self.kind,
            "content": self.content,
            "data": dict(self.data) if self.data is not None else None,
            "state_delta": dict(self.state_delta) if self.state_delta is not None else None,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True, init=False)
class Session:
    """A session as read: its merged state and a bounded window of events.

    ``state`` is the merged view: the session's own keys, plus the app's keys
    (``app:…``) and the user's keys (``user:…``). ``version`` is the ``seq`` of
    the session's last committed change (0 for a new session). Times are Unix
    seconds; ``expires_at`` is ``None`` when the session never expires.
    """

    app: str
    user_id: str
    id: str
    state: Mapping[str, Any]
    version: int
    events: tuple[Event, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: float | None = None

    def __init__(self, app: str, user_id: str, id: str, state: Mapping[str, Any],
                 version: int, events: tuple[Event, ...] = (),
                 metadata: Mapping[str, str] | None = None, created_at: float = 0.0,
                 updated_at: float = 0.0, expires_at: float | None = None) -> None:
        # What a frozen dataclass's own __init__ does, through the slots'
        # setters directly: about half the cost (every read builds a Session).
        _set_app(self, app)
        _set_user_id(self, user_id)
        _set_id(self, id)
        _set_state(self, state)
        _set_version(self, version)
        _set_events(self, events)
        _set_metadata(self, {} if metadata is None else metadata)
        _set_created_at(self, created_at)
        _set_updated_at(self, updated_at)
        _set_expires_at(self, expires_at)

    def to_dict(self) -> dict[str, Any]:
        """The session as a JSON-ready dict."""
        return {
            "app": self.app,
            "user_id": self.user_id,
            "id": self.id,
            "version": self.version,
            "state": dict(self.state),
            "metadata": dict(self.metadata),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "events": [e.to_dict() for e in self.events],
        }


(_set_app, _set_user_id, _set_id, _set_state, _set_version, _set_events, _set_metadata,
 _set_created_at, _set_updated_at, _set_expires_at) = (
    Session.__dict__[name].__set__ for name in (
        "app", "user_id", "id", "state", "version", "events", "metadata", "created_at",
        "updated_at", "expires_at"))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing. Pass ``next_cursor`` back to get the next page;
    it is ``None`` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
