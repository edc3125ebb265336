"""W1 on PostgreSQL: the raw psycopg contenders and the engine's plumbing.

Each contender run gets a fresh schema with a random name (sessiondb's via
its URL's ``?schema=``), dropped after the run. Durability is the server's:
the report states its ``synchronous_commit`` and ``fsync``.

- ``raw`` / ``raw_async``: psycopg 3 directly (``Connection`` /
  ``AsyncConnection``), one connection, autocommit off, the driver's default
  settings (statements are prepared after 5 runs). Tables:
  ``events(session, seq, event_id, role, content, created_at)`` with
  ``PRIMARY KEY (session, seq)`` and ``state(session PRIMARY KEY, state jsonb)``.
  Per append, one transaction: two INSERTs + one state UPSERT merging the
  delta (``state || excluded.state``) + COMMIT. Per load: one
  ``SELECT … ORDER BY seq DESC LIMIT 20`` + one state SELECT (psycopg
  decodes the jsonb) + COMMIT (ends the read transaction).
- ``sync`` / ``async``: ``sessiondb.open_store`` / ``open_async_store``.
"""

from __future__ import annotations

import json
import time
from secrets import token_hex, token_urlsafe
from typing import Any, ClassVar

from _w1_run import WINDOW, AsyncStore, SyncStore, delta

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

RAW_SCHEMA = """
CREATE SCHEMA {s};
CREATE TABLE {s}.events (
    session text NOT NULL,
    seq bigint NOT NULL,
    event_id text NOT NULL,
    role text NOT NULL,
    content text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (session, seq)
);
CREATE TABLE {s}.state (session text PRIMARY KEY, state jsonb NOT NULL);
"""
RAW_SQL = {
    "create": "INSERT INTO {s}.state (session, state) VALUES (%s, '{{}}')",
    "insert": "INSERT INTO {s}.events (session, seq, event_id, role, content, created_at) "
              "VALUES (%s, %s, %s, %s, %s, %s)",
    "upsert": "INSERT INTO {s}.state AS t (session, state) VALUES (%s, %s::jsonb) "
              "ON CONFLICT (session) DO UPDATE SET state = t.state || excluded.state",
    "last": "SELECT seq, event_id, role, content, created_at FROM {s}.events "
            "WHERE session = %s ORDER BY seq DESC LIMIT %s",
    "state": "SELECT state FROM {s}.state WHERE session = %s",
}


def _sql(schema: str) -> dict[str, str]:
    return {name: text.format(s=schema) for name, text in RAW_SQL.items()}


def _check(state: dict, rows: list, turns: int) -> None:
    assert state["turn"] == turns - 1 and len(rows) == min(WINDOW, 2 * turns), state
    assert rows[-1][0] == 2 * turns, rows[-1]


