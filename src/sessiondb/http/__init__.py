"""SessionDB over HTTP: a Starlette app serving an AsyncSessionStore.

    from sessiondb import open_async_store
    from sessiondb.http import ApiKeyAuth, create_app

    store = open_async_store("postgresql://…")
    app = create_app(store, auth=[ApiKeyAuth(store)])   # any ASGI server runs it

``sessiondb serve`` runs it with uvicorn. Names are imported on first use,
so the key helpers (:mod:`sessiondb.http.apikeys`) work without the
``server`` extra. See docs/http.md.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ApiKeyAuth", "HttpLimits", "JWTAuth", "Principal", "create_app", "serve"]

_HOMES = {
    "ApiKeyAuth": "apikeys",
    "HttpLimits": "limits",
    "JWTAuth": "oidc",
    "Principal": "credentials",
    "create_app": "app",
    "serve": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
