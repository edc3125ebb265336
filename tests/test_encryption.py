"""Encryption at rest: what is sealed, what an attacker's changes do, and
what a raw read of each engine finds.

Every attack gets ``AuthError`` and changes nothing stored; no engine holds a
plaintext canary when encryption is on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pg_helpers import fresh_schemas
from redis_helpers import raw_client, redis_cluster_servers, url_factory

import sessiondb
from sessiondb import AuthError
from sessiondb.crypto.keyring import KeyRing, new_key

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

CANARY = "canary-7f3a9c"
K1, K2 = new_key(), new_key()
RING = KeyRing.from_string(f"k1:{K1}")


def fill(store: sessiondb.SessionStore, app: str = "shop") -> str:
    """A session holding the canary everywhere a user can put data."""
    sid = store.create(app, "alice", state={"note": CANARY, "user:card": CANARY,
                                            "app:motd": CANARY},
                       metadata={"tag": CANARY}).id
    store.append(app, "alice", sid,
                 [{"role": "user", "content": f"my secret is {CANARY}"},
                  {"role": "tool", "kind": "tool_result", "content": {"v": CANARY},
                   "data": {"args": CANARY}, "state_delta": {"last": CANARY}}],
                 state_delta={"user:card": CANARY + "2"}, idempotency_key="k")
    return sid


def read_all(store: sessiondb.SessionStore, app: str, sid: str) -> object:
    s = store.get(app, "alice", sid)
    return s.state, s.metadata, s.events


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/enc.db"


def sqlite_rows(path: str) -> list[tuple]:
    with sqlite3.connect(path.removeprefix("sqlite:///")) as conn:
        return [row for table in ("sessions", "events", "session_state", "user_state",
                                  "app_state", "idempotency")
                for row in conn.execute(f"SELECT * FROM {table}")]


def test_values_read_back_and_nothing_is_stored_in_the_clear(db: str) -> None:
    store = sessiondb.open_store(db, keys=RING)
    sid = fill(store)
    s = store.get("shop", "alice", sid)
    assert s.state == {"note": CANARY, "user:card": CANARY + "2", "app:motd": CANARY,
                       "last": CANARY}
    assert s.metadata == {"tag": CANARY}
    assert [e.content for e in s.events] == [f"my secret is {CANARY}", {"v": CANARY}]
    assert s.events[1].data == {"args": CANARY}
    assert s.events[1].state_delta == {"last": CANARY, "user:card": CANARY + "2"}
    assert [x.id for x in store.sessions("shop", metadata={"tag": CANARY})] == [sid]
    store.close()
    raw = Path(db.removeprefix("sqlite:///"))
    for file in [raw, *raw.parent.glob(raw.name + "-*")]:
        assert CANARY.encode() not in file.read_bytes(), file


def test_plaintext_under_an_encrypting_store_is_refused(db: str) -> None:
    sid = fill(sessiondb.open_store(db))
    with pytest.raises(AuthError, match="not encrypted"):
        sessiondb.open_store(db, keys=RING).get("shop", "alice", sid)


def test_a_flipped_bit_is_refused_and_changes_nothing(db: str) -> None:
    store = sessiondb.open_store(db, keys=RING)
    sid = fill(store)
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (value,) = conn.execute("SELECT value FROM session_state WHERE key = 'note'").fetchone()
        flipped = value[:30] + ("A" if value[30] != "A" else "B") + value[31:]
        conn.execute("UPDATE session_state SET value = ? WHERE key = 'note'", (flipped,))
    before = sqlite_rows(db)
    with pytest.raises(AuthError, match="failed authentication"):
        store.get("shop", "alice", sid)
    with pytest.raises(AuthError):
        store.sessions("shop")
    assert sqlite_rows(db) == before


def test_a_value_moved_to_another_session_or_key_does_not_open(db: str) -> None:
    store = sessiondb.open_store(db, keys=RING)
    a, b = fill(store), fill(store)
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        ids = dict(conn.execute("SELECT session_id, id FROM sessions"))
        (content,) = conn.execute("SELECT content FROM events WHERE key = ?",
                                  ((ids[a] << 24) | 1,)).fetchone()
        conn.execute("UPDATE events SET content = ? WHERE key = ?", (content, (ids[b] << 24) | 1))
    with pytest.raises(AuthError):
        store.events("shop", "alice", b)
    assert store.events("shop", "alice", a).items[0].content.endswith(CANARY)
    with sqlite3.connect(path) as conn:  # another key of the same session
        (note,) = conn.execute("SELECT value FROM session_state WHERE sid = ? AND key = 'note'",
                               (ids[a],)).fetchone()
        conn.execute("UPDATE session_state SET value = ? WHERE sid = ? AND key = 'last'",
                     (note, ids[a]))
    with pytest.raises(AuthError):
        store.get("shop", "alice", a)


def test_a_wrong_key_and_a_missing_key_id_are_refused(db: str) -> None:
    sid = fill(sessiondb.open_store(db, keys=RING))
    with pytest.raises(AuthError, match="'k1'"):
        sessiondb.open_store(db, keys=f"k2:{K2}").get("shop", "alice", sid)
    with pytest.raises(AuthError, match="failed authentication"):
        sessiondb.open_store(db, keys=f"k1:{K2}").get("shop", "alice", sid)


def test_old_keys_still_open_and_new_writes_use_the_primary(db: str) -> None:
    sid = fill(sessiondb.open_store(db, keys=RING))
    rotated = sessiondb.open_store(db, keys=f"k2:{K2},k1:{K1}")
    assert rotated.get("shop", "alice", sid).state["note"] == CANARY
    rotated.update_state("shop", "alice", sid, {"fresh": 1})
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (fresh,) = conn.execute("SELECT value FROM session_state WHERE key = 'fresh'").fetchone()
    assert fresh.startswith('"sdb1.k2.')


def test_keys_from_the_environment_turn_encryption_on(db: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONDB_KEYS", f"k1:{K1}")
    sid = fill(sessiondb.open_store(db))
    monkeypatch.delenv("SESSIONDB_KEYS")
    with pytest.raises(AuthError):
        sessiondb.open_store(db, keys=f"k9:{K2}").get("shop", "alice", sid)
    assert sessiondb.open_store(db, keys=RING).get("shop", "alice", sid).state["note"] == CANARY


def test_bad_key_configuration_is_a_clear_error() -> None:
    for text in ("k1", f"k1:{K1[:-4]}", "bad id!:" + K1, f"k1:{K1},k1:{K2}"):
        with pytest.raises(sessiondb.ConfigurationError):
            sessiondb.open_store("memory://", keys=text)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    for schemas in fresh_schemas():
        yield schemas.url()


def test_postgres_tables_hold_no_plaintext(postgres_url: str) -> None:
    store = sessiondb.open_store(postgres_url, keys=RING)
    sid = fill(store)
    assert read_all(store, "shop", sid)
    store.close()
    base, _, query = postgres_url.partition("?")
    schema = dict(p.split("=") for p in query.split("&"))["schema"]
    with psycopg.connect(base) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        assert tables
        for table in tables:
            for (text,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                assert CANARY not in text, table


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_redis_keys_hold_no_plaintext(kind: str, request: pytest.FixtureRequest) -> None:
    with url_factory(kind, request) as make:
        url = make()
        store = sessiondb.open_store(url, keys=RING)
        sid = fill(store)
        assert read_all(store, "shop", sid)
        store.close()
        prefix = url.split("prefix=")[1]
        client = raw_client(url)
        seen = 0
        for key in client.scan_iter(match=f"{prefix}:*"):
            kind_ = client.type(key).decode()
            value = {"string": client.get, "hash": client.hgetall,
                     "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                     "list": lambda k: client.lrange(k, 0, -1),
                     "set": client.smembers}[kind_](key)
            assert CANARY.encode() not in repr(value).encode(), key
            seen += 1
        assert seen


def test_shared_state_set_directly_is_sealed_like_any_state(db: str) -> None:
    """``update_shared_state`` seals each value for its place: the same place
    a session's ``app:``/``user:`` key has, so sessions read it too."""
    store = sessiondb.open_store(db, keys=RING)
    store.update_shared_state("shop", {"banner": CANARY})
    store.update_shared_state("shop", {"pin": CANARY, "gone": 1}, user_id="bob")
    assert store.update_shared_state("shop", {"gone": None}, user_id="bob") == {"pin": CANARY}
    assert store.shared_state("shop") == {"banner": CANARY}
    sid = store.create("shop", "bob").id
    assert store.get("shop", "bob", sid).state == {"app:banner": CANARY, "user:pin": CANARY}
    store.update_state("shop", "bob", sid, {"user:pin": CANARY + "2"})
    assert store.shared_state("shop", "bob") == {"pin": CANARY + "2"}
    for file in Path(db.removeprefix("sqlite:///")).parent.glob("enc.db*"):
        assert CANARY.encode() not in file.read_bytes(), file


def test_shared_values_moved_or_planted_do_not_open(db: str) -> None:
    store = sessiondb.open_store(db, keys=RING)
    store.update_shared_state("shop", {"pin": CANARY}, user_id="bob")
    store.update_shared_state("shop", {"banner": CANARY})
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO user_state SELECT app, 'carol', key, value FROM user_state "
                     "WHERE user_id = 'bob'")  # bob's sealed value, copied to carol
        conn.execute("INSERT INTO app_state SELECT app, 'motd', value FROM app_state")
        conn.execute("INSERT INTO app_state VALUES ('other', 'banner', '\"in the clear\"')")
    before = sqlite_rows(db)
    with pytest.raises(AuthError, match="failed authentication"):
        store.shared_state("shop", "carol")
    with pytest.raises(AuthError, match="failed authentication"):
        store.shared_state("shop")  # banner's value, copied to motd
    with pytest.raises(AuthError, match="not encrypted"):
        store.shared_state("other")
    assert store.shared_state("shop", "bob") == {"pin": CANARY}
    assert sqlite_rows(db) == before
