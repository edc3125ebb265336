"""Properties of the pure core, checked with hypothesis.

- Replaying a session's recorded deltas gives its state (and a fork's).
- Cursors round-trip, stay with their query and refuse garbage cleanly.
- Paging visits every event and session exactly once, in order.
- Validation raises only SessionDB's input errors, whatever it is given.
"""

from __future__ import annotations

import base64
import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from helpers_child import all_events
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import sessiondb
from sessiondb import Event, FrozenClock, InvalidInputError, LimitExceededError, SessionStore
from sessiondb._core.cursor import decode_cursor, encode_cursor, query_tag
from sessiondb._core.events import draft_events
from sessiondb._core.jsonvalue import decode, encode
from sessiondb._core.limits import Limits
from sessiondb._core.state import replay, split_delta

#: Deterministic runs: the same examples every time, no example database.
PROPS = settings(derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
STORE_PROPS = settings(PROPS, max_examples=60)
SQLITE_PROPS = settings(PROPS, max_examples=15)

APP, USER = "app", "user"
SHARED = ("app:", "user:")

# -- strategies ---------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8,
)
#: A non-null value (None at the top level of a delta means delete).
set_values = json_values.filter(lambda v: v is not None)
state_keys = st.sampled_from(
    ["a", "b", "c", "n", "app:a", "app:x", "user:a", "user:y", "temp:a", "temp:t"])
deltas = st.dictionaries(state_keys, st.none() | set_values, max_size=4)
initial_states = st.dictionaries(
    state_keys.filter(lambda k: not k.startswith("temp:")), set_values, max_size=4)


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Appends (events, each maybe with its own delta, plus a delta) and
    ``update_state`` calls, in random order."""
    out: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            events = []
            for _ in range(draw(st.integers(1, 3))):
                event: dict[str, Any] = {"role": "user", "content": draw(st.text(max_size=5))}
                if draw(st.booleans()):
                    event["state_delta"] = draw(deltas)
                events.append(event)
            out.append(("append", (events, draw(st.none() | deltas))))
        else:
            out.append(("update", draw(deltas)))
    return out


# -- helpers ------------------------------------------------------------------

@contextmanager
def open_store(kind: str) -> Iterator[SessionStore]:
    """A fresh store of ``kind`` (hypothesis runs many examples per test, so
    no function-scoped tmp_path)."""
    clock = FrozenClock(1_700_000_000)
    if kind == "memory":
        with sessiondb.open_store("memory://", clock=clock) as store:
            yield store
        return
    with tempfile.TemporaryDirectory() as tmp, \
            sessiondb.open_store(f"sqlite:///{Path(tmp) / 's.db'}", clock=clock) as store:
        yield store


def session_scope(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.startswith(SHARED)}


def apply_model(model: dict[str, Any], delta: dict[str, Any] | None) -> None:
    """The documented semantics: None deletes, temp: is never kept."""
    for key, value in (delta or {}).items():
        if key.startswith("temp:"):
            continue
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


def normal(value: Any) -> Any:
    """A value as it comes back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


# -- replay ---------------------------------------------------------------------

def check_replay(kind: str, initial: dict[str, Any], plan: list[tuple[str, Any]],
                 fork_at: float) -> None:
    with open_store(kind) as store:
        sid = store.create(APP, USER, "s1", state=initial).id
        model = dict(initial)
        for action, args in plan:
            if action == "append":
                events, delta = args
                store.append(APP, USER, sid, events, state_delta=delta)
                for event in events:
                    apply_model(model, event.get("state_delta"))
                apply_model(model, delta)
            else:
                store.update_state(APP, USER, sid, args)
                apply_model(model, args)
        session = store.get(APP, USER, sid, last=0)
        events = all_events(store, sid, page=7)
        assert [e.seq for e in events] == list(range(1, session.version + 1))
        assert dict(session.state) == normal(model)

        base = {k: encode(v, "state") for k, v in initial.items() if not k.startswith(SHARED)}
        replayed = replay(base, (e.state_delta for e in events))
        state = {k: decode(v) for k, v in replayed.items()}
        assert state == session_scope(dict(session.state))

        at_seq = int(fork_at * session.version)
        forked = store.fork(APP, USER, sid, at_seq=at_seq, new_session_id="fork")
        at = replay(base, (e.state_delta for e in events[:at_seq]))
        assert session_scope(dict(forked.state)) == {k: decode(v) for k, v in at.items()}
        assert forked.version == at_seq
        # Shared scopes are shared, not copied as they were at the fork point.
        shared = {k: v for k, v in session.state.items() if k.startswith(SHARED)}
        assert {k: v for k, v in forked.state.items() if k.startswith(SHARED)} == shared
        fork_events = all_events(store, "fork", page=5)
        assert [e.to_dict() for e in fork_events] == [e.to_dict() for e in events[:at_seq]]


