"""``GET …/events/stream``: the live tail of a session's events over
Server-Sent Events.

Each event goes out as ``id: <seq>``, ``event: <kind>``, ``data: <the
event's JSON>``. The stream starts after the ``Last-Event-ID`` header (what a
reconnecting ``EventSource`` sends) or else the ``after`` query parameter
(default 0: the whole log, then live), so a client that reconnects gets
every event once, in order. A ``: open`` comment line follows the history
once the stream is live (caught up and subscribed); a ``: ping`` comment
comes every ``ping_interval`` seconds of silence; an ``end`` event closes
the stream when the session is deleted or expires. It needs
``app.state.store`` (an ``AsyncSessionStore``) and ``app.state.feed`` (a
:class:`~sessiondb.http.live.Feed`).

The streams of one session share one reader (:mod:`sessiondb.http.tail`):
a new event costs one store read per process, not one per subscriber.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ConfigurationError, ExpiredError, NotFoundError, SessionDBError

try:
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigurationError("the event stream needs starlette: "
                             "pip install 'sessiondb[server]'") from exc

from .._async_store import AsyncSessionStore
from . import context
from .inputs import MAX_INTEGER, allow_query, ids, query_int
from .live import Feed, SessionKey
from .problems import MalformedRequest
from .tail import Chunk, SharedReads, Tail, Tails, end_event

__all__ = ["STREAM_PATH", "EventStream", "routes", "start_after"]

STREAM_PATH = "/v1/apps/{app}/users/{user}/sessions/{sid}/events/stream"
_log = logging.getLogger("sessiondb.http.stream")
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
_PING = b": ping\n\n"


class EventStream:
    """The endpoint, with the reads and tails its streams share."""

    def __init__(self, *, ping_interval: float = 15.0, batch: int = 100) -> None:
        self.reads = SharedReads(batch)
        self.tails = Tails(self.reads, ping_interval=ping_interval)

    async def endpoint(self, request: Request) -> Response:
        feed: Feed = request.app.state.feed
        app, user, sid = ids(request, "app", "user", "sid")
        allow_query(request, "after")
        after = start_after(request)
        store = context.store(request)
        # The first read, before the response starts: a missing or expired
        # session is a 404 problem, not an empty stream.
        first = await self.reads.read(store, (app, user, sid), after)
        return StreamingResponse(self._events(store, feed, (app, user, sid), first),
                                 media_type="text/event-stream", headers=_HEADERS)

    async def _events(self, store: AsyncSessionStore, feed: Feed, key: SessionKey,
                      first: Chunk) -> AsyncIterator[bytes]:
        chunk, position, behind = first
        async with contextlib.AsyncExitStack() as stack:
            tail: Tail | None = None
            while True:
                if chunk:
                    yield chunk
                if not behind:
                    if tail is None:  # caught up: live from here
                        tail = await stack.enter_async_context(
                            self.tails.hold(store, feed, key))
                        yield b": open\n\n"
                    taken = tail.take(position)
                    if taken is None:  # the tail's buffer does not reach back here
                        behind = True
                    elif taken[0]:
                        chunk, position = taken
                        continue
                    elif tail.end is not None:
                        yield tail.end
                        return
                    else:
                        pings = tail.pings
                        await tail.changed.wait()
                        chunk = _PING if tail.pings != pings else b""
                        continue
                try:  # reading by itself
                    chunk, position, behind = await self.reads.read(store, key, position)
                except (NotFoundError, ExpiredError) as exc:
                    yield end_event(exc)
                    return
                except SessionDBError as exc:  # the client reconnects and resumes
                    _log.warning("event stream of %s ended: %s", key, exc)
                    return


def start_after(request: Request) -> int:
    """The seq to start after: ``Last-Event-ID``, else ``?after=``, else 0."""
    header = request.headers.get("last-event-id", "").strip()
    if not header:
        return query_int(request, "after", 0, 0) or 0
    if not (header.isascii() and header.isdigit() and int(header) <= MAX_INTEGER):
        raise MalformedRequest(f"Last-Event-ID must be an event seq (an integer >= 0), "
                               f"not {header[:40]!r}", field="Last-Event-ID")
    return int(header)


def routes(*, ping_interval: float = 15.0, batch: int = 100, **route: Any) -> list[Route]:
    """The stream's route, to mount in the service's app (``route`` keywords
    go to Starlette's ``Route``, e.g. ``middleware``)."""
    stream = EventStream(ping_interval=ping_interval, batch=batch)
    return [Route(STREAM_PATH, stream.endpoint, methods=["GET"], name="events_stream",
                  **route)]
