"""Expiry, forking, deletion, export and import."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ..errors import ConflictError, ExpiredError, InvalidInputError, NotFoundError
from .fixtures import SuiteBase, say


class LifecycleSuite(SuiteBase):
    def test_idle_expiry_slides_on_write(self, store: Any, app: str, clock: Any) -> None:
        sid = store.create(app, "u", idle_ttl=60).id
        assert store.get(app, "u", sid).expires_at == clock.now() + 60
        clock.advance(50)
        store.append(app, "u", sid, [say("user", "still here")])
        clock.advance(50)
        assert store.get(app, "u", sid).version == 1
        clock.advance(11)
        with pytest.raises(ExpiredError):
            store.get(app, "u", sid)
        with pytest.raises(ExpiredError):
            store.append(app, "u", sid, [say("user", "late")])
        with pytest.raises(ExpiredError):
            store.events(app, "u", sid)

    def test_touch_slides_without_a_write(self, store: Any, app: str, clock: Any) -> None:
        sid = store.create(app, "u", idle_ttl=timedelta(minutes=1)).id
        clock.advance(59)
        assert store.touch(app, "u", sid) == clock.now() + 60
        clock.advance(59)
        assert store.get(app, "u", sid).version == 0
        clock.advance(2)
        with pytest.raises(ExpiredError):
            store.touch(app, "u", sid)

    def test_absolute_lifetime_caps_activity(self, store: Any, app: str, clock: Any) -> None:
        start = clock.now()
        sid = store.create(app, "u", idle_ttl=60, max_lifetime=100).id
        for _ in range(3):
            clock.advance(30)
            store.append(app, "u", sid, [say("user", "busy")])
        assert store.get(app, "u", sid).expires_at == start + 100
        clock.advance(11)
        with pytest.raises(ExpiredError):
            store.get(app, "u", sid)

    def test_durations_keep_their_days(self, store: Any, app: str, clock: Any) -> None:
        sid = store.create(app, "u", idle_ttl=timedelta(days=2, seconds=5)).id
        assert store.get(app, "u", sid).expires_at == clock.now() + 2 * 86400 + 5

    def test_bad_durations(self, store: Any, app: str) -> None:
        for bad in (0, -5, "60", float("nan")):
            with pytest.raises(InvalidInputError):
                store.create(app, "u", idle_ttl=bad)

    def test_purge_expired(self, store: Any, app: str, clock: Any) -> None:
        doomed = [store.create(app, "u", idle_ttl=10).id for _ in range(5)]
        kept = store.create(app, "u", idle_ttl=1000).id
        forever = store.create(app, "u").id
        clock.advance(11)
        assert store.purge_expired(limit=3) == 3
        assert store.purge_expired(limit=100) == 2
        assert store.purge_expired() == 0
        for sid in doomed:
            with pytest.raises(NotFoundError):
                store.get(app, "u", sid)
        assert store.get(app, "u", kept) and store.get(app, "u", forever)

    def test_fork_keeps_history_and_state_up_to_a_point(self, store: Any, app: str) -> None:
        sid = store.create(app, "u", state={"step": 0, "app:shared": 1}).id
        for step in range(1, 5):
            store.append(app, "u", sid, [say("user", f"s{step}")],
                         state_delta={"step": step, f"k{step}": True})
        store.update_state(app, "u", sid, {"k1": None})
        fork = store.fork(app, "u", sid, at_seq=2, new_session_id="what-if")
        assert fork.id == "what-if" and fork.version == 2
        assert fork.state == {"step": 2, "k1": True, "k2": True, "app:shared": 1}
        got = store.get(app, "u", "what-if")
        assert [e.content for e in got.events] == ["s1", "s2"]
        store.append(app, "u", "what-if", [say("user", "other path")], state_delta={"x": 1})
        assert store.get(app, "u", sid).version == 5 and "x" not in store.get(app, "u", sid).state
        assert store.fork(app, "u", sid, at_seq=0).state == {"step": 0, "app:shared": 1}

    def test_fork_checks(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        store.append(app, "u", sid, [say("user", "a")])
        with pytest.raises(InvalidInputError):
            store.fork(app, "u", sid, at_seq=2)
        store.fork(app, "u", sid, at_seq=1, new_session_id="f")
        with pytest.raises(ConflictError):
            store.fork(app, "u", sid, at_seq=1, new_session_id="f")
        with pytest.raises(NotFoundError):
            store.fork(app, "u", "missing", at_seq=0)

    def test_delete(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        keep = store.create(app, "u").id
        store.append(app, "u", sid, [say("user", "a")], state_delta={"k": 1})
        assert store.delete(app, "u", sid) is True
        assert store.delete(app, "u", sid) is False
        with pytest.raises(NotFoundError):
            store.get(app, "u", sid)
        with pytest.raises(NotFoundError):
            store.append(app, "u", sid, [say("user", "late")])
        store.create(app, "u", session_id=sid)
        assert store.get(app, "u", sid).state == {} and store.get(app, "u", sid).version == 0
        assert store.get(app, "u", keep).version == 0

    def test_delete_user(self, store: Any, app: str) -> None:
        mine = [store.create(app, "alice", state={"user:name": "Al", "app:v": 1}).id
                for _ in range(3)]
        bob = store.create(app, "bob", state={"user:name": "Bob"}).id
        assert store.delete_user(app, "alice") == 3
        for sid in mine:
            with pytest.raises(NotFoundError):
                store.get(app, "alice", sid)
        assert store.get(app, "bob", bob).state == {"user:name": "Bob", "app:v": 1}
        assert store.create(app, "alice").state == {"app:v": 1}

    def test_export_import_round_trip(self, store: Any, new_store: Any, app: str,
                                      clock: Any) -> None:
        sid = store.create(app, "u", state={"a": 1, "user:p": [1], "app:q": {"r": None}},
                           idle_ttl=3600, metadata={"m": "v"}).id
        store.append(app, "u", sid, [say("user", "hi"),
                                     {"role": "tool", "kind": "tool_result",
                                      "content": {"x": 1.5}, "data": {"id": "t"}}],
                     state_delta={"a": 2}, idempotency_key="once")
        store.fork(app, "u", sid, at_seq=1)
        exported = list(store.export(app))
        target = new_store()
        assert target.import_records(exported) == 2
        assert list(target.export(app)) == exported
        assert target.get(app, "u", sid) == store.get(app, "u", sid)
        assert target.append(app, "u", sid, [say("user", "hi"),
                                             {"role": "tool", "kind": "tool_result",
                                              "content": {"x": 1.5}, "data": {"id": "t"}}],
                             state_delta={"a": 2}, idempotency_key="once") == 2
        with pytest.raises(ConflictError):
            target.import_records(exported)

    def test_import_rejects_broken_records(self, store: Any, app: str) -> None:
        record = {"type": "session", "app": app, "user_id": "u", "id": "s", "version": 1,
                  "created_at": 1.0, "updated_at": 1.0, "metadata": {}, "state": {}}
        with pytest.raises(InvalidInputError):
            store.import_records([record])  # version 1 but no event
        with pytest.raises(InvalidInputError):
            store.import_records([{"type": "event", "seq": 1}])
        with pytest.raises(InvalidInputError):
            store.import_records([{"type": "bogus"}])
        with pytest.raises(NotFoundError):
            store.get(app, "u", "s")
