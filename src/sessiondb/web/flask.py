"""Server-side sessions for Flask: a drop-in ``session_interface``.

    app.session_interface = FlaskSessionInterface("sqlite:///sessions.db", keys=ring)

``flask.session`` is then a :class:`~sessiondb.web.WebSession`: call
``session.regenerate()`` at login and ``session.logout()`` (or
``session.clear()``) at logout. Needs ``pip install 'sessiondb[flask]'``.
Flask's ``SESSION_COOKIE_*`` settings are not read: the options given here
decide, with safe defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from ..errors import ConfigurationError
from ..store import SessionStore
from ._sync import persist
from .cookies import cookie_values
from .session import WebSession
from .settings import WebOptions, WebSettings

try:
    from flask.sessions import SessionInterface
except ImportError as exc:  # pragma: no cover - the extra is installed in tests
    raise ConfigurationError(
        "sessiondb.web.flask needs Flask: pip install 'sessiondb[flask]'") from exc

if TYPE_CHECKING:
    from flask import Flask, Request, Response

__all__ = ["FlaskSessionInterface"]


class FlaskSessionInterface(SessionInterface):
    """Flask's session interface over a SessionDB :class:`SessionStore`.

    ``store`` is a store or a store URL (None: the default store; a store
    opened here is closed by :meth:`close`). The options are those of
    :class:`~sessiondb.web.settings.WebOptions`; ``keys`` defaults to
    ``$SESSIONDB_KEYS``.
    """

    def __init__(self, store: SessionStore | str | None = None,
                 **options: Unpack[WebOptions]) -> None:
        self.settings = WebSettings.build(**options)
        self._owns_store = not isinstance(store, SessionStore)
        if isinstance(store, SessionStore):
            self.store = store
        else:
            from .. import open_store

            self.store = open_store(store)

    def open_session(self, app: Flask, request: Request) -> WebSession:
        header = "; ".join(request.headers.getlist("Cookie"))
        return persist.load(self.store, self.settings,
                            cookie_values(header, self.settings.cookie.name))

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        cookie = persist.save(self.store, self.settings, session)
        if cookie is not None:
            response.headers.add("Set-Cookie", self.settings.cookie.header(cookie))
        if cookie is not None or session.accessed:
            response.vary.add("Cookie")

    def close(self) -> None:
        """Close the store, if this interface opened it."""
        if self._owns_store:
            self.store.close()
