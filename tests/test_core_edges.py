"""Edges of the pure core that the conformance suite does not reach."""

from __future__ import annotations

import pytest

import sessiondb
from sessiondb import InvalidInputError
from sessiondb._core.jsonvalue import decode

APP, USER = "app", "u"


@pytest.fixture
def store() -> sessiondb.SessionStore:
    return sessiondb.open_store("memory://")


def test_decode_accepts_any_json_text() -> None:
    assert decode('{"a":1}') == {"a": 1}
    assert decode(' {"a": 1} ') == {"a": 1}
    assert decode("1 ") == 1
    with pytest.raises(ValueError):
        decode("")


def test_create_refuses_none_state_and_bad_metadata(store: sessiondb.SessionStore) -> None:
    with pytest.raises(InvalidInputError, match="must not be None"):
        store.create(APP, USER, state={"a": None})
    with pytest.raises(InvalidInputError, match="mapping of strings"):
        store.create(APP, USER, metadata=["k"])  # type: ignore[arg-type]


def test_listing_arguments_are_checked(store: sessiondb.SessionStore) -> None:
    with pytest.raises(InvalidInputError, match="at least 1"):
        store.sessions(APP, limit=0)
    with pytest.raises(InvalidInputError, match="updated_after"):
        store.sessions(APP, updated_after="yesterday")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.sessions(APP, updated_after=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at least 1"):
        store.purge_expired(limit=0)
    with pytest.raises(InvalidInputError):
        list(store.export("bad app"))


def _session(**changes: object) -> dict:
    record = {"type": "session", "app": APP, "user_id": USER, "id": "s", "version": 0,
              "created_at": 1.0, "updated_at": 1.0}
    record.update(changes)
    return record


@pytest.mark.parametrize("records, words", [
    ([_session(version=-1)], "version must be"),
    ([_session(version=True)], "version must be"),
    ([_session(metadata={"k": 1})], "metadata must map"),
    ([_session(created_at="noon")], "created_at must be a number"),
    ([_session(expires_at=True)], "expires_at must be a number"),
    ([_session(version=1), {"type": "event", "seq": 2}], "breaks the sequence"),
    ([_session(version=1), {"type": "event", "seq": 1, "id": "e", "role": "user",
                            "kind": "weird", "created_at": 1.0}], "kind or role"),
    ([_session(version=1), {"type": "event", "seq": 1, "id": "e", "role": "no role!",
                            "kind": "message", "created_at": 1.0}], "kind or role"),
    ([_session(), {"type": "idempotency", "key": "k"}], "missing field 'version'"),
    ([_session(), {"type": "idempotency", "key": "k", "version": "x",
                   "fingerprint": "f"}], "record 2"),
    ([{"type": "app_state", "app": APP, "state": ["not", "an", "object"]}], "state must be"),
    (["not a record"], "unknown record type"),
])
def test_import_names_the_broken_record(store: sessiondb.SessionStore, records: list,
                                        words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        store.import_records(records)
    assert store.sessions(APP).items == ()


def test_import_of_idempotency_keys_and_shared_state(store: sessiondb.SessionStore) -> None:
    records = [
        {"type": "app_state", "app": APP, "state": {"theme": "dark"}},
        {"type": "user_state", "app": APP, "user_id": USER, "state": {"lang": "pt"}},
        _session(version=1, idle_ttl=60, expires_at=1e12),
        {"type": "event", "seq": 1, "id": "e1", "role": "user", "kind": "message",
         "content": "hi", "created_at": 1.0},
        {"type": "idempotency", "key": "k", "version": 1, "fingerprint": "f"},
    ]
    assert store.import_records(records) == 1
    assert list(store.export()) == [
        {**r, **({"data": None, "state_delta": None} if r["type"] == "event" else {})}
        | ({"deadline": None, "metadata": {}, "base_state": {}, "state": {}}
           if r["type"] == "session" else {})
        for r in records
    ]
    assert store.get(APP, USER, "s").state == {"app:theme": "dark", "user:lang": "pt"}


def test_new_process_draws_a_new_event_id_prefix() -> None:
    from sessiondb._core import ids

    before = ids.new_event_id()
    ids._new_process()  # what a forked child runs
    after = ids.new_event_id()
    assert after[:12] != before[:12] and after.endswith("1")


def test_encode_names_the_field() -> None:
    from sessiondb._core.jsonvalue import encode

    with pytest.raises(InvalidInputError, match="metadata is not JSON") as caught:
        encode({1, 2}, "metadata")
    assert caught.value.field == "metadata"


def test_state_keys_have_a_length_limit(store: sessiondb.SessionStore) -> None:
    sid = store.create(APP, USER).id
    with pytest.raises(sessiondb.LimitExceededError) as caught:
        store.update_state(APP, USER, sid, {"k" * 257: 1})
    assert caught.value.limit == 256


def test_import_of_nothing_and_of_state_alone(store: sessiondb.SessionStore) -> None:
    assert store.import_records([]) == 0
    assert store.import_records([{"type": "app_state", "app": APP, "state": {"a": 1}}]) == 0
    assert store.create(APP, USER).state == {"app:a": 1}


def test_nul_is_refused_in_state_keys_and_metadata(store: sessiondb.SessionStore) -> None:
    with pytest.raises(InvalidInputError, match="NUL"):
        store.create(APP, USER, state={"a\x00b": 1})
    with pytest.raises(InvalidInputError, match="NUL"):
        store.create(APP, USER, metadata={"k": "v\x00"})
    sid = store.create(APP, USER, state={"k": "a\x00b"}).id  # inside a JSON value it is fine
    assert store.get(APP, USER, sid).state == {"k": "a\x00b"}


def test_store_url_hides_the_password() -> None:
    from sessiondb.backends import masked

    assert masked("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert masked("memory://") == "memory://"
    assert sessiondb.AsyncSessionStore(None, url="redis://:pw@h:6379").url == "redis://:***@h:6379"


def test_recorded_deltas_read_again_are_never_shared(store: sessiondb.SessionStore) -> None:
    """Decoded deltas are remembered, but each read gets its own dict: what
    a caller does with one event's delta never shows in the next read."""
    session = store.create(APP, USER)
    store.append(APP, USER, session.id, [{"role": "user", "content": "hi"}],
                 state_delta={"turn": 1, "note": "x"})
    first = store.get(APP, USER, session.id).events[0].state_delta
    first["turn"] = 99  # type: ignore[index]
    again = store.get(APP, USER, session.id).events[0].state_delta
    assert again == {"turn": 1, "note": "x"}
    assert again is not first


def test_nested_deltas_are_decoded_afresh_on_every_read() -> None:
    from sessiondb._core import events

    text = '{"cart":{"items":[1,2]}}'
    one, two = events.decode_delta(text), events.decode_delta(text)
    assert one == two == {"cart": {"items": [1, 2]}}
    assert one["cart"] is not two["cart"]
    assert text not in events._decoded_deltas


def test_the_delta_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from sessiondb._core import events

    monkeypatch.setattr(events, "_decoded_deltas", {})
    for i in range(events._MEMO_SIZE + 1):
        assert events.decode_delta(f'{{"turn":{i}}}') == {"turn": i}
    assert len(events._decoded_deltas) == 1
    assert events.decode_delta('"not an object"') == "not an object"


def test_shared_changes_take_names_without_prefix() -> None:
    from sessiondb._core.limits import Limits
    from sessiondb._core.requests import update_shared
    from sessiondb._core.state import shared_changes

    limits = Limits()
    assert shared_changes(None, limits) == {}
    assert shared_changes({"theme": "dark", "gone": None}, limits) == {
        "theme": '"dark"', "gone": None}
    for key in ("user:theme", "app:theme", "temp:x"):
        with pytest.raises(InvalidInputError, match="scope prefix") as caught:
            shared_changes({"ok": 1, key: 1}, limits)
        assert caught.value.field == "delta" and repr(key) in str(caught.value)
    request = update_shared(APP, {"k": [1]}, None, 5.0, limits)
    assert (request.app, request.user_id, request.now, request.changes) == (
        APP, None, 5.0, {"k": "[1]"})
