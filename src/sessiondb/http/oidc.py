"""OIDC bearer tokens: JWTs verified against the identity provider's JWKS.

The signature must verify with a key of the JWKS (a file, or an ``https``
URL fetched and cached by PyJWT's :class:`~jwt.PyJWKClient`), with an
asymmetric algorithm only (``HS*`` and ``none`` are refused, so a public key
can never be used as a shared secret). ``iss``, ``aud``, ``exp`` and ``sub``
are required and checked. The token's ``sub`` is the one user it may act
as, unless its ``scope`` (or ``scp``) holds the admin scope.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import AuthError, BackendUnavailableError, ConfigurationError
from .credentials import Principal

try:
    import jwt
    from anyio import to_thread
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigurationError("OIDC tokens need PyJWT[crypto]: "
                             "pip install 'sessiondb[server]'") from exc

__all__ = ["ADMIN_SCOPE", "JWTAuth"]

ADMIN_SCOPE = "sessiondb:admin"
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA")


class JWTAuth:
    """Verifies JWT bearer tokens (any token with two dots is taken for one).

    ``jwks`` is a path to a JWKS JSON file or an ``http(s)://`` URL;
    ``issuer`` and ``audience`` are what ``iss`` and ``aud`` must be.
    ``leeway`` seconds of clock skew are allowed on ``exp``/``nbf``/``iat``.
    """

    def __init__(self, jwks: str, *, issuer: str, audience: str | Iterable[str],
                 admin_scope: str = ADMIN_SCOPE, leeway: float = 30.0) -> None:
        if not issuer or not audience:
            raise ConfigurationError("JWT authentication needs an issuer and an audience")
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.admin_scope = admin_scope
        self.leeway = leeway
        self._client: jwt.PyJWKClient | None = None
        self._file: Path | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._mtime = 0
        if jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=300, timeout=10)
        else:
            self._file = Path(jwks)
            self._keys = self._read_file()

    def _read_file(self) -> jwt.PyJWKSet:
        assert self._file is not None
        try:
            self._mtime = self._file.stat().st_mtime_ns
            return jwt.PyJWKSet.from_dict(json.loads(self._file.read_text(encoding="utf-8")))
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise ConfigurationError(f"cannot read the JWKS {self._file}: {exc}") from exc

    async def authenticate(self, token: str) -> Principal | None:
        if token.count(".") != 2:
            return None
        try:
            key = await self._key(token)
            claims = jwt.decode(
                token, key, algorithms=list(ALGORITHMS), audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.PyJWKClientConnectionError as exc:
            raise BackendUnavailableError(f"cannot fetch the JWKS: {exc}") from exc
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise AuthError(f"invalid token: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str):
            raise AuthError("invalid token: sub must be a string")
        admin = self.admin_scope in _scopes(claims)
        return Principal("jwt", subject, user=None if admin else subject, admin=admin)

    async def _key(self, token: str) -> jwt.PyJWK:
        if self._client is not None:
            # PyJWKClient fetches with blocking urllib: keep it off the event loop.
            return await to_thread.run_sync(self._client.get_signing_key_from_jwt, token)
        kid = jwt.get_unverified_header(token).get("kid")
        assert self._keys is not None
        if kid is None:
            if len(self._keys.keys) == 1:
                return self._keys.keys[0]
            raise AuthError("invalid token: no kid, and the JWKS has several keys")
        try:
            return self._keys[kid]
        except KeyError:
            # The keys may have been rotated: read the file again if it changed.
            if not self._file_changed():
                raise
            self._keys = self._read_file()
            return self._keys[kid]

    def _file_changed(self) -> bool:
        try:
            return self._file is not None and self._file.stat().st_mtime_ns != self._mtime
        except OSError:
            return False


def _scopes(claims: dict[str, Any]) -> set[str]:
    """OAuth scopes: ``scope`` as a space-separated string (RFC 8693) or
    ``scp`` as a list or string (Azure AD, Okta)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return found
