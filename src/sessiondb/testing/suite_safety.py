"""Concurrency control, idempotency, limits, atomicity and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import ConflictError, InvalidInputError, LimitExceededError, NotFoundError
from .fixtures import SuiteBase, say
from .threads import run_threads


def _snapshot(store: Any, app: str, user: str, sid: str) -> Any:
    return store.get(app, user, sid, last=store.limits.max_window)


class SafetySuite(SuiteBase):
    def test_expected_version(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        assert store.append(app, "u", sid, [say("user", "a")], expected_version=0) == 1
        before = _snapshot(store, app, "u", sid)
        with pytest.raises(ConflictError) as caught:
            store.append(app, "u", sid, [say("user", "b")], {"k": 1}, expected_version=0)
        assert (caught.value.expected, caught.value.actual) == (0, 1)
        with pytest.raises(ConflictError):
            store.update_state(app, "u", sid, {"k": 1}, expected_version=5)
        assert _snapshot(store, app, "u", sid) == before

    def test_two_writers_one_version_one_conflict(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        version = store.get(app, "u", sid).version
        outcomes = []
        for writer in ("w1", "w2"):
            try:
                outcomes.append(store.append(app, "u", sid, [say("user", writer)],
                                             expected_version=version))
            except ConflictError:
                outcomes.append("conflict")
        assert outcomes == [1, "conflict"]

    def test_idempotent_retry_stores_once(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        batch = [say("user", "pay"), say("assistant", "paid")]
        assert store.append(app, "u", sid, batch, {"paid": True}, idempotency_key="k1") == 2
        store.append(app, "u", sid, [say("user", "next")])
        assert store.append(app, "u", sid, batch, {"paid": True}, idempotency_key="k1") == 2
        got = store.get(app, "u", sid)
        assert got.version == 3 and [e.content for e in got.events] == ["pay", "paid", "next"]
        # a retry wins even when its expected version is stale by now
        assert store.append(app, "u", sid, batch, {"paid": True}, expected_version=0,
                            idempotency_key="k1") == 2
        with pytest.raises(ConflictError):
            store.append(app, "u", sid, [say("user", "other")], idempotency_key="k1")
        other = store.create(app, "u").id
        assert store.append(app, "u", other, batch, idempotency_key="k1") == 2

    def test_concurrent_writers_lose_nothing(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id

        def writer(name: int) -> None:
            for i in range(10):
                store.append(app, "u", sid, [say("user", f"{name}:{i}"),
                                             say("assistant", f"{name}:{i}")])

        run_threads(6, writer)
        events = store.events(app, "u", sid, limit=1000).items
        assert [e.seq for e in events] == list(range(1, 121))
        assert sorted(e.content for e in events[::2]) == sorted(
            f"{n}:{i}" for n in range(6) for i in range(10))
        assert all(a.content == b.content for a, b in zip(events[::2], events[1::2],
                                                          strict=True))

    def test_concurrent_expected_version_one_winner(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id

        def writer(name: int) -> Any:
            try:
                return store.append(app, "u", sid, [say("user", str(name))],
                                    expected_version=0)
            except ConflictError:
                return "conflict"

        results = run_threads(5, writer)
        assert sorted(results, key=str) == [1] + ["conflict"] * 4
        assert store.get(app, "u", sid).version == 1

    def test_limits_refuse_and_change_nothing(self, store: Any, app: str) -> None:
        limits = store.limits
        sid = store.create(app, "u", state={"k": 0}).id
        store.append(app, "u", sid, [say("user", "first")])
        before = _snapshot(store, app, "u", sid)
        cases = [
            ([say("user", "x" * (limits.max_event_bytes + 1))], None, "events[0]"),
            ([say("user", "ok"), say("user", "y" * (limits.max_event_bytes + 1))], None,
             "events[1]"),
            ([say("user", "n")] * (limits.max_events_per_append + 1), None, "events"),
            ([say("user", "ok")], {"big": "z" * (limits.max_state_value_bytes + 1)},
             "state_delta['big']"),
        ]
        for events, delta, field in cases:
            with pytest.raises(LimitExceededError) as caught:
                store.append(app, "u", sid, events, state_delta=delta)
            assert caught.value.field == field and caught.value.limit > 0
            assert str(caught.value.limit) in str(caught.value)
        assert _snapshot(store, app, "u", sid) == before

    def test_malformed_input_is_refused(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        before = _snapshot(store, app, "u", sid)
        bad_events = [
            [{"content": "no role"}],
            [{"role": "user", "kind": "nonsense"}],
            [{"role": "bad role!"}],
            [{"role": "user", "content": float("nan")}],
            [{"role": "user", "content": {1, 2}}],
            [{"role": "user", "data": ["not", "an", "object"]}],
            [{"role": "user", "surprise": 1}],
            [{"role": "user", "id": "bad id"}],
            [say("user", "ok"), "not an event"],
            "not a list",
        ]
        for events in bad_events:
            with pytest.raises(InvalidInputError):
                store.append(app, "u", sid, events)
        for delta in ({"": 1}, {"app:": 1}, {1: "x"}, ["k"], {"k": object()}):
            with pytest.raises(InvalidInputError):
                store.update_state(app, "u", sid, delta)
        assert _snapshot(store, app, "u", sid) == before

    def test_ids_are_checked(self, store: Any, app: str) -> None:
        for bad in ("", "has space", "slash/y", "x" * 129, "{brace}", 7, None):
            with pytest.raises((InvalidInputError, LimitExceededError)) as caught:
                store.create(app, "u", session_id=bad) if bad is not None else store.create(
                    app, bad)
            assert caught.value.field in ("session_id", "user_id")
        with pytest.raises(InvalidInputError):
            store.create(app, "u", metadata={"k": 1})
        with pytest.raises(InvalidInputError):
            store.sessions("bad app")

    def test_tenants_are_isolated(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice", state={"secret": "a"}).id
        for other_app, other_user in ((app, "mallory"), (app + "x", "alice")):
            with pytest.raises(NotFoundError):
                store.get(other_app, other_user, sid)
            with pytest.raises(NotFoundError):
                store.append(other_app, other_user, sid, [say("user", "inject")])
            with pytest.raises(NotFoundError):
                store.update_state(other_app, other_user, sid, {"secret": "m"})
            with pytest.raises(NotFoundError):
                store.events(other_app, other_user, sid)
            with pytest.raises(NotFoundError):
                store.fork(other_app, other_user, sid, at_seq=0)
            with pytest.raises(NotFoundError):
                store.touch(other_app, other_user, sid)
            assert store.delete(other_app, other_user, sid) is False
            assert store.delete_user(other_app, other_user) == 0
            assert store.sessions(other_app, other_user).items == ()
        assert store.get(app, "alice", sid).state == {"secret": "a"}
        assert store.get(app, "alice", sid).version == 0
