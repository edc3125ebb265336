"""Bounded reads: event windows, event paging, session listing."""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import InvalidInputError, LimitExceededError
from .fixtures import SuiteBase, say


def _fill(store: Any, app: str, user: str, count: int) -> str:
    sid = store.create(app, user).id
    for i in range(1, count + 1):
        store.append(app, user, sid, [say("user", f"m{i}")])
    return sid


class ReadsSuite(SuiteBase):
    def test_windows(self, store: Any, app: str) -> None:
        sid = _fill(store, app, "u", 10)

        def seqs(**window: int) -> list[int]:
            return [e.seq for e in store.get(app, "u", sid, **window).events]

        assert seqs(last=3) == [8, 9, 10]
        assert seqs(last=0) == []
        assert seqs(last=50) == list(range(1, 11))
        assert seqs(after_seq=7) == [8, 9, 10]
        assert seqs(after_seq=2, last=3) == [3, 4, 5]
        assert seqs(before_seq=4) == [1, 2, 3]
        assert seqs(before_seq=8, last=2) == [6, 7]
        assert seqs(after_seq=3, before_seq=6) == [4, 5]
        assert seqs(after_seq=10) == [] and seqs(before_seq=1) == []
        assert store.get(app, "u", sid, after_seq=99).version == 10

    def test_default_window_is_bounded(self, store: Any, app: str) -> None:
        sid = store.create(app, "u").id
        batch = store.limits.max_events_per_append
        total = store.limits.default_window + batch
        for start in range(0, total, batch):
            store.append(app, "u", sid, [say("user", str(i)) for i in range(start, start + batch)])
        got = store.get(app, "u", sid)
        assert len(got.events) == store.limits.default_window
        assert got.events[-1].seq == total

    def test_window_arguments_are_checked(self, store: Any, app: str) -> None:
        sid = _fill(store, app, "u", 1)
        with pytest.raises(InvalidInputError):
            store.get(app, "u", sid, last=-1)
        with pytest.raises(InvalidInputError):
            store.get(app, "u", sid, after_seq="3")
        with pytest.raises(LimitExceededError) as caught:
            store.get(app, "u", sid, last=store.limits.max_window + 1)
        assert caught.value.field == "last" and caught.value.limit == store.limits.max_window

    def test_events_pages_through_history(self, store: Any, app: str) -> None:
        sid = _fill(store, app, "u", 23)
        seen, cursor = [], None
        while True:
            page = store.events(app, "u", sid, limit=5, cursor=cursor)
            seen += [e.seq for e in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == list(range(1, 24))
        assert [e.seq for e in store.events(app, "u", sid, after_seq=20).items] == [21, 22, 23]
        assert store.events(app, "u", sid, after_seq=23).next_cursor is None

    def test_cursor_belongs_to_its_query(self, store: Any, app: str) -> None:
        one, two = _fill(store, app, "u", 3), _fill(store, app, "u", 3)
        cursor = store.events(app, "u", one, limit=1).next_cursor
        with pytest.raises(InvalidInputError):
            store.events(app, "u", two, cursor=cursor)
        with pytest.raises(InvalidInputError):
            store.events(app, "u", one, cursor="not-a-cursor")
        with pytest.raises(InvalidInputError):
            store.sessions(app, cursor=cursor)

    def test_sessions_lists_a_user_page_by_page(self, store: Any, app: str, clock: Any) -> None:
        made = []
        for i in range(7):
            clock.advance(1)
            made.append(store.create(app, "alice", metadata={"n": str(i)}).id)
        store.create(app, "bob")
        seen, cursor = [], None
        while True:
            page = store.sessions(app, "alice", limit=3, cursor=cursor)
            assert all(s.events == () for s in page.items)
            seen += [s.id for s in page.items]
            if (cursor := page.next_cursor) is None:
                break
        assert seen == made
        everyone = store.sessions(app, limit=50)
        assert len(everyone.items) == 8 and everyone.next_cursor is None

    def test_sessions_filters(self, store: Any, app: str, clock: Any) -> None:
        old = store.create(app, "alice", metadata={"channel": "web"}).id
        clock.advance(10)
        mid = clock.now()
        clock.advance(10)
        new = store.create(app, "alice", metadata={"channel": "app"}, state={"k": 1}).id
        assert [s.id for s in store.sessions(app, "alice", updated_after=mid)] == [new]
        by_meta = store.sessions(app, metadata={"channel": "web"})
        assert [s.id for s in by_meta] == [old]
        listed = store.sessions(app, "alice", metadata={"channel": "app"}).items[0]
        assert listed.state == {"k": 1} and listed.metadata == {"channel": "app"}
        clock.advance(10)
        store.append(app, "alice", old, [say("user", "back")])
        assert [s.id for s in store.sessions(app, "alice")] == [old, new]  # creation order
        assert [s.id for s in store.sessions(app, "alice", updated_after=mid + 15)] == [old]

    def test_sessions_skip_expired(self, store: Any, app: str, clock: Any) -> None:
        store.create(app, "alice", idle_ttl=5)
        kept = store.create(app, "alice").id
        clock.advance(6)
        assert [s.id for s in store.sessions(app, "alice")] == [kept]
