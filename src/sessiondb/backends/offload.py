"""Serving the async store from a synchronous backend, one hop per operation.

- :class:`InlineAsync` for backends that never block (memory): no hop at all.
- :class:`WorkerAsync` for backends that do blocking I/O (SQLite): each whole
  operation runs on one dedicated worker thread, so an append costs one
  thread hop, not one per statement. The hop is a queue plus
  ``call_soon_threadsafe``, lighter than ``run_in_executor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import islice
from typing import Any

from ..errors import BackendError

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
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            loop, future, fn, args = job
            if future is None:  # posted: nobody awaits it
                with contextlib.suppress(Exception):
                    fn(*args)
                continue
            try:
                outcome, value = _succeed, fn(*args)
            except BaseException as exc:  # handed to the awaiting task
                outcome, value = _fail, exc
            # RuntimeError: the caller's loop is closed, so nobody is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(outcome, future, value)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the worker without waiting for it (errors dropped)."""
        if not self._closed:
            self._jobs.put((None, None, fn, args))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed:
            raise BackendError("the store is closed")
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
        if self._closed:
            return
        try:
            await self.run(self._backend.close)
        finally:
            self._closed = True
            self._jobs.put(_STOP)


def _succeed(future: asyncio.Future, result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(exc)
