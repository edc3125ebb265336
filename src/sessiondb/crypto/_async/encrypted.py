"""A backend wrapper that encrypts: requests are sealed on the way in,
results opened on the way out (see :mod:`sessiondb.crypto.encryption`).

It is inserted only when a store has a key ring, so a store without one pays
nothing. Export and import move the sealed values as they are: a backup
stays encrypted. Written once as async code; the sync twin is generated.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

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
from ...errors import ConflictError
from ...models import Event, Session
from ..encryption import Encryption
from .user_keys import AsyncUserKeys

#: How often a re-seal is retried when a writer keeps moving the session on.
RESEAL_ATTEMPTS = 5


class AsyncEncryptedBackend:
    def __init__(self, inner: Any, encryption: Encryption,
                 user_keys: AsyncUserKeys | None = None) -> None:
        self.inner = inner
        self.encryption = encryption
        self.user_keys = user_keys
        # A backend that hands a loaded window out as rows (SQLite): opened
        # as rows, the window is made into events once, not twice.
        self._get_rows = getattr(inner, "get_rows", None)

    async def _uk(self, app: str, user_id: str, now: float, create: bool = False) -> Any:
        """The user's data key when per-user keys are on, else None."""
        if self.user_keys is None:
            return None
        return await self.user_keys.get(app, user_id, now, create)

    async def create(self, request: CreateRequest) -> Session:
        k = request.key
        uk = await self._uk(k.app, k.user_id, request.now, create=True)
        session = await self.inner.create(self.encryption.seal_create(request, uk))
        return self.encryption.open_session(session, uk)

    async def get(self, request: GetRequest) -> Session:
        if self._get_rows is None:
            session, rows, first = await self.inner.get(request), (), 0
        else:
            session, rows, first = await self._get_rows(request)
        uk = await self._uk(session.app, session.user_id, request.now)
        return self.encryption.open_session(session, uk, rows, first)

    async def append(self, request: AppendRequest) -> int:
        k = request.key
        uk = await self._uk(k.app, k.user_id, request.now, create=True)
        return await self.inner.append(self.encryption.seal_append(request, uk))  # type: ignore[no-any-return]

    async def events(self, request: EventsRequest) -> list[Event]:
        found = await self.inner.events(request)
        k = request.key
        uk = await self._uk(k.app, k.user_id, request.now)
        return self.encryption.open_events(k, found, uk)

    async def sessions(self, request: ListRequest) -> list[Session]:
        found = await self.inner.sessions(self.encryption.seal_list(request))
        return [self.encryption.open_session(s, await self._uk(s.app, s.user_id, request.now))
                for s in found]

    async def fork(self, request: ForkRequest) -> Session:
        """The backend copies the sealed values; they are then sealed anew for
        the fork's place (a value copied as it is would not open there). If
        that fails, the fork is deleted: it never stays half readable."""
        forked = await self.inner.fork(request)
        source = request.key
        target = Key(source.app, source.user_id, forked.id)
        try:
            await self.reseal_session(target, source)
        except BaseException:
            await self.inner.delete(target)
            raise
        # Read back what a plain fork returns: its state and newest events.
        window = GetRequest(target, request.now, len(forked.events), None, None)
        return await self.get(window)

    async def reseal_session(self, key: Key, source: Key | None = None) -> bool:
        """Seal every value of one session anew with the primary key, for its
        own place (or moving it from ``source``); whether the session exists.
        Atomic against concurrent appends: retried if one moved it on."""
        for _ in range(RESEAL_ATTEMPTS):
            bundle = await self.inner.bundle(key)
            if bundle is None:
                return False
            uk = await self._uk(key.app, key.user_id, time.time())
            resealed = self.encryption.reseal_bundle(bundle, source, uk)
            if resealed == bundle:
                return True
            if await self.inner.replace_session(bundle.version, resealed):
                return True
        raise ConflictError(f"session {key.session_id!r} kept changing while being re-sealed; "
                            "run again")

    async def reseal_shared(self, scope: Any) -> int:
        """Seal an app's or a user's shared state anew with the primary key."""
        uk = None
        if scope.user_id is not None:
            uk = await self._uk(scope.app, scope.user_id, time.time())
        resealed = self.encryption.reseal_scope(scope, uk)
        if resealed == scope:
            return 0
        return await self.inner.replace_shared(scope, resealed)  # type: ignore[no-any-return]

    async def shared(self, request: SharedRequest) -> dict[str, str]:
        uk = await self._shared_uk(request)
        return self.encryption.open_shared(request, await self.inner.shared(request), uk)

    async def update_shared(self, request: SharedRequest) -> dict[str, str]:
        uk = await self._shared_uk(request, create=True)
        stored = await self.inner.update_shared(self.encryption.seal_shared(request, uk))
        return self.encryption.open_shared(request, stored, uk)

    async def _shared_uk(self, request: SharedRequest, create: bool = False) -> Any:
        """The user's data key for a user's shared state (app state is
        sealed by the ring: every user reads it)."""
        if request.user_id is None:
            return None
        return await self._uk(request.app, request.user_id, request.now, create)

    async def delete(self, key: Key) -> bool:
        return await self.inner.delete(key)  # type: ignore[no-any-return]

    async def delete_user(self, app: str, user_id: str) -> int:
        """Delete the user's data; with per-user keys, destroy their key too
        (crypto-shredding: copies of their data elsewhere become unreadable)."""
        deleted = await self.inner.delete_user(app, user_id)
        if self.user_keys is not None:
            await self.user_keys.destroy(app, user_id)
            self.encryption.forget()
        return deleted  # type: ignore[no-any-return]

    async def touch(self, key: Key, now: float) -> float | None:
        return await self.inner.touch(key, now)  # type: ignore[no-any-return]

    async def purge_expired(self, now: float, limit: int) -> int:
        return await self.inner.purge_expired(now, limit)  # type: ignore[no-any-return]

    async def dump(self, app: str | None) -> AsyncIterator[dict[str, Any]]:
        async for record in self.inner.dump(app):
            yield record

    async def restore(self, records: Iterable[dict[str, Any]]) -> int:
        return await self.inner.restore(records)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (e.g. SQLite's checkpoint) pass through.
        return getattr(self.inner, name)
