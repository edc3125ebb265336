"""Shared state: ``/v1/apps/{app}/users/{user}/state`` (a user's ``user:``
keys) and ``/v1/apps/{app}/state`` (the app's ``app:`` keys).

Read and changed directly, whether or not a session exists; names come
without their prefix (``{"theme": "dark"}`` is ``user:theme`` in a
session's merged state). A ``PATCH`` applies its keys atomically (``null``
deletes one) and answers the state after it. App-wide state is reachable
only by credentials that are not bound to one user (API keys, admin tokens).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import store
from .inputs import allow_query, ids, state_changes
from .routing import resource


async def user_state(request: Request) -> Response:
    app, user = ids(request, "app", "user")
    allow_query(request)
    return JSONResponse({"state": await store(request).shared_state(app, user)})


async def patch_user_state(request: Request) -> Response:
    app, user = ids(request, "app", "user")
    allow_query(request)
    changes = await state_changes(request)
    return JSONResponse({"state": await store(request).update_shared_state(app, changes, user)})


async def app_state(request: Request) -> Response:
    (app,) = ids(request, "app")
    allow_query(request)
    return JSONResponse({"state": await store(request).shared_state(app)})


async def patch_app_state(request: Request) -> Response:
    (app,) = ids(request, "app")
    allow_query(request)
    changes = await state_changes(request)
    return JSONResponse({"state": await store(request).update_shared_state(app, changes)})


routes = [
    resource("/v1/apps/{app}/users/{user}/state", "user_state", get=user_state,
             patch=patch_user_state),
    resource("/v1/apps/{app}/state", "app_state", get=app_state, patch=patch_app_state),
]
