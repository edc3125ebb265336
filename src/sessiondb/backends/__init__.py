"""Storage backends and how a URL picks one.

==============================  ==========================================
``memory://``                   in-process; gone when the process ends
``sqlite:///rel.db``            a SQLite file (``sqlite:////abs/path.db``),
                                the embedded default
``postgresql://…``              PostgreSQL (``pip install sessiondb[postgres]``)
``redis://…``, ``rediss://…``   Redis (``pip install sessiondb[redis]``)
``redis+cluster://h:p,h:p``     Redis Cluster (``pip install sessiondb[redis]``)
==============================  ==========================================

Server backends live in their own packages, each exposing
``open_backend(url)`` and ``open_async_backend(url)``; they are imported only
when their URL is used, so the core never imports a driver.

With no URL, ``$SESSIONDB_URL`` is used, else the default SQLite file
:func:`default_url` names.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..errors import ConfigurationError
from .base import Backend

__all__ = ["Backend", "default_url", "open_async_backend", "open_backend"]

#: scheme -> (package under sessiondb.backends, pip extra, what it is)
_SERVERS = {
    "postgresql": ("postgres", "postgres", "PostgreSQL"),
    "postgres": ("postgres", "postgres", "PostgreSQL"),
    "redis": ("redis", "redis", "Redis"),
    "rediss": ("redis", "redis", "Redis"),
    "redis+cluster": ("redis", "redis", "Redis Cluster"),
}


def default_path() -> str:
    """``$XDG_DATA_HOME/sessiondb/sessions.db`` (``~/.local/share/…`` when
    ``XDG_DATA_HOME`` is unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "sessiondb", "sessions.db")


def default_url() -> str:
    """``$SESSIONDB_URL`` if set, else the default SQLite file."""
    return os.environ.get("SESSIONDB_URL") or f"sqlite:///{default_path()}"


def open_backend(url: str | None = None) -> Backend:
    url = url or default_url()
    scheme = _scheme(url)
    if scheme in _SERVERS:
        return _server(scheme).open_backend(url)  # type: ignore[no-any-return]
    if scheme == "memory":
        from .memory import MemoryBackend

        return MemoryBackend()
    from .sqlite import SQLiteBackend, SQLiteOptions

    return SQLiteBackend(SQLiteOptions.from_url(url))


def open_async_backend(url: str | None = None) -> Any:
    url = url or default_url()
    scheme = _scheme(url)
    if scheme in _SERVERS:
        return _server(scheme).open_async_backend(url)
    if scheme == "memory":
        from .memory import MemoryBackend
        from .offload import InlineAsync

        return InlineAsync(MemoryBackend())
    from .sqlite import AsyncSQLiteBackend, SQLiteOptions

    return AsyncSQLiteBackend(SQLiteOptions.from_url(url))


def _server(scheme: str) -> Any:
    """The backend package for a server URL; a clear error if its extra is
    not installed."""
    package, extra, name = _SERVERS[scheme]
    try:
        return importlib.import_module(f"{__name__}.{package}")
    except ImportError as exc:
        raise ConfigurationError(
            f"the {name} backend needs its driver: pip install 'sessiondb[{extra}]' "
            f"({exc})"
        ) from exc


def _scheme(url: str) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a string, not {type(url).__name__}")
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme in ("memory", "sqlite") or scheme in _SERVERS:
        return scheme
    raise ConfigurationError(
        f"unknown store URL {masked(url)!r}: expected sqlite:///path/to/file.db, memory://, "
        "postgresql://…, redis://… or redis+cluster://…"
    )


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