@STORE_PROPS
@given(initial_states, steps(), st.floats(0, 1))
def test_replaying_events_gives_the_state_memory(initial, plan, fork_at) -> None:
    check_replay("memory", initial, plan, fork_at)


@SQLITE_PROPS
@given(initial_states, steps(), st.floats(0, 1))
def test_replaying_events_gives_the_state_sqlite(initial, plan, fork_at) -> None:
    check_replay("sqlite", initial, plan, fork_at)


@PROPS
@given(st.dictionaries(st.text(min_size=1, max_size=4).filter(
    lambda k: not k.startswith(("app:", "user:", "temp:"))), set_values, max_size=4),
    st.lists(deltas, max_size=6))
def test_replay_matches_the_delta_semantics(base, recorded) -> None:
    """replay() on its own: None deletes, shared and temp keys are skipped."""
    model = dict(base)
    for delta in recorded:
        apply_model(model, {k: v for k, v in delta.items() if not k.startswith(SHARED)})
    encoded = {k: encode(v, "base") for k, v in base.items()}
    result = replay(encoded, recorded)
    assert {k: decode(v) for k, v in result.items()} == normal(model)
    assert encoded == {k: encode(v, "base") for k, v in base.items()}, "base was mutated"


# -- cursors --------------------------------------------------------------------

positions = st.lists(
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    max_size=4)
kinds = st.sampled_from(["e", "s"])
tags = st.builds(query_tag, st.text(max_size=10), st.text(max_size=10))


def shape_of(position: list[Any]) -> tuple[type, ...]:
    return tuple(type(p) for p in position)


@PROPS
@given(kinds, tags, positions)
def test_cursor_round_trips(kind, tag, position) -> None:
    cursor = encode_cursor(kind, tag, position)
    assert isinstance(cursor, str)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor, kind, tag, shape_of(position)) == position


@PROPS
@given(kinds, tags, tags, positions)
def test_cursor_is_refused_by_another_query(kind, tag, other, position) -> None:
    assume(tag != other)
    cursor = encode_cursor(kind, tag, position)
    with pytest.raises(InvalidInputError):
        decode_cursor(cursor, kind, other, shape_of(position))
    with pytest.raises(InvalidInputError):
        decode_cursor(cursor, "s" if kind == "e" else "e", tag, shape_of(position))


@PROPS
@given(kinds, tags, st.lists(st.integers(), min_size=1, max_size=3))
def test_cursor_with_the_wrong_shape_is_refused(kind, tag, position) -> None:
    cursor = encode_cursor(kind, tag, position)
    with pytest.raises(InvalidInputError):
        decode_cursor(cursor, kind, tag, (str,) * len(position))
    with pytest.raises(InvalidInputError):
        decode_cursor(cursor, kind, tag, (int,) * (len(position) + 1))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


garbage = (
    st.text(max_size=60)
    | st.binary(max_size=60).map(b64)
    | json_values.map(lambda v: b64(json.dumps(v).encode()))
    | st.lists(json_values, max_size=5).map(lambda v: b64(json.dumps(["e", "x", *v]).encode()))
    | st.text(min_size=2040, max_size=2100)
)


