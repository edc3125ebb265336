"""Tenant isolation: no operation reaches another app's or user's data,
whatever ids are passed — on every backend, with and without encryption.

Three tenants hold a session with the *same* session id; every operation is
run as one of them, and the other two must be exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_urls import ALL_BACKENDS, store_urls
from redis_helpers import redis_cluster_servers

import sessiondb
from sessiondb import NotFoundError
from sessiondb.crypto.keyring import new_key

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

TENANTS = [("shop", "alice"), ("shop", "bob"), ("bank", "alice")]
SID = "same-id"
KEYS = f"k1:{new_key()}"


@pytest.fixture(params=ALL_BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_urls(request.param, tmp_path, request) as make:
        yield make()

def picture(store: sessiondb.SessionStore, app: str, user: str) -> object:
    s = store.get(app, user, SID)
    return (s.state, s.metadata, s.events, s.version,
            [x.id for x in store.sessions(app, user)],
            [e.content for e in store.events(app, user, SID).items])


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_no_operation_crosses_tenants(url: str, encrypted: bool) -> None:
    store = sessiondb.open_store(url, keys=KEYS if encrypted else None)
    for app, user in TENANTS:
        store.create(app, user, SID, state={"owner": f"{app}/{user}",
                                            "user:card": f"{user}@{app}",
                                            "app:motd": app},
                     metadata={"tenant": f"{app}.{user}"})
        store.append(app, user, SID, [{"role": "user", "content": f"secret of {app}/{user}"}])
    other = "mallory"
    store.create("shop", other, "own")
    before = {t: picture(store, *t) for t in TENANTS}

    # Everything mallory can do with the shared session id, in app "shop".
    with pytest.raises(NotFoundError):
        store.get("shop", other, SID)
    with pytest.raises(NotFoundError):
        store.append("shop", other, SID, [{"role": "user", "content": "x"}])
    with pytest.raises(NotFoundError):
        store.update_state("shop", other, SID, {"owner": "mallory", "user:card": "x"})
    with pytest.raises(NotFoundError):
        store.events("shop", other, SID)
    with pytest.raises(NotFoundError):
        store.fork("shop", other, SID, at_seq=1)
    with pytest.raises(NotFoundError):
        store.touch("shop", other, SID)
    assert store.delete("shop", other, SID) is False
    assert [s.id for s in store.sessions("shop", other)] == ["own"]
    assert store.sessions("shop", other, metadata={"tenant": "shop.alice"}).items == ()
    assert store.delete_user("shop", other) == 1
    # A tenant's own writes touch only its own scopes.
    store.update_state("shop", "bob", SID, {"owner": "bob!", "user:card": "bob2"})
    assert [(s.app, s.user_id) for s in store.sessions("shop")] == TENANTS[:2]
    assert [s.user_id for s in store.sessions("bank")] == ["alice"]
    assert list(store.export("bank")) and all(
        r.get("app", "bank") == "bank" for r in store.export("bank"))

    after = {t: picture(store, *t) for t in TENANTS}
    assert after[("shop", "alice")] == before[("shop", "alice")]
    assert after[("bank", "alice")] == before[("bank", "alice")]
    assert after[("shop", "bob")][0] == {"owner": "bob!", "user:card": "bob2",
                                         "app:motd": "shop"}
    store.delete_user("shop", "bob")
    assert picture(store, "shop", "alice") == before[("shop", "alice")]
    assert picture(store, "bank", "alice") == before[("bank", "alice")]
