"""Driver failures, translated at the backend boundary, and broken connections.

- Connection failures, timeouts, deadlocks, serialization failures, a server
  shutting down, a pool with no connection to give: ``BackendUnavailableError``
  (retryable). An append is one transaction, so a failed one left nothing.
- Any other driver error: ``BackendError``.

Messages name the server by its URL with the password masked; the driver's
exception is kept as ``__cause__``.
"""

from __future__ import annotations

import select

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from ...errors import BackendError, BackendUnavailableError, InvalidInputError, SessionDBError


def translate(exc: psycopg.Error, masked_url: str,
              last_connect_error: BaseException | None = None) -> SessionDBError:
    """The SessionDB error for ``exc`` (raise it ``from exc``)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, PoolClosed):
        return BackendError("the store is closed")
    if isinstance(exc, psycopg.OperationalError):
        if isinstance(exc, PoolTimeout) and last_connect_error is not None:
            last = " ".join(str(last_connect_error).split())
            detail = f"{detail}; the last connection attempt failed: {last}"
        return BackendUnavailableError(f"PostgreSQL at {masked_url} is unavailable: {detail}")
    if isinstance(exc, psycopg.DataError) and ("NUL" in detail or "\\u0000" in detail):
        return InvalidInputError(f"PostgreSQL cannot store the NUL character: {detail}")
    return BackendError(f"PostgreSQL at {masked_url}: {type(exc).__name__}: {detail}")


def is_broken(conn: psycopg.Connection | psycopg.AsyncConnection) -> bool:
    """Whether an idle connection is dead, without a round trip.

    An idle connection has nothing to read: input waiting on its socket is
    the server's goodbye (a shutdown or a terminated backend) or the end of
    the stream. Found so, it is discarded before use instead of failing the
    operation; a connection silently cut by the network is not seen here,
    and fails on use like any other.
    """
    if conn.closed:
        return True
    try:
        fd = conn.pgconn.socket
        if _poll is None:  # Windows: no poll(), but select() takes any socket there
            return bool(select.select([fd], [], [], 0)[0])
        poller = _poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


_poll = getattr(select, "poll", None)