@PROPS
@given(garbage, kinds, tags)
@example("[" * 10, "e", "x")
@example(b64(b'{"a":' * 100), "e", "x")
@example(b64(b"\xff\xfe\x00"), "e", "x")
@example("é", "e", "x")
@example("=", "e", "x")
@example(b64(b'["e","x",true]'), "e", "x")
def test_garbage_cursors_raise_only_invalid_input(cursor, kind, tag) -> None:
    try:
        position = decode_cursor(cursor, kind, tag, (int,))
    except InvalidInputError as e:
        assert e.field == "cursor"
    else:  # garbage that happens to be a valid cursor of this query
        assert isinstance(position, list) and len(position) == 1
        assert type(position[0]) is int


#: Nesting deeper than the default recursion limit, in a cursor of legal
#: length. (Not a hypothesis example: hypothesis raises the recursion limit.)
DEEP_CURSOR = b64(b"[" * 1500)


def test_deeply_nested_cursor_is_invalid_input() -> None:
    assert len(DEEP_CURSOR) <= 2048
    with pytest.raises(InvalidInputError):
        decode_cursor(DEEP_CURSOR, "e", "x", (int,))


def test_deeply_nested_cursor_through_the_store_is_invalid_input() -> None:
    with sessiondb.open_store("memory://") as store:
        sid = store.create(APP, USER).id
        with pytest.raises(InvalidInputError):
            store.events(APP, USER, sid, cursor=DEEP_CURSOR)
        with pytest.raises(InvalidInputError):
            store.sessions(APP, cursor=DEEP_CURSOR)


def test_store_cursors_stay_with_their_query() -> None:
    with sessiondb.open_store("memory://") as store:
        a = store.create(APP, USER, "a").id
        b = store.create(APP, USER, "b").id
        store.create(APP, "other", "c")
        for sid in (a, b):
            store.append(APP, USER, sid, [{"role": "user"}] * 3)
        events_cursor = store.events(APP, USER, a, limit=1).next_cursor
        assert events_cursor is not None
        with pytest.raises(InvalidInputError):
            store.events(APP, USER, b, limit=1, cursor=events_cursor)
        with pytest.raises(InvalidInputError):
            store.sessions(APP, cursor=events_cursor)
        sessions_cursor = store.sessions(APP, limit=1).next_cursor
        assert sessions_cursor is not None
        with pytest.raises(InvalidInputError):
            store.sessions(APP, user_id=USER, cursor=sessions_cursor)
        with pytest.raises(InvalidInputError):
            store.sessions("app2", cursor=sessions_cursor)
        with pytest.raises(InvalidInputError):
            store.events(APP, USER, a, cursor=sessions_cursor)
        assert len(store.sessions(APP, cursor=sessions_cursor).items) == 2


# -- paging -----------------------------------------------------------------------

