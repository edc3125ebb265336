"""Connection pools on which callers wait for a free connection.

redis-py's default pool raises ``MaxConnectionsError`` ("Too many
connections") as soon as more commands run at once than it has connections
(100): a busy async service fails there. A single server's client gets a
``BlockingConnectionPool`` instead. redis-py's cluster clients have no
blocking pool (a node's pool raises when full), so their calls pass a gate:
at most ``max_connections`` operations at once (each holds at most one
connection of one node at a time, so no node's pool runs out), the others
waiting up to the pool's timeout. Shared by the async client and its
generated sync twin.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.exceptions

from .options import RedisOptions

__all__ = ["gate", "single_client"]


def single_client(client_class: Any, options: RedisOptions, **kwargs: Any) -> Any:
    """A ``client_class`` (sync or async ``Redis``) on a blocking pool of
    its own for ``options.url``; ``kwargs`` go to its connections."""
    blocking: Any = (redis.asyncio.BlockingConnectionPool
                     if issubclass(client_class, redis.asyncio.Redis)
                     else redis.BlockingConnectionPool)
    pool = blocking.from_url(options.url, max_connections=options.max_connections,
                             timeout=options.pool_timeout, **kwargs)
    return client_class.from_pool(pool)


def _busy() -> redis.exceptions.ConnectionError:
    return redis.exceptions.ConnectionError("No connection available.")


class _Gate:
    """At most ``size`` tasks inside at once; a newcomer waits up to ``timeout``."""

    __slots__ = ("_semaphore", "_timeout")

    def __init__(self, size: int, timeout: float) -> None:
        self._semaphore = asyncio.Semaphore(size)
        self._timeout = timeout

    async def __aenter__(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._semaphore.acquire()
        except TimeoutError:
            raise _busy() from None

    async def __aexit__(self, *exc_info: object) -> None:
        self._semaphore.release()


class _ThreadGate:
    """:class:`_Gate` for threads."""

    __slots__ = ("_semaphore", "_timeout")

    def __init__(self, size: int, timeout: float) -> None:
        self._semaphore = threading.Semaphore(size)
        self._timeout = timeout

    def __enter__(self) -> None:
        if not self._semaphore.acquire(timeout=self._timeout):
            raise _busy()

    def __exit__(self, *exc_info: object) -> None:
        self._semaphore.release()


def gate(client: Any, options: RedisOptions) -> Any:
    """What every call on ``client`` enters: a gate for a cluster client,
    nothing for the others (their pools wait by themselves)."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        return _Gate(options.max_connections, options.pool_timeout)
    if isinstance(client, redis.cluster.RedisCluster):
        return _ThreadGate(options.max_connections, options.pool_timeout)
    return contextlib.nullcontext()
