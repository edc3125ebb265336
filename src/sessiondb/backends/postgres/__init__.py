"""PostgreSQL (``postgresql://…`` or ``postgres://…``; ``pip install
'sessiondb[postgres]'``).

The backend is written once, async, in ``_async/``; the sync twin in
``_sync/`` is generated from it by ``scripts/unasync.py``. See
:mod:`.url` for the URL options and :mod:`.schema` for the storage layout.
"""

from __future__ import annotations

# Imported first: without the driver, importing this package fails here,
# and sessiondb.backends names the extra to install.
import psycopg  # noqa: F401
import psycopg_pool  # noqa: F401

from ._async.backend import AsyncPostgresBackend
from ._sync.backend import PostgresBackend
from .url import PostgresOptions

__all__ = ["AsyncPostgresBackend", "PostgresBackend", "PostgresOptions", "open_async_backend",
           "open_backend"]


def open_backend(url: str) -> PostgresBackend:
    """A sync backend, connected and migrated (``BackendUnavailableError``
    at once if the server cannot be reached)."""
    backend = PostgresBackend(PostgresOptions.from_url(url))
    backend.open()
    return backend


def open_async_backend(url: str) -> AsyncPostgresBackend:
    """An async backend; it connects and migrates on first use (there is
    no event loop to do it in yet)."""
    return AsyncPostgresBackend(PostgresOptions.from_url(url))
