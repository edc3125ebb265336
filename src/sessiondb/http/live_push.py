"""The feeds with a channel between processes: PostgreSQL ``LISTEN/NOTIFY``
and Redis pub/sub (see :mod:`sessiondb.http.live` for how feeds work).

Each process receives on one dedicated connection, which reconnects by
itself with a growing delay and then makes every watched session's poller
look once, for what it missed meanwhile. Publishing uses a second
connection (a listening connection is busy), from the feed's one sending
task: a message carries a batch of notices, under PostgreSQL's 8,000-byte
payload limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from .._async_store import AsyncSessionStore
from .live import Feed

__all__ = ["PostgresFeed", "RedisFeed"]

_log = logging.getLogger("sessiondb.http.live")
#: How long a listening connection may stay silent before it is checked.
_HEALTH_CHECK = 30.0
_MAX_RECONNECT_DELAY = 5.0


class _PushFeed(Feed):
    """A feed with a channel between processes, received on one connection
    that reconnects by itself (polling every watched session once when it
    does, for what it missed meanwhile). Its polling is a safety net only,
    kept to a lower rate."""

    poll_rate = 250
    _pushes = True

    def __init__(self, store: AsyncSessionStore, *, poll_interval: float | None = 2.0) -> None:
        super().__init__(store, poll_interval=poll_interval)
        self._listener: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()
        self.listening = False
        """Whether the receiving connection is subscribed now."""

    async def start(self) -> None:
        """Start listening; returns once the first connection attempt is over
        (an unreachable server is logged and retried, never raised)."""
        if self._listener is None and not self._closed:
            self._listener = asyncio.create_task(self._listen())
            await self._tried.wait()

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await super().aclose()
        await self._disconnect()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            def subscribed() -> None:
                nonlocal delay
                delay = 0.1
                self.listening = True
                self._tried.set()
                self._nudge_all()

            try:
                await self._subscribe(subscribed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("live feed: listening connection failed (retrying in %.1f s): %s",
                             delay, exc)
            self.listening = False
            self._tried.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RECONNECT_DELAY)

    async def _subscribe(self, subscribed: Callable[[], None]) -> None:
        """Connect, subscribe, call ``subscribed()``, then pass every payload
        to :meth:`_receive` until the connection fails."""
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Close the publishing connection."""


class PostgresFeed(_PushFeed):
    """``LISTEN`` on one channel per schema; ``pg_notify`` to publish. Each
    uses its own autocommit connection (a listening connection is busy)."""

    def __init__(self, store: AsyncSessionStore, url: str, *,
                 poll_interval: float | None = 2.0) -> None:
        from ..backends.postgres.url import PostgresOptions

        super().__init__(store, poll_interval=poll_interval)
        options = PostgresOptions.from_url(url)
        self._conninfo = options.conninfo
        self.channel = _short(f"sessiondb.{options.schema}", 63)
        self._publisher: Any = None
        self._publisher_lock = asyncio.Lock()

    async def _subscribe(self, subscribed: Callable[[], None]) -> None:
        import psycopg
        from psycopg import sql

        async with await psycopg.AsyncConnection.connect(self._conninfo,
                                                         autocommit=True) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            subscribed()
            while True:
                async for notify in conn.notifies(timeout=_HEALTH_CHECK):
                    self._receive(notify.payload)
                await conn.execute("SELECT 1")  # a silently dropped connection fails here

    async def _send(self, payload: str) -> None:
        import psycopg

        async with self._publisher_lock:
            if self._publisher is None or self._publisher.closed:
                self._publisher = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True)
        try:
            await self._publisher.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))
        except psycopg.OperationalError:
            await self._publisher.close()
            raise

    async def _disconnect(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.close()


class RedisFeed(_PushFeed):
    """Redis pub/sub on one channel per key prefix and database. On a
    cluster, plain ``PUBLISH`` reaches the subscribers of every node, so the
    feed talks to one node (the next listed one if it fails)."""

    max_payload = 64 * 1024  # Redis has no small limit; keep messages modest

    def __init__(self, store: AsyncSessionStore, url: str, *,
                 poll_interval: float | None = 2.0) -> None:
        import redis.connection

        from ..backends.redis.options import RedisOptions

        super().__init__(store, poll_interval=poll_interval)
        options = RedisOptions.from_url(url)
        db = 0 if options.cluster else redis.connection.parse_url(options.url).get("db", 0)
        self.channel = f"{options.prefix}:{db}:live"
        self._options = options
        self._node = 0
        self._publisher: Any = None

    def _client(self) -> Any:
        import redis.asyncio

        options = self._options
        if not options.cluster:
            return redis.asyncio.Redis.from_url(options.url, decode_responses=True)
        host, port = options.nodes[self._node % len(options.nodes)]
        return redis.asyncio.Redis(host=host, port=port, decode_responses=True,
                                   **options.kwargs)

    async def _subscribe(self, subscribed: Callable[[], None]) -> None:
        client = self._client()
        try:
            # Confirmations and pongs are messages too: None means silence.
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                subscribed()
                while True:
                    message = await pubsub.get_message(timeout=_HEALTH_CHECK)
                    if message is None:
                        await pubsub.ping()
                    elif message["type"] == "message":
                        self._receive(message["data"])
        except Exception:
            self._node += 1  # on a cluster, try the next node
            raise
        finally:
            await client.aclose()

    async def _send(self, payload: str) -> None:
        if self._publisher is None:
            self._publisher = self._client()
        try:
            await self._publisher.publish(self.channel, payload)
        except Exception:
            publisher, self._publisher = self._publisher, None
            await publisher.aclose()
            raise

    async def _disconnect(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.aclose()


def _short(name: str, limit: int) -> str:
    """``name``, or a digest of it when it is longer than ``limit``."""
    if len(name) <= limit:
        return name
    return f"sessiondb.{hashlib.sha256(name.encode()).hexdigest()[:32]}"
