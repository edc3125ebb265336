"""The SQLite schema: forward-only migrations, applied once, in place."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from helpers_child import APP, USER, run_together

import sessiondb
from sessiondb.backends.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, migrate

TABLES = {"sessions", "events", "session_state", "user_state", "app_state", "idempotency"}


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def user_version(path: Path) -> int:
    conn = connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def schema_objects(path: Path) -> list[tuple[str, str, str]]:
    conn = connect(path)
    try:
        return sorted(conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


def test_fresh_file_migrates_to_current(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sessiondb.open_store(f"sqlite:///{path}"):
        pass
    assert user_version(path) == SCHEMA_VERSION
    tables = {name for kind, name, _ in schema_objects(path) if kind == "table"}
    assert tables >= TABLES


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    url = f"sqlite:///{path}"
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER, state={"k": 1}).id
        store.append(APP, USER, sid, [{"role": "user", "content": "hi"}])
    before = schema_objects(path)
    with sessiondb.open_store(url) as store:
        session = store.get(APP, USER, sid)
    assert schema_objects(path) == before
    assert user_version(path) == SCHEMA_VERSION
    assert session.version == 1 and session.state == {"k": 1}
    conn = connect(path)
    try:
        assert migrate(conn) == 0
        assert migrate(conn) == 0
    finally:
        conn.close()


def test_migrate_counts_what_it_applied(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.db")
    try:
        assert migrate(conn) == SCHEMA_VERSION
        assert migrate(conn) == 0
    finally:
        conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = connect(path)
    try:
        migrate(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    finally:
        conn.close()
    before = schema_objects(path)
    with pytest.raises(sessiondb.ConfigurationError, match="newer"):
        sessiondb.open_store(f"sqlite:///{path}")
    # Refused, never downgraded or touched.
    assert user_version(path) == SCHEMA_VERSION + 1
    assert schema_objects(path) == before


def test_newer_schema_is_refused_by_migrate(tmp_path: Path) -> None:
    conn = connect(tmp_path / "future.db")
    try:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
        with pytest.raises(sessiondb.ConfigurationError):
            migrate(conn)
        assert not conn.in_transaction
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 5
    finally:
        conn.close()


PROCESSES = 4


def test_processes_migrating_a_new_file_at_once_apply_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    results = run_together(tmp_path, [["migrate", str(path)] for _ in range(PROCESSES)])
    applied = sorted(r["applied"] for r in results)
    assert applied == [0] * (PROCESSES - 1) + [SCHEMA_VERSION]
    assert user_version(path) == SCHEMA_VERSION


#: The race on a new file is over in milliseconds; a few fresh files make a
#: lost race likely to show.
ROUNDS = 8


def test_processes_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    for n in range(ROUNDS):
        workdir = tmp_path / f"round{n}"
        workdir.mkdir()
        path = workdir / "race.db"
        url = f"sqlite:///{path}"
        results = run_together(workdir, [["open", url, f"w{i}"] for i in range(PROCESSES)])
        assert [r["version"] for r in results] == [2] * PROCESSES
        assert user_version(path) == SCHEMA_VERSION
        names = [name for _, name, _ in schema_objects(path)]
        assert len(names) == len(set(names))
        with sessiondb.open_store(url) as store:
            listed = store.sessions(APP, USER)
            assert sorted(s.id for s in listed) == [f"s-w{i}" for i in range(PROCESSES)]
            for i in range(PROCESSES):
                assert store.get(APP, USER, f"s-w{i}").state == {"worker": f"w{i}"}


def test_opening_a_new_file_waits_for_another_writer(tmp_path: Path) -> None:
    """What a simultaneous opener looks like to a store opening a new file:
    another connection holds the write lock for a moment. The store must wait
    (its busy timeout is 30 s), not fail with "database is locked"."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, other.execute, ("COMMIT",))
    release.start()
    try:
        with sessiondb.open_store(f"sqlite:///{path}") as store:
            sid = store.create(APP, USER).id
            assert store.append(APP, USER, sid, [{"role": "user"}]) == 1
    finally:
        release.join()
        other.close()
    assert user_version(path) == SCHEMA_VERSION


# -- upgrading from every earlier schema ------------------------------------
#
# SEEDS[k] writes, with the SQL of schema version k, one session that the
# current store must read back as SEEDED_* below: a session with state in all
# three scopes, two events (one carrying a delta) and an idempotency key.
# A new migration must add SEEDS for the version before it.

