"""The first sketch of a batched live-feed publish, kept as the
``service-batched`` contender of the HTTP API benchmark (it patches one
service process) for comparison with what the library now does.

The feed (``sessiondb.http.live.Feed.publish``) used to send one
``pg_notify`` / Redis ``PUBLISH`` per append, awaited in the request's path.
It now queues the notice and one background task sends what is queued as
one message; this sketch did the same from outside (keeping the highest
version per session, one JSON list per send), without the payload split,
the bounded queue and the flush on close that the library has.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

_log = logging.getLogger("sessiondb.http.live")


class BatchedPublish:
    def __init__(self, feed: Any) -> None:
        self.feed = feed
        self.pending: dict[tuple[str, str, str], int | None] = {}
        self.task: asyncio.Task[None] | None = None
        receive = feed._receive

        def receive_batches(payload: str) -> None:
            try:
                items = json.loads(payload)
            except ValueError:
                items = None
            if isinstance(items, list) and items and isinstance(items[0], list):
                for item in items:
                    receive(json.dumps(item))
            else:
                receive(payload)

        feed._receive = receive_batches

    async def publish(self, app: str, user_id: str, session_id: str,
                      version: int | None = None) -> None:
        key = (app, user_id, session_id)
        self.feed._signal(key, version)
        if self.feed._closed:
            return
        if version is None or (key in self.pending and self.pending[key] is None):
            self.pending[key] = None  # "changed otherwise, look": wins over any version
        else:
            self.pending[key] = max(version, self.pending.get(key) or 0)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, {}
            try:
                await self.feed._send(json.dumps([[*key, v] for key, v in batch.items()]))
            except Exception as exc:
                _log.warning("live feed: could not publish to other processes: %s", exc)


def batch_publishing(app: Any) -> None:
    """Swap the service app's change hook (its feed's ``publish``) for the sketch."""
    app.state.on_change = BatchedPublish(app.state.on_change.__self__).publish
