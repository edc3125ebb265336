"""SessionDB: durable, fast and safe session state for AI agents and web apps.

    >>> import sessiondb
    >>> store = sessiondb.open_store("memory://")
    >>> s = store.create("shop", "alice", state={"cart": []})
    >>> store.append("shop", "alice", s.id, [{"role": "user", "content": "hi"}],
    ...              state_delta={"cart": ["tea"]})
    1
    >>> store.get("shop", "alice", s.id).state["cart"]
    ['tea']
"""

from __future__ import annotations

from ._async_store import AsyncSessionStore
from ._core.limits import Limits
from .backends import default_url, open_async_backend, open_backend
from .clock import Clock, FrozenClock, SystemClock
from .crypto.keyring import KeyRing
from .crypto.setup import encrypting
from .errors import (
    AuthError,
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    ExpiredError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    SessionDBError,
)
from .models import Event, Page, Session
from .observe import Observer, observing
from .store import SessionStore

__version__ = "0.1.0"

__all__ = [
    "AsyncSessionStore",
    "AuthError",
    "BackendError",
    "BackendUnavailableError",
    "Clock",
    "ConfigurationError",
    "ConflictError",
    "Event",
    "ExpiredError",
    "FrozenClock",
    "InvalidInputError",
    "KeyRing",
    "LimitExceededError",
    "Limits",
    "NotFoundError",
    "Observer",
    "Page",
    "Session",
    "SessionDBError",
    "SessionStore",
    "SystemClock",
    "default_url",
    "open_async_store",
    "open_store",
]


def open_store(
    url: str | None = None,
    *,
    clock: Clock | None = None,
    limits: Limits | None = None,
    keys: KeyRing | str | None = None,
    user_keys: bool | str = False,
    observer: Observer | None = None,
) -> SessionStore:
    """Open a sync store: ``memory://``, ``sqlite:///path.db``, ``postgresql://…``,
    ``redis://…`` or ``redis+cluster://…``.

    With no URL: ``$SESSIONDB_URL``, else a SQLite file at
    ``$XDG_DATA_HOME/sessiondb/sessions.db`` (``~/.local/share/…``).

    ``keys`` (a :class:`KeyRing` or ``"k2:<key>,k1:<key>"``) turns on
    encryption at rest; so does ``$SESSIONDB_KEYS`` (or ``$SESSIONDB_KEYS_FILE``)
    when ``keys`` is not given. ``user_keys=True`` (or the URL of a separate
    key store) seals each user's data by a key of their own that
    ``delete_user`` destroys (crypto-shredding). See ``docs/security.md``.

    ``observer`` (e.g. ``sessiondb.http.metrics.PrometheusObserver()``) is told
    of every backend operation; see ``docs/metrics.md``. Without one, nothing
    is measured and nothing is paid.
    """
    url = url or default_url()
    backend = encrypting(observing(open_backend(url), observer, url), keys,
                         user_keys=user_keys)
    return SessionStore(backend, clock=clock, limits=limits, url=url)


def open_async_store(
    url: str | None = None,
    *,
    clock: Clock | None = None,
    limits: Limits | None = None,
    keys: KeyRing | str | None = None,
    user_keys: bool | str = False,
    observer: Observer | None = None,
) -> AsyncSessionStore:
    """Open an async store; the same URLs, keys and defaults as :func:`open_store`."""
    url = url or default_url()
    backend = encrypting(observing(open_async_backend(url), observer, url, asynchronous=True),
                         keys, asynchronous=True, user_keys=user_keys)
    return AsyncSessionStore(backend, clock=clock, limits=limits, url=url)
