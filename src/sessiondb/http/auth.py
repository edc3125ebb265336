"""Authentication and authorization of every ``/v1`` request, in one place.

A pure ASGI middleware, so it covers every route under the protected
prefixes, including routes added to the app later (the live stream, say):
nothing a route does can skip it. It reads the ``app`` and ``user`` from the
path itself (``/v1/apps/{app}[/users/{user}]/…``), which is why every
scoped route must keep that shape. For each request it

1. answers 404 for a reserved app (``_sessiondb…``), before anything else;
2. takes the ``Authorization: Bearer`` token and asks each authenticator
   in turn (401 when none is given or none accepts it);
3. checks :meth:`Principal.allows` against the path's app and user (403);
4. leaves the principal in ``request.state.principal`` (``scope["state"]``)
   for handlers that need to know more.

A protected path without an app segment (``/mcp`` if mounted as protected,
say) is only authenticated; its handler must authorize with the principal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import AuthError, NotFoundError
from .credentials import ANONYMOUS, Authenticator, Principal, is_reserved
from .problems import Forbidden, refuse

__all__ = ["AuthMiddleware", "path_scope"]

_SCOPED = re.compile(r"/apps/([^/]+)(?:/users/([^/]+))?(?:/|$)")


def path_scope(path: str, prefix: str = "/v1") -> tuple[str | None, str | None]:
    """The ``(app, user)`` a path under ``prefix`` addresses (either may be None)."""
    match = _SCOPED.match(path, len(prefix))
    if match is None:
        return None, None
    return match.group(1), match.group(2)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class AuthMiddleware:
    """``authenticators`` ``None`` disables authentication (every request is
    :data:`ANONYMOUS`); reserved apps are refused either way."""

    def __init__(self, app: ASGIApp, authenticators: Sequence[Authenticator] | None,
                 protected: Sequence[str] = ("/v1",)) -> None:
        self.app = app
        self.authenticators = authenticators
        self.protected = tuple(protected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        prefix = next((p for p in self.protected if _under(path, p)), None)
        if scope["type"] not in ("http", "websocket") or prefix is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._admit(scope, *path_scope(path, prefix.rstrip("/")))
        except Exception as exc:  # every refusal, and a failing key store, is a problem
            await refuse(exc, scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, app: str | None, user: str | None) -> Principal:
        if app is not None and is_reserved(app):
            raise NotFoundError(f"no app {app!r}")
        if self.authenticators is None:
            return ANONYMOUS
        token = bearer_token(scope)
        if token is None:
            raise AuthError("this route needs an 'Authorization: Bearer' API key or token")
        principal = await self._authenticate(token)
        if app is not None and not principal.allows(app, user):
            where = f"app {app!r}" + (f", user {user!r}" if user is not None else "")
            raise Forbidden(f"the credential does not cover {where}")
        return principal

    async def _authenticate(self, token: str) -> Principal:
        assert self.authenticators is not None
        for authenticator in self.authenticators:
            principal = await authenticator.authenticate(token)
            if principal is not None:
                return principal
        raise AuthError("unrecognised credential")
