"""The SQLite schema, as forward-only migrations.

The database's ``PRAGMA user_version`` says how many migrations it has had.
Opening a store applies the missing ones in one ``BEGIN IMMEDIATE``
transaction, so two processes opening a new file at once cannot both
migrate it. A file from a newer SessionDB is refused, never downgraded.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

import os
import sqlite3

from ...errors import ConfigurationError

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, events, three state scopes, idempotency keys.
    # Listing indexes use created_at, which never changes, so an append
    # touches no index of sessions. An event's rowid is event_key(sid, seq):
    # events are stored clustered by session and seq with no second index.
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        app TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL,
        idle_ttl REAL,
        deadline REAL,
        metadata TEXT NOT NULL,
        base_state TEXT NOT NULL,
        UNIQUE (app, user_id, session_id)
    );
    CREATE INDEX sessions_by_user ON sessions (app, user_id, created_at, session_id);
    CREATE INDEX sessions_by_app ON sessions (app, created_at, user_id, session_id);
    CREATE INDEX sessions_by_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE events (
        key INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        role TEXT NOT NULL,
        kind TEXT NOT NULL,
        content,
        content_is_json INTEGER NOT NULL,
        data TEXT,
        state_delta TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE session_state (
        sid INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (sid, key)
    ) WITHOUT ROWID;
    CREATE TABLE user_state (
        app TEXT NOT NULL, user_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (app, user_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE app_state (
        app TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (app, key)
    ) WITHOUT ROWID;
    CREATE TABLE idempotency (
        sid INTEGER NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        PRIMARY KEY (sid, key)
    ) WITHOUT ROWID;
    """,
    # 2: a session's incarnation: a random number its row gets when it is
    # made (create, fork, import) and again when its stored events are
    # rewritten (re-sealing), so that a process keeping event rows in memory
    # (recent.py) knows them still good when the head says the same number.
    # Sessions made before get one here; 0 (the default) is what a process
    # of an earlier SessionDB still running on the file gives a new one, and
    # such a session's rows are never kept.
    """
    ALTER TABLE sessions ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET incarnation = random() | 1
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: Bits of an event's rowid that hold its seq; the rest hold the session's rowid.
SEQ_BITS = 24
MAX_SEQ = (1 << SEQ_BITS) - 1


def new_incarnation() -> int:
    """A session row's incarnation (see migration 2): random, never 0."""
    return int.from_bytes(os.urandom(8)) >> 1 | 1


def event_key(sid: int, seq: int) -> int:
    """The rowid of event ``seq`` of session ``sid``."""
    return (sid << SEQ_BITS) | seq


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring the database up to date; the number of migrations applied."""
    (current,) = conn.execute("PRAGMA user_version").fetchone()
    if current == len(migrations):
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        (current,) = conn.execute("PRAGMA user_version").fetchone()
        if current > len(migrations):
            raise ConfigurationError(
                f"the database has schema version {current}, newer than this SessionDB "
                f"knows ({len(migrations)}): upgrade sessiondb"
            )
        for number in range(current, len(migrations)):
            for statement in migrations[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(migrations)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(migrations) - current
