"""The cache of opened values of an encrypting store: what it hands out is
what a cold read gives, nothing a caller holds is shared, and a cached value
still never opens anywhere but where it was sealed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import sessiondb
from sessiondb import AuthError
from sessiondb.backends.sqlite.backend import SQLiteBackend
from sessiondb.crypto.keyring import KeyRing, new_key

RING = KeyRing.from_string(f"k1:{new_key()}")


def _turns(store: sessiondb.SessionStore, sid: str, turns: int) -> None:
    for i in range(turns):
        store.append("w1", "u", sid,
                     [{"role": "user", "content": f"question {i}"},
                      {"role": "assistant", "content": {"text": f"answer {i}", "n": [i]},
                       "data": {"tool": ["a"]}}],
                     state_delta={"turn": i, "cart": {"items": [i]}})


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/enc.db"


def test_remembered_reads_equal_cold_reads_and_share_nothing_mutable(db: str) -> None:
    store = sessiondb.open_store(db, keys=RING)
    sid = store.create("w1", "u").id
    _turns(store, sid, 5)
    first = store.get("w1", "u", sid, last=6)
    first.state["cart"]["items"].append("x")
    for e in first.events:
        if e.state_delta is not None:
            e.state_delta["turn"] = "changed"  # type: ignore[index]
        if e.data is not None:
            e.data["tool"].append("x")  # type: ignore[index]
        if isinstance(e.content, dict):
            e.content["n"].append("x")
    again = store.get("w1", "u", sid, last=6)
    cold = sessiondb.open_store(db, keys=RING).get("w1", "u", sid, last=6)
    assert again == cold
    assert again.state == {"turn": 4, "cart": {"items": [4]}}
    assert again.events[-1].state_delta == {"turn": 4, "cart": {"items": [4]}}


@pytest.mark.parametrize("remember_sealed", [True, False])
def test_a_remembered_event_swapped_or_changed_in_storage_does_not_open(
        db: str, remember_sealed: bool) -> None:
    store = sessiondb.open_store(db, keys=RING)
    store._backend.encryption.remember_sealed = remember_sealed
    sid = store.create("w1", "u").id
    _turns(store, sid, 2)
    before = store.get("w1", "u", sid)
    assert len(before.events) == 4  # every event now remembered
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # two events of the session trade tokens
        rows = conn.execute("SELECT key, content FROM events ORDER BY key").fetchall()
        conn.execute("UPDATE events SET content = ? WHERE key = ?", (rows[0][1], rows[2][0]))
        conn.execute("UPDATE events SET content = ? WHERE key = ?", (rows[2][1], rows[0][0]))
    # The SQLite backend serves the rows it read and wrote from memory (they
    # were authentic then): nothing changed behind its back is handed out...
    assert store.get("w1", "u", sid) == before
    _read_from_the_file(store)  # ...and once read from the file, it is refused.
    with pytest.raises(AuthError):
        store.get("w1", "u", sid)
    with pytest.raises(AuthError):
        sessiondb.open_store(db, keys=RING).get("w1", "u", sid)
    with sqlite3.connect(path) as conn:  # put back, then change one byte of a token
        conn.execute("UPDATE events SET content = ? WHERE key = ?", (rows[0][1], rows[0][0]))
        conn.execute("UPDATE events SET content = ? WHERE key = ?", (rows[2][1], rows[2][0]))
    _read_from_the_file(store)
    assert len(store.get("w1", "u", sid).events) == 4
    with sqlite3.connect(path) as conn:
        token = rows[1][1]
        changed = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
        conn.execute("UPDATE events SET content = ? WHERE key = ?", (changed, rows[1][0]))
    _read_from_the_file(store)
    with pytest.raises(AuthError):
        store.get("w1", "u", sid)


def _read_from_the_file(store: sessiondb.SessionStore) -> None:
    """Drop the event rows the store's SQLite backend keeps in memory
    (sessiondb.backends.sqlite.recent), so that its next read reads the file."""
    backend: Any = store._backend
    while not isinstance(backend, SQLiteBackend):
        backend = backend.inner
    backend._recent.forget()


def test_a_remembered_state_value_moved_to_another_key_does_not_open(db: str) -> None:
    store = sessiondb.open_store(db, keys=RING)
    sid = store.create("w1", "u").id
    _turns(store, sid, 1)
    assert store.get("w1", "u", sid).state["turn"] == 0
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (turn,) = conn.execute("SELECT value FROM session_state WHERE key = 'turn'").fetchone()
        conn.execute("UPDATE session_state SET value = ? WHERE key = 'cart'", (turn,))
    with pytest.raises(AuthError):
        store.get("w1", "u", sid)
