"""The SQLite backend (``sqlite:///path``): the embedded default.

Each operation is one transaction. An append is: read the session's head,
decide (:mod:`sessiondb._core.decisions`), insert the new events, upsert the
changed state keys, update the head — never a rewrite of earlier events or
unchanged keys, so its cost does not grow with history.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator

from ..._core import decisions
from ..._core.events import EventRow, WindowRow, event_from_row, events_from_window
from ..._core.expiry import expires_at
from ..._core.jsonvalue import decode, encode, join_object, split_object
from ..._core.records import Record, ScopeState, SessionBundle, read_records, scope_record
from ..._core.requests import (
    AppendRequest,
    CreateRequest,
    EventsRequest,
    ForkRequest,
    GetRequest,
    Key,
    ListRequest,
    SharedRequest,
    encode_metadata,
)
from ..._core.state import Changes, replay, view_from_objects
from ...errors import BackendError, ConflictError, LimitExceededError
from ...models import Event, Session
from .checkpoints import Checkpointer
from .connection import Database, SQLiteOptions
from .recent import RecentRows
from .schema import MAX_SEQ, event_key, migrate, new_incarnation

_SESSION = (
    "SELECT id, version, expires_at, idle_ttl, deadline, metadata, created_at, updated_at "
    "FROM sessions WHERE app = ? AND user_id = ? AND session_id = ?"
)
# What an append decides on: the session's id, its Head and its incarnation.
_HEAD = (
    "SELECT id, version, expires_at, idle_ttl, deadline, incarnation "
    "FROM sessions WHERE app = ? AND user_id = ? AND session_id = ?"
)
_OBJECT = "'{' || group_concat(json_quote(key) || ':' || value, ',') || '}'"
# A session's head with its merged state, in one statement: each scope comes
# back as the JSON object text of its stored values (NULL when empty); last,
# its incarnation, which says whether the rows kept in RecentRows still hold.
_LOAD_HEAD = (
    "SELECT s.id, s.version, s.expires_at, s.idle_ttl, s.deadline, s.metadata, "
    f"s.created_at, s.updated_at, (SELECT {_OBJECT} FROM session_state WHERE sid = s.id), "
    f"(SELECT {_OBJECT} FROM user_state WHERE app = s.app AND user_id = s.user_id), "
    f"(SELECT {_OBJECT} FROM app_state WHERE app = s.app), s.incarnation "
    "FROM sessions s WHERE s.app = ? AND s.user_id = ? AND s.session_id = ?"
)
_EVENT_COLUMNS = "seq, id, role, kind, content, content_is_json, data, state_delta, created_at"
# CPython's sqlite3 binds None slowly: each one fails an adapter lookup,
# raising and discarding an AttributeError (~1 µs). The statements of an
# append take an absent value as "" instead, which nullif() turns into NULL
# ("" is never a JSON text nor a time).
_INSERT_EVENT = (
    f"INSERT INTO events (key, {_EVENT_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), ?)"
)
_ADVANCE = (
    "UPDATE sessions SET version = ?, updated_at = ?, expires_at = nullif(?, '') WHERE id = ?"
)
_EVENT_RANGE = f"SELECT {_EVENT_COLUMNS} FROM events WHERE key BETWEEN ? AND ? ORDER BY key"
# A read window, the rows of an exact seq range, as events_from_window takes them.
_WINDOW = (
    "SELECT id, role, nullif(kind, 'message'), "
    "CASE WHEN content_is_json THEN CAST(content AS BLOB) ELSE content END, "
    "data, state_delta, created_at FROM events WHERE key BETWEEN ? AND ? ORDER BY key"
)
_DELETE_SESSIONS = [
    f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))"
    for table, column in (("session_state", "sid"), ("idempotency", "sid"), ("sessions", "id"))
]
# (upsert, delete) statements per shared scope; parameters lead with the scope's address.
_SCOPES = {
    "session": (
        "INSERT INTO session_state (sid, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (sid, key) DO UPDATE SET value = excluded.value",
        "DELETE FROM session_state WHERE sid = ? AND key = ?",
    ),
    "user": (
        "INSERT INTO user_state (app, user_id, key, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value",
        "DELETE FROM user_state WHERE app = ? AND user_id = ? AND key = ?",
    ),
    "app": (
        "INSERT INTO app_state (app, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (app, key) DO UPDATE SET value = excluded.value",
        "DELETE FROM app_state WHERE app = ? AND key = ?",
    ),
}

# One shared scope's stored state; parameters are the scope's address.
_SHARED = {
    "user": "SELECT key, value FROM user_state WHERE app = ? AND user_id = ?",
    "app": "SELECT key, value FROM app_state WHERE app = ?",
}


def _shared_scope(request: SharedRequest) -> tuple[str, tuple[str, ...]]:
    """The scope's name in ``_SCOPES`` / ``_SHARED`` and its address."""
    if request.user_id is None:
        return "app", (request.app,)
    return "user", (request.app, request.user_id)