@st.composite
def event_plans(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Batch sizes of the appends and page sizes of the reads."""
    batches = draw(st.lists(st.integers(1, 5), max_size=15))
    pages = draw(st.lists(st.integers(1, 9), min_size=1, max_size=10))
    return batches, pages


def check_events_paging(kind: str, batches: list[int], pages: list[int]) -> None:
    with open_store(kind) as store:
        sid = store.create(APP, USER).id
        n = 0
        for size in batches:
            store.append(APP, USER, sid, [{"role": "user", "content": f"m{n + i + 1}"}
                                          for i in range(size)])
            n += size
        seen: list[Event] = []
        cursor = None
        for turn in range(n + 1):
            page = store.events(APP, USER, sid, limit=pages[turn % len(pages)], cursor=cursor)
            assert len(page.items) <= pages[turn % len(pages)]
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            assert page.items, "a page with a next cursor must not be empty"
            cursor = page.next_cursor
        else:
            pytest.fail("paging did not end")
        assert [e.seq for e in seen] == list(range(1, n + 1))
        assert [e.content for e in seen] == [f"m{i}" for i in range(1, n + 1)]


@STORE_PROPS
@given(event_plans())
def test_events_paging_visits_every_event_once_memory(plan) -> None:
    check_events_paging("memory", *plan)


@SQLITE_PROPS
@given(event_plans())
def test_events_paging_visits_every_event_once_sqlite(plan) -> None:
    check_events_paging("sqlite", *plan)


@st.composite
def session_plans(draw: st.DrawFn) -> tuple[list[tuple[str, float]], list[int], bool]:
    """Sessions to create (user, clock step before it; 0 makes ties), page
    sizes, and whether to filter by user."""
    made = draw(st.lists(
        st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from([0.0, 0.0, 0.5, 1.0])),
        max_size=20))
    pages = draw(st.lists(st.integers(1, 6), min_size=1, max_size=6))
    return made, pages, draw(st.booleans())


def check_sessions_paging(kind: str, made: list[tuple[str, float]], pages: list[int],
                          by_user: bool, write_while_paging: bool) -> None:
    with open_store(kind) as store:
        clock = store.clock
        assert isinstance(clock, FrozenClock)
        created = []
        for i, (user, step) in enumerate(made):
            clock.advance(step)
            created.append(store.create(APP, user, f"s{i:02d}"))
        store.create("other-app", "u1", "zz")
        wanted = [s for s in created if not by_user or s.user_id == "u1"]
        seen = []
        cursor = None
        for turn in range(len(made) + 2):
            limit = pages[turn % len(pages)]
            page = store.sessions(APP, user_id="u1" if by_user else None, limit=limit,
                                  cursor=cursor)
            assert len(page.items) <= limit
            seen.extend(page.items)
            if write_while_paging:
                clock.advance(1)
                for s in page.items:  # a write must not make a session show up again
                    store.append(APP, s.user_id, s.id, [{"role": "user"}])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        else:
            pytest.fail("paging did not end")
        ids = [(s.user_id, s.id) for s in seen]
        assert len(ids) == len(set(ids)), "a session was listed twice"
        assert sorted(ids) == sorted((s.user_id, s.id) for s in wanted)
        order = [(s.created_at, s.user_id, s.id) for s in seen]
        assert order == sorted(order), "not oldest first"
        assert all(not s.events for s in seen)


@STORE_PROPS
@given(session_plans(), st.booleans())
def test_sessions_paging_visits_every_session_once_memory(plan, write) -> None:
    check_sessions_paging("memory", *plan, write)


@SQLITE_PROPS
@given(session_plans(), st.booleans())
def test_sessions_paging_visits_every_session_once_sqlite(plan, write) -> None:
    check_sessions_paging("sqlite", *plan, write)


class IntClock:
    """A clock that tells whole seconds as ints (a valid ``float`` for a type
    checker; ``time.time`` rounded by an application, say)."""

    def __init__(self) -> None:
        self.t = 1_700_000_000

    def now(self) -> int:
        self.t += 1
        return self.t


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_sessions_paging_with_a_clock_of_whole_seconds(url: str, tmp_path: Path) -> None:
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 's.db'}"
    with sessiondb.open_store(url, clock=IntClock()) as store:
        for i in range(5):
            store.create(APP, USER, f"s{i}")
        seen = []
        cursor = None
        for _ in range(6):
            page = store.sessions(APP, limit=2, cursor=cursor)
            seen.extend(s.id for s in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"s{i}" for i in range(5)]


# -- validation never leaks another exception ---------------------------------------

class Opaque:
    pass


not_json = st.sampled_from([
    math.nan, math.inf, -math.inf, {1, 2}, frozenset(), Opaque(), b"bytes", bytearray(b"x"),
    1j, object(), Ellipsis, range(3), {(1, 2): 3}, {Opaque(): 1}, {math.nan: 1},
])


def nest(bad: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        bad = [1, bad] if as_list else {"k": bad, "ok": 1}
    return bad


def circular() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


@PROPS
@given(state_keys.filter(lambda k: not k.startswith("temp:")), not_json, st.integers(0, 3),
       st.booleans(), deltas)
@example("a", None, 0, True, {}).via("a circular list")
def test_split_delta_refuses_non_json_values(key, bad, depth, as_list, rest) -> None:
    value = circular() if bad is None else nest(bad, depth, as_list)
    delta = {**rest, key: value}
    with pytest.raises(InvalidInputError):
        split_delta(delta, Limits())


@PROPS
@given(st.dictionaries(state_keys, json_values, max_size=5))
def test_split_delta_accepts_json_values(delta) -> None:
    scoped = split_delta(delta, Limits())
    kept = {k: v for k, v in delta.items() if not k.startswith("temp:")}
    assert {k: json.loads(text) for k, text in scoped.persisted.items()} == kept
    for changes, prefix in ((scoped.session, ""), (scoped.user, "user:"), (scoped.app, "app:")):
        for name, text in changes.items():
            value = delta[prefix + name]
            assert (text is None) == (value is None)
            if text is not None:
                assert decode(text) == normal(value)


def test_split_delta_refuses_integers_too_long_for_json() -> None:
    with pytest.raises(InvalidInputError):
        split_delta({"a": 10 ** 5000}, Limits())


@PROPS
@given(st.one_of(st.integers(), st.text(), st.lists(st.integers()), st.just(Opaque()),
                 st.dictionaries(st.integers() | st.none(), st.integers(), min_size=1)))
def test_split_delta_refuses_non_mappings_and_bad_keys(delta) -> None:
    with pytest.raises(InvalidInputError):
        split_delta(delta, Limits())


#: Strings that are not Unicode text (lone surrogates): they cannot be
#: stored as UTF-8 and must be refused as input.
surrogates = st.sampled_from(["\ud800", "a\udfff", "\udc80z"])
junk_leaf = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
             | st.binary(max_size=4) | not_json | surrogates)
junk = st.recursive(
    junk_leaf,
    lambda inner: (st.lists(inner, max_size=3) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=3)
                   | st.frozensets(st.integers(), max_size=2)),
    max_leaves=10,
)
event_fields = st.sampled_from(["role", "content", "kind", "data", "id", "state_delta"])
junk_events = st.dictionaries(
    event_fields | st.text(max_size=4),
    junk | st.sampled_from(["user", "message", "tool_call", "e1", ""]),
    max_size=6,
)
junk_event_lists = st.lists(
    junk_events
    | st.builds(Event, role=junk | st.just("user"), content=junk, kind=junk | st.just("custom"),
                data=junk, id=st.just("") | junk, state_delta=junk)
    | junk,
    max_size=4,
)


@PROPS
@given(junk | junk_event_lists)
@example([{"role": "user", "kind": []}])
@example([{"role": "user", "kind": {}}])
@example([Event(role="user", kind=["message"])])  # type: ignore[arg-type]
@example([{"role": "user", "id": 5}])
@example([{"role": "user", "data": {"x": math.nan}}])
@example([{"role": "user", "state_delta": {"temp:": 1}}])
@example([{"role": "user", "content": ["\ud800"]}])
@example([{"role": "user", "data": {"x": "\ud800"}}])
@example([{"role": "user", "state_delta": {"k": "\ud800"}}])
def test_draft_events_raises_only_input_errors(events) -> None:
    try:
        drafts = draft_events(events, Limits())
    except (InvalidInputError, LimitExceededError):
        return
    assert isinstance(drafts, list)


def check_append_junk(store: SessionStore, events: Any, delta: Any) -> None:
    sid = store.create(APP, USER).id
    try:
        store.append(APP, USER, sid, events, state_delta=delta)
    except (InvalidInputError, LimitExceededError):
        session = store.get(APP, USER, sid)
        assert session.version == 0 and not session.events and not session.state


@PROPS
@given(junk_event_lists, junk | deltas)
@example([{"role": "user", "kind": []}], None)
@example([{"role": "user", "content": "\ud800"}], None)
@example([{"role": "user"}], {"\ud800": 1})
def test_append_raises_only_input_errors_and_writes_nothing_memory(events, delta) -> None:
    with sessiondb.open_store("memory://") as store:
        check_append_junk(store, events, delta)


@SQLITE_PROPS
@given(junk_event_lists, junk | deltas)
@example([{"role": "user", "content": "\ud800"}], None)
@example([{"role": "user"}], {"\ud800": 1})
def test_append_raises_only_input_errors_and_writes_nothing_sqlite(events, delta) -> None:
    with open_store("sqlite") as store:
        check_append_junk(store, events, delta)


@pytest.mark.parametrize("where", ["content", "list content", "data", "state_delta"])
def test_integers_too_long_for_json_are_invalid_input(where: str) -> None:
    huge = 10 ** 5000
    event: dict[str, Any] = {"role": "user"}
    if where == "content":
        event["content"] = huge
    elif where == "list content":
        event["content"] = [huge]
    elif where == "data":
        event["data"] = {"n": huge}
    else:
        event["state_delta"] = {"n": huge}
    with pytest.raises(InvalidInputError):
        draft_events([event], Limits())


# -- import validates records -----------------------------------------------------

BASE_RECORDS: list[dict[str, Any]] = [
    {"type": "app_state", "app": "a", "state": {"k": 1}},
    {"type": "user_state", "app": "a", "user_id": "u", "state": {"k": 1}},
    {"type": "session", "app": "a", "user_id": "u", "id": "s", "version": 1,
     "created_at": 1.0, "updated_at": 1.0, "expires_at": None, "idle_ttl": None,
     "deadline": None, "metadata": {}, "base_state": {}, "state": {"n": 1}},
    {"type": "event", "seq": 1, "id": "e1", "role": "user", "kind": "message",
     "content": "hi", "data": None, "state_delta": {"n": 1}, "created_at": 1.0},
    {"type": "idempotency", "key": "k", "version": 1, "fingerprint": "f"},
]


@st.composite
def junk_records(draw: st.DrawFn) -> list[Any]:
    """A valid export with a few fields (or whole records) replaced by junk."""
    records: list[Any] = [dict(r) for r in BASE_RECORDS]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(records) - 1))
        if draw(st.integers(0, 4)) == 0:
            records[i] = draw(junk)
        elif isinstance(records[i], dict) and records[i]:
            records[i][draw(st.sampled_from(sorted(records[i], key=repr)))] = draw(junk)
    return records


def check_import_junk(store: SessionStore, records: list[Any]) -> None:
    with suppress(InvalidInputError, LimitExceededError, sessiondb.ConflictError):
        store.import_records(records)


@PROPS
@given(junk_records())
@example([{"type": "app_state", "app": "a", "state": {"k": "\ud800"}}])
def test_import_raises_only_input_errors_memory(records) -> None:
    with sessiondb.open_store("memory://") as store:
        check_import_junk(store, records)


@SQLITE_PROPS
@given(junk_records())
@example([{"type": "app_state", "app": "a", "state": {"k": "\ud800"}}])
@example([{**BASE_RECORDS[2], "state": {"k": "\ud800"}}])
def test_import_raises_only_input_errors_sqlite(records) -> None:
    with open_store("sqlite") as store:
        check_import_junk(store, records)


# -- the event size limit counts bytes ----------------------------------------------

SMALL = Limits(max_event_bytes=120)


@PROPS
@given(st.text(max_size=70) | json_values, st.none() | st.dictionaries(
    st.text(max_size=4), json_values, max_size=4))
@example("\u00e9" * 28, {"x": "a" * 60})  # 56 + 68 bytes: over 120
@example("\U0001f600" * 20, {"x": "a" * 60})  # 80 + 68 bytes
def test_event_size_limit_counts_encoded_bytes(content, data) -> None:
    """``max_event_bytes`` bounds the UTF-8 size of content (as stored: a
    string as is, anything else as JSON) plus the JSON of data."""
    stored = content if isinstance(content, str) else encode(content, "content")
    size = len(stored.encode()) + (len(encode(data, "data").encode()) if data is not None else 0)
    event = {"role": "user", "content": content, "data": data}
    if size > SMALL.max_event_bytes:
        with pytest.raises(LimitExceededError):
            draft_events([event], SMALL)
    else:
        assert len(draft_events([event], SMALL)) == 1
