"""What the ASGI middleware and the Flask interface share: where sessions
live, how long they last, and the cookie that names them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TypedDict

from .._core.expiry import to_seconds
from .._core.ids import check_id
from ..crypto.keyring import KeyRing
from .cookies import CookieSettings, CookieSigner, ring_or_env

__all__ = ["WebOptions", "WebSettings"]

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)


class WebOptions(TypedDict, total=False):
    """The options of the ASGI middleware and the Flask interface, all
    optional; see :meth:`WebSettings.build` for what each does."""

    keys: KeyRing | str | None
    app_name: str
    bucket: str
    idle_timeout: float | timedelta | None
    absolute_timeout: float | timedelta | None
    cookie_name: str
    secure: bool
    httponly: bool
    samesite: str
    path: str
    domain: str | None


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Validated options; build with :meth:`build`."""

    app: str
    bucket: str
    idle_ttl: float | None
    max_lifetime: float | None
    cookie: CookieSettings
    signer: CookieSigner

    @classmethod
    def build(
        cls,
        *,
        keys: KeyRing | str | None = None,
        app_name: str = "web",
        bucket: str = "web",
        idle_timeout: float | timedelta | None = IDLE_TIMEOUT,
        absolute_timeout: float | timedelta | None = ABSOLUTE_TIMEOUT,
        cookie_name: str = "session",
        secure: bool = True,
        httponly: bool = True,
        samesite: str = "lax",
        path: str = "/",
        domain: str | None = None,
    ) -> WebSettings:
        """Check every option (``ConfigurationError`` / ``InvalidInputError``).

        - ``keys``: the :class:`KeyRing` that signs cookies, or its
          ``"id:key,..."`` text; None reads ``$SESSIONDB_KEYS``.
        - ``app_name`` and ``bucket``: the store's ``app`` and ``user_id``
          for every web session (the cookie carries no user id).
        - ``idle_timeout`` (30 minutes) and ``absolute_timeout`` (12 hours):
          seconds or a ``timedelta``; None for no limit. The cookie lives as
          long as the absolute timeout, or the browser session if there is none.
        - ``cookie_name`` ("session"; "__Host-session" is stronger over
          HTTPS), ``secure`` (True), ``httponly`` (True), ``samesite``
          ("lax"), ``path`` ("/"), ``domain`` (None: this host only).
        """
        check_id(app_name, "app_name")
        check_id(bucket, "bucket")
        idle = to_seconds(idle_timeout, "idle_timeout")
        lifetime = to_seconds(absolute_timeout, "absolute_timeout")
        cookie = CookieSettings(
            name=cookie_name, path=path, domain=domain, secure=secure, httponly=httponly,
            samesite=samesite, max_age=int(lifetime) if lifetime is not None else None)
        signer = CookieSigner(ring_or_env(keys), f"{app_name}\x00{cookie_name}")
        return cls(app_name, bucket, idle, lifetime, cookie, signer)

    def slide_due(self, expires_at: float | None, created_at: float, now: float) -> bool:
        """Whether a read-only request should slide the idle expiry.

        Sliding is a write, so it is done at most once per tenth of the idle
        timeout: a session idles out between 90% and 100% of it. Never when
        the absolute deadline is what ends the session.
        """
        if self.idle_ttl is None or expires_at is None:
            return False
        if self.max_lifetime is not None and expires_at >= created_at + self.max_lifetime - 1e-3:
            return False
        return now - (expires_at - self.idle_ttl) >= self.idle_ttl / 10
