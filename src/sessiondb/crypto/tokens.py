"""Signed session tokens: issuing and checking them, with no I/O.

A token is a JWT signed with Ed25519 (``alg`` ``EdDSA``, pinned: a token
naming any other algorithm, ``none`` and HMAC included, is refused before
its signature is looked at). Each key of the ring yields its own signing key
pair, derived from the master key with HKDF (purpose ``"token-signing"``),
and the header's ``kid`` names the key that signed. New tokens are signed
with the ring's primary key; any key still in the ring verifies, which is
how keys rotate without logging anyone out.

Time comes from the caller (the store's clock), never from PyJWT, so expiry
follows the same injected clock as everything else. Every failure is an
:class:`~sessiondb.AuthError`, the PyJWT exception kept as ``__cause__``.

The store-backed classes that add revocation are :class:`SessionTokens` and
:class:`AsyncSessionTokens` (importable from here).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.expiry import to_seconds
from .._core.ids import check_id, new_id
from ..errors import AuthError, ConfigurationError, InvalidInputError, SessionDBError

if TYPE_CHECKING:
    from datetime import timedelta

    from ._async.session_tokens import AsyncSessionTokens
    from ._sync.session_tokens import SessionTokens
    from .keyring import KeyRing

__all__ = [
    "ALGORITHM",
    "AsyncSessionTokens",
    "SessionClaims",
    "SessionTokens",
    "TOKEN_TYPE",
    "TokenCodec",
]

ALGORITHM = "EdDSA"
TOKEN_TYPE = "sessiondb-session+jwt"
PURPOSE = "token-signing"
DEFAULT_LIFETIME = 900.0
DEFAULT_LEEWAY = 5.0
MAX_TOKEN_CHARS = 4096
#: Claims every token must carry (``sub`` is the user, ``sid`` the session,
#: ``ver`` the session's version when the token was issued).
REQUIRED = ("exp", "iat", "aud", "iss", "jti", "sub", "app", "sid", "ver")


def _libs() -> tuple[Any, Any]:
    """PyJWT and cryptography's Ed25519, imported on first use."""
    try:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise ConfigurationError(
            "session tokens need PyJWT and cryptography: pip install 'sessiondb[crypto]'"
        ) from exc
    return jwt, ed25519


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a verified token says."""

    app: str
    user_id: str
    session_id: str
    version: int
    """The session's version when the token was issued."""
    jti: str
    """The token's own id: what revocation records."""
    issued_at: int
    expires_at: int
    issuer: str
    audience: str
    key_id: str
    """The ring key that signed the token."""


