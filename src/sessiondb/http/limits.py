"""Request size limits, enforced before a handler sees the request.

A pure ASGI middleware (no response buffering, so streamed responses pass
through untouched): headers over ``max_header_bytes`` get 431; a declared
``Content-Length`` over ``max_body_bytes`` gets 413 without reading the
body; a body that turns out larger while being read raises
:class:`~sessiondb.LimitExceededError` to the handler reading it (413 too).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import LimitExceededError
from .problems import HeadersTooLarge, MalformedRequest, refuse

__all__ = ["HttpLimits", "LimitsMiddleware"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on one request. The store's own :class:`~sessiondb.Limits`
    still bound what is stored (event size, delta size, events per append)."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    """Names plus values of every header."""


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, limits: HttpLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        error = self._check_headers(scope)
        if error is not None:
            await refuse(error, scope, receive, send)
            return
        if scope["type"] == "http":
            receive = self._bounded(receive)
        await self.app(scope, receive, send)

    def _check_headers(self, scope: Scope) -> Exception | None:
        headers = scope.get("headers", [])
        size = sum(len(name) + len(value) for name, value in headers)
        if size > self.limits.max_header_bytes:
            return HeadersTooLarge(
                f"the request headers are {size} bytes; the limit is "
                f"{self.limits.max_header_bytes} bytes",
                field="headers", limit=self.limits.max_header_bytes, actual=size)
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit():
                    return MalformedRequest("Content-Length must be a number",
                                            field="Content-Length")
                if int(value) > self.limits.max_body_bytes:
                    return _too_large(int(value), self.limits.max_body_bytes)
        return None

    def _bounded(self, receive: Receive) -> Receive:
        limit = self.limits.max_body_bytes
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(seen, limit)
            return message

        return bounded


def _too_large(size: int, limit: int) -> LimitExceededError:
    return LimitExceededError(f"the request body is {size} bytes or more; the limit is "
                              f"{limit} bytes", field="body", limit=limit, actual=size)
