"""Opening SQLite files and running transactions on them safely.

One connection per store, guarded by a lock: SQLite serialises writers
anyway, and a single connection keeps its statement cache warm. Writers take
the write lock up front (``BEGIN IMMEDIATE``) so two writers never deadlock
upgrading a read lock; other processes wait on the busy timeout instead of
seeing "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl, urlsplit

from ...errors import BackendError, BackendUnavailableError, ConfigurationError

if TYPE_CHECKING:
    from .checkpoints import Checkpointer

T = TypeVar("T")
SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}


@dataclass(frozen=True, slots=True)
class SQLiteOptions:
    path: str
    synchronous: str = "normal"
    busy_timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SQLiteOptions:
        """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or
        ``sqlite:///:memory:``, with ``?synchronous=normal|full`` and
        ``busy_timeout=<seconds>``."""
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or parts.netloc:
            raise ConfigurationError(
                f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)"
            )
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ConfigurationError(f"the SQLite URL {url!r} names no file")
        options: dict[str, str] = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = set(options) - {"synchronous", "busy_timeout"}
        if unknown:
            raise ConfigurationError(
                f"unknown SQLite option(s) {sorted(unknown)}; known: synchronous, busy_timeout"
            )
        sync = options.get("synchronous", "normal").lower()
        if sync not in SYNCHRONOUS:
            raise ConfigurationError(f"synchronous must be normal or full, not {sync!r}")
        try:
            timeout = float(options.get("busy_timeout", "30"))
        except ValueError:
            timeout = -1.0
        if not timeout >= 0:
            raise ConfigurationError("busy_timeout must be a number of seconds >= 0")
        return cls(path, sync, timeout)


def connect(options: SQLiteOptions) -> sqlite3.Connection:
    if options.path != ":memory:":
        parent = os.path.dirname(os.path.abspath(options.path))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot create the directory {parent!r}: {exc}") from exc
    with translated(options.path):
        conn = sqlite3.connect(
            options.path,
            timeout=options.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        _enter_wal(conn, deadline=time.monotonic() + max(options.busy_timeout, 5.0))
        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[options.synchronous]}")
        conn.execute(f"PRAGMA busy_timeout={int(options.busy_timeout * 1000)}")
    return conn


def _enter_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch to WAL, retrying while another connection holds a lock:
    SQLite reports that at once here, without calling the busy handler."""
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def translate(exc: sqlite3.Error, path: str) -> BackendError:
    """The SessionDB error for a driver error (raise it ``from exc``)."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and (
        "locked" in text or "busy" in text or "unable to open" in text
    ):
        return BackendUnavailableError(f"SQLite database {path!r}: {exc}")
    return BackendError(f"SQLite database {path!r}: {exc}")


@contextmanager
def translated(path: str) -> Iterator[None]:
    """Translate driver errors to the SessionDB error tree."""
    try:
        yield
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc


class _Transaction:
    """``with db.writing as conn:`` — one transaction under the store's lock.

    A class, not a generator-based context manager: it is entered on every
    operation, and this is several microseconds cheaper.
    """

    __slots__ = ("_begin", "_db", "_is_write")

    def __init__(self, db: Database, begin: str) -> None:
        self._db = db
        self._begin = begin
        self._is_write = begin == "BEGIN IMMEDIATE"

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        db._lock.acquire()
        conn = db._conn
        try:
            if conn is None:
                raise BackendError("the store is closed")
            db.cursor.execute(self._begin)
        except BaseException as exc:
            db._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, db.options.path) from exc
            raise
        return conn

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        db = self._db
        try:
            db.cursor.execute("COMMIT" if kind is None else "ROLLBACK")
            if (kind is None and self._is_write and db.checkpointer is not None
                    and db.checkpointer.wrote()):
                db.on_catch_up()
        except sqlite3.Error as failure:
            if kind is None:
                raise translate(failure, db.options.path) from failure
        finally:
            db._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, db.options.path) from exc


class Database:
    """A connection with a lock and its two kinds of transaction:
    ``writing`` (``BEGIN IMMEDIATE``) and ``reading`` (a snapshot).

    The connection never checkpoints the WAL itself: its writes wake
    ``checkpointer`` (:mod:`.checkpoints`), which does it on its own thread,
    and call ``on_catch_up`` when it asks (by default :meth:`catch_up`,
    inside the write's lock).
    """

    def __init__(self, options: SQLiteOptions, checkpointer: Checkpointer | None) -> None:
        self.options = options
        self._conn: sqlite3.Connection | None = connect(options)
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self.checkpointer = checkpointer
        self.on_catch_up: Callable[[], None] = self.catch_up
        # One cursor reused under the lock (making one per statement costs
        # about a microsecond), for statements that write, return at most one
        # row, or are read to the end: a SELECT left unfinished on it would
        # hold its snapshot open until the cursor's next statement.
        self.cursor = self._conn.cursor()
        self._lock = threading.Lock()
        self.writing = _Transaction(self, "BEGIN IMMEDIATE")
        self.reading = _Transaction(self, "BEGIN")

    def catch_up(self) -> None:
        """Copy back the log frames the checkpoint thread left, under the
        lock (see :mod:`.checkpoints`). A failure loses nothing: the frames
        are copied back later."""
        with suppress(sqlite3.Error):
            self.cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def fetch_one(self, sql: str, params: tuple) -> tuple | None:
        """The row of a statement that returns at most one, or None; outside
        any transaction (one snapshot)."""
        with self._lock:
            try:
                self._open()
                return self.cursor.execute(sql, params).fetchone()  # type: ignore[no-any-return]
            except sqlite3.Error as exc:
                raise translate(exc, self.options.path) from exc

    def fetch_all(self, sql: str, params: tuple) -> list[tuple]:
        """One statement's rows, outside any transaction (one snapshot)."""
        with self._lock:
            try:
                self._open()
                return self.cursor.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc, self.options.path) from exc

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BackendError("the store is closed")
        return self._conn

    def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` on the connection outside any transaction
        (schema migrations, which manage their own; WAL catch-ups)."""
        with self._lock, translated(self.options.path):
            if self._conn is None:
                raise BackendError("the store is closed")
            return operation(self._conn)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
