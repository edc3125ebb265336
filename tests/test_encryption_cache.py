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
from sessiondb.crypto import encryption as encryption_module
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


def _windows(sid: str, version: int) -> list[dict[str, int]]:
    """Read windows of every kind: newest, forward, bounded both ways."""
    return [{"last": 1}, {"last": 3}, {"last": 6}, {"last": 50},
            {"after_seq": max(0, version - 5), "last": 3}, {"after_seq": 1, "last": 4},
            {"before_seq": version, "last": 3}, {"before_seq": max(2, version - 2), "last": 2}]


@pytest.mark.parametrize("remember_sealed", [True, False])
def test_reread_windows_equal_cold_reads(db: str, remember_sealed: bool) -> None:
    """A session's last window is remembered opened, and a reload reuses the
    rows it shares with it: every window, read again in any order as the
    session grows, equals what a store opening everything afresh reads."""
    store = sessiondb.open_store(db, keys=RING)
    store._backend.encryption.remember_sealed = remember_sealed
    sid = store.create("w1", "u").id
    version = 0
    for step in range(6):
        _turns(store, sid, 1 + step % 2)
        version += 2 * (1 + step % 2)
        cold = sessiondb.open_store(db, keys=RING)
        for window in _windows(sid, version) * 2:
            assert store.get("w1", "u", sid, **window) == cold.get("w1", "u", sid, **window)
        cold.close()
    store.close()


def test_a_reload_opens_only_the_rows_it_has_not_seen(db: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = sessiondb.open_store(db, keys=RING)
    encryption = store._backend.encryption
    sid = store.create("w1", "u").id
    _turns(store, sid, 5)
    opened: list[int] = []
    open_row = encryption._open_row
    monkeypatch.setattr(encryption, "_open_row",
                        lambda row, places, seq, uk: opened.append(seq) or open_row(
                            row, places, seq, uk))
    store.get("w1", "u", sid, last=6)
    assert opened == [5, 6, 7, 8, 9, 10]
    _turns(store, sid, 1)
    opened.clear()
    assert [e.seq for e in store.get("w1", "u", sid, last=6).events] == list(range(7, 13))
    assert opened == [11, 12]  # 7..10 were in the window read before
    opened.clear()
    store.get("w1", "u", sid, last=6)
    assert opened == []
    store.get("w1", "u", sid, last=8)  # reaches back past it: opened afresh
    assert opened == [5, 6, 7, 8, 9, 10, 11, 12]
    store.close()


def test_remembered_windows_stay_within_their_budget(db: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encryption_module, "WINDOW_BUDGET", 20_000)
    store = sessiondb.open_store(db, keys=RING)
    encryption = store._backend.encryption
    sids = [store.create("w1", "u").id for _ in range(8)]
    for sid in sids:
        _turns(store, sid, 4)
    cold = sessiondb.open_store(db, keys=RING)
    for _ in range(3):
        for sid in sids:
            assert store.get("w1", "u", sid, last=8) == cold.get("w1", "u", sid, last=8)
            assert encryption._window_bytes <= 20_000
            _turns(store, sid, 1)
    assert 0 < len(encryption._windows) < len(sids)  # emptied at least once
    cold.close()
    store.close()


def test_a_remembered_window_is_not_used_once_its_user_key_is_gone(db: str) -> None:
    """With per-user keys, a window opened under a user's key is not reused
    once another process destroyed that key (crypto-shredding): the user's
    events no longer open, remembered or not."""
    store = sessiondb.open_store(db, keys=RING, user_keys=True)
    store._backend.user_keys.ttl = 0  # look the key up on every call
    sid = store.create("w1", "u").id
    for i in range(3):  # events only: no state value to refuse first
        store.append("w1", "u", sid, [{"role": "user", "content": f"secret {i}"}])
    assert len(store.get("w1", "u", sid).events) == 3
    other = sessiondb.open_store(db, keys=RING, user_keys=True)
    assert other._backend.user_keys.destroy("w1", "u")
    other.close()
    with pytest.raises(AuthError, match="data key"):
        store.get("w1", "u", sid)
    store.close()


def test_two_processes_taking_turns_read_what_a_cold_store_reads(db: str) -> None:
    """Two stores (as two app instances would) append to one session in
    turn, each reloading it first: each window mixes rows it opened before,
    rows it sealed itself and rows the other one wrote."""
    a, b = sessiondb.open_store(db, keys=RING), sessiondb.open_store(db, keys=RING)
    sid = a.create("w1", "u").id
    for turn in range(8):
        store = (a, b)[turn % 2]
        cold = sessiondb.open_store(db, keys=RING)
        assert store.get("w1", "u", sid, last=5) == cold.get("w1", "u", sid, last=5)
        cold.close()
        store.append("w1", "u", sid, [{"role": "user", "content": f"turn {turn}"}],
                     state_delta={"turn": turn})
    assert [e.content for e in a.get("w1", "u", sid, last=3).events] == [
        "turn 5", "turn 6", "turn 7"]
    assert b.get("w1", "u", sid).state == {"turn": 7}
    a.close()
    b.close()


@pytest.mark.parametrize("column", ["data", "state_delta"])
def test_data_planted_beside_a_token_is_refused(db: str, column: str) -> None:
    """An event row given clear data or a clear delta beside its token (in
    the file, behind SessionDB's back) is refused, whether read in a window
    (rows) or as a page of events; nothing stored changes."""
    store = sessiondb.open_store(db, keys=RING)
    sid = store.create("w1", "u").id
    _turns(store, sid, 2)
    store.get("w1", "u", sid)  # remembered opened
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE events SET {column} = '{{\"planted\": 1}}' WHERE seq = 3")
        before = conn.execute("SELECT * FROM events ORDER BY key").fetchall()
    _read_from_the_file(store)
    with pytest.raises(AuthError, match="outside its encrypted content"):
        store.get("w1", "u", sid)
    with pytest.raises(AuthError, match="outside its encrypted content"):
        store.events("w1", "u", sid)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT * FROM events ORDER BY key").fetchall() == before
    store.close()
