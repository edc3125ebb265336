"""MCP over streamable HTTP, as one ASGI app to mount in a web service.

The app answers on whatever path it is mounted at. It resolves each HTTP
request's scope before the SDK sees the request, answering ``401`` when the
resolver raises :class:`~sessiondb.AuthError`, and keeps the scope in the
request's ASGI scope for the tools. Its session manager must run for as long as
the app serves: :meth:`MCPHttpApp.lifespan` in the host's lifespan, or the
ASGI lifespan protocol when the app is served alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._async_store import AsyncSessionStore
from ..errors import SessionDBError
from ..http.problems import problem_response
from ._scope import SCOPE_KEY, ScopeResolver, resolve
from ._server import create_http_server


class MCPHttpApp:
    """An ASGI app serving an MCP server over streamable HTTP.

    Made by :func:`streamable_http_app`; ``server`` comes from
    :func:`create_http_server` with the same ``resolve_scope``, which is
    given the request's headers (not its body).
    """

    def __init__(self, server: MCPServer, resolve_scope: ScopeResolver, *,
                 stateless: bool = True, json_response: bool = True,
                 transport_security: TransportSecuritySettings | None = None) -> None:
        self.server = server
        self._resolve_scope = resolve_scope
        # The SDK builds its session manager with its Starlette app; only the
        # manager is used, so the app's own path and routing do not matter.
        server.streamable_http_app(
            stateless_http=stateless, json_response=json_response,
            transport_security=transport_security
            or TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self._manager = server.session_manager
        self._running = False

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the session manager; enter once, for the app's whole life."""
        async with self._manager.run():
            self._running = True
            try:
                yield
            finally:
                self._running = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        if not self._running:
            raise RuntimeError("the MCP app is not running: enter MCPHttpApp.lifespan() in "
                               "the host application's lifespan")
        try:
            resolved = await resolve(self._resolve_scope, Request(scope))
        except SessionDBError as exc:  # AuthError: 401; a bad id: 422
            await problem_response(exc, scope.get("path"))(scope, receive, send)
            return
        # In the request's own scope dict, not in scope["state"], which a
        # server may share between requests.
        scope[SCOPE_KEY] = resolved
        await _ended(self._manager.handle_request, scope, receive, send)

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        phase = "startup"
        try:
            async with self.lifespan():
                await send({"type": "lifespan.startup.complete"})
                phase = "shutdown"
                await receive()  # lifespan.shutdown
        except Exception as exc:
            await send({"type": f"lifespan.{phase}.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})


async def _ended(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` and end its response if it returned midway: the SDK's
    event streams (a GET stream of server messages) stop when its session
    manager does, at shutdown, without their last chunk. Ended here, the
    client sees the stream close cleanly and the server logs no error."""
    state = {"started": False, "ended": False}

    async def tracked(message: Message) -> None:
        if message["type"] == "http.response.start":
            state["started"] = True
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            state["ended"] = True
        await send(message)

    await app(scope, receive, tracked)
    if state["started"] and not state["ended"]:
        with suppress(Exception):  # the client may be gone already
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def streamable_http_app(store: AsyncSessionStore, resolve_scope: ScopeResolver, *,
                        allow_app_state: bool = False, stateless: bool = True,
                        json_response: bool = True,
                        transport_security: TransportSecuritySettings | None = None
                        ) -> MCPHttpApp:
    """The MCP server for ``store`` as an ASGI app, scoped per request by
    ``resolve_scope(request) -> (app, user_id)``.

    Stateless by default (each HTTP request stands alone, so the app runs
    behind a load balancer without sticky sessions) and answering with JSON
    rather than an event stream. No DNS-rebinding check unless
    ``transport_security`` asks for one: every request is authenticated.
    """
    server = create_http_server(store, resolve_scope, allow_app_state=allow_app_state)
    return MCPHttpApp(server, resolve_scope, stateless=stateless, json_response=json_response,
                      transport_security=transport_security)
