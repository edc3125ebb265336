"""The backend operations that rewrite stored texts in place (``bundle``,
``replace_session``, ``replace_shared``), on every backend, sync and async:
what encryption at rest uses to re-seal values."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_urls import ALL_BACKENDS, store_urls
from redis_helpers import redis_cluster_servers

from sessiondb import AsyncSessionStore, SessionStore
from sessiondb._core.jsonvalue import decode, encode
from sessiondb._core.records import ScopeState, SessionBundle
from sessiondb._core.requests import Key
from sessiondb.backends import open_async_backend, open_backend
from sessiondb.clock import FrozenClock
from sessiondb.errors import InvalidInputError

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

APP, USER = "app", "alice"


class Blocking:
    """The sync face of an async object, its coroutines run on one loop."""

    def __init__(self, target: Any, run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._target = target
        self._run = run

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._target, name)
        return lambda *args, **kwargs: self._run(method(*args, **kwargs))


class Rig:
    """A backend and a store over it, both callable synchronously. Async
    ones share one event loop (their connections belong to it), on a thread
    that any number of test threads may call into."""

    def __init__(self, url: str, mode: str, clock: FrozenClock) -> None:
        self.mode = mode
        if mode == "sync":
            self.raw = open_backend(url)
            self.backend: Any = self.raw
            self.store: Any = SessionStore(self.raw, clock=clock)
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.raw = open_async_backend(url)
        self.backend = Blocking(self.raw, self._run)
        self.store = Blocking(AsyncSessionStore(self.raw, clock=clock), self._run)

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def dump(self, app: str) -> list[dict]:
        if self.mode == "sync":
            return list(self.raw.dump(app))

        async def collect() -> list[dict]:
            return [record async for record in self.raw.dump(app)]

        return self._run(collect())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.store.close()
        if self.mode == "async":
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


@pytest.fixture(params=ALL_BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_urls(request.param, tmp_path, request) as make:
        yield make()

@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(params=["sync", "async"])
def rig(request: pytest.FixtureRequest, url: str, clock: FrozenClock) -> Iterator[Rig]:
    made = Rig(url, request.param, clock)
    yield made
    made.close()


def _seeded(rig: Rig) -> Key:
    """A session with state in all three scopes, metadata, an idle expiry
    and three events: text content, JSON content with data, and a delta."""
    session = rig.store.create(APP, USER, state={"a": 1, "b": "two", "user:u": 1, "app:p": 1},
                               metadata={"tag": "x"}, idle_ttl=3600)
    rig.store.append(APP, USER, session.id, [
        {"role": "user", "content": "hello, world]"},
        {"role": "tool", "kind": "tool_result", "content": {"ok": [1, 2]}, "data": {"d": 1}},
    ], state_delta={"a": 2}, idempotency_key="first")
    rig.store.update_state(APP, USER, session.id, {"b": None, "c": [3]})
    return Key(APP, USER, session.id)


def _dumped(records: list[dict], session_id: str) -> list[dict]:
    """The records of one session in an export: its session record and the
    event and idempotency records after it."""
    found: list[dict] = []
    for record in records:
        if record["type"] == "session":
            if found:
                break
            if record["id"] == session_id:
                found.append(record)
        elif found and record["type"] in ("event", "idempotency"):
            found.append(record)
    return found


def _rows(bundle: SessionBundle) -> list[tuple]:
    return [tuple(row) for row in bundle.events]


# -- bundle ------------------------------------------------------------------
def test_bundle_gives_what_dump_gives(rig: Rig, clock: FrozenClock) -> None:
    key = _seeded(rig)
    bundle = rig.backend.bundle(key)
    assert bundle is not None
    assert (bundle.app, bundle.user_id, bundle.id, bundle.version) == (APP, USER,
                                                                      key.session_id, 3)
    assert list(bundle.records()) == _dumped(rig.dump(APP), key.session_id)
    assert [row[0] for row in bundle.events] == [1, 2, 3]
    assert set(bundle.idempotency) == {"first"}

    clock.advance(7200)  # expired: still stored, still bundled
    expired = rig.backend.bundle(key)
    assert expired is not None and list(expired.records()) == list(bundle.records())


def test_bundle_of_a_missing_session_is_none(rig: Rig) -> None:
    key = _seeded(rig)
    assert rig.backend.bundle(Key(APP, USER, "nobody")) is None
    assert rig.store.delete(APP, USER, key.session_id)
    assert rig.backend.bundle(key) is None


# -- replace_session ---------------------------------------------------------
def _rewritten(old: SessionBundle) -> SessionBundle:
    """``old`` with every text changed, as a re-seal would; keys, ids,
    roles, kinds and times given as they were."""
    new = old.copy()
    new.metadata = {"tag": '"sealed, x"'}
    new.base_state = {"a": '"sdb1.k2.base-a"', "b": '"sdb1.k2.base-b"'}
    new.state = {"a": '"sdb1.k2.a"', "c": '{"sealed":[3]}', "d": "4"}
    first, second, third = old.events
    new.events = [
        (*first[:4], "sdb1.k2.AbC,]x", 0, None, '{"a":"sdb1.k2.delta-a"}', first[8]),
        (*second[:4], '{"sealed":"content"}', 1, '{"sealed":"data"}', None, second[8]),
        (*third[:4], "sdb1.k2.state-change", 0, None, '{"b":null,"c":"sdb1.k2.c"}', third[8]),
    ]
    return new


def test_replace_session_rewrites_the_texts_only(rig: Rig, clock: FrozenClock) -> None:
    key = _seeded(rig)
    before = rig.store.get(APP, USER, key.session_id)
    old = rig.backend.bundle(key)
    new = _rewritten(old)
    clock.advance(10)
    assert rig.backend.replace_session(old.version, new) is True

    after = rig.store.get(APP, USER, key.session_id)
    assert after.state == {"a": "sdb1.k2.a", "c": {"sealed": [3]}, "d": 4, "user:u": 1,
                           "app:p": 1}
    assert after.metadata == {"tag": '"sealed, x"'}
    assert [(e.content, e.data, e.state_delta) for e in after.events] == [
        ("sdb1.k2.AbC,]x", None, {"a": "sdb1.k2.delta-a"}),
        ({"sealed": "content"}, {"sealed": "data"}, None),
        ("sdb1.k2.state-change", None, {"b": None, "c": "sdb1.k2.c"}),
    ]
    assert [(e.seq, e.id, e.role, e.kind, e.created_at) for e in after.events] == [
        (e.seq, e.id, e.role, e.kind, e.created_at) for e in before.events]
    assert (after.version, after.created_at, after.updated_at, after.expires_at) == (
        before.version, before.created_at, before.updated_at, before.expires_at)
    assert [e.content for e in rig.store.events(APP, USER, key.session_id, after_seq=1)
            .items] == [{"sealed": "content"}, "sdb1.k2.state-change"]

    stored = rig.backend.bundle(key)
    assert stored.base_state == new.base_state and stored.state == new.state
    assert _rows(stored) == _rows(new)
    assert stored.idempotency == old.idempotency
    # A fork replays the stored base state and deltas: the new ones.
    fork = rig.store.fork(APP, USER, key.session_id, at_seq=1)
    assert fork.state == {"a": "sdb1.k2.delta-a", "b": "sdb1.k2.base-b", "user:u": 1,
                          "app:p": 1}
    # An idempotent retry still finds its first append.
    assert rig.store.append(APP, USER, key.session_id, [
        {"role": "user", "content": "hello, world]"},
        {"role": "tool", "kind": "tool_result", "content": {"ok": [1, 2]}, "data": {"d": 1}},
    ], state_delta={"a": 2}, idempotency_key="first") == 2


def test_replace_session_keeps_ids_roles_kinds_and_times(rig: Rig) -> None:
    """Only texts are replaced, whatever else the bundle's rows say."""
    key = _seeded(rig)
    old = rig.backend.bundle(key)
    row = old.events[0]
    changed = old.copy()
    changed.events = [(row[0], "other-id", "other", "custom", "new text", 0, None, None,
                       row[8] + 99)]
    assert rig.backend.replace_session(old.version, changed)
    first = rig.store.get(APP, USER, key.session_id).events[0]
    assert (first.id, first.role, first.kind, first.created_at) == (*row[1:4], row[8])
    assert (first.content, first.state_delta) == ("new text", None)
    stored = rig.backend.bundle(key)
    assert _rows(stored)[1:] == _rows(old)[1:]  # events it did not name are as they were


