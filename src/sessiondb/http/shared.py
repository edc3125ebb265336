"""Shared state: ``/v1/apps/{app}/users/{user}/state`` (the ``user:`` keys)
and ``/v1/apps/{app}/state`` (the ``app:`` keys).

Read-only here, and read through one live session of the user (or app),
whose merged state holds the shared keys: without a live session the answer
is ``{}``. Shared keys are written like any state, through a session
(``PATCH`` a session or append with a ``user:…``/``app:…`` key).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import store
from .inputs import allow_query, ids
from .routing import resource


async def _shared(request: Request, app: str, user: str | None, prefix: str) -> Response:
    page = await store(request).sessions(app, user, limit=1)
    state = page.items[0].state if page.items else {}
    return JSONResponse({"state": {k: v for k, v in state.items() if k.startswith(prefix)}})


async def user_state(request: Request) -> Response:
    app, user = ids(request, "app", "user")
    allow_query(request)
    return await _shared(request, app, user, "user:")


async def app_state(request: Request) -> Response:
    (app,) = ids(request, "app")
    allow_query(request)
    return await _shared(request, app, None, "app:")


routes = [
    resource("/v1/apps/{app}/users/{user}/state", "user_state", get=user_state),
    resource("/v1/apps/{app}/state", "app_state", get=app_state),
]
