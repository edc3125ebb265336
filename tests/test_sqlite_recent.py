"""The event rows a SQLite store keeps to serve read windows
(sessiondb.backends.sqlite.recent): a kept window reads as a cold one, and
nothing written elsewhere is ever hidden by what was kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import sessiondb
from sessiondb.backends.sqlite.backend import SQLiteBackend
from sessiondb.backends.sqlite.recent import BUDGET, SLACK
from sessiondb.crypto.keyring import new_key
from sessiondb.crypto.rotation import rotate

EVENTS: list[dict[str, Any]] = [
    {"role": "user", "content": "plain text, ünïcödé ✓"},
    {"role": "assistant", "content": {"text": "json", "n": [1, 2.5, None]}, "data": {"k": [1]}},
    {"role": "tool", "kind": "tool_call", "content": ["a", {"b": True}]},
    {"role": "tool", "kind": "tool_result", "content": 42, "state_delta": {"x": {"y": 1}}},
    {"role": "user", "content": None},
    {"role": "user", "content": "", "state_delta": {"turn": 1, "flag": True}},
]


def _sqlite(store: sessiondb.SessionStore) -> SQLiteBackend:
    backend: Any = store._backend
    while not isinstance(backend, SQLiteBackend):
        backend = backend.inner
    return backend


def _fill(store: sessiondb.SessionStore, sid: str, rounds: int = 4) -> None:
    for i in range(rounds):
        store.append("a", "u", sid, EVENTS, state_delta={"round": i})


def test_kept_windows_read_as_cold_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    with sessiondb.open_store(url) as store:
        sid = store.create("a", "u").id
        _fill(store, sid)
        windows = [dict(last=3), dict(last=20), dict(after_seq=2), dict(before_seq=10)]
        warm = [store.get("a", "u", sid, **w) for w in windows]
        assert _sqlite(store)._recent.kept  # the appends' rows were kept
        again = [store.get("a", "u", sid, **w) for w in windows]
    with sessiondb.open_store(url) as cold_store:
        cold = [cold_store.get("a", "u", sid, **w) for w in windows]
    assert warm == again == cold
    assert [e.seq for e in cold[1].events] == list(range(5, 25))


def test_readers_share_nothing_mutable(tmp_path: Path) -> None:
    with sessiondb.open_store(f"sqlite:///{tmp_path}/s.db") as store:
        sid = store.create("a", "u").id
        _fill(store, sid, 1)
        first = store.get("a", "u", sid)
        first.events[1].content["text"] = "changed"
        first.events[1].data["k"].append(2)
        first.events[3].state_delta["x"]["y"] = 2
        second = store.get("a", "u", sid)
        assert second.events[1].content["text"] == "json"
        assert second.events[1].data == {"k": [1]}
        assert second.events[3].state_delta == {"x": {"y": 1}}


def _rowid(path: Path, session_id: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()[0]


@pytest.mark.parametrize("writer", ["another store", "this store"])
def test_a_session_deleted_and_made_again_is_read_afresh(tmp_path: Path, writer: str) -> None:
    """The new session gets the old one's rowid (SQLite reuses the highest),
    so what was kept for the old one is keyed exactly as the new one."""
    path = tmp_path / "s.db"
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        store.create("a", "u", "sid")
        _fill(store, "sid")
        before = store.get("a", "u", "sid", last=20)
        rowid = _rowid(path, "sid")
        other = store if writer == "this store" else sessiondb.open_store(f"sqlite:///{path}")
        other.delete("a", "u", "sid")
        other.create("a", "u", "sid")
        for i in range(12):
            other.append("a", "u", "sid", [{"role": "user", "content": f"new {i}"}])
        assert _rowid(path, "sid") == rowid
        after = store.get("a", "u", "sid", last=20)
        assert after.version == 12 and after.events != before.events[-12:]
        assert [e.content for e in after.events] == [f"new {i}" for i in range(12)]
        if other is not store:
            other.close()


def test_what_is_kept_follows_the_windows_read(tmp_path: Path) -> None:
    """A session keeps the rows of the last window read from the file plus
    SLACK more, for the appends that follow; windows inside it are served
    from it."""
    path = tmp_path / "s.db"
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        sid = store.create("a", "u").id
        rowid = _rowid(path, sid)
        for i in range(150):
            store.append("a", "u", sid, [{"role": "user", "content": str(i)}])
        recent = _sqlite(store)._recent
        assert len(recent.kept[rowid][2]) == SLACK  # no read yet: what a new session keeps
        for last in (120, 120, 5):
            window = store.get("a", "u", sid, last=last)
            assert [e.content for e in window.events] == [str(i) for i in range(150 - last, 150)]
            assert recent.kept[rowid][1::2] == (31, 120 + SLACK)
        for i in range(150, 150 + 2 * SLACK):
            store.append("a", "u", sid, [{"role": "user", "content": str(i)}])
        _, first, rows, cap = recent.kept[rowid]
        assert (first, len(rows), cap) == (151 + 2 * SLACK - cap, cap, 120 + SLACK)
        window = store.get("a", "u", sid, last=5)
        assert [e.content for e in window.events] == [str(i) for i in range(177, 182)]


def test_what_is_kept_is_bounded(tmp_path: Path) -> None:
    """Sessions made and read one after another: the text kept never passes
    the budget (checked after every session, by the rows' own sizes)."""
    with sessiondb.open_store(f"sqlite:///{tmp_path}/s.db") as store:
        recent = _sqlite(store)._recent
        text = "x" * 20_000
        for _ in range(400):
            sid = store.create("a", "u").id
            store.append("a", "u", sid, [{"role": "user", "content": text}] * 3)
            assert len(store.get("a", "u", sid).events) == 3
            kept = sum(len(r[3]) for _, _, rows, _ in recent.kept.values() for r in rows)
            assert kept <= BUDGET
        assert 0 < len(recent.kept) < 400


def test_resealed_rows_are_read_afresh(tmp_path: Path) -> None:
    """Key rotation rewrites event rows in place (same rowid, same seqs)."""
    old, new = f"old:{new_key()}", f"new:{new_key()}"
    url = f"sqlite:///{tmp_path}/s.db"
    with sessiondb.open_store(url, keys=old) as store:
        sid = store.create("a", "u").id
        _fill(store, sid, 1)
    with sessiondb.open_store(url, keys=f"{new},{old}") as store:
        plain = store.get("a", "u", sid)
        inner = _sqlite(store)
        from sessiondb._core.requests import get as get_request

        request = get_request("a", "u", sid, None, None, None, store.clock.now(), store.limits)
        assert "sdb1.old." in str(inner.get(request).events[0].content)
        rotate(store)
        assert "sdb1.new." in str(inner.get(request).events[0].content)
        assert store.get("a", "u", sid) == plain


def test_a_fork_given_a_deleted_sessions_rowid_is_read_afresh(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        store.create("a", "u", "source")
        _fill(store, "source")
        store.create("a", "u", "doomed")
        for i in range(10):  # as many as the fork will have: the same window
            store.append("a", "u", "doomed", [{"role": "user", "content": f"doomed {i}"}])
        store.get("a", "u", "doomed", last=20)
        rowid = _rowid(path, "doomed")
        store.delete("a", "u", "doomed")
        store.fork("a", "u", "source", at_seq=10, new_session_id="fork")
        assert _rowid(path, "fork") == rowid
        fork = store.get("a", "u", "fork", last=20)
        assert fork.events == store.get("a", "u", "source", before_seq=11, last=20).events


def test_another_writer_leaves_what_is_kept_of_other_sessions(tmp_path: Path) -> None:
    """Another process writing the file (here another store) does not make
    this one read its own sessions' windows again; what it changes is seen."""
    path = tmp_path / "s.db"
    with sessiondb.open_store(f"sqlite:///{path}") as store, \
            sessiondb.open_store(f"sqlite:///{path}") as other:
        store.create("a", "u", "mine")
        other.create("a", "u", "theirs")
        store.append("a", "u", "mine", [{"role": "user", "content": "x"}])
        kept = _sqlite(store)._recent.kept[_rowid(path, "mine")]
        for i in range(3):
            other.append("a", "u", "theirs", [{"role": "user", "content": str(i)}])
            assert [e.content for e in store.get("a", "u", "mine").events] == ["x"]
            assert _sqlite(store)._recent.kept[_rowid(path, "mine")] is kept
        other.append("a", "u", "mine", [{"role": "assistant", "content": "y"}])  # past it
        assert [e.content for e in store.get("a", "u", "mine").events] == ["x", "y"]


def test_rows_of_a_session_an_earlier_sessiondb_made_are_not_kept(tmp_path: Path) -> None:
    """A process of an earlier SessionDB still running on an upgraded file
    makes sessions with incarnation 0: nothing tells its incarnations apart."""
    path = tmp_path / "s.db"
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        store.create("a", "u", "old")
        store.append("a", "u", "old", [{"role": "user", "content": "x"}])
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE sessions SET incarnation = 0")
        _sqlite(store)._recent.forget()
        assert [e.content for e in store.get("a", "u", "old").events] == ["x"]
        assert _rowid(path, "old") not in _sqlite(store)._recent.kept


def test_an_upgraded_file_gives_its_sessions_incarnations(tmp_path: Path) -> None:
    from sessiondb.backends.sqlite.schema import MIGRATIONS, migrate

    path = tmp_path / "v1.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.executemany(
            "INSERT INTO sessions (app, user_id, session_id, version, created_at, updated_at, "
            "metadata, base_state) VALUES ('a', 'u', ?, 0, 1.0, 1.0, '{}', '{}')",
            [("s1",), ("s2",)])
    with sessiondb.open_store(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as conn:
        found = [i for (i,) in conn.execute("SELECT incarnation FROM sessions")]
    assert len(found) == 2 and 0 not in found and found[0] != found[1]
