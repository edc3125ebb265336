"""Shared state read and written directly: ``shared_state`` and
``update_shared_state`` (an app's ``app:`` keys, a user's ``user:`` keys)."""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import InvalidInputError, LimitExceededError
from .fixtures import SuiteBase, say
from .threads import run_threads


def _both(store: Any, app: str, user: str) -> tuple[dict, dict]:
    return store.shared_state(app), store.shared_state(app, user)


class SharedStateSuite(SuiteBase):
    def test_shared_scopes_start_empty(self, store: Any, app: str) -> None:
        assert store.shared_state(app) == {}
        assert store.shared_state(app, "nobody") == {}  # no session needed
        assert store.update_shared_state(app, {}) == {}
        assert store.update_shared_state(app, {"gone": None}, user_id="nobody") == {}
        assert _both(store, app, "nobody") == ({}, {})

    def test_set_and_delete_shared_keys(self, store: Any, app: str) -> None:
        value = {"nested": [1, 2.5, None, "é ✓"], "flag": True}
        assert store.update_shared_state(app, {"theme": "dark", "n": 1}) == {
            "theme": "dark", "n": 1}
        assert store.update_shared_state(app, {"lang": "fr", "v": value},
                                         user_id="alice") == {"lang": "fr", "v": value}
        assert store.update_shared_state(app, {"n": None, "theme": "light", "x": []}) == {
            "theme": "light", "x": []}
        assert store.update_shared_state(app, {"lang": None, "missing": None},
                                         user_id="alice") == {"v": value}
        assert _both(store, app, "alice") == ({"theme": "light", "x": []}, {"v": value})
        assert store.shared_state(app, "bob") == {}
        assert store.update_shared_state(app, {}, user_id="alice") == {"v": value}

    def test_returned_shared_state_is_a_copy(self, store: Any, app: str) -> None:
        got = store.update_shared_state(app, {"cart": ["tea"]}, user_id="u")
        got["cart"].append("cake")
        got["new"] = 1
        read = store.shared_state(app, "u")
        read["cart"].append("jam")
        assert store.shared_state(app, "u") == {"cart": ["tea"]}

    def test_shared_updates_show_in_every_merged_view(self, store: Any, app: str) -> None:
        a1 = store.create(app, "alice", state={"own": 1}).id
        a2 = store.create(app, "alice").id
        b1 = store.create(app, "bob").id
        store.update_shared_state(app, {"lang": "fr"}, user_id="alice")
        store.update_shared_state(app, {"theme": "dark"})
        assert store.get(app, "alice", a1).state == {
            "own": 1, "user:lang": "fr", "app:theme": "dark"}
        assert store.get(app, "alice", a2).state == {"user:lang": "fr", "app:theme": "dark"}
        assert store.get(app, "bob", b1).state == {"app:theme": "dark"}
        listed = {s.id: s.state for s in store.sessions(app).items}
        assert listed[a2] == {"user:lang": "fr", "app:theme": "dark"}
        assert listed[b1] == {"app:theme": "dark"}
        # and the other way: what sessions write, the direct reads see
        store.append(app, "bob", b1, [say("user", "hi")],
                     state_delta={"user:name": "Bob", "app:theme": "light", "own": 2})
        assert store.shared_state(app, "bob") == {"name": "Bob"}
        assert store.shared_state(app) == {"theme": "light"}
        store.update_shared_state(app, {"lang": None}, user_id="alice")
        assert store.get(app, "alice", a1).state == {"own": 1, "app:theme": "light"}

    def test_shared_updates_write_no_event(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice").id
        store.update_shared_state(app, {"k": 1}, user_id="alice")
        store.update_shared_state(app, {"k": 2})
        got = store.get(app, "alice", sid)
        assert (got.version, got.events) == (0, ())

    def test_shared_limits_refuse_and_change_nothing(self, store: Any, app: str) -> None:
        limits = store.limits
        store.update_shared_state(app, {"k": 0})
        store.update_shared_state(app, {"k": 1}, user_id="u")
        before = _both(store, app, "u")
        many = {f"k{i}": i for i in range(limits.max_state_keys_per_delta + 1)}
        per_value = limits.max_state_value_bytes - 10
        total = {f"v{i}": "x" * per_value
                 for i in range(limits.max_delta_bytes // per_value + 1)}
        cases = [
            ({"k": 5, "big": "z" * (limits.max_state_value_bytes + 1)}, "delta['big']"),
            (many, "delta key count"),
            ({"k": 5, "x" * (limits.max_state_key_length + 1): 1}, "delta key"),
            (total, "delta"),
        ]
        for user_id in (None, "u"):
            for delta, field in cases:
                with pytest.raises(LimitExceededError) as caught:
                    store.update_shared_state(app, delta, user_id=user_id)
                assert caught.value.field == field and caught.value.limit > 0
        assert _both(store, app, "u") == before

    def test_malformed_shared_input_is_refused(self, store: Any, app: str) -> None:
        store.update_shared_state(app, {"k": 0}, user_id="u")
        before = _both(store, app, "u")
        for user_id in (None, "u"):
            for delta in ({"k": 5, "": 1}, {1: "x"}, ["k"], {"k": 5, "bad": object()},
                          {"k": 5, "nan": float("nan")}, {"k\x00": 1}):
                with pytest.raises(InvalidInputError) as caught:
                    store.update_shared_state(app, delta, user_id=user_id)
                assert caught.value.field.startswith("delta")
        for bad in ("", "has space", "slash/y", "{brace}", 7):
            with pytest.raises((InvalidInputError, LimitExceededError)) as caught:
                store.shared_state(app, bad)
            assert caught.value.field == "user_id"
            with pytest.raises((InvalidInputError, LimitExceededError)) as caught:
                store.update_shared_state(bad, {"k": 1})
            assert caught.value.field == "app"
        assert _both(store, app, "u") == before

    def test_prefixed_shared_keys_are_refused(self, store: Any, app: str) -> None:
        store.update_shared_state(app, {"k": 0}, user_id="u")
        before = _both(store, app, "u")
        for user_id in (None, "u"):
            for key in ("user:x", "app:x", "temp:x", "user:"):
                with pytest.raises(InvalidInputError) as caught:
                    store.update_shared_state(app, {"k": 5, key: 1}, user_id=user_id)
                assert caught.value.field == "delta" and repr(key) in str(caught.value)
        assert _both(store, app, "u") == before

    def test_delete_user_clears_shared_state(self, store: Any, app: str) -> None:
        sid = store.create(app, "alice").id
        store.update_shared_state(app, {"lang": "fr"}, user_id="alice")
        store.update_shared_state(app, {"lang": "de"}, user_id="carol")  # no session
        store.update_shared_state(app, {"lang": "en"}, user_id="bob")
        store.update_shared_state(app, {"theme": "dark"})
        assert store.delete_user(app, "alice") == 1
        assert store.delete_user(app, "carol") == 0
        assert store.shared_state(app, "alice") == {}
        assert store.shared_state(app, "carol") == {}
        assert store.shared_state(app, "bob") == {"lang": "en"}
        assert store.shared_state(app) == {"theme": "dark"}
        # a new session of the user starts from nothing shared of theirs
        again = store.create(app, "alice", session_id=sid)
        assert again.state == {"app:theme": "dark"}

    def test_shared_state_is_per_app(self, store: Any, app: str) -> None:
        other = app + "x"
        theirs = store.create(other, "alice").id
        store.update_shared_state(app, {"secret": 1})
        store.update_shared_state(app, {"secret": 2}, user_id="alice")
        assert _both(store, other, "alice") == ({}, {})
        assert store.get(other, "alice", theirs).state == {}
        store.update_shared_state(other, {"secret": None})
        store.update_shared_state(other, {"secret": None}, user_id="alice")
        store.delete_user(other, "alice")
        assert _both(store, app, "alice") == ({"secret": 1}, {"secret": 2})

    def test_concurrent_shared_updates_keep_every_key(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id

        def writer(n: int) -> None:
            for i in range(5):
                if n % 3 == 0:  # through a session, as before
                    store.update_state(app, "u", sid, {f"user:s{n}.{i}": i,
                                                       f"app:s{n}.{i}": i})
                else:
                    store.update_shared_state(app, {f"d{n}.{i}": i}, user_id="u")
                    store.update_shared_state(app, {f"d{n}.{i}": i})

        run_threads(6, writer)
        expected = {f"{'s' if n % 3 == 0 else 'd'}{n}.{i}": i for n in range(6)
                    for i in range(5)}
        assert _both(store, app, "u") == (expected, expected)

    def test_export_round_trip_includes_shared_state(
        self, store: Any, new_store: Any, app: str
    ) -> None:
        store.create(app, "alice")
        store.update_shared_state(app, {"theme": "dark"})
        store.update_shared_state(app, {"lang": "fr"}, user_id="alice")
        store.update_shared_state(app, {"lang": "de"}, user_id="carol")  # no session
        records = list(store.export(app))
        # Which scopes and keys (values may be exported sealed, by an
        # encrypting store); the values are checked after the import.
        scopes = sorted((r["type"], str(r.get("user_id")), sorted(r["state"]))
                        for r in records if r["type"] in ("app_state", "user_state"))
        assert scopes == [("app_state", "None", ["theme"]), ("user_state", "alice", ["lang"]),
                          ("user_state", "carol", ["lang"])]
        copy = new_store()
        assert copy.import_records(records) == 1
        assert _both(copy, app, "carol") == ({"theme": "dark"}, {"lang": "de"})
        assert copy.shared_state(app, "alice") == {"lang": "fr"}
        assert sorted(map(str, copy.export(app))) == sorted(map(str, records))
