"""Errors as RFC 9457 ``application/problem+json``, from one table.

Every error the service returns goes through :func:`problem_for`: the error
tree of :mod:`sessiondb.errors` (plus the few HTTP-only refinements below,
which subclass it) maps to a status and a stable ``type`` URI. Clients
switch on ``type``; ``title`` is its fixed human name and ``detail`` says
what happened this time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ..errors import (
    AuthError,
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    ExpiredError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    SessionDBError,
)

__all__ = [
    "PROBLEM_TYPE",
    "TABLE",
    "Forbidden",
    "HeadersTooLarge",
    "MalformedRequest",
    "PreconditionFailed",
    "Problem",
    "UnsupportedMediaType",
    "problem_for",
    "problem_response",
    "refuse",
]

_log = logging.getLogger("sessiondb.http")

#: Every ``type`` is this prefix followed by the problem's slug.
PROBLEM_TYPE = "urn:sessiondb:problem:"
MEDIA_TYPE = "application/problem+json"


# -- HTTP-only refinements of the error tree ------------------------------------------
class Forbidden(AuthError):
    """The credential is valid but does not cover this app or user."""


class MalformedRequest(InvalidInputError):
    """The request cannot be parsed at all: a body that is not JSON, a bad header."""


class UnsupportedMediaType(InvalidInputError):
    """A body in a media type other than JSON."""


class PreconditionFailed(ConflictError):
    """An ``If-Match`` that can never match (not an ETag this service makes)."""


class HeadersTooLarge(LimitExceededError):
    """The request's header section is over the configured size."""


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    slug: str
    title: str

    @property
    def type(self) -> str:
        return PROBLEM_TYPE + self.slug


def _version_conflict(exc: BaseException) -> bool:
    return isinstance(exc, PreconditionFailed) or getattr(exc, "expected", None) is not None


Rule = tuple[type[BaseException], Callable[[BaseException], bool] | None, Problem]

#: The one table: the first row whose class (and test, if any) matches wins.
TABLE: tuple[Rule, ...] = (
    (Forbidden, None, Problem(403, "forbidden", "Forbidden")),
    (AuthError, None, Problem(401, "unauthorized", "Unauthorized")),
    (ExpiredError, None, Problem(404, "expired", "Session expired")),
    (NotFoundError, None, Problem(404, "not-found", "Not found")),
    (ConflictError, _version_conflict, Problem(412, "version-mismatch", "Precondition failed")),
    (ConflictError, None, Problem(409, "conflict", "Conflict")),
    (HeadersTooLarge, None, Problem(431, "headers-too-large", "Request headers too large")),
    (LimitExceededError, None, Problem(413, "too-large", "Content too large")),
    (UnsupportedMediaType, None, Problem(415, "unsupported-media-type",
                                         "Unsupported media type")),
    (MalformedRequest, None, Problem(400, "malformed-request", "Malformed request")),
    (InvalidInputError, None, Problem(422, "invalid-input", "Invalid input")),
    # The client went away in the middle of its body: not the server's fault,
    # and nobody reads the answer, so no error is logged.
    (ClientDisconnect, None, Problem(400, "client-disconnected", "Client disconnected")),
    (BackendUnavailableError, None, Problem(503, "backend-unavailable",
                                            "Storage backend unavailable")),
    (BackendError, None, Problem(500, "backend-error", "Storage backend error")),
    (ConfigurationError, None, Problem(500, "configuration-error", "Server misconfigured")),
    (SessionDBError, None, Problem(500, "internal-error", "Internal server error")),
)

_INTERNAL = Problem(500, "internal-error", "Internal server error")

#: Starlette's own HTTP errors (no route, wrong method) by status.
_BY_STATUS = {
    400: Problem(400, "malformed-request", "Malformed request"),
    404: Problem(404, "not-found", "Not found"),
    405: Problem(405, "method-not-allowed", "Method not allowed"),
}


def problem_for(exc: BaseException) -> Problem:
    """The table row for ``exc``; any other exception is an internal error."""
    for cls, test, problem in TABLE:
        if isinstance(exc, cls) and (test is None or test(exc)):
            return problem
    return _INTERNAL


def _extensions(exc: BaseException) -> dict[str, Any]:
    """The machine-readable members beside ``detail``: the field at fault,
    the limit broken, the version the session is at."""
    extra: dict[str, Any] = {}
    for name in ("field", "limit", "actual", "expected"):
        value = getattr(exc, name, None)
        if value is not None:
            extra[name] = value
    return extra


def _headers(problem: Problem, exc: BaseException) -> dict[str, str]:
    if problem.status == 401:
        return {"WWW-Authenticate": 'Bearer realm="sessiondb"'}
    if problem.status == 503:
        return {"Retry-After": "1"}
    if problem.status == 412 and isinstance(getattr(exc, "actual", None), int):
        return {"ETag": f'"v{exc.actual}"'}  # type: ignore[attr-defined]
    return {}


def problem_response(exc: BaseException, instance: str | None = None) -> Response:
    """The ``application/problem+json`` response for ``exc``."""
    problem = problem_for(exc)
    if problem.status >= 500:
        _log.error("%s: %s", problem.slug, exc, exc_info=exc)
        # Never echo an unexpected exception's text: it may hold internals.
        detail = str(exc) if isinstance(exc, BackendUnavailableError) else problem.title
        extra: dict[str, Any] = {}
    else:
        detail, extra = str(exc), _extensions(exc)
    return _render(problem, detail, instance, extra, _headers(problem, exc))


def _render(problem: Problem, detail: str, instance: str | None, extra: dict[str, Any],
            headers: dict[str, str]) -> Response:
    body: dict[str, Any] = {"type": problem.type, "title": problem.title,
                            "status": problem.status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=problem.status, headers=headers,
                        media_type=MEDIA_TYPE)


async def refuse(exc: BaseException, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request a middleware turns away: a problem response, or for
    a WebSocket a close with code 1008 (policy violation)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": problem_for(exc).slug})
        return
    await problem_response(exc, scope.get("path"))(scope, receive, send)


async def handle_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for the error tree (and anything else)."""
    return problem_response(exc, request.url.path)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, wrong method) as problems too."""
    assert isinstance(exc, HTTPException)
    problem = _BY_STATUS.get(exc.status_code) or Problem(
        exc.status_code, f"http-{exc.status_code}", str(exc.detail))
    return _render(problem, str(exc.detail), request.url.path, {}, dict(exc.headers or {}))
