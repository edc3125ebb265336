"""The typed inputs and results of the MCP tools.

Each tool returns one of these pydantic models, so the SDK publishes its JSON
schema as the tool's ``outputSchema`` and sends the value as
``structuredContent``. None of them carries the app or the user: those are the
server's, never the model's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import EVENT_KINDS, Event, Session

#: The event kinds as a JSON-schema enum, built from the one list in ``models``.
EventKind = Literal[tuple(sorted(EVENT_KINDS))]  # type: ignore[valid-type]

_SEQ = "the event's position in the session's log: 1, 2, 3, …"
_TIME = "Unix seconds"


class EventIn(BaseModel):
    """One event to append."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="who wrote it: user, assistant, tool, system, …")
    content: Any = Field(None, description="any JSON value; usually the message text")
    kind: EventKind = Field("message", description="what the event records")
    data: dict[str, Any] | None = Field(
        None, description="structured extras, such as a tool call's arguments")
    state_delta: dict[str, Any] | None = Field(
        None, description="state keys this event sets (null deletes a key)")
    id: str | None = Field(None, description="the event's id (default: a new random id)")

    def to_store(self) -> dict[str, Any]:
        """The event as ``AsyncSessionStore.append`` takes it."""
        return self.model_dump(exclude_none=True)


class EventOut(BaseModel):
    """One stored event."""

    seq: int = Field(description=_SEQ)
    id: str
    role: str
    kind: str
    content: Any = None
    data: dict[str, Any] | None = None
    state_delta: dict[str, Any] | None = Field(
        None, description="the state keys this event changed (null: deleted)")
    created_at: float = Field(description=_TIME)

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(seq=event.seq, id=event.id, role=event.role, kind=event.kind,
                   content=event.content,
                   data=dict(event.data) if event.data is not None else None,
                   state_delta=(dict(event.state_delta) if event.state_delta is not None
                                else None),
                   created_at=event.created_at)


class SessionSummary(BaseModel):
    """A session without its state or events."""

    session_id: str
    version: int = Field(description="the seq of the session's last change (0 when new); "
                                     "pass it as expected_version to detect a concurrent write")
    metadata: dict[str, str]
    created_at: float = Field(description=_TIME)
    updated_at: float = Field(description=_TIME)
    expires_at: float | None = Field(description=f"{_TIME}; null: never expires")

    @classmethod
    def fields_of(cls, session: Session) -> dict[str, Any]:
        return {"session_id": session.id, "version": session.version,
                "metadata": dict(session.metadata), "created_at": session.created_at,
                "updated_at": session.updated_at, "expires_at": session.expires_at}

    @classmethod
    def of(cls, session: Session) -> SessionSummary:
        return cls(**cls.fields_of(session))


class SessionState(SessionSummary):
    """A session with its merged state."""

    state: dict[str, Any] = Field(
        description="the session's keys plus the shared app: and user: keys")

    @classmethod
    def of(cls, session: Session) -> SessionState:
        return cls(**cls.fields_of(session), state=dict(session.state))


class SessionDetail(SessionState):
    """A session with its merged state and its newest events."""

    events: list[EventOut] = Field(description="the newest events, oldest first")

    @classmethod
    def of(cls, session: Session) -> SessionDetail:
        return cls(**cls.fields_of(session), state=dict(session.state),
                   events=[EventOut.of(e) for e in session.events])


class SharedState(BaseModel):
    """The state shared beyond one session."""

    state: dict[str, Any] = Field(
        description="the user's user: keys and the app's app: keys, named as in a "
                    "session's merged state")


class SessionPage(BaseModel):
    """One page of sessions, oldest first."""

    sessions: list[SessionSummary]
    next_cursor: str | None = Field(
        description="pass back as cursor for the next page; null on the last page")


class EventPage(BaseModel):
    """One page of events, oldest first."""

    events: list[EventOut]
    next_cursor: str | None = Field(
        description="pass back as cursor for the next page; null on the last page")


class WriteResult(BaseModel):
    """What an append or a state update committed."""

    session_id: str
    version: int = Field(description="the session's version after the write")


class DeleteResult(BaseModel):
    """What a delete did."""

    session_id: str
    deleted: bool = Field(description="false when there was no such session")
