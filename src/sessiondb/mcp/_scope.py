"""Whose sessions a request may touch: the (app, user) scope.

The scope never comes from tool arguments. A stdio server has one, fixed by
its configuration; an HTTP server asks a resolver for each request, which
reads the request's credential. Every store call is made with the scope, so a
session id of another user or app is simply not found.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NamedTuple

from .._core.ids import check_id
from ..errors import AuthError

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context
    from starlette.requests import Request


class Scope(NamedTuple):
    """The app and user a request acts for."""

    app: str
    user_id: str

    @classmethod
    def checked(cls, app: str, user_id: str) -> Scope:
        """The scope, with both ids validated (``InvalidInputError`` if bad)."""
        return cls(check_id(app, "app"), check_id(user_id, "user_id"))


ScopeResolver = Callable[["Request"], "tuple[str, str] | Awaitable[tuple[str, str]]"]
"""``resolve_scope(request) -> (app, user_id)``, sync or async. Reads the
request's credential; raises :class:`sessiondb.AuthError` to refuse it."""

ScopeOf = Callable[["Context"], Awaitable[Scope]]
"""How a tool or resource finds its scope from the MCP request context."""

#: Where the HTTP app keeps the scope it resolved, in the request's ASGI scope.
SCOPE_KEY = "sessiondb.mcp.scope"


def fixed_scope(scope: Scope) -> ScopeOf:
    async def scope_of(ctx: Context) -> Scope:
        return scope

    return scope_of


async def resolve(resolver: ScopeResolver, request: Request) -> Scope:
    """Run ``resolver`` on ``request``; the validated scope."""
    result = resolver(request)
    if inspect.isawaitable(result):
        result = await result
    app, user_id = result
    return Scope.checked(app, user_id)


def request_scope(resolver: ScopeResolver) -> ScopeOf:
    """The scope of the HTTP request behind the MCP request: the one the HTTP
    app resolved already, else ``resolver``'s answer now."""

    async def scope_of(ctx: Context) -> Scope:
        request = ctx.request_context.request
        if request is None:
            raise AuthError("this server takes its scope from an HTTP request, and there is none")
        known = request.scope.get(SCOPE_KEY)
        return known if isinstance(known, Scope) else await resolve(resolver, request)

    return scope_of
