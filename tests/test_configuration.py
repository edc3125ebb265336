"""Opening stores: URLs, defaults, options, and failures of the file itself."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import sessiondb
from sessiondb.backends import default_path, default_url
from sessiondb.backends.sqlite import SQLiteOptions


def test_default_url_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.delenv("SESSIONDB_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == str(tmp_path / "xdg" / "sessiondb" / "sessions.db")
    with sessiondb.open_store() as store:
        store.create("app", "u", "s")
    assert os.path.exists(default_path())
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_url() == f"sqlite:///{tmp_path}/home/.local/share/sessiondb/sessions.db"
    monkeypatch.setenv("SESSIONDB_URL", "memory://")
    with sessiondb.open_store() as store:
        assert store.url == "memory://"


@pytest.mark.parametrize("url, words", [
    ("mysql://x", "unknown store URL"),
    ("sqlite://host/x.db", "not a SQLite URL"),
    ("sqlite:///", "names no file"),
    ("sqlite:///x.db?journal=off", "unknown SQLite option"),
    ("sqlite:///x.db?synchronous=off", "synchronous must be normal or full"),
    ("sqlite:///x.db?busy_timeout=soon", "busy_timeout must be"),
    ("sqlite:///x.db?busy_timeout=-1", "busy_timeout must be"),
])
def test_bad_urls_are_configuration_errors(url: str, words: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for opener in (sessiondb.open_store, sessiondb.open_async_store):
        with pytest.raises(sessiondb.ConfigurationError, match=words):
            opener(url)


def test_url_must_be_a_string() -> None:
    with pytest.raises(sessiondb.ConfigurationError, match="must be a string"):
        sessiondb.open_store(b"memory://")  # type: ignore[arg-type]


def test_sqlite_options(tmp_path: Path) -> None:
    options = SQLiteOptions.from_url(f"sqlite:///{tmp_path}/a.db?synchronous=FULL&busy_timeout=2")
    assert (options.synchronous, options.busy_timeout) == ("full", 2.0)
    assert SQLiteOptions.from_url("sqlite:///rel/b.db").path == "rel/b.db"
    with sessiondb.open_store(f"sqlite:///{tmp_path}/a.db?synchronous=full") as store:
        assert store.append("a", "u", store.create("a", "u").id, [{"role": "user"}]) == 1
        mode = sqlite3.connect(tmp_path / "a.db").execute("PRAGMA journal_mode").fetchone()
        assert mode == ("wal",)


def test_in_memory_sqlite(tmp_path: Path) -> None:
    with sessiondb.open_store("sqlite:///:memory:") as store:
        sid = store.create("a", "u").id
        assert store.append("a", "u", sid, [{"role": "user", "content": "x"}]) == 1
    assert not (tmp_path / ":memory:").exists()


def test_directory_is_created_or_refused(tmp_path: Path) -> None:
    with sessiondb.open_store(f"sqlite:///{tmp_path}/deep/er/s.db") as store:
        store.create("a", "u")
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(sessiondb.ConfigurationError, match="cannot create the directory"):
        sessiondb.open_store(f"sqlite:///{tmp_path}/file/s.db")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is certainly not a SQLite database" * 200)
    with pytest.raises(sessiondb.BackendError) as caught:
        sessiondb.open_store(f"sqlite:///{path}")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = sessiondb.open_store(f"sqlite:///{tmp_path}/c.db")
    sid = store.create("a", "u").id
    store.close()
    store.close()
    with pytest.raises(sessiondb.BackendError, match="closed"):
        store.get("a", "u", sid)


def test_repr_names_the_url() -> None:
    assert repr(sessiondb.open_store("memory://")) == "<SessionStore memory://>"


def test_event_ids_differ_in_a_forked_child(tmp_path: Path) -> None:
    from sessiondb._core.ids import new_event_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id and leave at once
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    os.close(read)
    assert child_id and child_id != new_event_id()


async def _use_after_close(url: str) -> None:
    store = sessiondb.open_async_store(url)
    sid = (await store.create("a", "u")).id
    await store.close()
    await store.close()
    with pytest.raises(sessiondb.BackendError, match="closed"):
        await store.get("a", "u", sid)
    with pytest.raises(sessiondb.BackendError, match="closed"):
        await store.purge_expired()


def test_async_store_close_is_idempotent(tmp_path: Path) -> None:
    import asyncio

    asyncio.run(_use_after_close(f"sqlite:///{tmp_path}/a.db"))
    asyncio.run(_use_after_close(f"sqlite:///{tmp_path}/b.db?synchronous=full"))
