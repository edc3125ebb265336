"""The session cookie: a signed opaque id, and the Set-Cookie headers that
carry it.

The cookie holds ``<key id>.<session id>.<signature>`` and nothing else: no
state, no user id. The signature is HMAC-SHA256 under a subkey of the key
ring (``purpose "cookie-signing"``) and covers the key id, the session id and
the context (the store app and cookie name), so a cookie cannot be moved to
another app or cookie. New cookies are signed with the primary key; any key
still in the ring verifies, so rotating keys logs nobody out.
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass

from .._core.ids import ID_PATTERN, MAX_ID_LENGTH
from ..crypto.keyring import KeyRing
from ..errors import ConfigurationError

__all__ = ["EXPIRE", "CookieSettings", "CookieSigner", "cookie_values"]

#: The cookie value that means "delete the cookie" (a signed value is never empty).
EXPIRE = ""

PURPOSE = "cookie-signing"
SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
#: RFC 6265 cookie-name token characters.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class CookieSigner:
    """Signs and verifies session ids with a :class:`KeyRing`.

    ``context`` is bound into every signature (the middleware passes the
    store app and the cookie name).
    """

    __slots__ = ("_context", "_keys", "ring")

    def __init__(self, ring: KeyRing, context: str = "") -> None:
        self.ring = ring
        self._context = context.encode()
        self._keys = {kid: ring.derive(PURPOSE, kid) for kid in ring.ids}

    def _mac(self, kid: str, session_id: str) -> str:
        message = b"%s\x00%s.%s" % (self._context, kid.encode(), session_id.encode())
        return _b64(hmac.digest(self._keys[kid], message, "sha256"))

    def sign(self, session_id: str) -> str:
        """The cookie value for ``session_id``, signed with the primary key."""
        kid = self.ring.primary_id
        return f"{kid}.{session_id}.{self._mac(kid, session_id)}"

    def verify(self, value: str) -> str | None:
        """The session id a cookie value carries, or None if it is malformed,
        unsigned, signed with a key not in the ring, or tampered with."""
        parts = value.split(".")
        if len(parts) != 3:
            return None
        kid, session_id, mac = parts
        if (kid not in self._keys or not 0 < len(session_id) <= MAX_ID_LENGTH
                or not ID_PATTERN.fullmatch(session_id)):
            return None
        expected = self._mac(kid, session_id)
        return session_id if hmac.compare_digest(expected.encode(), mac.encode()) else None


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """The session cookie's name and attributes. The defaults are the safe
    ones: ``Secure`` (HTTPS only), ``HttpOnly`` (no JavaScript access),
    ``SameSite=Lax`` (not sent on cross-site subrequests or POSTs)."""

    name: str = "session"
    path: str = "/"
    domain: str | None = None
    secure: bool = True
    httponly: bool = True
    samesite: str = "lax"
    max_age: int | None = None
    """Seconds the browser keeps the cookie; None for a browser-session cookie."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigurationError(f"cookie name {self.name!r} is not a valid cookie name")
        if self.samesite.lower() not in SAMESITE:
            raise ConfigurationError("samesite must be 'lax', 'strict' or 'none'")
        if self.samesite.lower() == "none" and not self.secure:
            raise ConfigurationError("browsers refuse SameSite=None without Secure")
        if self.name.startswith(("__Secure-", "__Host-")) and not self.secure:
            raise ConfigurationError(f"a {self.name.split('-')[0]}- cookie needs secure=True")
        if self.name.startswith("__Host-") and (self.path != "/" or self.domain is not None):
            raise ConfigurationError("a __Host- cookie needs path='/' and no domain")
        for field, text in (("path", self.path), ("domain", self.domain or "")):
            if any(c in text for c in ";,\r\n") or not text.isascii():
                raise ConfigurationError(f"cookie {field} {text!r} holds a forbidden character")

    def _attributes(self) -> str:
        parts = [f"Path={self.path}"]
        if self.domain is not None:
            parts.append(f"Domain={self.domain}")
        if self.secure:
            parts.append("Secure")
        if self.httponly:
            parts.append("HttpOnly")
        parts.append(f"SameSite={SAMESITE[self.samesite.lower()]}")
        return "; ".join(parts)

    def set_header(self, value: str) -> str:
        """The ``Set-Cookie`` value that stores ``value`` in the browser."""
        age = f"; Max-Age={self.max_age}" if self.max_age is not None else ""
        return f"{self.name}={value}{age}; {self._attributes()}"

    def expire_header(self) -> str:
        """The ``Set-Cookie`` value that deletes the cookie."""
        return f"{self.name}=; Max-Age=0; Expires={_EPOCH}; {self._attributes()}"

    def header(self, value: str) -> str:
        """:meth:`set_header` for ``value``, or :meth:`expire_header` for :data:`EXPIRE`."""
        return self.expire_header() if value == EXPIRE else self.set_header(value)


def cookie_values(header: str, name: str) -> list[str]:
    """Every value of cookie ``name`` in a ``Cookie`` header, in order.

    A browser sends the same name more than once when cookies with several
    paths or domains match (one may have been planted from a sibling
    subdomain); the caller tries each and keeps the first that verifies.
    """
    values = []
    for item in header.split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    return values


def ring_or_env(keys: KeyRing | str | None) -> KeyRing:
    """The key ring to sign cookies with: ``keys``, else ``$SESSIONDB_KEYS``."""
    from ..crypto.keyring import resolve

    ring = resolve(keys)
    if ring is None:
        raise ConfigurationError(
            "web sessions need a signing key: pass keys=KeyRing(...) or 'k1:<key>', or set "
            "SESSIONDB_KEYS (`sessiondb keys new` makes a key)")
    return ring
