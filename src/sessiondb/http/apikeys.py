"""API keys: app-scoped bearer tokens, stored hashed in the store itself.

A key reads ``sdb_<id>_<secret>``: a 64-bit public id and a 256-bit
secret. Only the SHA-256 of the whole key is kept (a key this random needs
no slow hash), in the reserved app ``_sessiondb.apikeys`` through the
public store API, as a session whose id is the key id and whose metadata
holds the app, the hash and a label. So keys live wherever the sessions
do, on every backend, and two service processes on one store share them.

The command line creates, lists and revokes keys with the sync store
(:func:`create_key`, :func:`list_keys`, :func:`revoke_key`); the service
checks them with :class:`ApiKeyAuth` on the async one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._core.ids import check_id
from ..errors import AuthError, InvalidInputError, NotFoundError
from .credentials import Principal, is_reserved

if TYPE_CHECKING:
    from .._async_store import AsyncSessionStore
    from ..models import Session
    from ..store import SessionStore

__all__ = ["KEYS_APP", "ApiKey", "ApiKeyAuth", "create_key", "list_keys", "revoke_key"]

KEYS_APP = "_sessiondb.apikeys"
_KEYS_USER = "keys"
_PREFIX = "sdb_"
_TOKEN = re.compile(r"sdb_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    app: str
    name: str
    created_at: float

    @classmethod
    def from_session(cls, session: Session) -> ApiKey:
        return cls(session.id, session.metadata.get("app", ""),
                   session.metadata.get("name", ""), session.created_at)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "app": self.app, "name": self.name,
                "created_at": self.created_at}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id(token: str) -> str | None:
    """The id in a token of our format; ``None`` for a token of another
    kind; :class:`AuthError` for a malformed API key."""
    if not token.startswith(_PREFIX):
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise AuthError("malformed API key")
    return match.group(1)


def _check_app(app: str) -> str:
    check_id(app, "app")
    if is_reserved(app):
        raise InvalidInputError(f"app {app!r} is reserved", field="app")
    return app


def create_key(store: SessionStore, app: str, name: str = "") -> tuple[ApiKey, str]:
    """A new key for ``app``; the key record and the secret token, which is
    shown once and never stored."""
    _check_app(app)
    if len(name) > _MAX_NAME or "\x00" in name:
        raise InvalidInputError(f"the key name must be at most {_MAX_NAME} characters",
                                field="name")
    kid = secrets.token_hex(8)
    token = f"{_PREFIX}{kid}_{secrets.token_urlsafe(32)}"
    session = store.create(KEYS_APP, _KEYS_USER, kid,
                           metadata={"app": app, "sha256": digest(token), "name": name})
    return ApiKey.from_session(session), token


def list_keys(store: SessionStore, app: str | None = None) -> Iterator[ApiKey]:
    """Every key (of one app), oldest first."""
    metadata = {"app": _check_app(app)} if app is not None else None
    cursor: str | None = None
    while True:
        page = store.sessions(KEYS_APP, _KEYS_USER, metadata=metadata, limit=500,
                              cursor=cursor)
        yield from map(ApiKey.from_session, page.items)
        cursor = page.next_cursor
        if cursor is None:
            return


def revoke_key(store: SessionStore, kid: str) -> bool:
    """Delete a key; whether it existed. Services that cached it stop
    accepting it within their ``cache_seconds``."""
    return store.delete(KEYS_APP, _KEYS_USER, check_id(kid, "key id"))


class ApiKeyAuth:
    """Checks ``sdb_…`` bearer tokens against the keys in ``store``.

    A verified key is remembered for ``cache_seconds`` (one store read per
    key per period instead of one per request), so a revoked key may keep
    working that long in a running service; 0 checks the store every time.
    """

    def __init__(self, store: AsyncSessionStore, *, cache_seconds: float = 5.0,
                 cache_size: int = 1024) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._cache: dict[str, tuple[float, str, str]] = {}

    async def authenticate(self, token: str) -> Principal | None:
        kid = key_id(token)
        if kid is None:
            return None
        record = self._cache.get(kid)
        now = time.monotonic()
        if record is None or record[0] < now:
            record = await self._load(kid, now)
        _, app, hashed = record
        if not hmac.compare_digest(hashed, digest(token)):
            raise AuthError("unknown or revoked API key")
        return Principal("api-key", kid, app=app)

    async def _load(self, kid: str, now: float) -> tuple[float, str, str]:
        try:
            session = await self.store.get(KEYS_APP, _KEYS_USER, kid, last=0)
        except NotFoundError:
            self._cache.pop(kid, None)
            raise AuthError("unknown or revoked API key") from None
        record = (now + self.cache_seconds, session.metadata.get("app", ""),
                  session.metadata.get("sha256", ""))
        if self.cache_seconds > 0:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[kid] = record
        return record
