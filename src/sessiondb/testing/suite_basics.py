"""Creating sessions, appending events, and the scoped state."""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..models import Event
from .fixtures import SuiteBase, say


class BasicsSuite(SuiteBase):
    def test_create_then_get(self, store: Any, app: str, clock: Any) -> None:
        made = store.create(app, "alice", state={"cart": ["tea"]}, metadata={"channel": "web"})
        assert len(made.id) >= 22 and made.version == 0
        assert made.state == {"cart": ["tea"]}
        assert made.created_at == made.updated_at == clock.now()
        got = store.get(app, "alice", made.id)
        assert (got.id, got.app, got.user_id, got.version) == (made.id, app, "alice", 0)
        assert got.state == {"cart": ["tea"]} and got.metadata == {"channel": "web"}
        assert got.events == () and got.expires_at is None

    def test_generated_ids_are_unique(self, store: Any, app: str) -> None:
        ids = {store.create(app, "u").id for _ in range(50)}
        assert len(ids) == 50

    def test_create_with_taken_id_conflicts(self, store: Any, app: str) -> None:
        store.create(app, "alice", session_id="s1", state={"a": 1})
        with pytest.raises(ConflictError):
            store.create(app, "alice", session_id="s1", state={"a": 2})
        assert store.get(app, "alice", "s1").state == {"a": 1}

    def test_unknown_session_is_not_found(self, store: Any, app: str) -> None:
        with pytest.raises(NotFoundError):
            store.get(app, "alice", "nope")
        with pytest.raises(LookupError):
            store.append(app, "alice", "nope", [say("user", "hi")])

    def test_append_assigns_gap_free_seq(self, store: Any, app: str, clock: Any) -> None:
        sid = store.create(app, "alice").id
        assert store.append(app, "alice", sid, [say("user", "a"), say("assistant", "b")]) == 2
        clock.advance(1)
        assert store.append(app, "alice", sid, [Event(role="user", content="c")]) == 3
        events = store.get(app, "alice", sid).events
        assert [e.seq for e in events] == [1, 2, 3]
        assert [e.content for e in events] == ["a", "b", "c"]
        assert [e.role for e in events] == ["user", "assistant", "user"]
        assert events[2].created_at == clock.now() != events[0].created_at
        assert all(e.kind == "message" and e.id for e in events)
        assert len({e.id for e in events}) == 3

    def test_event_fields_round_trip(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice").id
        given = [
            {"role": "assistant", "kind": "tool_call", "content": None,
             "data": {"name": "search", "args": {"q": "tea", "n": 3}}, "id": "call-1"},
            {"role": "tool", "kind": "tool_result", "content": {"hits": [1, 2.5, None]}},
            {"role": "user", "content": "héllo ✓ 日本", "kind": "custom"},
            {"role": "user", "content": ["a", {"b": True}]},
            {"role": "user", "content": 42},
        ]
        store.append(app, "alice", sid, given)
        events = store.get(app, "alice", sid).events
        assert events[0].id == "call-1" and events[0].kind == "tool_call"
        assert events[0].data == {"name": "search", "args": {"q": "tea", "n": 3}}
        assert [e.content for e in events] == [g["content"] for g in given]
        assert [e.kind for e in events] == ["tool_call", "tool_result", "custom", "message",
                                            "message"]

    def test_delta_sets_and_deletes_keys(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice", state={"a": 1, "b": 2}).id
        store.append(app, "alice", sid, [say("user", "x")], state_delta={"a": None, "c": [3]})
        assert store.get(app, "alice", sid).state == {"b": 2, "c": [3]}

    def test_update_state_is_a_versioned_state_event(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice").id
        store.append(app, "alice", sid, [say("user", "x")])
        assert store.update_state(app, "alice", sid, {"step": "pay"}) == 2
        got = store.get(app, "alice", sid)
        assert got.version == 2 and got.state == {"step": "pay"}
        assert got.events[-1].kind == "state" and got.events[-1].state_delta == {"step": "pay"}

    def test_scopes(self, store: Any, app: str) -> None:
        a1 = store.create(app, "alice", state={"app:theme": "dark", "user:name": "Al"}).id
        a2 = store.create(app, "alice").id
        b1 = store.create(app, "bob").id
        other = store.create(app + "x", "alice").id
        store.append(app, "alice", a1, [say("user", "hi")],
                     state_delta={"own": 1, "temp:scratch": 9, "user:lang": "fr"})
        assert store.get(app, "alice", a1).state == {
            "own": 1, "app:theme": "dark", "user:name": "Al", "user:lang": "fr"}
        assert store.get(app, "alice", a2).state == {
            "app:theme": "dark", "user:name": "Al", "user:lang": "fr"}
        assert store.get(app, "bob", b1).state == {"app:theme": "dark"}
        assert store.get(app + "x", "alice", other).state == {}
        recorded = store.get(app, "alice", a1).events[-1].state_delta
        assert recorded == {"own": 1, "user:lang": "fr"}  # temp: never persisted

    def test_shared_scope_deletes(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice", state={"app:x": 1, "user:y": 2}).id
        store.update_state(app, "alice", sid, {"app:x": None, "user:y": None})
        assert store.get(app, "alice", sid).state == {}

    def test_state_delta_and_event_deltas_combine_in_order(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice").id
        store.append(app, "alice", sid, [
            {"role": "tool", "content": "1", "state_delta": {"k": 1, "a": "x"}},
            {"role": "tool", "content": "2", "state_delta": {"k": 2}},
        ], state_delta={"a": "y"})
        got = store.get(app, "alice", sid)
        assert got.state == {"k": 2, "a": "y"}
        assert [e.state_delta for e in got.events] == [{"k": 1, "a": "x"}, {"k": 2, "a": "y"}]

    def test_returned_values_are_copies(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice", state={"cart": ["tea"]}).id
        store.append(app, "alice", sid, [{"role": "user", "content": {"n": [1]}}])
        got = store.get(app, "alice", sid)
        got.state["cart"].append("cake")
        got.events[0].content["n"].append(2)
        again = store.get(app, "alice", sid)
        assert again.state == {"cart": ["tea"]} and again.events[0].content == {"n": [1]}

    def test_append_needs_events(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice").id
        with pytest.raises(InvalidInputError) as caught:
            store.append(app, "alice", sid, [], state_delta={"a": 1})
        assert caught.value.field == "events"
        assert store.get(app, "alice", sid).version == 0
