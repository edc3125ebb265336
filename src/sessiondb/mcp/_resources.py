"""A session's state and newest events as MCP resources (JSON), in the
request's scope like the tools."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

from .._async_store import AsyncSessionStore
from ._errors import resource_errors
from ._models import EventOut
from ._scope import ScopeOf

STATE_URI = "sessiondb://sessions/{session_id}/state"
EVENTS_URI = "sessiondb://sessions/{session_id}/events{?last}"
#: Events in the events resource when the URI gives no ``last``.
DEFAULT_LAST = 50

_JSON = "application/json"


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def register_resources(server: MCPServer, store: AsyncSessionStore, scope_of: ScopeOf) -> None:
    """Add the state and events resource templates to ``server``."""

    @server.resource(STATE_URI, name="session_state", title="Session state", mime_type=_JSON)
    async def session_state(session_id: str, ctx: Context) -> str:
        """A session's merged state and version."""
        with resource_errors():
            app, user = await scope_of(ctx)
            session = await store.get(app, user, session_id, last=0)
        return _dump({"session_id": session.id, "version": session.version,
                      "state": dict(session.state)})

    @server.resource(EVENTS_URI, name="session_events", title="Session events", mime_type=_JSON)
    async def session_events(session_id: str, ctx: Context, last: int = DEFAULT_LAST) -> str:
        """A session's newest events (``?last=N``, default 50), oldest first."""
        with resource_errors():
            app, user = await scope_of(ctx)
            session = await store.get(app, user, session_id, last=last)
        return _dump({"session_id": session.id, "version": session.version,
                      "events": [EventOut.of(e).model_dump(mode="json") for e in session.events]})
