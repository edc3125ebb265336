"""A pool of PostgreSQL connections, opened (and the schema migrated) once.

Connections are in autocommit mode and never prepare statements: a single
statement is its own transaction, sent and answered in one round trip (no
``BEGIN``/``COMMIT``, no separate ``PREPARE``), which is what makes append
and load one round trip each; the server functions they call keep their
plans cached. Operations of several statements use ``conn.transaction()``.

The sync twin in ``_sync/`` is generated from this file by
``scripts/unasync.py``: edit here, then run it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ....errors import BackendError
from ..failures import is_broken, translate
from ..sql import Statements
from ..url import PostgresOptions
from .migrate import migrate

_CONNECTION: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}


class _Pool(AsyncConnectionPool):  # type: ignore[type-arg]
    """The pool, remembering why its last connection attempt failed: an
    operation then does not wait for it (see :class:`Borrowed`), and one that
    timed out waiting can say why."""

    last_error: BaseException | None = None

    async def _connect(self, timeout: float | None = None) -> Any:
        try:
            conn = await super()._connect(timeout)
        except Exception as exc:
            self.last_error = exc
            raise
        self.last_error = None
        return conn


class Database:
    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self.sql = Statements(options.quoted_schema)
        self._pool = _Pool(
            options.conninfo,
            min_size=options.pool_min,
            max_size=options.pool_max,
            timeout=options.pool_timeout,
            kwargs=_CONNECTION,
            name=f"sessiondb:{options.schema}",
            open=False,
        )
        self._opened = False
        self._closed = False

    async def open(self) -> None:
        """Connect once (failing fast, with the server's reason, if it is
        down), migrate the schema, then start the pool."""
        if self._opened:
            return
        if self._closed:
            raise BackendError("the store is closed")
        conn = await self.connect()
        try:
            await migrate(conn, self.options.schema)
            await self._pool.open()
        except psycopg.Error as exc:
            raise translate(exc, self.options.masked) from exc
        finally:
            await conn.close()
        self._opened = True

    async def connect(self) -> AsyncConnection[Any]:
        """A new connection outside the pool; ``BackendUnavailableError``
        with the server's reason if there is none to be had."""
        try:
            conn = await AsyncConnection.connect(self.options.conninfo, **_CONNECTION)
        except psycopg.Error as exc:
            self._pool.last_error = exc
            raise translate(exc, self.options.masked) from exc
        # The server is there: operations go back to the pool, which
        # reconnects by itself (at once when it may grow for a waiting one).
        self._pool.last_error = None
        return conn

    def connection(self) -> Borrowed:
        """``async with db.connection() as conn:`` — a live connection from
        the pool; driver errors inside are translated."""
        return Borrowed(self)

    async def close(self) -> None:
        self._closed = True
        await self._pool.close()


class Borrowed:
    """A connection for one operation: from the pool, or, while the server
    seems to be away, a new one made to learn at once whether it is back.

    The pool reconnects in the background with growing delays, and a caller
    would wait ``pool_timeout`` for it. So when its last attempt failed, or a
    pooled connection turned out dead, and no connection is idle, a direct
    connection is tried instead: refused, the operation fails at once with
    the server's reason; accepted, the operation runs on it (it is closed
    afterwards), and the next ones wait for the pool again.
    """

    __slots__ = ("_conn", "_db", "_own")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Any = None
        self._own = False

    async def __aenter__(self) -> AsyncConnection[Any]:
        db = self._db
        if db._closed:
            raise BackendError("the store is closed")
        if not db._opened:
            await db.open()
        pool = db._pool
        suspect = pool.last_error is not None
        try:
            for _ in range(db.options.pool_max + 1):
                if suspect and not pool.get_stats().get("pool_available"):
                    self._conn = await db.connect()
                    self._own = True
                    return self._conn  # type: ignore[no-any-return]
                conn = await pool.getconn()
                if not is_broken(conn):
                    break
                # The server ended it while it sat in the pool (a restart?).
                await conn.close()
                await pool.putconn(conn)
                suspect = True
            else:
                conn = await pool.getconn()
        except psycopg.Error as exc:
            raise translate(exc, db.options.masked, pool.last_error) from exc
        self._conn = conn
        return conn  # type: ignore[no-any-return]

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        conn, self._conn = self._conn, None
        if self._own:
            await conn.close()
        else:
            await self._db._pool.putconn(conn)
        if isinstance(exc, psycopg.Error):
            raise translate(exc, self._db.options.masked) from exc
