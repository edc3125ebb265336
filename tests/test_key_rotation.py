"""Key rotation: after ``keys rotate`` every stored value is sealed by the
primary key, so the old key can be retired; on every backend."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_urls import ALL_BACKENDS, store_urls
from redis_helpers import redis_cluster_servers

import sessiondb
from sessiondb import AuthError, ConfigurationError
from sessiondb.cli import main
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.crypto.rotation import rotate

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

OLD, NEW = f"old:{new_key()}", f"new:{new_key()}"


def fill(store: sessiondb.SessionStore) -> tuple[str, str]:
    sid = store.create("shop", "alice", state={"cart": ["tea"], "user:name": "Alice",
                                               "app:motd": "hi"},
                       metadata={"plan": "pro"}).id
    store.append("shop", "alice", sid,
                 [{"role": "user", "content": "one"},
                  {"role": "tool", "kind": "tool_result", "content": {"n": 1},
                   "data": {"x": 1}, "state_delta": {"step": 1}}],
                 state_delta={"cart": ["tea", "cake"], "user:name": "Al"})
    fork = store.fork("shop", "alice", sid, at_seq=1).id
    return sid, fork


def snapshot(store: sessiondb.SessionStore, ids: tuple[str, str]) -> list[object]:
    return [(s.state, s.metadata, s.events, s.version)
            for s in (store.get("shop", "alice", i) for i in ids)] + [
        [x.id for x in store.sessions("shop", metadata={"plan": "pro"})]]


@pytest.fixture(params=ALL_BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_urls(request.param, tmp_path, request) as make:
        yield make()

def test_rotation_moves_everything_to_the_primary_key(url: str) -> None:
    before = sessiondb.open_store(url, keys=OLD)
    ids = fill(before)
    expected = snapshot(before, ids)
    store = sessiondb.open_store(url, keys=f"{NEW},{OLD}") if url != "memory://" else before
    if url == "memory://":  # one process: swap the ring on the same backend
        from sessiondb.crypto.encryption import Encryption

        store._backend.encryption = Encryption(KeyRing.from_string(f"{NEW},{OLD}"))
    done = rotate(store)
    assert (done.sessions, done.shared_scopes) == (2, 2)
    assert snapshot(store, ids) == expected
    exported = json.dumps(list(store.export()))
    assert "sdb1.old." not in exported and "sdb1d.old." not in exported
    assert "sdb1.new." in exported
    if url != "memory://":
        with sessiondb.open_store(url, keys=NEW) as retired:
            assert snapshot(retired, ids) == expected
        with sessiondb.open_store(url, keys=OLD) as old_only, pytest.raises(AuthError):
            old_only.get("shop", "alice", ids[0])
    again = rotate(store)  # resumable: a second run finds nothing to do
    assert again.shared_keys_resealed == 0
    store.close()
    before.close()


def test_rotation_needs_an_encrypting_store() -> None:
    with pytest.raises(ConfigurationError, match="encrypting store"):
        rotate(sessiondb.open_store("memory://"))


def test_the_cli_makes_keys_and_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    assert main(["keys", "new", "--id", "k7"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("k7:") and KeyRing.from_string(line).ids == ("k7",)
    monkeypatch.setenv("SESSIONDB_KEYS", OLD)
    ids = fill(sessiondb.open_store(db))
    monkeypatch.setenv("SESSIONDB_KEYS", f"{NEW},{OLD}")
    assert main(["--db", db, "--json", "keys", "rotate"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"primary_key": "new", "sessions": 2, "shared_scopes": 2,
                      "shared_keys_resealed": 2, "user_keys_rewrapped": 0}
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        text = " ".join(str(r) for t in ("sessions", "events", "session_state", "user_state",
                                          "app_state") for r in conn.execute(f"SELECT * FROM {t}"))
    assert ".old." not in text
    monkeypatch.setenv("SESSIONDB_KEYS", NEW)
    assert sessiondb.open_store(db).get("shop", "alice", ids[1]).state == {
        "cart": ["tea"], "user:name": "Al", "app:motd": "hi"}


