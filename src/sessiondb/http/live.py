"""Feeds: how a live event stream learns that a session has new events.

One :class:`Feed` per process serves every open stream. Streams of one
session share one *topic* (the highest version known for it); a signal
wakes all of them at once, so 1,000 subscribers cost one notification, not
1,000 polling loops. Signals arrive three ways:

- :meth:`Feed.publish`, called by the HTTP service after each append it
  makes: wakes this process's streams at once and, on PostgreSQL and Redis,
  queues a notice for every other process, which one background task sends
  through the engine (``pg_notify`` on one ``LISTEN`` channel; Redis
  ``PUBLISH`` on one pub/sub channel), off the request's path: each message
  carries every notice queued while the previous one was being sent (one
  per session, its highest version), so under load one round trip serves
  many appends.
- The engine's message, received on one dedicated connection per process.
- A poller per *watched* session that reads the session's version
  (``store.get(..., last=0)``): every ``poll_interval`` seconds. On SQLite and
  memory that is the feed itself (default 0.1 s); on PostgreSQL and Redis it
  is a slow safety net (default 2 s) that catches appends made through the
  library, which does not publish, and anything missed while reconnecting.
  The period stretches so that a process polls at most 1,000 times a second
  (250 for the safety net): with 1,000 watched sessions, each once a second
  (every 4 s). The poller also notices a deleted or expired session and ends
  its streams.

Channels are namespaced by the store's schema (PostgreSQL) or key prefix and
database (Redis), so two stores on one server never wake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any, Literal

from .._async_store import AsyncSessionStore
from ..errors import ConfigurationError, ExpiredError, NotFoundError, SessionDBError

__all__ = ["Feed", "SessionKey", "Watch", "batch_payloads", "open_feed"]

_log = logging.getLogger("sessiondb.http.live")

SessionKey = tuple[str, str, str]
#: At most this many version reads (pollers, new tails) run at once.
_POLL_CONCURRENCY = 16
#: How long closing a feed waits for its last notices to be sent.
_DRAIN_TIMEOUT = 5.0


class _Topic:
    """What this process knows of one watched session."""

    __slots__ = ("changed", "ended", "nudge", "poller", "version", "watchers")

    def __init__(self) -> None:
        self.version = 0
        self.ended = False
        self.watchers = 0
        self.changed = asyncio.Event()
        """Replaced on every change: waiters hold the one current when they began."""
        self.nudge = asyncio.Event()
        """Set to make the poller read the version now."""
        self.poller: asyncio.Task[None] | None = None

    def advance(self, version: int) -> None:
        if version > self.version:
            self.version = version
            self._wake()

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._wake()

    def _wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class Watch:
    """One stream's hold on a session's topic (see :meth:`Feed.watch`)."""

    __slots__ = ("_topic",)

    def __init__(self, topic: _Topic) -> None:
        self._topic = topic

    @property
    def version(self) -> int:
        """The highest version of the session known here."""
        return self._topic.version

    @property
    def ended(self) -> bool:
        """Whether the session was seen deleted or expired, or the feed closed."""
        return self._topic.ended

    async def wait(self, after: int, timeout: float) -> bool:
        """Wait until the session has a version above ``after`` or has ended;
        ``False`` if ``timeout`` seconds passed first."""
        topic = self._topic
        try:
            async with asyncio.timeout(timeout):
                while topic.version <= after and not topic.ended:
                    await topic.changed.wait()
        except TimeoutError:
            return False
        return True


class Feed:
    """Signals for the sessions this process's streams watch.

    This base class polls (SQLite and memory stores); :class:`PostgresFeed`
    and :class:`RedisFeed` add a push channel between processes. Use it as
    ``async with open_feed(store, url) as feed`` or call :meth:`start` and
    :meth:`aclose`.
    """

    #: All the pollers of a feed together read at most this many versions a
    #: second: with many watched sessions, each is polled less often.
    poll_rate = 1000
    #: The most sessions with a notice waiting to be sent; past it,
    #: :meth:`publish` waits for the sender (memory stays bounded, nothing is
    #: dropped).
    max_pending = 10_000
    #: The longest message sent to the other processes, in bytes (a longer
    #: batch goes as several).
    max_payload = 7900
    #: Whether this feed tells other processes (:meth:`_send` does something).
    _pushes = False

    def __init__(self, store: AsyncSessionStore, *, poll_interval: float | None = 0.1) -> None:
        if poll_interval is not None and not 0 < poll_interval < float("inf"):
            raise ConfigurationError("poll_interval must be a positive number of seconds "
                                     f"or None, not {poll_interval!r}")
        self.store = store
        self.poll_interval = poll_interval
        self._topics: dict[SessionKey, _Topic] = {}
        self._closed = False
        self._streams_ended = False
        # Notices for the other processes: session -> highest version (None:
        # "look"), sent by one task at a time; ``_taken`` is set (and replaced)
        # whenever that task takes them.
        self._pending: dict[SessionKey, int | None] = {}
        self._sender: asyncio.Task[None] | None = None
        self._taken = asyncio.Event()
        # Pollers share the store's connections with the requests: a thousand
        # sessions starting to be watched at once must not take them all.
        self._polling = asyncio.Semaphore(_POLL_CONCURRENCY)

    async def start(self) -> None:
        """Connect the push channel, if any (it reconnects by itself)."""

    async def aclose(self) -> None:
        """End every open stream (they close cleanly) and stop every poller,
        then send the notices still queued (waiting at most a few seconds);
        a second call does nothing more."""
        self._closed = True
        await self.end_streams()
        await self._drain()

    async def end_streams(self) -> None:
        """End every open stream (they close cleanly: a client resumes
        elsewhere with ``Last-Event-ID``) and every stream opened from now
        on, once it has sent what is stored; publishing goes on. What a server
        does first when it stops: a stream never finishes by itself."""
        self._streams_ended = True
        topics, self._topics = list(self._topics.values()), {}
        for topic in topics:
            topic.end()
            if topic.poller is not None:
                topic.poller.cancel()
        for topic in topics:
            if topic.poller is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await topic.poller

    async def __aenter__(self) -> Feed:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """For an app's lifespan: the feed on ``app.state.feed``, where the
        stream finds it, started for the app's life."""
        app.state.feed = self
        async with self:
            yield

    @contextlib.asynccontextmanager
    async def watch(self, app: str, user_id: str, session_id: str) -> AsyncIterator[Watch]:
        """Hold the session's topic for the block. Open it *before* reading
        where the session is, so that no signal after that read is missed:
        the topic only learns what is signalled or polled from then on."""
        key = (app, user_id, session_id)
        topic = self._topics.get(key)
        if topic is None or topic.ended:
            topic = self._topics[key] = _Topic()
            if self._streams_ended:
                topic.end()
            else:
                topic.poller = asyncio.create_task(self._poll(key, topic))
        topic.watchers += 1
        try:
            yield Watch(topic)
        finally:
            topic.watchers -= 1
            if topic.watchers == 0 and self._topics.get(key) is topic:
                del self._topics[key]
                if topic.poller is not None:
                    topic.poller.cancel()

    @property
    def watched(self) -> int:
        """How many sessions this process watches now."""
        return len(self._topics)

    async def publish(self, app: str, user_id: str, session_id: str,
                      version: int | None = None) -> None:
        """Say that the session reached ``version`` (what ``append``
        returned); ``None`` means "changed otherwise, look" (after a delete,
        say). This process's streams wake at once; the other processes' notice
        is queued and sent in the background, so this returns without a
        round trip (unless :attr:`max_pending` sessions wait already). A
        failed send is logged, never raised: the append it follows has
        succeeded, and pollers catch up."""
        key = (app, user_id, session_id)
        self._signal(key, version)
        if self._closed or not self._pushes:
            return
        while len(self._pending) >= self.max_pending and key not in self._pending:
            await self._taken.wait()
            if self._closed:
                return
        pending = self._pending
        if version is None or (key in pending and pending[key] is None):
            pending[key] = None  # "look" covers any version
        else:
            pending[key] = max(version, pending.get(key) or 0)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_pending())

    async def _send_pending(self) -> None:
        """Send what is queued, and what was queued meanwhile, until none is."""
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                taken, self._taken = self._taken, asyncio.Event()
                taken.set()
                for payload in batch_payloads(batch, self.max_payload):
                    try:
                        await self._send(payload)
                    except Exception as exc:
                        _log.warning("live feed: could not publish to other processes: %s",
                                     exc)
        finally:
            self._sender = None
            taken, self._taken = self._taken, asyncio.Event()
            taken.set()  # publishers waiting for room: cancelled at close, look again

    async def _drain(self) -> None:
        """Wait for the queued notices to be sent (at most a few seconds)."""
        sender = self._sender
        if sender is None:
            return
        try:
            async with asyncio.timeout(_DRAIN_TIMEOUT):
                await asyncio.shield(sender)
        except TimeoutError:
            _log.warning("live feed: closed with %d notices unsent", len(self._pending))
            sender.cancel()

    async def version(self, app: str, user_id: str, session_id: str) -> int:
        """The session's version, read from the store (``NotFoundError``,
        ``ExpiredError``); at most a few such reads run at once, so that a
        thousand new streams do not take every connection of the store."""
        async with self._polling:
            return (await self.store.get(app, user_id, session_id, last=0)).version

    async def _send(self, payload: str) -> None:
        """Tell the other processes (nothing to do for a polling feed)."""

    def _signal(self, key: SessionKey, version: int | None) -> None:
        topic = self._topics.get(key)
        if topic is None:
            return
        if version is None:
            topic.nudge.set()
        else:
            topic.advance(version)

    def _receive(self, payload: str) -> None:
        """A message from another process (or our own, echoed): a list of
        ``[app, user, session, version]`` notices (or one notice, as sent
        before batching), each signalled."""
        try:
            notices = json.loads(payload)
        except ValueError:
            notices = None
        if not isinstance(notices, list) or not notices:
            _log.warning("live feed: ignored a malformed message %r", payload[:200])
            return
        if not isinstance(notices[0], list):
            notices = [notices]
        for notice in notices:
            try:
                app, user_id, session_id, version = notice
            except (ValueError, TypeError):
                _log.warning("live feed: ignored a malformed notice %r", str(notice)[:200])
                continue
            if isinstance(version, int) or version is None:
                self._signal((str(app), str(user_id), str(session_id)), version)

    def _nudge_all(self) -> None:
        """Make every poller look now: messages may have been missed."""
        for topic in self._topics.values():
            topic.nudge.set()

    def _interval(self) -> float | None:
        """The polling period now: ``poll_interval``, stretched so that all
        the pollers together read at most :attr:`poll_rate` times a second."""
        if self.poll_interval is None:
            return None
        return max(self.poll_interval, len(self._topics) / self.poll_rate)

    async def _poll(self, key: SessionKey, topic: _Topic) -> None:
        """Read the version every period (the first time after a random part
        of it, so that the pollers of sessions watched together spread out)
        and when nudged."""
        interval = self._interval()
        first = random.uniform(0, interval) if interval is not None else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(first):
                await topic.nudge.wait()
        while True:
            topic.nudge.clear()
            try:
                version = await self.version(*key)
            except (NotFoundError, ExpiredError):
                topic.end()
                return
            except SessionDBError as exc:  # unavailable: try again next time
                _log.debug("live feed: could not read %s: %s", key, exc)
            else:
                topic.advance(version)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval()):
                    await topic.nudge.wait()


