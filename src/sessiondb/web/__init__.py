"""Secure server-side web sessions over a SessionDB store.

The browser's cookie holds only a signed, random 128-bit session id; the
data stays on the server. Use :class:`SessionMiddleware` with any ASGI app
(Starlette, FastAPI) or :class:`FlaskSessionInterface` with Flask (imported
on first use: it needs ``pip install 'sessiondb[flask]'``). See
docs/web-sessions.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .asgi import SessionMiddleware
from .cookies import CookieSettings, CookieSigner
from .session import WebSession
from .settings import WebOptions, WebSettings

if TYPE_CHECKING:
    from .flask import FlaskSessionInterface

__all__ = [
    "CookieSettings",
    "CookieSigner",
    "FlaskSessionInterface",
    "SessionMiddleware",
    "WebOptions",
    "WebSession",
    "WebSettings",
]


def __getattr__(name: str) -> Any:
    if name == "FlaskSessionInterface":
        from .flask import FlaskSessionInterface

        return FlaskSessionInterface
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
