"""The whole service that ``sessiondb serve`` runs: the JSON API with its
live event streams, the MCP server at ``/mcp`` and Prometheus ``/metrics``,
over one store.

``/metrics`` is open (scrapers rarely carry credentials; it holds no ids or
data); ``/v1`` and ``/mcp`` need a credential unless authentication is off.
An MCP client acts for one app and user, named by the ``X-SessionDB-App``
and ``X-SessionDB-User`` headers or taken from the credential (an API key
is for one app, a user's token for one user); the credential must allow
both, so a header cannot widen it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from .._async_store import AsyncSessionStore
from ..errors import AuthError
from . import stream
from .app import create_app
from .credentials import Authenticator, Principal
from .limits import HttpLimits
from .live import open_feed
from .metrics import metrics_route

APP_HEADER = "x-sessiondb-app"
USER_HEADER = "x-sessiondb-user"


def mcp_scope(request: Request) -> tuple[str, str]:
    """The (app, user) an MCP request over HTTP acts for."""
    principal: Principal | None = getattr(request.state, "principal", None)
    app = request.headers.get(APP_HEADER) or (principal.app if principal else None)
    user = request.headers.get(USER_HEADER) or (principal.user if principal else None)
    if not app or not user:
        raise AuthError(f"an MCP client acts for one app and user: send the "
                        f"{'X-SessionDB-App' if not app else 'X-SessionDB-User'} header")
    if principal is not None and not principal.allows(app, user):
        raise AuthError(f"this credential may not act for user {user!r} of app {app!r}")
    return app, user


def create_service(store: AsyncSessionStore, url: str, *,
                   auth: Sequence[Authenticator] | None,
                   limits: HttpLimits | None = None, mcp: bool = True) -> Starlette:
    """The service app over ``store`` (opened from ``url``, which the live
    feed uses to open its own LISTEN or pub/sub connection)."""
    feed = open_feed(store, url)
    routes: list[Any] = [metrics_route(), *stream.routes()]
    lifespans: list[Any] = [feed.lifespan]
    if mcp:
        from ..mcp import streamable_http_app

        mcp_app = streamable_http_app(store, mcp_scope)

        @contextlib.asynccontextmanager
        async def mcp_running(app: Starlette) -> AsyncIterator[None]:
            async with mcp_app.lifespan():
                yield

        routes.append(Mount("/mcp", app=mcp_app))
        lifespans.append(mcp_running)
    return create_app(store, auth=auth, limits=limits, routes=routes, lifespans=lifespans,
                      on_change=feed.publish, protected=("/v1", "/mcp"))