def test_replace_session_refuses_a_session_that_moved_on(rig: Rig) -> None:
    key = _seeded(rig)
    old = rig.backend.bundle(key)
    rig.store.append(APP, USER, key.session_id, [{"role": "user", "content": "later"}],
                     state_delta={"a": 5})
    moved = rig.backend.bundle(key)
    assert rig.backend.replace_session(old.version, _rewritten(old)) is False
    assert list(rig.backend.bundle(key).records()) == list(moved.records())
    assert rig.store.get(APP, USER, key.session_id).state["a"] == 5


def test_replace_session_refuses_a_session_that_is_gone(rig: Rig) -> None:
    key = _seeded(rig)
    old = rig.backend.bundle(key)
    assert rig.store.delete(APP, USER, key.session_id)
    assert rig.backend.replace_session(old.version, _rewritten(old)) is False
    assert rig.backend.bundle(key) is None
    ghost = _rewritten(old)
    ghost.id = "never-created"
    assert rig.backend.replace_session(old.version, ghost) is False


@pytest.mark.parametrize("spoil", ["seq", "state", "data", "content", "version"])
def test_replace_session_refuses_bad_input_and_writes_nothing(rig: Rig, spoil: str) -> None:
    key = _seeded(rig)
    old = rig.backend.bundle(key)
    new = _rewritten(old)
    version = old.version
    row = new.events[0]
    if spoil == "seq":
        new.events = [(old.version + 1, *row[1:])]
    elif spoil == "state":
        new.state = {"a": "not json"}
    elif spoil == "data":
        new.events = [(*row[:6], "[1]", *row[7:])]  # data must be an object
    elif spoil == "content":
        new.events = [(*row[:4], "{unclosed", 1, *row[6:])]
    else:
        version = -1
    with pytest.raises(InvalidInputError):
        rig.backend.replace_session(version, new)
    assert list(rig.backend.bundle(key).records()) == list(old.records())


