"""Serving the async store from a synchronous backend, one hop per operation.

- :class:`InlineAsync` for backends that never block (memory): no hop at all.
- :class:`WorkerAsync` for backends that do blocking I/O (SQLite): each whole
  operation runs on one dedicated worker thread, so an append costs one
  thread hop, not one per statement. The hop is a queue plus
  ``call_soon_threadsafe``, lighter than ``run_in_executor``.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import islice
from typing import Any

_STOP = object()
_DUMP_BATCH = 500


class InlineAsync:
    """Async methods that call a non-blocking backend directly."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._backend, name)

        async def call(*args: Any) -> Any:
            return method(*args)

        setattr(self, name, call)
        return call

    async def dump(self, app: str | None) -> AsyncIterator[dict]:
        for record in self._backend.dump(app):
            yield record


class WorkerAsync:
    """Async methods that run each backend call on one worker thread."""

    def __init__(self, backend: Any, name: str = "sessiondb-worker") -> None:
        self._backend = backend
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            loop, future, fn, args = job
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting task
                loop.call_soon_threadsafe(_fail, future, exc)
            else:
                loop.call_soon_threadsafe(_succeed, future, result)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return await future

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._backend, name)

        async def call(*args: Any) -> Any:
            return await self.run(method, *args)

        setattr(self, name, call)
        return call

    async def dump(self, app: str | None) -> AsyncIterator[dict]:
        records: Iterator[dict] = self._backend.dump(app)
        while batch := await self.run(lambda: list(islice(records, _DUMP_BATCH))):
            for record in batch:
                yield record

    async def close(self) -> None:
        await self.run(self._backend.close)
        self._jobs.put(_STOP)


def _succeed(future: asyncio.Future, result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(exc)
