"""The in-memory backend (``memory://``): for tests, demos and caches.

One lock guards everything, so every operation is atomic. Values are kept
JSON-encoded, exactly as a persistent backend keeps them: what a caller gets
back is always a fresh copy, never an object another caller can mutate.
The same object serves the sync and the async store (it never blocks).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from itertools import chain

from .._core import decisions
from .._core.events import event_from_row
from .._core.expiry import expires_at, is_expired
from .._core.records import Record, ScopeState, SessionBundle, read_records, scope_record
from .._core.requests import (
    AppendRequest,
    CreateRequest,
    EventsRequest,
    ForkRequest,
    GetRequest,
    Key,
    ListRequest,
    SharedRequest,
)
from .._core.state import (
    APP_SCOPE,
    SESSION_SCOPE,
    USER_SCOPE,
    apply_changes,
    merged_view,
    replay,
)
from ..errors import ConflictError
from ..models import Event, Session
from .base import check_session_texts, shared_swaps

_Address = tuple[str, str, str]


class MemoryBackend:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sessions: dict[_Address, SessionBundle] = {}
        self._users: dict[tuple[str, str], dict[str, str]] = {}
        self._apps: dict[str, dict[str, str]] = {}

    # -- helpers --------------------------------------------------------
    def _find(self, key: Key) -> SessionBundle | None:
        return self._sessions.get((key.app, key.user_id, key.session_id))

    @staticmethod
    def _head(stored: SessionBundle | None) -> decisions.Head | None:
        if stored is None:
            return None
        return decisions.Head(stored.version, stored.expires_at, stored.idle_ttl, stored.deadline)

    def _view(self, s: SessionBundle, events: tuple[Event, ...] = ()) -> Session:
        state = merged_view(chain(
            ((SESSION_SCOPE, k, v) for k, v in s.state.items()),
            ((USER_SCOPE, k, v) for k, v in self._users.get((s.app, s.user_id), {}).items()),
            ((APP_SCOPE, k, v) for k, v in self._apps.get(s.app, {}).items()),
        ))
        return Session(s.app, s.user_id, s.id, state, s.version, events, dict(s.metadata),
                       s.created_at, s.updated_at, s.expires_at)

    def _apply_shared(self, app: str, user_id: str, user: dict, app_changes: dict) -> None:
        if user:
            apply_changes(self._users.setdefault((app, user_id), {}), user)
        if app_changes:
            apply_changes(self._apps.setdefault(app, {}), app_changes)

    # -- protocol -------------------------------------------------------
    def create(self, request: CreateRequest) -> Session:
        k = request.key
        with self._lock:
            if self._find(k) is not None:
                raise ConflictError(f"session {k.session_id!r} already exists")
            stored = SessionBundle(
                k.app, k.user_id, k.session_id, 0, request.now, request.now,
                request.expires_at, request.idle_ttl, request.deadline, dict(request.metadata),
                dict(request.state.session), dict(request.state.session),  # type: ignore[arg-type]
            )
            self._sessions[(k.app, k.user_id, k.session_id)] = stored
            self._apply_shared(k.app, k.user_id, request.state.user, request.state.app)
            return self._view(stored)

    def get(self, request: GetRequest) -> Session:
        with self._lock:
            stored = self._find(request.key)
            head = decisions.check_readable(self._head(stored), request.key, request.now)
            first, last = decisions.seq_range(request, head.version)
            rows = stored.events[first - 1 : last] if first <= last else []  # type: ignore[union-attr]
            return self._view(stored, tuple(map(event_from_row, rows)))  # type: ignore[arg-type]

    def append(self, request: AppendRequest) -> int:
        k = request.key
        with self._lock:
            stored = self._find(k)
            prior = None
            if stored is not None and request.idempotency_key is not None:
                prior = stored.idempotency.get(request.idempotency_key)
            plan = decisions.plan_append(request, self._head(stored), prior)
            if isinstance(plan, int):
                return plan
            assert stored is not None
            stored.events.extend(plan.rows)
            apply_changes(stored.state, request.delta.session)
            self._apply_shared(k.app, k.user_id, request.delta.user, request.delta.app)
            stored.version = plan.version
            stored.updated_at = request.now
            stored.expires_at = plan.expires_at
            if request.idempotency_key is not None:
                stored.idempotency[request.idempotency_key] = (plan.version, request.fingerprint)  # type: ignore[assignment]
            return plan.version

    def events(self, request: EventsRequest) -> list[Event]:
        with self._lock:
            stored = self._find(request.key)
            decisions.check_readable(self._head(stored), request.key, request.now)
            start = request.after_seq
            rows = stored.events[start : start + request.limit + 1]  # type: ignore[union-attr]
            return [event_from_row(r) for r in rows]

    def sessions(self, request: ListRequest) -> list[Session]:
        with self._lock:
            found = []
            for s in self._sessions.values():
                if s.app != request.app or is_expired(s.expires_at, request.now):
                    continue
                if request.user_id is not None and s.user_id != request.user_id:
                    continue
                if request.updated_after is not None and s.updated_at <= request.updated_after:
                    continue
                if any(s.metadata.get(k) != v for k, v in request.metadata.items()):
                    continue
                position = (s.created_at, s.user_id, s.id)
                if request.after is not None and position <= request.after:
                    continue
                found.append((position, s))
            found.sort(key=lambda item: item[0])
            return [self._view(s) for _, s in found[: request.limit + 1]]

    def fork(self, request: ForkRequest) -> Session:
        k = request.key
        with self._lock:
            source = self._find(k)
            head = decisions.check_fork(request, self._head(source))
            assert source is not None
            new_key = Key(k.app, k.user_id, request.new_session_id)
            if self._find(new_key) is not None:
                raise ConflictError(f"session {request.new_session_id!r} already exists")
            rows = source.events[: request.at_seq]
            state = replay(source.base_state, (event_from_row(r).state_delta for r in rows))
            stored = SessionBundle(
                k.app, k.user_id, request.new_session_id, request.at_seq, request.now,
                request.now, decisions.fork_expires_at(head, request.now), head.idle_ttl,
                head.deadline, dict(source.metadata), dict(source.base_state), state, list(rows),
            )
            self._sessions[(k.app, k.user_id, request.new_session_id)] = stored
            return self._view(stored)

    def delete(self, key: Key) -> bool:
        with self._lock:
            return self._sessions.pop((key.app, key.user_id, key.session_id), None) is not None

    def delete_user(self, app: str, user_id: str) -> int:
        with self._lock:
            doomed = [a for a in self._sessions if a[0] == app and a[1] == user_id]
            for address in doomed:
                del self._sessions[address]
            self._users.pop((app, user_id), None)
            return len(doomed)

    def shared(self, request: SharedRequest) -> dict[str, str]:
        with self._lock:
            if request.user_id is None:
                return dict(self._apps.get(request.app, {}))
            return dict(self._users.get((request.app, request.user_id), {}))

    def update_shared(self, request: SharedRequest) -> dict[str, str]:
        with self._lock:
            if request.user_id is None:
                self._apply_shared(request.app, "", {}, request.changes)
            else:
                self._apply_shared(request.app, request.user_id, request.changes, {})
            return self.shared(request)

    def touch(self, key: Key, now: float) -> float | None:
        with self._lock:
            stored = self._find(key)
            decisions.check_readable(self._head(stored), key, now)
            assert stored is not None
            stored.expires_at = expires_at(now, stored.idle_ttl, stored.deadline)
            return stored.expires_at

    def purge_expired(self, now: float, limit: int) -> int:
        with self._lock:
            doomed = [a for a, s in self._sessions.items() if is_expired(s.expires_at, now)]
            for address in doomed[:limit]:
                del self._sessions[address]
            return min(len(doomed), limit)

    def dump(self, app: str | None) -> Iterator[Record]:
        with self._lock:
            scopes = [ScopeState(a, None, dict(s)) for a, s in self._apps.items()]
            scopes += [ScopeState(a, u, dict(s)) for (a, u), s in self._users.items()]
            bundles = [b.copy() for b in self._sessions.values()]
        for scope in scopes:
            if app is None or scope.app == app:
                yield scope_record(scope)
        for bundle in bundles:
            if app is None or bundle.app == app:
                yield from bundle.records()

    def restore(self, records: Iterable[Record]) -> int:
        count = 0
        for item in read_records(records):
            with self._lock:
                if isinstance(item, ScopeState):
                    target = (self._apps.setdefault(item.app, {}) if item.user_id is None
                              else self._users.setdefault((item.app, item.user_id), {}))
                    target.update(item.state)
                    continue
                address = (item.app, item.user_id, item.id)
                if address in self._sessions:
                    raise ConflictError(f"session {item.id!r} already exists")
                self._sessions[address] = item
                count += 1
        return count

    # -- rewriting stored texts (see base.py) ---------------------------
    def bundle(self, key: Key) -> SessionBundle | None:
        with self._lock:
            stored = self._find(key)
            return None if stored is None else stored.copy()

    def replace_session(self, old_version: int, bundle: SessionBundle) -> bool:
        check_session_texts(old_version, bundle)
        with self._lock:
            stored = self._find(Key(bundle.app, bundle.user_id, bundle.id))
            if stored is None or stored.version != old_version:
                return False
            stored.metadata = dict(bundle.metadata)
            stored.base_state = dict(bundle.base_state)
            stored.state = dict(bundle.state)
            events = stored.events
            for seq, _, _, _, content, as_json, data, delta, _ in bundle.events:
                row = events[seq - 1]
                events[seq - 1] = (*row[:4], content, as_json, data, delta, row[8])
            return True

    def replace_shared(self, old: ScopeState, new: ScopeState) -> int:
        swaps = shared_swaps(old, new)
        with self._lock:
            state = (self._apps.get(new.app) if new.user_id is None
                     else self._users.get((new.app, new.user_id)))
            if not state:
                return 0
            replaced = 0
            for key, was, value in swaps:
                if state.get(key) == was:
                    state[key] = value
                    replaced += 1
            return replaced

    def close(self) -> None:
        pass

