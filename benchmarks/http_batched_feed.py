"""A sketch of a cheaper live-feed publish, measured by the HTTP API
benchmark as the ``service-batched`` contender (it patches one service
process; the library is unchanged).

Today the service awaits ``Feed.publish`` after every write: one
``pg_notify`` (on one shared connection, so they queue) or one Redis
``PUBLISH`` per append, in the request's path, and the process's own
listener then receives each message back. The sketch keeps the local wake-up
immediate but sends the cross-process signal from one background task that
takes everything queued while the previous send was in flight, keeps only
the highest version per session, and sends it as one message (a JSON list
of ``[app, user, session, version]``); the receiving side accepts both
shapes. Under load that is one round trip per batch instead of one per
write, and none in the response's path. (A real change must also split a
batch over PostgreSQL's 8,000-byte payload limit.)
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
