"""Driving an async store from sync test code, so one suite covers both."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from .._async_store import AsyncSessionStore


class BlockingStore:
    """The sync face of an :class:`AsyncSessionStore`.

    The store's coroutines run on an event loop in a background thread; any
    number of threads may call at once, and their calls then run as
    concurrent tasks on that loop, which is what concurrency tests need.
    """

    def __init__(self, store: AsyncSessionStore) -> None:
        self.store = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.store, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(method(*args, **kwargs))

        return call

    def export(self, app: str | None = None) -> Iterator[dict]:
        async def collect() -> list[dict]:
            return [record async for record in self.store.export(app)]

        return iter(self._run(collect()))

    @property
    def clock(self) -> Any:
        return self.store.clock

    @property
    def limits(self) -> Any:
        return self.store.limits

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self.store.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
