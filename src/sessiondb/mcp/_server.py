"""Building the MCP server over an :class:`AsyncSessionStore`."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from .. import __version__
from .._async_store import AsyncSessionStore
from ._resources import register_resources
from ._scope import Scope, ScopeOf, ScopeResolver, fixed_scope, request_scope
from ._tools import register_tools

INSTRUCTIONS = (
    "Durable sessions for this conversation's user: create a session, append events "
    "(messages, tool calls, results) and update its state; read a session back with "
    "session_get or events_read; fork one to branch; delete one when asked to. Sessions "
    "and their state survive restarts. Use expected_version to avoid overwriting a "
    "concurrent change, and an idempotency_key when retrying an append."
)


def create_server(store: AsyncSessionStore, *, app: str, user_id: str,
                  allow_app_state: bool = False) -> MCPServer:
    """An MCP server whose tools act on ``user_id``'s sessions of ``app``.

    The scope is fixed here and no tool argument can change it. ``app:`` state
    keys are shared by every user of the app, so a model may write them only
    with ``allow_app_state=True``; it can always read them.
    ``InvalidInputError`` if ``app`` or ``user_id`` is not a valid id.
    """
    return build_server(store, fixed_scope(Scope.checked(app, user_id)),
                        allow_app_state=allow_app_state)


def create_http_server(store: AsyncSessionStore, resolve_scope: ScopeResolver, *,
                       allow_app_state: bool = False) -> MCPServer:
    """An MCP server for streamable HTTP whose scope is that of each request.

    ``resolve_scope(request) -> (app, user_id)`` (sync or async) reads the
    Starlette request's credential and raises :class:`sessiondb.AuthError` to
    refuse it. Serve it with :func:`streamable_http_app`, which calls it once
    per HTTP request.
    """
    return build_server(store, request_scope(resolve_scope), allow_app_state=allow_app_state)


def build_server(store: AsyncSessionStore, scope_of: ScopeOf, *,
                 allow_app_state: bool) -> MCPServer:
    # WARNING: the SDK configures the root logger at this level if nothing has;
    # INFO would log every refused tool call.
    server: MCPServer = MCPServer("sessiondb", version=__version__, instructions=INSTRUCTIONS,
                                  log_level="WARNING")
    register_tools(server, store, scope_of, allow_app_state=allow_app_state)
    register_resources(server, store, scope_of)
    return server