SEEDS: dict[int, list[str]] = {
    # Session rowid 7; an event's rowid is (sid << 24) | seq: 117440512 + seq.
    1: [
        "INSERT INTO sessions (id, app, user_id, session_id, version, created_at, updated_at, "
        "expires_at, idle_ttl, deadline, metadata, base_state) VALUES (7, 'app', 'user', "
        "'old', 2, 1700000000.0, 1700000001.0, NULL, NULL, NULL, '{\"tier\":\"gold\"}', "
        "'{\"n\":0}')",
        "INSERT INTO events (key, seq, id, role, kind, content, content_is_json, data, "
        "state_delta, created_at) VALUES (117440513, 1, 'e1', 'user', 'message', 'hello', 0, "
        "NULL, NULL, 1700000000.5)",
        "INSERT INTO events (key, seq, id, role, kind, content, content_is_json, data, "
        "state_delta, created_at) VALUES (117440514, 2, 'e2', 'assistant', 'message', "
        "'{\"text\":\"hi\"}', 1, '{\"tool\":\"x\"}', '{\"n\":1,\"user:lang\":\"en\"}', "
        "1700000001.0)",
        "INSERT INTO session_state (sid, key, value) VALUES (7, 'n', '1')",
        "INSERT INTO user_state (app, user_id, key, value) VALUES ('app', 'user', 'lang', "
        "'\"en\"')",
        "INSERT INTO app_state (app, key, value) VALUES ('app', 'motd', '\"welcome\"')",
        "INSERT INTO idempotency (sid, key, version, fingerprint) VALUES (7, 'k1', 2, 'f')",
    ],
}
# Version 2 added the sessions' incarnation (the same data, one more column).
SEEDS[2] = [SEEDS[1][0].replace("base_state) VALUES", "base_state, incarnation) VALUES")
            .replace("'{\"n\":0}')", "'{\"n\":0}', 12345)"), *SEEDS[1][1:]]
SEEDED_STATE = {"n": 1, "user:lang": "en", "app:motd": "welcome"}


def build_old(path: Path, k: int) -> None:
    conn = connect(path)
    try:
        applied = migrate(conn, MIGRATIONS[:k])
        assert applied == k
        assert conn.execute("PRAGMA user_version").fetchone()[0] == k
        if k:
            assert k in SEEDS, f"add SEEDS[{k}]: data written with schema version {k}"
            conn.execute("BEGIN")
            for statement in SEEDS[k]:
                conn.execute(statement)
            conn.execute("COMMIT")
    finally:
        conn.close()


@pytest.mark.parametrize("k", range(SCHEMA_VERSION + 1))
def test_upgrade_from_every_earlier_schema_keeps_data(tmp_path: Path, k: int) -> None:
    """``k`` < SCHEMA_VERSION is an upgrade; ``k`` == SCHEMA_VERSION is a
    current file, which must open untouched."""
    path = tmp_path / f"v{k}.db"
    build_old(path, k)
    url = f"sqlite:///{path}"
    with sessiondb.open_store(url, clock=sessiondb.FrozenClock(1_800_000_000)) as store:
        assert user_version(path) == SCHEMA_VERSION
        if k:
            old = store.get(APP, USER, "old")
            assert old.version == 2
            assert old.state == SEEDED_STATE
            assert old.metadata == {"tier": "gold"}
            assert [(e.seq, e.id, e.content, e.data, e.state_delta) for e in old.events] == [
                (1, "e1", "hello", None, None),
                (2, "e2", {"text": "hi"}, {"tool": "x"}, {"n": 1, "user:lang": "en"}),
            ]
            # Its idempotency key still holds (used for another request here)...
            with pytest.raises(sessiondb.ConflictError):
                store.append(APP, USER, "old", [{"role": "user"}], idempotency_key="k1")
            # ...and it takes new writes.
            assert store.append(APP, USER, "old", [{"role": "user", "content": "again"}],
                                expected_version=2) == 3
            forked = store.fork(APP, USER, "old", at_seq=1, new_session_id="forked")
            assert forked.state == {"n": 0, "user:lang": "en", "app:motd": "welcome"}
        # The upgraded file works for new sessions too.
        sid = store.create(APP, USER, state={"x": 1}).id
        assert store.append(APP, USER, sid, [{"role": "user", "content": "new"}]) == 1
    assert user_version(path) == SCHEMA_VERSION
    tables = {name for kind, name, _ in schema_objects(path) if kind == "table"}
    assert tables >= TABLES


def test_schema_version_counts_the_migrations() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION >= 1
    for number, migration in enumerate(MIGRATIONS, 1):
        assert migration.strip(), f"migration {number} is empty"
