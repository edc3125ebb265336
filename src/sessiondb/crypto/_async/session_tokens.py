"""Session tokens with revocation kept in the store.

The sync :class:`SessionTokens` is generated from this file by
``scripts/unasync.py``: edit here, then run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    ExpiredError,
    NotFoundError,
)
from ..keyring import KeyRing, resolve
from ..tokens import DEFAULT_LEEWAY, DEFAULT_LIFETIME, SessionClaims, TokenCodec

if TYPE_CHECKING:
    from datetime import timedelta

    from ... import AsyncSessionStore

#: The reserved app holding revoked token ids: one session per revoked
#: ``jti`` (user id: the token's app), living until the token would expire.
REVOKED_APP = "_sessiondb.revoked"


class AsyncSessionTokens:
    """Issues, verifies and revokes session tokens.

    ``keys`` is the key ring (a :class:`KeyRing`, an ``"id:key,…"`` string,
    or None for ``$SESSIONDB_KEYS``). Time comes from ``store.clock``.
    Revoked token ids are stored as sessions of the reserved app
    ``_sessiondb.revoked`` that expire with the token, through the public
    store API, so revocation works on every backend (``purge_expired``
    removes them afterwards).
    """

    def __init__(
        self,
        store: AsyncSessionStore,
        keys: KeyRing | str | None = None,
        *,
        issuer: str,
        audience: str,
        lifetime: float | timedelta = DEFAULT_LIFETIME,
        leeway: float | timedelta = DEFAULT_LEEWAY,
    ) -> None:
        ring = resolve(keys)
        if ring is None:
            raise ConfigurationError(
                "session tokens need a key ring: pass keys= or set SESSIONDB_KEYS")
        self.store = store
        self.codec = TokenCodec(ring, issuer=issuer, audience=audience, lifetime=lifetime,
                                leeway=leeway)

    def issue(self, app: str, user_id: str, session_id: str, version: int) -> str:
        """A token for the session at ``version``, signed with the primary key.
        (No I/O: the caller has just created or read the session.)"""
        return self.codec.issue(app, user_id, session_id, version, now=self.store.clock.now())

    async def verify(self, token: object) -> SessionClaims:
        """The claims of an authentic, unexpired, unrevoked token; else
        :class:`~sessiondb.AuthError`. Reads the store once, writes nothing."""
        claims = self.codec.decode(token, now=self.store.clock.now())
        if await self.is_revoked(claims):
            raise AuthError(f"session token {claims.jti!r} has been revoked")
        return claims

    async def revoke(self, token: str | SessionClaims) -> bool:
        """Refuse ``token`` from now on, until it would have expired anyway.

        Whether this call revoked it: False if it was revoked already or has
        expired. A token that is not authentic raises
        :class:`~sessiondb.AuthError` and stores nothing.
        """
        now = self.store.clock.now()
        claims = (token if isinstance(token, SessionClaims)
                  else self.codec.decode(token, now=now, check_expiry=False))
        remaining = self.codec.accepted_until(claims) - now
        if remaining <= 0:
            return False
        try:
            await self.store.create(REVOKED_APP, claims.app, claims.jti, max_lifetime=remaining)
        except ConflictError:
            return False
        return True

    async def is_revoked(self, claims: SessionClaims) -> bool:
        """Whether the token with these claims has been revoked."""
        try:
            await self.store.get(REVOKED_APP, claims.app, claims.jti, last=1)
        except (NotFoundError, ExpiredError):
            return False
        return True

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The ring's public keys as a JSON Web Key Set."""
        return self.codec.jwks()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.codec!r} store={self.store!r}>"


__all__ = ["REVOKED_APP", "AsyncSessionTokens"]
