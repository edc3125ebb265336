"""SessionDB errors as MCP errors, through the HTTP service's one table
(:data:`sessiondb.http.problems.TABLE`), so both speak the same codes.

A tool failure becomes a tool result with ``isError`` and a message the model
can act on (``not-found: no session 'x' for user 'u' in app 'a'``); a
resource failure becomes a JSON-RPC error. A server-side failure (status 500
and up in the table) shows only its title; the full error goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from ..errors import SessionDBError
from ..http.problems import problem_for

logger = logging.getLogger("sessiondb.mcp")

_RETRY = "; retrying may succeed"


def describe(exc: SessionDBError) -> str:
    """``code: message`` for ``exc``, without internals the model cannot use."""
    problem = problem_for(exc)
    if problem.status < 500:
        return f"{problem.slug}: {exc}"
    logger.error("MCP request failed: %s: %s", problem.slug, exc, exc_info=exc)
    return f"{problem.slug}: {problem.title}{_RETRY if problem.status == 503 else ''}"


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn a SessionDB error into a :class:`ToolError` (an ``isError`` result)."""
    try:
        yield
    except SessionDBError as exc:
        raise ToolError(describe(exc)) from exc


@contextmanager
def resource_errors() -> Iterator[None]:
    """Turn a SessionDB error into a :class:`ResourceError` (a JSON-RPC error);
    a missing or expired session is "resource not found"."""
    try:
        yield
    except SessionDBError as exc:
        error = ResourceNotFoundError if problem_for(exc).status == 404 else ResourceError
        raise error(describe(exc)) from exc
