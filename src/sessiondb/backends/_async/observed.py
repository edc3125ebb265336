"""A backend that times each operation and reports it to an observer.

:func:`sessiondb.observe.observing` inserts it only when a store is given
an observer, so an unused hook costs nothing. It sits right on the backend
(under encryption, if any): it times the storage work. It implements the
backend protocol by forwarding each call unchanged: same arguments, same
result, same exception. ``dump`` (export) and ``close`` are passed through
untimed (an export's duration is mostly its consumer's), and so is anything
backend-specific.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ...observe import Observer, report, report_purged

if TYPE_CHECKING:
    from ..._core.records import ScopeState, SessionBundle
    from ..._core.requests import (
        AppendRequest,
        CreateRequest,
        EventsRequest,
        ForkRequest,
        GetRequest,
        Key,
        ListRequest,
        SharedRequest,
    )
    from ...models import Event, Session
    from ..base import Record


class AsyncObservedBackend:
    def __init__(self, backend: Any, observer: Observer, label: str) -> None:
        self._backend = backend
        self._observer = observer
        self.label = label
        """The backend label reported with every operation."""
        if hasattr(backend, "get_rows"):  # a get whose window stays rows: timed as a get
            self.get_rows = partial(self._timed, "get", backend.get_rows)

    async def _timed(self, operation: str, method: Callable[..., Any], *args: Any) -> Any:
        start = perf_counter()
        try:
            result = await method(*args)
        except BaseException as exc:
            report(self._observer, self.label, operation, perf_counter() - start, exc)
            raise
        report(self._observer, self.label, operation, perf_counter() - start, None)
        return result

    async def create(self, request: CreateRequest) -> Session:
        return await self._timed("create", self._backend.create, request)

    async def get(self, request: GetRequest) -> Session:
        return await self._timed("get", self._backend.get, request)

    async def append(self, request: AppendRequest) -> int:
        return await self._timed("append", self._backend.append, request)

    async def events(self, request: EventsRequest) -> list[Event]:
        return await self._timed("events", self._backend.events, request)

    async def sessions(self, request: ListRequest) -> list[Session]:
        return await self._timed("sessions", self._backend.sessions, request)

    async def fork(self, request: ForkRequest) -> Session:
        return await self._timed("fork", self._backend.fork, request)

    async def delete(self, key: Key) -> bool:
        return await self._timed("delete", self._backend.delete, key)

    async def delete_user(self, app: str, user_id: str) -> int:
        return await self._timed("delete_user", self._backend.delete_user, app, user_id)

    async def shared(self, request: SharedRequest) -> dict[str, str]:
        return await self._timed("shared", self._backend.shared, request)

    async def update_shared(self, request: SharedRequest) -> dict[str, str]:
        return await self._timed("update_shared", self._backend.update_shared, request)

    async def touch(self, key: Key, now: float) -> float | None:
        return await self._timed("touch", self._backend.touch, key, now)

    async def purge_expired(self, now: float, limit: int) -> int:
        count = await self._timed("purge_expired", self._backend.purge_expired, now, limit)
        if count:
            report_purged(self._observer, self.label, count)
        return count

    async def restore(self, records: Iterable[Record]) -> int:
        return await self._timed("restore", self._backend.restore, records)

    async def bundle(self, key: Key) -> SessionBundle | None:
        return await self._timed("bundle", self._backend.bundle, key)

    async def replace_session(self, old_version: int, bundle: SessionBundle) -> bool:
        return await self._timed("replace_session", self._backend.replace_session,
                                 old_version, bundle)

    async def replace_shared(self, old: ScopeState, new: ScopeState) -> int:
        return await self._timed("replace_shared", self._backend.replace_shared, old, new)

    def dump(self, app: str | None) -> AsyncIterator[Record]:
        return self._backend.dump(app)

    async def close(self) -> None:
        await self._backend.close()

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (e.g. SQLite's checkpoint) pass through.
        return getattr(self._backend, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} {self._backend!r}>"
