"""Crypto-shredding: with per-user data keys, deleting a user destroys their
key, so every copy of their data left anywhere — here a backup taken before
the deletion and restored afterwards — can no longer be read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_urls import store_urls

import sessiondb
from sessiondb import AuthError, ConfigurationError
from sessiondb.crypto.keyring import new_key
from sessiondb.crypto.rotation import rotate

RING = f"k1:{new_key()}"


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Three stores on one engine: data, restored data, and the key store."""
    with store_urls(request.param, tmp_path, request) as make:
        yield [make() for _ in range(3)]

def fill(store: sessiondb.SessionStore, user: str) -> str:
    sid = store.create("shop", user, state={"card": f"{user}-card", "user:email": f"{user}@x",
                                            "app:motd": "hello"}).id
    store.append("shop", user, sid, [{"role": "user", "content": f"I am {user}"}],
                 state_delta={"step": 1})
    return sid


def test_deleting_a_user_makes_their_backed_up_data_unreadable(urls: list[str]) -> None:
    data, restored_url, keys = urls
    store = sessiondb.open_store(data, keys=RING, user_keys=keys)
    alice, bob = fill(store, "alice"), fill(store, "bob")
    store.update_shared_state("shop", {"pin": "1234"}, user_id="carol")  # no session
    backup = list(store.export("shop"))
    assert store.get("shop", "alice", alice).state["card"] == "alice-card"

    assert store.delete_user("shop", "alice") == 1
    assert store.delete_user("shop", "carol") == 0
    restored = sessiondb.open_store(restored_url, keys=RING, user_keys=keys)
    assert restored.import_records(backup) == 2
    with pytest.raises(AuthError, match="user was deleted"):
        restored.get("shop", "alice", alice)
    with pytest.raises(AuthError, match="user was deleted"):
        restored.events("shop", "alice", alice)
    with pytest.raises(AuthError, match="user was deleted"):
        restored.shared_state("shop", "carol")
    got = restored.get("shop", "bob", bob)
    assert got.state == {"card": "bob-card", "user:email": "bob@x", "app:motd": "hello",
                         "step": 1}
    assert got.events[0].content == "I am bob"
    # A new account under the same name gets a new key, and reads its own data.
    again = fill(restored, "alice")
    assert restored.get("shop", "alice", again).state["card"] == "alice-card"


def test_user_keys_live_in_the_same_store_by_default(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/one.db"
    store = sessiondb.open_store(db, keys=RING, user_keys=True)
    sid = fill(store, "alice")
    reopened = sessiondb.open_store(db, keys=RING, user_keys=True)
    assert reopened.get("shop", "alice", sid).events[0].content == "I am alice"
    with pytest.raises(AuthError, match="without user_keys"):
        sessiondb.open_store(db, keys=RING).get("shop", "alice", sid)
    # Rotation re-wraps the user keys instead of re-sealing their data.
    rotated = sessiondb.open_store(db, keys=f"k2:{new_key()},{RING}", user_keys=True)
    done = rotate(rotated)
    assert done.user_keys_rewrapped == 1
    assert rotated.get("shop", "alice", sid).state["card"] == "alice-card"


def test_user_keys_need_a_key_ring() -> None:
    with pytest.raises(ConfigurationError, match="key ring"):
        sessiondb.open_store("memory://", user_keys=True)
