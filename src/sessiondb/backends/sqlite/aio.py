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
inline connection's writes too (see :mod:`.checkpoints`): never on the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from ...errors import BackendUnavailableError
from ..offload import WorkerAsync
from .backend import SQLiteBackend
from .connection import SQLiteOptions

INLINE = frozenset({"create", "get", "append", "events", "sessions", "fork", "touch", "delete",
                    "shared", "update_shared"})


class AsyncSQLiteBackend:
    def __init__(self, options: SQLiteOptions) -> None:
        self._worker_backend = SQLiteBackend(options)
        self._worker = WorkerAsync(self._worker_backend, name=f"sessiondb:{options.path}")
        self._inline: SQLiteBackend | None = None
        if options.synchronous == "normal" and options.path != ":memory:":
            self._inline = SQLiteBackend(replace(options, busy_timeout=0.0), migrate_schema=False,
                                         checkpointer=self._worker_backend.checkpointer)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        offloaded = getattr(self._worker, name)
        if self._inline is None or name not in INLINE:
            return offloaded
        method = getattr(self._inline, name)

        async def call(*args: Any) -> Any:
            try:
                return method(*args)
            except BackendUnavailableError:
                return await offloaded(*args)

        setattr(self, name, call)
        return call

    def dump(self, app: str | None) -> AsyncIterator[dict]:
        return self._worker.dump(app)

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
        await self._worker.close()
