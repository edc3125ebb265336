"""Server-side sessions for any ASGI app (Starlette, FastAPI, ...).

    app.add_middleware(SessionMiddleware, store="sqlite:///sessions.db", keys=ring)

The handler reads and writes ``request.session`` (``scope["session"]``), a
:class:`~sessiondb.web.WebSession`. Pure ASGI: this module imports no
framework. Do not install Starlette's own ``SessionMiddleware`` as well: both
set ``scope["session"]``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Unpack

from .._async_store import AsyncSessionStore
from ._async import persist
from .cookies import cookie_values
from .settings import WebOptions, WebSettings

__all__ = ["SessionMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SessionMiddleware:
    """ASGI middleware keeping each visitor's session in a SessionDB store.

    ``store`` is an :class:`AsyncSessionStore` or a store URL (None: the
    default store); a store opened from a URL is closed at lifespan
    shutdown. ``keys`` signs the cookie (a :class:`KeyRing`, an
    ``"id:key,..."`` string, or None for ``$SESSIONDB_KEYS``); the other
    options are those of :class:`WebOptions`. Pass ``secure=False`` only for
    local development over plain http.

    Changes are saved when the response starts: those made after that (in a
    streaming body), or by a request that ended in an unhandled exception,
    are not saved.
    """

    def __init__(
        self,
        app: ASGIApp,
        store: AsyncSessionStore | str | None = None,
        **options: Unpack[WebOptions],
    ) -> None:
        self.app = app
        self.settings = WebSettings.build(**options)
        self._owns_store = not isinstance(store, AsyncSessionStore)
        if isinstance(store, AsyncSessionStore):
            self.store = store
        else:
            from .. import open_async_store

            self.store = open_async_store(store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" and self._owns_store:
            await self.app(scope, receive, self._closing(send))
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = "; ".join(v.decode("latin-1") for k, v in scope.get("headers", ())
                           if k.lower() == b"cookie")
        session = await persist.load(self.store, self.settings,
                                     cookie_values(header, self.settings.cookie.name))
        scope["session"] = session
        if kind == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                await persist.save(self.store, self.settings, session, cookies=False)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await persist.save(self.store, self.settings, session)
                headers = list(message.get("headers", ()))
                if cookie is not None:
                    headers.append((b"set-cookie",
                                    self.settings.cookie.header(cookie).encode("latin-1")))
                if cookie is not None or session.accessed:
                    add_vary_cookie(headers)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _closing(self, send: Send) -> Send:
        async def send_then_close(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.store.close()
            await send(message)

        return send_then_close


def add_vary_cookie(headers: list[tuple[bytes, bytes]]) -> None:
    """Add ``Cookie`` to the response's ``Vary`` header (once), so no cache
    serves one visitor's page to another."""
    for i, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            tokens = {t.strip().lower() for t in value.split(b",")}
            if not tokens & {b"cookie", b"*"}:
                headers[i] = (name, value + b", Cookie")
            return
    headers.append((b"vary", b"Cookie"))
