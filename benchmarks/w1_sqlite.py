"""W1 on SQLite: the raw sqlite3 contender and the engine's plumbing.

Each contender runs on its own fresh file in the run's temporary directory,
with WAL and the run's ``synchronous`` setting (NORMAL, or FULL with
``--synchronous full``).

- ``raw``:   the sqlite3 driver directly on an equivalent schema — per append
  ``BEGIN IMMEDIATE`` + two INSERTs + one state UPSERT + ``COMMIT``; per load
  one ``SELECT … ORDER BY seq DESC LIMIT 20`` + one state read;
- ``sync``:  ``sessiondb.open_store``;
- ``async``: ``sessiondb.open_async_store``, awaited one call at a time.
  sqlite3 has no async API, so ``async`` is compared with ``raw`` too.
- ``sync_enc``, ``async_enc``: the same with encryption at rest on (a fresh
  key ring), each compared with its unencrypted twin.
- ``sync_cold``: the sync store with the rows it keeps dropped before every
  load (see sessiondb/backends/sqlite/recent.py), so every window is read
  from the file.
- ``raw_busy``, ``sync_busy``: ``raw`` and ``sync`` with another connection
  committing a small row to the same file before every load (untimed): what
  a store sees when other processes write the file between its reads (SQLite
  then drops each connection's page cache). ``sync_busy`` is compared with
  ``raw_busy``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, ClassVar

from _common import disk_bytes
from _w1_run import WINDOW, AsyncStore, SyncStore, delta

RAW_SCHEMA = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX events_by_seq ON events (session, seq);
CREATE TABLE state (session TEXT PRIMARY KEY, state TEXT NOT NULL);
"""
RAW_INSERT = (
    "INSERT INTO events (session, seq, event_id, role, content, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
RAW_UPSERT = (
    "INSERT INTO state (session, state) VALUES (?, ?) "
    "ON CONFLICT (session) DO UPDATE SET state = json_patch(state, excluded.state)"
)
RAW_LAST = (
    "SELECT seq, event_id, role, content, created_at FROM events "
    "WHERE session = ? ORDER BY seq DESC LIMIT ?"
)
RAW_STATE = "SELECT state FROM state WHERE session = ?"


class RawSQLite:
    """The same reads and writes done directly with sqlite3: the near-physical
    limit for a Python process. Like sessiondb it stores a 128-bit event id
    and a timestamp per event, and merges the state delta in the database."""

    def __init__(self, path: str, synchronous: str) -> None:
        from secrets import token_urlsafe

        self._new_id = token_urlsafe
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                    cached_statements=256)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.conn.executescript(RAW_SCHEMA)
        self.last_seq: dict[str, int] = {}

    def create(self, user: str, sid: str) -> None:
        self.conn.execute("INSERT INTO state VALUES (?, '{}')", (sid,))

    def load(self, user: str, sid: str) -> tuple[dict, list]:
        conn = self.conn
        rows = conn.execute(RAW_LAST, (sid, WINDOW)).fetchall()
        rows.reverse()
        state = json.loads(conn.execute(RAW_STATE, (sid,)).fetchone()[0])
        # What a real caller does: it appends after the newest seq it loaded.
        self.last_seq[sid] = rows[-1][0] if rows else 0
        return state, rows

    def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        conn = self.conn
        seq = self.last_seq[sid]
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(RAW_INSERT, (sid, seq + 1, self._new_id(16), "user", user_text, now))
            conn.execute(RAW_INSERT, (sid, seq + 2, self._new_id(16), "assistant", reply, now))
            conn.execute(RAW_UPSERT, (sid, json.dumps(delta(turn))))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return seq + 2

    def check(self, user: str, sid: str, turns: int) -> None:
        state, rows = self.load(user, sid)
        assert state["turn"] == turns - 1 and len(rows) == min(WINDOW, 2 * turns), state
        assert rows[-1][0] == 2 * turns, rows[-1]

    def close(self) -> None:
        self.conn.close()


class ColdSyncStore(SyncStore):
    """The sync store, every load reading its window from the file."""

    def load(self, user: str, sid: str) -> Any:
        self.store._backend._recent.forget()
        return super().load(user, sid)


class Busy:
    """A contender with another connection writing its file before every load."""

    def __init__(self, inner: Any, path: str, synchronous: str) -> None:
        self.inner = inner
        self.other = sqlite3.connect(path, isolation_level=None)
        # Checkpoints and flushes stay with the contender, timed, as in its
        # quiet run: the writer neither checkpoints nor flushes the log on
        # commit (sqlite3's default, synchronous=FULL, would flush it for
        # everyone, untimed).
        self.other.execute("PRAGMA wal_autocheckpoint=0")
        self.other.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.other.execute("CREATE TABLE IF NOT EXISTS w1_other (x INTEGER)")

    def between(self) -> None:
        self.other.execute("INSERT INTO w1_other VALUES (1)")

    def close(self) -> None:
        self.other.close()
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Engine:
    """A fresh file per contender run; its size on disk open and closed."""

    name = "sqlite"
    contenders = ("raw", "sync", "async", "sync_enc", "async_enc", "sync_cold", "raw_busy",
                  "sync_busy")
    # Encryption at rest is judged against the same store without it.
    baselines: ClassVar[dict[str, str]] = {"raw": "raw", "sync": "raw", "async": "raw",
                                           "sync_enc": "sync", "async_enc": "async",
                                           "sync_cold": "raw", "raw_busy": "raw_busy",
                                           "sync_busy": "raw_busy"}
    size_keys = ("disk_open_bytes", "disk_closed_bytes")

    def __init__(self, url: str | None, synchronous: str) -> None:
        if url:
            raise SystemExit("--url is for the server engines; SQLite uses a temporary file")
        self.url = ""
        self.synchronous = synchronous

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"sqlite": sqlite3.sqlite_version, "synchronous": self.synchronous.upper(),
                "journal_mode": "WAL"}

    def namespace(self, contender: str, rep: int, tmp: str) -> str:
        return os.path.join(tmp, f"{contender}-{rep}.db")

    def drop(self, ns: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(ns + suffix):
                os.remove(ns + suffix)

    def _url(self, path: str) -> str:
        return f"sqlite:///{path}?synchronous={self.synchronous}"

    def open(self, contender: str, ns: str) -> Any:
        if contender == "raw":
            return RawSQLite(ns, self.synchronous)
        if contender == "raw_busy":
            return Busy(RawSQLite(ns, self.synchronous), ns, self.synchronous)
        if contender == "sync_cold":
            return ColdSyncStore(self._url(ns))
        if contender == "sync_busy":
            return Busy(SyncStore(self._url(ns)), ns, self.synchronous)
        return SyncStore(self._url(ns), encrypted=contender.endswith("_enc"))

    async def open_async(self, contender: str, ns: str) -> Any:
        return AsyncStore(self._url(ns), encrypted=contender.endswith("_enc"))

    def sizes(self, ns: str, store_open: bool) -> dict[str, int]:
        sizes = disk_bytes(ns)
        key = "disk_open_bytes" if store_open else "disk_closed_bytes"
        return {key: sizes["db"] + sizes["wal"]}
