"""The app factory: :func:`create_app` builds the Starlette app of the service.

    store = sessiondb.open_async_store(url)
    app = create_app(store, auth=[ApiKeyAuth(store)])

The store goes on ``app.state.store`` and is closed by the app's lifespan.
Extra routes (the live stream, ``/metrics``, an MCP app under ``Mount``),
middleware and lifespans plug in through the keyword arguments; every route
under ``/v1`` passes the same size limits and authentication.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ..errors import ConfigurationError, SessionDBError

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import BaseRoute, Route
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigurationError("the HTTP service needs starlette and uvicorn: "
                             "pip install 'sessiondb[server]'") from exc

from .._async_store import AsyncSessionStore
from . import events, health, sessions, shared
from .auth import AuthMiddleware
from .context import ChangeHook
from .credentials import Authenticator
from .limits import HttpLimits, LimitsMiddleware
from .openapi import openapi_document
from .problems import handle_error, handle_http_exception

__all__ = ["create_app"]

Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[Any]]


def create_app(
    store: AsyncSessionStore,
    *,
    auth: Sequence[Authenticator] | None,
    limits: HttpLimits | None = None,
    routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
    lifespans: Sequence[Lifespan] = (),
    on_change: ChangeHook | None = None,
    protected: Sequence[str] = ("/v1",),
) -> Starlette:
    """The service over ``store``.

    ``auth``: the authenticators asked in turn for each bearer token under
    the ``protected`` path prefixes (``None``: no authentication, for a
    loopback-only service; an empty list refuses everyone). ``routes`` are
    added before the built-in ones; ``middleware`` runs inside the limits
    and authentication; each of ``lifespans`` is entered at startup (after
    the store is ready) and left at shutdown (before the store is closed).
    ``on_change(app, user, session_id, version)`` is awaited after every
    write the service makes (version ``None`` after a delete).
    """
    limits = limits or HttpLimits()
    document = openapi_document(store.limits, secured=auth is not None)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with contextlib.AsyncExitStack() as stack:
                for extra in lifespans:
                    await stack.enter_async_context(extra(app))
                yield
        finally:
            await store.close()

    app = Starlette(
        routes=[*routes, *sessions.routes, *events.routes, *shared.routes, *health.routes,
                Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)],
        middleware=[Middleware(LimitsMiddleware, limits=limits),
                    Middleware(AuthMiddleware, authenticators=auth, protected=protected),
                    *middleware],
        # Exception: Starlette's last resort, which logs and re-raises after
        # answering; the classes named before it are answered quietly.
        exception_handlers={SessionDBError: handle_error, HTTPException: handle_http_exception,
                            ClientDisconnect: handle_error, Exception: handle_error},
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.on_change = on_change
    app.state.limits = limits
    return app
