"""The MCP tools: one per store operation, each within the request's scope.

No tool takes an app or a user. Every tool resolves the scope first and
passes it to the store, so an id from another user or app is "not found".
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from .._async_store import AsyncSessionStore
from .._core.state import APP_PREFIX, USER_PREFIX
from ..errors import InvalidInputError
from ._errors import tool_errors
from ._models import (
    DeleteResult,
    EventIn,
    EventOut,
    EventPage,
    SessionDetail,
    SessionPage,
    SessionState,
    SessionSummary,
    SharedState,
    WriteResult,
)
from ._scope import ScopeOf

SessionId = Annotated[str, Field(description="the session's id")]
NewSessionId = Annotated[str | None, Field(
    description="the new session's id (default: a new random id)")]
JsonObject = Annotated[dict[str, Any] | None, Field(
    description="state keys to set; a null value deletes the key. Prefixes: user: keys are "
                "shared by all your sessions, temp: keys are not stored")]
ExpectedVersion = Annotated[int | None, Field(
    description="refuse the write with a conflict unless the session is still at this version")]
Cursor = Annotated[str | None, Field(description="next_cursor from the previous page")]

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                           open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                              open_world_hint=False)


def register_tools(server: MCPServer, store: AsyncSessionStore, scope_of: ScopeOf, *,
                   allow_app_state: bool) -> None:
    """Add the session tools and the shared-state tools to ``server``."""

    def writable(delta: Mapping[str, Any] | None, field: str) -> Mapping[str, Any] | None:
        if delta and not allow_app_state and any(k.startswith(APP_PREFIX) for k in delta):
            raise InvalidInputError(
                f"{field}: {APP_PREFIX} keys are shared by every user of the app and this "
                "server does not let a model write them", field=field)
        return delta

    def tool(title: str, annotations: ToolAnnotations
             ) -> Callable[[Callable[..., Awaitable[Any]]], None]:
        def add(fn: Callable[..., Awaitable[Any]]) -> None:
            @functools.wraps(fn)
            async def mapped(*args: Any, **kwargs: Any) -> Any:
                with tool_errors():
                    return await fn(*args, **kwargs)

            server.add_tool(mapped, title=title, annotations=annotations, structured_output=True)

        return add

    @tool("Create a session", ADDITIVE)
    async def session_create(
        ctx: Context,
        session_id: NewSessionId = None,
        state: JsonObject = None,
        metadata: Annotated[dict[str, str] | None, Field(
            description="string labels to find the session by in session_list")] = None,
    ) -> SessionState:
        """Create a new session, optionally with initial state and metadata."""
        app, user = await scope_of(ctx)
        session = await store.create(app, user, session_id, state=writable(state, "state"),
                                     metadata=metadata)
        return SessionState.of(session)

    @tool("Read a session", READ_ONLY)
    async def session_get(
        ctx: Context,
        session_id: SessionId,
        last: Annotated[int, Field(description="how many of the newest events to include")] = 20,
    ) -> SessionDetail:
        """Read a session: its merged state, version and newest events."""
        app, user = await scope_of(ctx)
        return SessionDetail.of(await store.get(app, user, session_id, last=last))

    @tool("List sessions", READ_ONLY)
    async def session_list(
        ctx: Context,
        limit: Annotated[int, Field(description="at most this many sessions")] = 20,
        cursor: Cursor = None,
        metadata: Annotated[dict[str, str] | None, Field(
            description="only sessions whose metadata has all these key-value pairs")] = None,
    ) -> SessionPage:
        """List your live sessions, oldest first, a page at a time."""
        app, user = await scope_of(ctx)
        page = await store.sessions(app, user, metadata=metadata, limit=limit, cursor=cursor)
        return SessionPage(sessions=[SessionSummary.of(s) for s in page],
                           next_cursor=page.next_cursor)

    @tool("Append events", ADDITIVE)
    async def events_append(
        ctx: Context,
        session_id: SessionId,
        events: Annotated[list[EventIn], Field(description="the events, in order")],
        state_delta: JsonObject = None,
        expected_version: ExpectedVersion = None,
        idempotency_key: Annotated[str | None, Field(
            description="a retry with the same key is stored once")] = None,
    ) -> WriteResult:
        """Append events to a session's log and apply a state delta, atomically."""
        app, user = await scope_of(ctx)
        for i, event in enumerate(events):
            writable(event.state_delta, f"events[{i}].state_delta")
        version = await store.append(
            app, user, session_id, [e.to_store() for e in events],
            state_delta=writable(state_delta, "state_delta"),
            expected_version=expected_version, idempotency_key=idempotency_key)
        return WriteResult(session_id=session_id, version=version)

    @tool("Read events", READ_ONLY)
    async def events_read(
        ctx: Context,
        session_id: SessionId,
        after_seq: Annotated[int, Field(description="start after this seq (0: the start)")] = 0,
        limit: Annotated[int, Field(description="at most this many events")] = 50,
        cursor: Cursor = None,
    ) -> EventPage:
        """Read a session's events in order, a page at a time."""
        app, user = await scope_of(ctx)
        page = await store.events(app, user, session_id, after_seq=after_seq, limit=limit,
                                  cursor=cursor)
        return EventPage(events=[EventOut.of(e) for e in page], next_cursor=page.next_cursor)

    @tool("Update state", ADDITIVE)
    async def state_update(
        ctx: Context,
        session_id: SessionId,
        delta: Annotated[dict[str, Any], Field(
            description="state keys to set; a null value deletes the key")],
        expected_version: ExpectedVersion = None,
    ) -> WriteResult:
        """Set or delete state keys (recorded in the log as a state event, so
        earlier values stay readable there)."""
        app, user = await scope_of(ctx)
        version = await store.update_state(app, user, session_id, writable(delta, "delta") or {},
                                           expected_version=expected_version)
        return WriteResult(session_id=session_id, version=version)

    @tool("Fork a session", ADDITIVE)
    async def session_fork(
        ctx: Context,
        session_id: SessionId,
        at_seq: Annotated[int, Field(description="keep the events up to this seq")],
        new_session_id: NewSessionId = None,
    ) -> SessionState:
        """Copy a session's events up to a seq, with its state as it was then,
        into a new session."""
        app, user = await scope_of(ctx)
        return SessionState.of(await store.fork(app, user, session_id, at_seq, new_session_id))

    async def shared(app: str, user: str) -> SharedState:
        own, everyone = await store.shared_state(app, user), await store.shared_state(app)
        return SharedState(state={**{USER_PREFIX + k: v for k, v in own.items()},
                                  **{APP_PREFIX + k: v for k, v in everyone.items()}})

    @tool("Read shared state", READ_ONLY)
    async def shared_state_get(ctx: Context) -> SharedState:
        """Read the state shared beyond one session: your user: keys (every
        session of yours sees them) and the app's app: keys (every user's)."""
        app, user = await scope_of(ctx)
        return await shared(app, user)

    # Destructive in MCP's sense: it overwrites values and records no event.
    @tool("Update shared state", DESTRUCTIVE)
    async def shared_state_update(
        ctx: Context,
        delta: Annotated[dict[str, Any], Field(
            description="user: keys (or, where the server allows it, app: keys) to set; "
                        "a null value deletes the key. One scope per call.")],
    ) -> SharedState:
        """Set or delete shared state keys without a session: user: keys are
        seen by every session of yours. The change is atomic; earlier values
        are not kept."""
        app, user = await scope_of(ctx)
        if not delta:
            return await shared(app, user)
        scopes = {APP_PREFIX if k.startswith(APP_PREFIX) else
                  USER_PREFIX if k.startswith(USER_PREFIX) else "" for k in delta}
        if scopes - {APP_PREFIX, USER_PREFIX} or len(scopes) != 1:
            raise InvalidInputError(
                "delta: give user: keys or app: keys, one scope per call (a key without "
                "either belongs to a session: use state_update)", field="delta")
        (prefix,) = scopes
        unprefixed = {k[len(prefix):]: v for k, v in writable(delta, "delta").items()}
        await store.update_shared_state(app, unprefixed,
                                        user if prefix == USER_PREFIX else None)
        return await shared(app, user)

    @tool("Delete a session", DESTRUCTIVE)
    async def session_delete(ctx: Context, session_id: SessionId) -> DeleteResult:
        """Delete a session with all its events and state. This cannot be undone."""
        app, user = await scope_of(ctx)
        return DeleteResult(session_id=session_id,
                            deleted=await store.delete(app, user, session_id))