def batch_payloads(batch: dict[SessionKey, int | None], limit: int) -> list[str]:
    """``batch`` as JSON messages of ``[[app, user, session, version], …]``,
    each at most ``limit`` bytes (a single notice longer than that goes
    alone)."""
    payloads: list[str] = []
    items: list[str] = []
    size = 2
    for key, version in batch.items():
        item = json.dumps([*key, version])  # ASCII: its length is its size in bytes
        if items and size + len(item) + 1 > limit:
            payloads.append(f"[{','.join(items)}]")
            items, size = [], 2
        items.append(item)
        size += len(item) + 1
    if items:
        payloads.append(f"[{','.join(items)}]")
    return payloads


def open_feed(store: AsyncSessionStore, url: str, *,
              poll_interval: float | Literal["default"] | None = "default") -> Feed:
    """The feed for a store opened from ``url`` (the same URL, password
    included: the push feeds open their own connections).

    ``poll_interval`` (seconds) overrides the default: 0.1 s polling on SQLite
    and memory; a 2 s safety net on PostgreSQL and Redis, which ``None``
    turns off when every write goes through the HTTP service.
    """
    from .live_push import PostgresFeed, RedisFeed

    scheme = url.partition("://")[0]
    push: type[PostgresFeed | RedisFeed] | None = (
        PostgresFeed if scheme in ("postgresql", "postgres")
        else RedisFeed if scheme in ("redis", "rediss", "redis+cluster") else None)
    if push is not None:
        return push(store, url, poll_interval=2.0 if poll_interval == "default"
                    else poll_interval)
    return Feed(store, poll_interval=0.1 if poll_interval == "default" else poll_interval)
