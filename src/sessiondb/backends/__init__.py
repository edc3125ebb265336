"""Storage backends and how a URL picks one.

=====================  =================================================
``memory://``          in-process; gone when the process ends
``sqlite:///rel.db``   a SQLite file (``sqlite:////abs/path.db``), the
                       embedded default
=====================  =================================================

With no URL, ``$SESSIONDB_URL`` is used, else the default SQLite file
:func:`default_url` names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .base import Backend

__all__ = ["Backend", "default_url", "open_async_backend", "open_backend"]

_LATER = {
    "postgresql": "PostgreSQL", "postgres": "PostgreSQL", "redis": "Redis",
    "rediss": "Redis", "redis+cluster": "Redis Cluster",
}


def default_path() -> Path:
    """``$XDG_DATA_HOME/sessiondb/sessions.db`` (``~/.local/share/…`` when
    ``XDG_DATA_HOME`` is unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "sessiondb" / "sessions.db"


def default_url() -> str:
    """``$SESSIONDB_URL`` if set, else the default SQLite file."""
    return os.environ.get("SESSIONDB_URL") or f"sqlite:///{default_path()}"


def open_backend(url: str | None = None) -> Backend:
    url = url or default_url()
    scheme = _scheme(url)
    if scheme == "memory":
        from .memory import MemoryBackend

        return MemoryBackend()
    from .sqlite import SQLiteBackend, SQLiteOptions

    return SQLiteBackend(SQLiteOptions.from_url(url))


def open_async_backend(url: str | None = None) -> Any:
    url = url or default_url()
    if _scheme(url) == "memory":
        from .memory import MemoryBackend
        from .offload import InlineAsync

        return InlineAsync(MemoryBackend())
    from .sqlite import AsyncSQLiteBackend, SQLiteOptions

    return AsyncSQLiteBackend(SQLiteOptions.from_url(url))


def _scheme(url: str) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a string, not {type(url).__name__}")
    scheme = urlsplit(url).scheme
    if scheme in ("memory", "sqlite"):
        return scheme
    if scheme in _LATER:
        raise ConfigurationError(
            f"the {_LATER[scheme]} backend is not in this version of sessiondb yet; "
            "use sqlite:///path or memory://"
        )
    raise ConfigurationError(
        f"unknown store URL {url!r}: expected sqlite:///path/to/file.db or memory://"
    )
