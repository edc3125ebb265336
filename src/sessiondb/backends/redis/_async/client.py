"""The connection to Redis or a Redis Cluster, with the scripts registered.

redis-py is told never to retry a command: a retried append whose reply was
lost could be stored twice. A failed call raises ``BackendUnavailableError``
instead (callers may retry, with an idempotency key to be safe); the pool
reconnects on the next call, so the client recovers when the server returns.
More callers than connections wait for one (up to the URL's ``timeout``)
instead of failing: see :mod:`sessiondb.backends.redis.pool`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..failures import opening, translated
from ..options import RedisOptions
from ..pool import gate, single_client
from ..scripts import SCRIPTS


def connect(options: RedisOptions) -> Any:
    """A redis-py client for ``options``."""
    never = Retry(NoBackoff(), 0)
    if options.cluster:
        nodes = [ClusterNode(host, port) for host, port in options.nodes]
        return RedisCluster(startup_nodes=nodes, decode_responses=True, retry=never,
                            max_connections=options.max_connections, **options.kwargs)
    return single_client(redis.asyncio.Redis, options, decode_responses=True, retry=never)


class Client:
    """Scripts and commands on one client, driver errors translated.

    The client is built on first use (a sync cluster client reads the
    cluster's layout when built), so opening a store does no I/O and a store
    opened while the server is down works once it is back.
    """

    def __init__(self, options: RedisOptions) -> None:
        self.where = options.masked
        self._options = options
        self._lock = threading.Lock()
        self._redis: Any = None
        self._scripts: dict[str, Any] = {}
        self._gate: Any = None

    @property
    def redis(self) -> Any:
        return self._redis or self._connect()

    def _connect(self) -> Any:
        with self._lock:
            if self._redis is None:
                with opening(self.where):
                    client = connect(self._options)
                self._scripts = {name: client.register_script(source)
                                 for name, source in SCRIPTS.items()}
                self._gate = gate(client, self._options)
                self._redis = client
            return self._redis

    async def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one of :data:`SCRIPTS` (EVALSHA; loaded on first use)."""
        with translated(self.where):
            if self._redis is None:
                self._connect()
            async with self._gate:
                return await self._scripts[name](keys, args)

    async def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Plain commands in one MULTI/EXEC: one round trip, one snapshot."""
        with translated(self.where):
            pipe = self.redis.pipeline(transaction=True)
            for command in commands:
                pipe.execute_command(*command)
            async with self._gate:
                return await pipe.execute()

    async def call(self, *command: Any) -> Any:
        """One plain command."""
        with translated(self.where):
            client = self.redis
            async with self._gate:
                return await client.execute_command(*command)

    async def aclose(self) -> None:
        if self._redis is not None:
            with translated(self.where):
                await self._redis.aclose()