class TokenCodec:
    """Issues and decodes session tokens for one issuer and audience.

    ``lifetime`` is how long a token lives (seconds or a ``timedelta``);
    ``leeway`` the clock skew tolerated on ``exp`` and ``iat``.
    """

    __slots__ = ("_jwt", "_private", "_public", "audience", "issuer", "leeway", "lifetime",
                 "ring")

    def __init__(
        self,
        ring: KeyRing,
        *,
        issuer: str,
        audience: str,
        lifetime: float | timedelta = DEFAULT_LIFETIME,
        leeway: float | timedelta = DEFAULT_LEEWAY,
    ) -> None:
        jwt, ed25519 = _libs()
        for field, value in (("issuer", issuer), ("audience", audience)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{field} must be a non-empty string")
        seconds = to_seconds(lifetime, "lifetime") or 0.0
        if seconds < 1:
            raise InvalidInputError("lifetime must be at least one second", field="lifetime")
        self.lifetime = int(seconds)
        self.leeway = (to_seconds(leeway, "leeway") or 0.0) if leeway else 0.0
        self.ring = ring
        self.issuer = issuer
        self.audience = audience
        self._jwt = jwt
        seeds = {kid: ring.derive(PURPOSE, kid) for kid in ring.ids}
        self._private = ed25519.Ed25519PrivateKey.from_private_bytes(seeds[ring.primary_id])
        self._public = {kid: ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
                        for kid, seed in seeds.items()}

    def issue(self, app: str, user_id: str, session_id: str, version: int, *,
              now: float, jti: str | None = None) -> str:
        """A token for the session at ``version``, issued at ``now`` (Unix
        seconds) and signed with the ring's primary key."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InvalidInputError("version must be a non-negative integer", field="version")
        issued = int(now)
        payload = {
            "iss": self.issuer, "aud": self.audience,
            "sub": check_id(user_id, "user_id"), "app": check_id(app, "app"),
            "sid": check_id(session_id, "session_id"), "ver": version,
            "iat": issued, "exp": issued + self.lifetime,
            "jti": check_id(jti, "jti") if jti is not None else new_id(),
        }
        headers = {"kid": self.ring.primary_id, "typ": TOKEN_TYPE}
        return str(self._jwt.encode(payload, self._private, algorithm=ALGORITHM,
                                    headers=headers))

    def decode(self, token: object, *, now: float, check_expiry: bool = True) -> SessionClaims:
        """The claims of ``token`` if it is authentic and meant for us.

        Checks, in order: shape, header (``alg``, ``typ``, ``kid``), signature,
        the required claims, ``iss`` and ``aud``, and (unless
        ``check_expiry`` is false) ``exp`` and ``iat`` against ``now``.
        Anything wrong raises :class:`~sessiondb.AuthError`.
        """
        if not isinstance(token, str) or not token:
            raise AuthError("a session token must be a non-empty string")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError(f"session token is over {MAX_TOKEN_CHARS} characters")
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
            kid = self._check_header(header)
            payload = jwt.decode(
                token, self._public[kid], algorithms=[ALGORITHM],
                audience=self.audience, issuer=self.issuer,
                options={"require": list(REQUIRED), "strict_aud": True,
                         # time is judged below, against the caller's clock
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid session token: {exc}") from exc
        claims = _claims(payload, kid)
        if check_expiry:
            self._check_time(claims, payload, now)
        return claims

    def accepted_until(self, claims: SessionClaims) -> float:
        """The last moment ``decode`` accepts a token with these claims."""
        return claims.expires_at + self.leeway

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys of the ring as a JSON Web Key Set, so other
        services can verify tokens (with ``alg`` EdDSA) on their own."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        keys = []
        for kid, public in self._public.items():
            raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
            keys.append({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": ALGORITHM,
                         "kid": kid, "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")})
        return {"keys": keys}

    def _check_header(self, header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise AuthError(f"session token algorithm {alg!r} is refused; only "
                            f"{ALGORITHM} is accepted")
        if header.get("typ") != TOKEN_TYPE:
            raise AuthError(f"token type {header.get('typ')!r} is not {TOKEN_TYPE!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._public:
            raise AuthError(f"session token was signed with key {kid!r}, "
                            "which is not in the key ring")
        return kid

    def _check_time(self, claims: SessionClaims, payload: dict[str, Any], now: float) -> None:
        if now >= self.accepted_until(claims):
            raise AuthError(f"session token {claims.jti!r} has expired")
        if claims.issued_at > now + self.leeway:
            raise AuthError(f"session token {claims.jti!r} was issued in the future")
        nbf = payload.get("nbf")
        if nbf is not None and (not _is_int(nbf) or nbf > now + self.leeway):
            raise AuthError(f"session token {claims.jti!r} is not valid yet")

    def __repr__(self) -> str:
        return (f"<TokenCodec iss={self.issuer!r} aud={self.audience!r} "
                f"keys={list(self._public)}>")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _claims(payload: dict[str, Any], kid: str) -> SessionClaims:
    """The payload as :class:`SessionClaims`, its types checked."""
    for name in ("exp", "iat", "ver"):
        if not _is_int(payload[name]) or payload[name] < 0:
            raise AuthError(f"session token claim {name!r} must be a non-negative integer")
    try:
        return SessionClaims(
            app=check_id(payload["app"], "app"),
            user_id=check_id(payload["sub"], "sub"),
            session_id=check_id(payload["sid"], "sid"),
            version=payload["ver"],
            jti=check_id(payload["jti"], "jti"),
            issued_at=payload["iat"],
            expires_at=payload["exp"],
            issuer=payload["iss"],
            audience=payload["aud"],
            key_id=kid,
        )
    except SessionDBError as exc:
        raise AuthError(f"session token claim is malformed: {exc}") from exc


def __getattr__(name: str) -> Any:
    """The store-backed classes, imported on first use (they import this
    module, so they cannot be imported at its top)."""
    if name == "SessionTokens":
        from ._sync.session_tokens import SessionTokens
        return SessionTokens
    if name == "AsyncSessionTokens":
        from ._async.session_tokens import AsyncSessionTokens
        return AsyncSessionTokens
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
