"""The live tail of one session in one process, shared by all its streams.

A :class:`Tail` has one *follower* task: it waits on the feed, reads what is
new once and keeps it, encoded as SSE, in a short buffer (the newest 256 KiB,
and always the newest read). Every stream of the session takes its bytes
from that buffer, so a new event costs one store read and one encoding per
process, and each subscriber one wakeup and one write. A stream that is
behind the buffer (resuming from long ago, or too slow) reads for itself,
through :class:`SharedReads` so that streams at the same place still share a
read. Keep-alive pings are the follower's too: one timer per session, not
per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

from .._async_store import AsyncSessionStore
from .._core.jsonvalue import dumps
from ..errors import ExpiredError, NotFoundError, SessionDBError
from .live import Feed, SessionKey

__all__ = ["Chunk", "SharedReads", "Tail", "Tails", "end_event"]

_log = logging.getLogger("sessiondb.http.stream")

#: (SSE bytes of some events, the seq of the last one (or where the read
#: started, if none), whether more events follow)
Chunk = tuple[bytes, int, bool]
#: How long the follower waits after a failed read before it tries again.
_RETRY = 1.0


def end_event(exc: NotFoundError | ExpiredError) -> bytes:
    """The last message of a stream whose session is gone."""
    reason = "expired" if isinstance(exc, ExpiredError) else "not_found"
    return f'event: end\ndata: {{"reason":"{reason}"}}\n\n'.encode()


class SharedReads:
    """Event reads, encoded as SSE; concurrent asks for the same events
    share one store read (1,000 new streams of one session cost one), and at
    most ``concurrency`` reads run at once: a storm of reconnecting clients
    waits its turn instead of taking every connection of the store."""

    def __init__(self, batch: int = 100, concurrency: int = 32) -> None:
        self.batch = batch
        self._reads: dict[tuple[int, str, str, str, int], asyncio.Future[Chunk]] = {}
        self._running = asyncio.Semaphore(concurrency)

    async def read(self, store: AsyncSessionStore, key: SessionKey, after: int) -> Chunk:
        """The events after ``after`` (at most ``batch``)."""
        read_key = (id(store), *key, after)
        read = self._reads.get(read_key)
        if read is None:
            read = asyncio.ensure_future(self._fetch(store, key, after))
            self._reads[read_key] = read
            read.add_done_callback(lambda done: self._finished(read_key, done))
        # shielded: one stream going away must not cancel the others' read
        return await asyncio.shield(read)

    def _finished(self, read_key: tuple[int, str, str, str, int],
                  read: asyncio.Future[Chunk]) -> None:
        if self._reads.get(read_key) is read:
            del self._reads[read_key]
        if not read.cancelled():
            read.exception()  # retrieved: every waiter may have gone

    async def _fetch(self, store: AsyncSessionStore, key: SessionKey, after: int) -> Chunk:
        async with self._running:
            page = await store.events(*key, after_seq=after, limit=self.batch)
        if not page.items:
            return b"", after, False
        text = "".join(f"id: {e.seq}\nevent: {e.kind}\ndata: {dumps(e.to_dict())}\n\n"
                       for e in page.items)
        return text.encode(), page.items[-1].seq, page.next_cursor is not None


class Tail:
    """One session's newest events, as its streams take them."""

    def __init__(self, max_bytes: int) -> None:
        self.head = -1
        """The seq of the newest event the follower has read (-1 until it
        has learnt where the session is)."""
        self.pings = 0
        """Bumped after each ``ping_interval`` of silence."""
        self.end: bytes | None = None
        """Once the follower has stopped: what streams send last (may be empty)."""
        self.changed = asyncio.Event()
        """Replaced on every change: waiters hold the one current when they began."""
        self.streams = 0
        self._entries: deque[tuple[int, int, bytes]] = deque()  # (after, upto, bytes)
        self._bytes = 0
        self._max_bytes = max_bytes
        self._follower: asyncio.Task[None] | None = None

    def take(self, position: int) -> tuple[bytes, int] | None:
        """The bytes of the events after ``position`` and the new position
        (``b""`` if none yet); ``None`` if the buffer does not start there:
        the stream must read for itself."""
        if position >= self.head:  # nothing new, or not known yet
            return b"", position
        parts: list[bytes] = []
        for after, _, data in reversed(self._entries):
            parts.append(data)
            if after == position:
                return (data if len(parts) == 1 else b"".join(reversed(parts))), self.head
            if after < position:
                break
        return None

    def start(self, store: AsyncSessionStore, feed: Feed, key: SessionKey,
              reads: SharedReads, ping_interval: float) -> None:
        self._follower = asyncio.create_task(
            self._follow(store, feed, key, reads, ping_interval))

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()

    def _add(self, after: int, upto: int, data: bytes) -> None:
        self._entries.append((after, upto, data))
        self._bytes += len(data)
        while self._bytes > self._max_bytes and len(self._entries) > 1:
            self._bytes -= len(self._entries.popleft()[2])
        self.head = upto
        self._wake()

    def _ping(self) -> None:
        self.pings += 1
        self._wake()

    def _finish(self, end: bytes) -> None:
        self.end = end
        self._wake()

    def _wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def _follow(self, store: AsyncSessionStore, feed: Feed, key: SessionKey,
                      reads: SharedReads, ping_interval: float) -> None:
        """Learn the session's version, then wait for news, read it and keep
        it; until the session or the feed ends."""
        try:
            async with feed.watch(*key) as watch:
                # Opened first, so nothing after this read is missed; the
                # streams read what came before for themselves.
                while self.head < 0:
                    try:
                        self.head = await feed.version(*key)
                    except (NotFoundError, ExpiredError) as exc:
                        self._finish(end_event(exc))
                        return
                    except SessionDBError as exc:
                        _log.warning("live tail of %s: read failed, retrying: %s", key, exc)
                        await asyncio.sleep(_RETRY)
                self._wake()
                target = self.head
                while True:
                    if not await watch.wait(target, ping_interval):
                        self._ping()
                        continue
                    last = watch.ended  # deleted (the read says), or the feed closed
                    announced, before = watch.version, self.head
                    try:
                        more = True
                        while more:
                            data, upto, more = await reads.read(store, key, self.head)
                            if data:
                                self._add(self.head, upto, data)
                    except (NotFoundError, ExpiredError) as exc:
                        self._finish(end_event(exc))
                        return
                    except SessionDBError as exc:
                        if last:  # the feed has closed: the store may have too
                            return
                        _log.warning("live tail of %s: read failed, retrying: %s", key, exc)
                        await asyncio.sleep(_RETRY)
                        continue
                    if last:
                        self._finish(b"")
                        return
                    # A version announced but not there to read (a session
                    # deleted and created again, say) must not spin the loop.
                    target = self.head if self.head > before else max(self.head, announced)
        except Exception:
            _log.exception("live tail of %s stopped", key)
        finally:
            if self.end is None:
                self._finish(b"")


class Tails:
    """The tails of the sessions streamed now, each alive while streamed."""

    def __init__(self, reads: SharedReads, *, ping_interval: float,
                 max_bytes: int = 256 * 1024) -> None:
        self.reads = reads
        self.ping_interval = ping_interval
        self.max_bytes = max_bytes
        self._tails: dict[tuple[int, str, str, str], Tail] = {}

    @contextlib.asynccontextmanager
    async def hold(self, store: AsyncSessionStore, feed: Feed,
                   key: SessionKey) -> AsyncIterator[Tail]:
        """The session's tail for the block (started if need be)."""
        tail_key = (id(store), *key)
        tail = self._tails.get(tail_key)
        if tail is None or tail.end is not None:
            tail = self._tails[tail_key] = Tail(self.max_bytes)
            tail.start(store, feed, key, self.reads, self.ping_interval)
        tail.streams += 1
        try:
            yield tail
        finally:
            tail.streams -= 1
            if tail.streams == 0:
                if self._tails.get(tail_key) is tail:
                    del self._tails[tail_key]
                tail.stop()
