"""One route per path, dispatching on the method.

Starlette answers a method no route of the path takes with the ``Allow``
header of the first route that matched the path; with one route per path
that header lists every method the path serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def resource(path: str, name: str, **handlers: Endpoint) -> Route:
    """A route serving ``handlers`` by method (``get=…, post=…``); HEAD is GET's."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in by_method:
        by_method["HEAD"] = by_method["GET"]

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    return Route(path, dispatch, methods=list(by_method), name=name)