class RawPostgres:
    """The same reads and writes done directly with psycopg."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url)
        self.conn.execute(RAW_SCHEMA.format(s=schema))
        self.conn.commit()
        self.sql = _sql(schema)
        self.last_seq: dict[str, int] = {}

    def create(self, user: str, sid: str) -> None:
        self.conn.execute(self.sql["create"], (sid,))
        self.conn.commit()

    def load(self, user: str, sid: str) -> tuple[dict, list]:
        conn, sql = self.conn, self.sql
        rows = conn.execute(sql["last"], (sid, WINDOW)).fetchall()
        rows.reverse()
        state = conn.execute(sql["state"], (sid,)).fetchone()[0]  # type: ignore[index]
        conn.commit()
        # What a real caller does: it appends after the newest seq it loaded.
        self.last_seq[sid] = rows[-1][0] if rows else 0
        return state, rows

    def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        conn, sql = self.conn, self.sql
        seq = self.last_seq[sid]
        now = time.time()
        try:
            conn.execute(sql["insert"], (sid, seq + 1, token_urlsafe(16), "user", user_text, now))
            conn.execute(sql["insert"], (sid, seq + 2, token_urlsafe(16), "assistant", reply,
                                         now))
            conn.execute(sql["upsert"], (sid, json.dumps(delta(turn))))
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return seq + 2

    def check(self, user: str, sid: str, turns: int) -> None:
        _check(*self.load(user, sid), turns)

    def close(self) -> None:
        self.conn.close()


class RawPostgresAsync:
    """:class:`RawPostgres` with psycopg's ``AsyncConnection``."""

    def __init__(self, conn: Any, schema: str) -> None:
        self.conn = conn
        self.sql = _sql(schema)
        self.last_seq: dict[str, int] = {}

    @classmethod
    async def open(cls, url: str, schema: str) -> RawPostgresAsync:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(url)
        await conn.execute(RAW_SCHEMA.format(s=schema))
        await conn.commit()
        return cls(conn, schema)

    async def create(self, user: str, sid: str) -> None:
        await self.conn.execute(self.sql["create"], (sid,))
        await self.conn.commit()

    async def load(self, user: str, sid: str) -> tuple[dict, list]:
        conn, sql = self.conn, self.sql
        rows = await (await conn.execute(sql["last"], (sid, WINDOW))).fetchall()
        rows.reverse()
        state = (await (await conn.execute(sql["state"], (sid,))).fetchone())[0]
        await conn.commit()
        self.last_seq[sid] = rows[-1][0] if rows else 0
        return state, rows

    async def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        conn, sql = self.conn, self.sql
        seq = self.last_seq[sid]
        now = time.time()
        try:
            await conn.execute(sql["insert"],
                               (sid, seq + 1, token_urlsafe(16), "user", user_text, now))
            await conn.execute(sql["insert"],
                               (sid, seq + 2, token_urlsafe(16), "assistant", reply, now))
            await conn.execute(sql["upsert"], (sid, json.dumps(delta(turn))))
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        return seq + 2

    async def check(self, user: str, sid: str, turns: int) -> None:
        _check(*await self.load(user, sid), turns)

    async def close(self) -> None:
        await self.conn.close()


class Engine:
    """A fresh schema per contender run; its tables' total size."""

    name = "postgres"
    contenders = ("raw", "sync", "raw_async", "async")
    baselines: ClassVar[dict[str, str]] = {"raw": "raw", "sync": "raw",
                                           "raw_async": "raw_async", "async": "raw_async"}
    size_keys = ("store_bytes",)

    def __init__(self, url: str | None, synchronous: str) -> None:
        self.url = url or DEFAULT_URL

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def describe(self) -> dict[str, Any]:
        import psycopg

        with self._admin() as conn:
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                        for name in ("server_version", "synchronous_commit", "fsync",
                                     "wal_sync_method", "full_page_writes")}
        return {"server": f"PostgreSQL {settings.pop('server_version')}", **settings,
                "driver": f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}, "
                          f"libpq {psycopg.pq.version()})",
                "durability": f"synchronous_commit={settings['synchronous_commit']}, "
                              f"fsync={settings['fsync']}"}

    def namespace(self, contender: str, rep: int, tmp: str) -> str:
        return f"w1_{contender}_{rep}_{token_hex(4)}"

    def drop(self, ns: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE')

    def store_url(self, ns: str) -> str:
        return f"{self.url}{'&' if '?' in self.url else '?'}schema={ns}"

    def open(self, contender: str, ns: str) -> Any:
        if contender == "raw":
            return RawPostgres(self.url, ns)
        return SyncStore(self.store_url(ns))

    async def open_async(self, contender: str, ns: str) -> Any:
        if contender == "raw_async":
            return await RawPostgresAsync.open(self.url, ns)
        return AsyncStore(self.store_url(ns))

    def sizes(self, ns: str, store_open: bool) -> dict[str, int]:
        """pg_total_relation_size (heap + indexes + TOAST) of the schema's tables."""
        if store_open:
            return {}
        with self._admin() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'", (ns,)).fetchone()
        return {"store_bytes": int(row[0])}  # type: ignore[index]
