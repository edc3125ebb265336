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

WAL checkpoints copy the log back into the database file and flush it: the
commit that crosses SQLite's threshold would run one, for milliseconds, on
the loop. So the inline connection never checkpoints; every
``CHECKPOINT_EVERY`` inline writes, the worker runs one instead, without
anyone awaiting it, and writes queue on the worker behind it until it is
done (a loop writing inline would otherwise starve it of the write lock).
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
WRITES = frozenset({"create", "append", "fork", "touch", "delete", "update_shared"})
CHECKPOINT_EVERY = 500


class AsyncSQLiteBackend:
    def __init__(self, options: SQLiteOptions) -> None:
        self._worker_backend = SQLiteBackend(options)
        self._worker = WorkerAsync(self._worker_backend, name=f"sessiondb:{options.path}")
        self._inline: SQLiteBackend | None = None
        if options.synchronous == "normal" and options.path != ":memory:":
            self._inline = SQLiteBackend(replace(options, busy_timeout=0.0), migrate_schema=False,
                                         checkpoints=False)
        self._writes = 0
        self._checkpointing = False

    def __getattr__(self, name: str) -> Callable[..., Any]:
        offloaded = getattr(self._worker, name)
        if self._inline is None or name not in INLINE:
            return offloaded
        method = getattr(self._inline, name)
        writes = name in WRITES

        async def call(*args: Any) -> Any:
            if writes and self._checkpointing:
                return await offloaded(*args)
            try:
                result = method(*args)
            except BackendUnavailableError:
                return await offloaded(*args)
            if writes:
                self._wrote()
            return result

        setattr(self, name, call)
        return call

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and not self._checkpointing:
            self._writes = 0
            self._checkpointing = True
            self._worker.post(self._checkpoint)

    def _checkpoint(self) -> None:
        """On the worker thread."""
        try:
            self._worker_backend.checkpoint()
        finally:
            self._checkpointing = False

    def dump(self, app: str | None) -> AsyncIterator[dict]:
        return self._worker.dump(app)

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
        await self._worker.close()
