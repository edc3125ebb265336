"""The async face of the SQLite backend: inline first, a worker thread when
SQLite would wait.

A thread hop costs more than a whole SQLite operation (≈40 µs against
≈30-60 µs here), so the everyday operations run inline on the event loop
through a connection whose busy timeout is zero: they never wait on a lock,
they finish in tens of microseconds or fail at once. When one finds the
database locked (another process or thread is writing), it is rolled back
— nothing was written — and runs again on the worker thread, whose own
connection waits on the busy timeout as the sync store does. Operations that
may run long (export, import, purges, deleting a user, and the re-sealing
operations ``bundle``, ``replace_session`` and ``replace_shared``) and every
operation under ``synchronous=full`` (an fsync per commit) always use the
worker: every method not in ``INLINE`` goes there.

WAL checkpoints run on the worker backend's checkpoint thread, for the
inline connection's writes too (see :mod:`.checkpoints`). The catch-up a
write makes after one flushes the file, so an inline write hands it to the
worker instead, and the next inline writes wait for it (a loop writing
inline would keep the log from ever being wholly copied back); the loop
never waits on a flush, and reads go on inline meanwhile. (Sending those
writes to the worker instead would count as another connection's writes:
the inline connection would drop the event rows it keeps.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from ...errors import BackendUnavailableError
from ..offload import WorkerAsync
from .backend import SQLiteBackend
from .connection import SQLiteOptions

INLINE = frozenset({"create", "get", "get_rows", "append", "events", "sessions", "fork", "touch",
                    "delete", "shared", "update_shared"})
WRITES = frozenset({"create", "append", "fork", "touch", "delete", "update_shared"})


class AsyncSQLiteBackend:
    def __init__(self, options: SQLiteOptions) -> None:
        self._worker_backend = SQLiteBackend(options)
        self._worker = WorkerAsync(self._worker_backend, name=f"sessiondb:{options.path}")
        self._inline: SQLiteBackend | None = None
        if options.synchronous == "normal" and options.path != ":memory:":
            self._inline = SQLiteBackend(replace(options, busy_timeout=0.0), migrate_schema=False,
                                         checkpointer=self._worker_backend.checkpointer,
                                         catch_up=self._catch_up_on_worker)
        self._catching_up: asyncio.Future[None] | None = None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        offloaded = getattr(self._worker, name)
        if self._inline is None or name not in INLINE:
            return offloaded
        method = getattr(self._inline, name)
        writes = name in WRITES

        async def call(*args: Any) -> Any:
            if writes and self._catching_up is not None:
                await self._caught_up()
            try:
                return method(*args)
            except BackendUnavailableError:
                return await offloaded(*args)

        setattr(self, name, call)
        return call

    def _catch_up_on_worker(self) -> None:
        """In an inline write, on the loop."""
        self._catching_up = asyncio.ensure_future(self._worker.run(self._worker_backend.catch_up))

    async def _caught_up(self) -> None:
        """Wait for the catch-up handed to the worker, if it is still running
        (one started in another event loop is no longer waited for)."""
        catching_up = self._catching_up
        if catching_up is None:
            return
        if catching_up.get_loop() is asyncio.get_running_loop():
            await catching_up
        if self._catching_up is catching_up:
            self._catching_up = None

    def dump(self, app: str | None) -> AsyncIterator[dict]:
        return self._worker.dump(app)

    async def close(self) -> None:
        await self._caught_up()
        if self._inline is not None:
            self._inline.close()
        await self._worker.close()