def test_replace_session_is_atomic_against_appends(rig: Rig) -> None:
    """A writer appends while a re-sealer rewrites every text: no append is
    lost or rewritten half, and the state always matches the last delta
    (a replacement that slipped in after an append would undo it)."""
    key = _seeded(rig)
    rig.store.update_state(APP, USER, key.session_id, {"n": 0})
    appends = 25
    done = threading.Event()
    replaced = 0

    def bump(text: str) -> str:
        return encode(decode(text) + 1000, "n")

    def reseal() -> None:
        nonlocal replaced
        last = False
        while not last:  # once more after the writer is done: that one succeeds
            last = done.is_set()
            old = rig.backend.bundle(key)
            new = old.copy()
            new.state = {k: bump(v) if k == "n" else v for k, v in old.state.items()}
            new.events = []
            for row in old.events:
                delta = decode(row[7]) if row[7] else None
                if delta and "n" in delta:
                    delta["n"] += 1000
                content = row[4] + "+" if not row[5] else row[4]
                new.events.append((*row[:4], content, row[5], row[6],
                                   encode(delta, "d") if delta else row[7], row[8]))
            replaced += rig.backend.replace_session(old.version, new)

    resealer = threading.Thread(target=reseal)
    resealer.start()
    try:
        for i in range(1, appends + 1):
            rig.store.append(APP, USER, key.session_id, [{"role": "user", "content": f"m{i}"}],
                             state_delta={"n": i})
    finally:
        done.set()
        resealer.join()
    session = rig.store.get(APP, USER, key.session_id, last=1000)
    assert session.version == 4 + appends
    assert [e.seq for e in session.events] == list(range(1, session.version + 1))
    assert [e.content.rstrip("+") for e in session.events[4:]] == [
        f"m{i}" for i in range(1, appends + 1)]
    assert session.state["n"] == session.events[-1].state_delta["n"]
    assert session.state["n"] % 1000 == appends
    assert replaced > 0


# -- replace_shared ----------------------------------------------------------
@pytest.mark.parametrize("scope", ["user", "app"])
def test_replace_shared_sets_each_key_only_if_unchanged(rig: Rig, scope: str) -> None:
    prefix, user_id = ("user:", USER) if scope == "user" else ("app:", None)
    session = rig.store.create(APP, USER, state={f"{prefix}a": 1, f"{prefix}b": 2,
                                                 f"{prefix}c": 3})
    old = ScopeState(APP, user_id, {"a": "1", "b": "2", "c": "3", "gone": "0"})
    # Meanwhile another writer changes b and deletes c.
    rig.store.update_state(APP, USER, session.id, {f"{prefix}b": 20, f"{prefix}c": None})
    new = ScopeState(APP, user_id, {"a": '"sealed-a"', "b": '"sealed-b"', "c": '"sealed-c"',
                                    "gone": '"sealed-gone"', "unknown": '"x"'})
    assert rig.backend.replace_shared(old, new) == 1
    state = rig.store.get(APP, USER, session.id).state
    assert {k: v for k, v in state.items() if k.startswith(prefix)} == {
        f"{prefix}a": "sealed-a", f"{prefix}b": 20}
    # The same swap again: a is no longer what old says.
    assert rig.backend.replace_shared(old, new) == 0


def test_replace_shared_touches_one_scope_only(rig: Rig) -> None:
    session = rig.store.create(APP, USER, state={"user:k": 1, "app:k": 1, "k": 1})
    other = rig.store.create(APP, "bob", state={"user:k": 1})
    assert rig.backend.replace_shared(ScopeState(APP, USER, {"k": "1"}),
                                      ScopeState(APP, USER, {"k": "2"})) == 1
    assert rig.store.get(APP, USER, session.id).state == {"user:k": 2, "app:k": 1, "k": 1}
    assert rig.store.get(APP, "bob", other.id).state == {"user:k": 1, "app:k": 1}
    assert rig.backend.replace_shared(ScopeState(APP, "nobody", {"k": "1"}),
                                      ScopeState(APP, "nobody", {"k": "2"})) == 0


def test_replace_shared_refuses_bad_input(rig: Rig) -> None:
    rig.store.create(APP, USER, state={"user:k": 1})
    with pytest.raises(InvalidInputError):
        rig.backend.replace_shared(ScopeState(APP, USER, {"k": "1"}),
                                   ScopeState(APP, None, {"k": "2"}))
    with pytest.raises(InvalidInputError):
        rig.backend.replace_shared(ScopeState(APP, USER, {"k": "1"}),
                                   ScopeState(APP, USER, {"k": "not json"}))
    assert rig.backend.replace_shared(ScopeState(APP, USER, {"k": "1"}),
                                      ScopeState(APP, USER, {"k": "1"})) == 1