def _event_params(sid: int, rows: list[EventRow]) -> list[tuple]:
    """The parameters of _INSERT_EVENT for event rows of session ``sid``."""
    base = event_key(sid, 0)  # event_key(sid, seq) is base + seq
    return [(base + seq, seq, event_id, role, kind, content, as_json, data or "", delta or "",
             created)
            for seq, event_id, role, kind, content, as_json, data, delta, created in rows]


_INSERT_SESSION = (
    "INSERT INTO sessions (app, user_id, session_id, version, created_at, updated_at, "
    "expires_at, idle_ttl, deadline, metadata, base_state, incarnation) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _insert_session(conn: sqlite3.Connection, values: tuple) -> tuple[int, int]:
    """Insert a session's row (values in ``_INSERT_SESSION``'s order, but the
    incarnation, new here); its rowid and incarnation."""
    incarnation = new_incarnation()
    try:
        sid = conn.execute(_INSERT_SESSION, (*values, incarnation)).lastrowid
    except sqlite3.IntegrityError:
        raise ConflictError(f"session {values[2]!r} already exists") from None
    return sid, incarnation  # type: ignore[return-value]


def _head(row: tuple | None) -> decisions.Head | None:
    return None if row is None else decisions.Head(row[1], row[2], row[3], row[4])


class SQLiteBackend:
    def __init__(self, options: SQLiteOptions, *, migrate_schema: bool = True,
                 checkpointer: Checkpointer | None = None,
                 catch_up: Callable[[], None] | None = None) -> None:
        """``checkpointer``: another backend's on the same file, to share;
        by default this backend starts its own (none for ``:memory:``).
        ``catch_up``: what to do instead of :meth:`catch_up` in the write the
        checkpointer asks it of (see :mod:`.checkpoints`)."""
        self.options = options
        self._db = Database(options, checkpointer)
        if catch_up is not None:
            self._db.on_catch_up = catch_up
        self._recent = RecentRows()
        self._owns_checkpointer = checkpointer is None and options.path != ":memory:"
        try:
            if migrate_schema:
                self._db.run(migrate)
            if self._owns_checkpointer:
                self._db.checkpointer = Checkpointer(options)
        except BaseException:
            self._db.close()
            raise

    @property
    def checkpointer(self) -> Checkpointer | None:
        return self._db.checkpointer

    # -- helpers --------------------------------------------------------
    @staticmethod
    def _write_changes(conn: sqlite3.Connection | sqlite3.Cursor, scope: str, address: tuple,
                       changes: Changes) -> None:
        if not changes:
            return
        upsert, delete = _SCOPES[scope]
        sets = [(*address, k, v) for k, v in changes.items() if v is not None]
        if sets:
            conn.executemany(upsert, sets)
        if len(sets) < len(changes):
            conn.executemany(delete, [(*address, k) for k, v in changes.items() if v is None])

    @staticmethod
    def _session(app: str, user_id: str, session_id: str, row: tuple,
                 events: tuple[Event, ...] = ()) -> Session:
        """A session from a row shaped like ``_LOAD_HEAD``'s."""
        _, version, expires, _, _, metadata, created, updated, own, user, shared, _ = row
        return Session(app, user_id, session_id, view_from_objects(own, user, shared),
                       version, events, {} if metadata == "{}" else decode(metadata), created,
                       updated, expires)

    # -- protocol -------------------------------------------------------
    def create(self, request: CreateRequest) -> Session:
        k, s = request.key, request.state
        base = join_object(s.session)  # type: ignore[arg-type]
        with self._db.writing as conn:
            sid, incarnation = _insert_session(conn, (
                k.app, k.user_id, k.session_id, 0, request.now, request.now,
                request.expires_at, request.idle_ttl, request.deadline,
                encode_metadata(request.metadata), base))
            self._recent.started(sid, incarnation)
            self._write_changes(conn, "session", (sid,), s.session)
            self._write_changes(conn, "user", (k.app, k.user_id), s.user)
            self._write_changes(conn, "app", (k.app,), s.app)
            row = conn.execute(_LOAD_HEAD, (k.app, k.user_id, k.session_id)).fetchone()
            return self._session(k.app, k.user_id, k.session_id, row)

    def get(self, request: GetRequest) -> Session:
        k = request.key
        row, rows, first = self._load(request)
        return self._session(k.app, k.user_id, k.session_id, row,
                             events_from_window(rows, first) if rows else ())

    def get_rows(self, request: GetRequest) -> tuple[Session, tuple[WindowRow, ...], int]:
        """``get``, its window still rows (seqs ``first``…, the form
        :func:`events_from_window` takes): for a wrapper that makes events of
        its own from them (encryption opens them first), so that a window is
        not made into events twice."""
        k = request.key
        row, rows, first = self._load(request)
        return self._session(k.app, k.user_id, k.session_id, row), rows, first

    def _load(self, request: GetRequest) -> tuple[tuple, tuple[WindowRow, ...], int]:
        """Two statements and no transaction: the head with the state (one
        snapshot), then the window by exact seq range, unless its rows are
        kept (:mod:`.recent`). Events never change, so the window matches the
        head whenever the session still exists; if it was deleted in between,
        fewer rows come back."""
        k = request.key
        row = self._db.fetch_one(_LOAD_HEAD, (k.app, k.user_id, k.session_id))
        head = decisions.check_readable(_head(row), k, request.now)
        first, last = decisions.seq_range(request, head.version)
        if first > last:
            return row, (), first  # type: ignore[return-value]
        sid, incarnation = row[0], row[11]  # type: ignore[index]
        recent = self._recent
        kept = recent.kept
        rows = recent.window(sid, incarnation, first, last)
        if rows is None:
            rows = tuple(self._db.fetch_all(
                _WINDOW, (event_key(sid, first), event_key(sid, last))))
            if len(rows) != last - first + 1:
                raise decisions.not_found(k)
            recent.keep(kept, sid, incarnation, first, rows)
        return row, rows, first  # type: ignore[return-value]

    def append(self, request: AppendRequest) -> int:
        k = request.key
        try:
            with self._db.writing:
                cur = self._db.cursor
                row = cur.execute(_HEAD, (k.app, k.user_id, k.session_id)).fetchone()
                prior = None
                if row is not None and request.idempotency_key is not None:
                    prior = cur.execute(
                        "SELECT version, fingerprint FROM idempotency WHERE sid = ? AND key = ?",
                        (row[0], request.idempotency_key),
                    ).fetchone()
                plan = decisions.plan_append(request, _head(row), prior)
                if isinstance(plan, int):
                    return plan
                sid = row[0]
                if plan.version > MAX_SEQ:
                    raise LimitExceededError(
                        f"a SQLite session holds at most {MAX_SEQ} events", field="events",
                        limit=MAX_SEQ, actual=plan.version)
                cur.executemany(_INSERT_EVENT, _event_params(sid, plan.rows))
                delta = request.delta
                self._write_changes(cur, "session", (sid,), delta.session)
                if delta.user or delta.app:
                    self._write_changes(cur, "user", (k.app, k.user_id), delta.user)
                    self._write_changes(cur, "app", (k.app,), delta.app)
                expires = plan.expires_at
                cur.execute(_ADVANCE, (plan.version, request.now,
                                       "" if expires is None else expires, sid))
                if request.idempotency_key is not None:
                    cur.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                                (sid, request.idempotency_key, plan.version, request.fingerprint))
                self._recent.appended(sid, row[5], plan.rows)
                return plan.version
        except BackendError:
            self._recent.forget()  # its rows may be kept, and the commit failed
            raise

    def events(self, request: EventsRequest) -> list[Event]:
        k = request.key
        with self._db.reading as conn:
            row = conn.execute(_SESSION, (k.app, k.user_id, k.session_id)).fetchone()
            decisions.check_readable(_head(row), k, request.now)
            sid = row[0]
            return list(map(event_from_row, conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE key > ? AND key <= ? "
                "ORDER BY key LIMIT ?",
                (event_key(sid, request.after_seq), event_key(sid, MAX_SEQ),
                 request.limit + 1))))

    def sessions(self, request: ListRequest) -> list[Session]:
        where = ["app = ?", "(expires_at IS NULL OR expires_at > ?)"]
        params: list[object] = [request.app, request.now]
        if request.user_id is not None:
            where.append("user_id = ?")
            params.append(request.user_id)
        if request.updated_after is not None:
            where.append("updated_at > ?")
            params.append(request.updated_after)
        if request.after is not None:
            where.append("(created_at, user_id, session_id) > (?, ?, ?)")
            params.extend(request.after)
        for name, value in request.metadata.items():
            where.append("json_extract(metadata, ?) = ?")
            params.extend((f'$."{name}"', value))
        params.append(request.limit + 1)
        with self._db.reading as conn:
            rows = conn.execute(
                f"SELECT user_id, session_id FROM sessions WHERE {' AND '.join(where)} "
                "ORDER BY created_at, user_id, session_id LIMIT ?", params).fetchall()
            return [self._session(request.app, user, sid, conn.execute(
                _LOAD_HEAD, (request.app, user, sid)).fetchone()) for user, sid in rows]

    def fork(self, request: ForkRequest) -> Session:
        k = request.key
        with self._db.writing as conn:
            row = conn.execute(_SESSION, (k.app, k.user_id, k.session_id)).fetchone()
            head = decisions.check_fork(request, _head(row))
            (base_json,) = conn.execute(
                "SELECT base_state FROM sessions WHERE id = ?", (row[0],)).fetchone()
            base = split_object(base_json)
            span = (event_key(row[0], 1), event_key(row[0], request.at_seq))
            deltas = conn.execute(
                "SELECT state_delta FROM events WHERE key BETWEEN ? AND ? "
                "AND state_delta IS NOT NULL ORDER BY key", span)
            state = replay(base, (decode(d) for (d,) in deltas))
            sid, _ = _insert_session(conn, (
                k.app, k.user_id, request.new_session_id, request.at_seq, request.now,
                request.now, decisions.fork_expires_at(head, request.now), head.idle_ttl,
                head.deadline, row[5], base_json))
            conn.execute(
                f"INSERT INTO events (key, {_EVENT_COLUMNS}) SELECT ? + seq, {_EVENT_COLUMNS} "
                "FROM events WHERE key BETWEEN ? AND ? ORDER BY key",
                (event_key(sid, 0), *span))
            self._write_changes(conn, "session", (sid,), state)  # type: ignore[arg-type]
            new = conn.execute(_LOAD_HEAD, (k.app, k.user_id, request.new_session_id)).fetchone()
            return self._session(k.app, k.user_id, request.new_session_id, new)

    def _delete_where(self, conn: sqlite3.Connection, where: str, params: tuple) -> int:
        ids = [i for (i,) in conn.execute(f"SELECT id FROM sessions WHERE {where}", params)]
        if ids:
            self._recent.drop(ids)
            conn.executemany("DELETE FROM events WHERE key BETWEEN ? AND ?",
                             [(event_key(i, 0), event_key(i, MAX_SEQ)) for i in ids])
            doomed = encode(ids, "ids")
            for statement in _DELETE_SESSIONS:
                conn.execute(statement, (doomed,))
        return len(ids)

    def delete(self, key: Key) -> bool:
        with self._db.writing as conn:
            return bool(self._delete_where(
                conn, "app = ? AND user_id = ? AND session_id = ?",
                (key.app, key.user_id, key.session_id)))

    def delete_user(self, app: str, user_id: str) -> int:
        with self._db.writing as conn:
            count = self._delete_where(conn, "app = ? AND user_id = ?", (app, user_id))
            conn.execute("DELETE FROM user_state WHERE app = ? AND user_id = ?", (app, user_id))
            return count

    def shared(self, request: SharedRequest) -> dict[str, str]:
        scope, address = _shared_scope(request)
        return dict(self._db.fetch_all(_SHARED[scope], address))

    def update_shared(self, request: SharedRequest) -> dict[str, str]:
        scope, address = _shared_scope(request)
        with self._db.writing as conn:
            self._write_changes(conn, scope, address, request.changes)
            return dict(conn.execute(_SHARED[scope], address))

    def touch(self, key: Key, now: float) -> float | None:
        with self._db.writing as conn:
            row = conn.execute(_SESSION, (key.app, key.user_id, key.session_id)).fetchone()
            head = decisions.check_readable(_head(row), key, now)
            expires = expires_at(now, head.idle_ttl, head.deadline)
            conn.execute("UPDATE sessions SET expires_at = ? WHERE id = ?", (expires, row[0]))
            return expires

    def purge_expired(self, now: float, limit: int) -> int:
        with self._db.writing as conn:
            return self._delete_where(
                conn, "id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)",
                (now, limit))

    # -- export and import ---------------------------------------------
    def dump(self, app: str | None) -> Iterator[Record]:
        scope_filter = "" if app is None else " WHERE app = ?"
        params = () if app is None else (app,)
        with self._db.reading as conn:
            scopes = [ScopeState(a, None, {}) for (a,) in conn.execute(
                f"SELECT DISTINCT app FROM app_state{scope_filter} ORDER BY app", params)]
            scopes += [ScopeState(a, u, {}) for a, u in conn.execute(
                f"SELECT DISTINCT app, user_id FROM user_state{scope_filter} "
                "ORDER BY app, user_id", params)]
            for scope in scopes:
                if scope.user_id is None:
                    found = conn.execute(_SHARED["app"], (scope.app,))
                else:
                    found = conn.execute(_SHARED["user"], (scope.app, scope.user_id))
                scope.state.update(found)
        yield from map(scope_record, scopes)
        last = 0
        while True:
            with self._db.reading as conn:
                ids = conn.execute(
                    "SELECT id FROM sessions WHERE id > ?"
                    + ("" if app is None else " AND app = ?") + " ORDER BY id LIMIT 100",
                    (last, *params)).fetchall()
            if not ids:
                return
            for (sid,) in ids:
                bundle = self._bundle(sid)
                if bundle is not None:
                    yield from bundle.records()
            last = ids[-1][0]

    def _bundle(self, sid: int) -> SessionBundle | None:
        with self._db.reading as conn:
            row = conn.execute(
                "SELECT app, user_id, session_id, version, created_at, updated_at, expires_at, "
                "idle_ttl, deadline, metadata, base_state FROM sessions WHERE id = ?",
                (sid,)).fetchone()
            if row is None:
                return None
            base = split_object(row[10])
            bundle = SessionBundle(*row[:9], decode(row[9]), base, dict(conn.execute(
                "SELECT key, value FROM session_state WHERE sid = ?", (sid,))))
            bundle.events = conn.execute(
                _EVENT_RANGE, (event_key(sid, 0), event_key(sid, MAX_SEQ))).fetchall()
            bundle.idempotency = {
                key: (v, f) for key, v, f in conn.execute(
                    "SELECT key, version, fingerprint FROM idempotency WHERE sid = ?", (sid,))}
            return bundle

    def restore(self, records: Iterable[Record]) -> int:
        count = 0
        for item in read_records(records):
            with self._db.writing as conn:
                if isinstance(item, ScopeState):
                    if item.user_id is None:
                        self._write_changes(conn, "app", (item.app,), item.state)  # type: ignore[arg-type]
                    else:
                        self._write_changes(conn, "user", (item.app, item.user_id), item.state)  # type: ignore[arg-type]
                    continue
                base = join_object(item.base_state)
                sid, _ = _insert_session(conn, (
                    item.app, item.user_id, item.id, item.version, item.created_at,
                    item.updated_at, item.expires_at, item.idle_ttl, item.deadline,
                    encode_metadata(item.metadata), base))
                if item.version > MAX_SEQ:
                    raise LimitExceededError(
                        f"a SQLite session holds at most {MAX_SEQ} events", field="events",
                        limit=MAX_SEQ, actual=item.version)
                conn.executemany(_INSERT_EVENT, _event_params(sid, item.events))
                self._write_changes(conn, "session", (sid,), item.state)  # type: ignore[arg-type]
                conn.executemany("INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                                 [(sid, k, v, f) for k, (v, f) in item.idempotency.items()])
                count += 1
        return count

    def catch_up(self) -> None:
        """Copy back the WAL frames the checkpoint thread left."""
        self._db.run(lambda _: self._db.catch_up())

    def close(self) -> None:
        self._db.close()
        if self._owns_checkpointer and self.checkpointer is not None:
            self.checkpointer.close()

    # -- rewriting stored texts in place (encryption at rest): rewrite.py --
    def bundle(self, key: Key) -> SessionBundle | None:
        from . import rewrite  # here: rewrite imports this module

        return rewrite.bundle(self, key)

    def replace_session(self, old_version: int, bundle: SessionBundle) -> bool:
        from . import rewrite

        return rewrite.replace_session(self, old_version, bundle)

    def replace_shared(self, old: ScopeState, new: ScopeState) -> int:
        from . import rewrite

        return rewrite.replace_shared(self, old, new)
