"""Per-user data keys, for crypto-shredding.

With ``user_keys`` on, each user's values (their events, session state and
``user:`` state) are sealed by a data key of their own, made at random on
the user's first write and stored wrapped (sealed) by the key ring, in the
reserved app ``_sessiondb.keys`` (a session per user and app). Deleting the
user destroys that key: whatever of theirs survives anywhere — a replica, an
export, a backup of the data taken before — can no longer be opened. (A
backup that holds the key store too still can: keep the key store out of
data backups, or give it a shorter retention; ``user_keys`` may name another
store for that.)

Keys are remembered in-process for ``ttl`` seconds, so another process may
keep using a deleted user's key that long; values it writes then can never
be read.
"""

from __future__ import annotations

import time
from typing import Any

from ..._core.requests import CreateRequest, GetRequest, Key
from ..._core.state import ScopedDelta
from ...errors import ConflictError, ExpiredError, NotFoundError
from ..cipher import Cipher

KEYS_APP = "_sessiondb.keys"


def _place(app: str, user_id: str) -> bytes:
    return f"k|{app}|{user_id}".encode()


class AsyncUserKeys:
    def __init__(self, backend: Any, cipher: Cipher, ttl: float = 30.0) -> None:
        self.backend = backend
        self.cipher = cipher
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[Any, float]] = {}

    async def get(self, app: str, user_id: str, now: float, create: bool = False) -> Any:
        """The user's data key (an AESGCM); None if they have none and
        ``create`` is false."""
        cached = self._cache.get((app, user_id))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        key = Key(KEYS_APP, user_id, app)
        try:
            stored = await self.backend.get(GetRequest(key, now, 0, None, None))
            wrapped = stored.state["dek"]
        except (NotFoundError, ExpiredError):
            if not create:
                return None
            wrapped = self.cipher.seal(self.cipher.new_user_key(), _place(app, user_id))
            text = '"' + wrapped + '"'
            try:
                await self.backend.create(CreateRequest(
                    key, ScopedDelta({"dek": text}, {}, {}, {"dek": text}), {}, None, None,
                    None, now))
            except ConflictError:  # another writer made it first: use theirs
                stored = await self.backend.get(GetRequest(key, now, 0, None, None))
                wrapped = stored.state["dek"]
        user_key = self.cipher.user_key(self.cipher.open(
            wrapped, _place(app, user_id), f"the data key of user {user_id!r}"))
        self._cache[(app, user_id)] = (user_key, time.monotonic() + self.ttl)
        return user_key

    async def destroy(self, app: str, user_id: str) -> bool:
        """Delete the user's data key; whether there was one."""
        self._cache.pop((app, user_id), None)
        return await self.backend.delete(Key(KEYS_APP, user_id, app))  # type: ignore[no-any-return]

    async def rewrap(self, now: float) -> int:
        """Seal every stored data key anew with the ring's primary key (key
        rotation); how many were re-sealed."""
        users: list[Key] = []
        async for record in self.backend.dump(KEYS_APP):
            if record["type"] == "session":
                users.append(Key(KEYS_APP, record["user_id"], record["id"]))
        done = 0
        for key in users:
            bundle = await self.backend.bundle(key)
            if bundle is None or "dek" not in bundle.state:
                continue
            place = _place(key.session_id, key.user_id)
            token = bundle.state["dek"].strip('"')
            if self.cipher.key_id(token) == self.cipher.primary_id:
                continue
            new = bundle.copy()
            new.state = {"dek": '"' + self.cipher.seal(
                self.cipher.open(token, place, "a user data key"), place) + '"'}
            new.base_state = dict(new.state)
            if await self.backend.replace_session(bundle.version, new):
                done += 1
        return done
