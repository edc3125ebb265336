"""The PostgreSQL backend (``postgresql://…``), async.

Append and load are one round trip each: one call of a server function
(:mod:`..schema`) that checks, writes or reads everything in one
transaction. Create, delete, delete_user and purge are one statement too;
fork, touch, export and import are short transactions of a few statements.

The sync ``PostgresBackend`` in ``_sync/`` is generated from this file by
``scripts/unasync.py``: edit here, then run it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from ...._core import decisions
from ...._core.expiry import expires_at
from ...._core.jsonvalue import decode, join_object, split_object
from ...._core.records import Record, ScopeState, SessionBundle, read_records, scope_record
from ...._core.requests import (
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
from ...._core.state import apply_changes, replay
from ....errors import ConflictError
from ....models import Event, Session
from ...base import check_session_texts, shared_swaps
from ..rows import (
    append_outcome,
    append_params,
    changes,
    clamp,
    event_columns,
    events_of,
    head_of,
    listed_session,
    session_of,
)
from ..sql import MAX_SEQ
from ..url import PostgresOptions
from .database import Database


class AsyncPostgresBackend:
    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self._db = Database(options)
        self._sql = self._db.sql

    async def open(self) -> None:
        """Connect and migrate now rather than on first use."""
        await self._db.open()

    async def _one(self, query: str, params: Any) -> Any:
        """The first row of one statement, in one round trip."""
        async with self._db.connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone()

    # -- protocol -------------------------------------------------------
    async def create(self, request: CreateRequest) -> Session:
        k, s = request.key, request.state
        row = await self._one(self._sql.create, (
            k.app, k.user_id, k.session_id, request.now, request.expires_at, request.idle_ttl,
            request.deadline, encode_metadata(request.metadata),
            join_object(s.session),  # type: ignore[arg-type]
            *changes(s.session), *changes(s.user), *changes(s.app),
        ))
        if row is None:
            raise ConflictError(f"session {k.session_id!r} already exists")
        return session_of(k, k.session_id, row)

    async def get(self, request: GetRequest) -> Session:
        k = request.key
        low, high = decisions.window_bounds(request, MAX_SEQ)
        row = await self._one(self._sql.load, (
            k.app, k.user_id, k.session_id, clamp(low), clamp(high), request.limit,
            request.forward, True,
        ))
        decisions.check_readable(head_of(row), k, request.now)
        return session_of(k, k.session_id, row, request.forward)

    async def append(self, request: AppendRequest) -> int:
        row = await self._one(self._sql.append, append_params(request))
        return append_outcome(request, row)

    async def events(self, request: EventsRequest) -> list[Event]:
        k = request.key
        row = await self._one(self._sql.load, (
            k.app, k.user_id, k.session_id, clamp(request.after_seq + 1), MAX_SEQ,
            request.limit + 1, True, False,
        ))
        decisions.check_readable(head_of(row), k, request.now)
        return events_of(row)

    async def sessions(self, request: ListRequest) -> list[Session]:
        query, params = self._sql.sessions(request)
        async with self._db.connection() as conn:
            cursor = await conn.execute(query, params)  # type: ignore[arg-type]
            rows = await cursor.fetchall()
        return [listed_session(request.app, row) for row in rows]

    async def fork(self, request: ForkRequest) -> Session:
        k = request.key
        async with self._db.connection() as conn, conn.transaction():
            # FOR KEY SHARE: the source cannot be deleted meanwhile; appends go on.
            cursor = await conn.execute(self._sql.fork_source, (k.app, k.user_id, k.session_id))
            source = await cursor.fetchone()
            head = decisions.check_fork(request, head_of(source))
            cursor = await conn.execute(self._sql.fork_deltas, (source[0], request.at_seq))
            deltas = [decode(text) for (text,) in await cursor.fetchall()]
            state = replay(split_object(source[5]), deltas)
            cursor = await conn.execute(self._sql.fork, (
                source[0], request.new_session_id, request.at_seq, request.now,
                decisions.fork_expires_at(head, request.now), *changes(state),
            ))
            row = await cursor.fetchone()
            if row is None:
                raise ConflictError(f"session {request.new_session_id!r} already exists")
        return session_of(k, request.new_session_id, row)

    async def delete(self, key: Key) -> bool:
        row = await self._one(self._sql.delete,
                              (key.app, key.user_id, key.session_id, None, None))
        return bool(row[0])

    async def delete_user(self, app: str, user_id: str) -> int:
        row = await self._one(self._sql.delete, (app, user_id, None, None, None))
        return int(row[0])

    async def shared(self, request: SharedRequest) -> dict[str, str]:
        query = self._sql.shared_app if request.user_id is None else self._sql.shared_user
        async with self._db.connection() as conn:
            cursor = await conn.execute(query, {"app": request.app, "user": request.user_id})
            return dict(await cursor.fetchall())

    async def update_shared(self, request: SharedRequest) -> dict[str, str]:
        """One statement: the scope's writer, and the scope as it was (see
        :mod:`..sql`), to which the changes are applied here."""
        query = self._sql.update_app if request.user_id is None else self._sql.update_user
        keys, values = changes(request.changes)
        row = await self._one(query, {"app": request.app, "user": request.user_id,
                                      "keys": keys, "values": values})
        state = dict(zip(row[1], row[2], strict=True))
        apply_changes(state, request.changes)
        return state

    async def touch(self, key: Key, now: float) -> float | None:
        async with self._db.connection() as conn, conn.transaction():
            cursor = await conn.execute(self._sql.touch_head,
                                        (key.app, key.user_id, key.session_id))
            row = await cursor.fetchone()
            head = decisions.check_readable(head_of(row), key, now)
            new = expires_at(now, head.idle_ttl, head.deadline)
            await conn.execute(self._sql.touch, (new, row[0]))
        return new

    async def purge_expired(self, now: float, limit: int) -> int:
        row = await self._one(self._sql.delete, (None, None, None, now, limit))
        return int(row[0])

    async def dump(self, app: str | None) -> AsyncIterator[Record]:
        async with self._db.connection() as conn:
            cursor = await conn.execute(self._sql.dump_scopes, {"app": app})
            found = await cursor.fetchall()
        scopes: dict[tuple[str, str | None], ScopeState] = {}
        for _, scope_app, user_id, key, value in found:
            scope = scopes.get((scope_app, user_id))
            if scope is None:
                scope = scopes[(scope_app, user_id)] = ScopeState(scope_app, user_id, {})
            scope.state[key] = value
        for scope in scopes.values():
            yield scope_record(scope)
        after = 0
        while True:
            async with self._db.connection() as conn:
                cursor = await conn.execute(self._sql.dump_ids, {"after": after, "app": app})
                ids = [sid for (sid,) in await cursor.fetchall()]
            if not ids:
                return
            for sid in ids:
                bundle = await self._bundle(sid)
                if bundle is not None:
                    for record in bundle.records():
                        yield record
            after = ids[-1]

    async def _bundle(self, sid: int) -> SessionBundle | None:
        """One session with everything stored for it, read in one snapshot."""
        sql = self._sql
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(sql.repeatable_read)
            cursor = await conn.execute(sql.bundle_head, (sid,))
            head = await cursor.fetchone()
            if head is None:
                return None
            bundle = SessionBundle(*head[:10], split_object(head[10]), {})
            cursor = await conn.execute(sql.bundle_state, (sid,))
            bundle.state = dict(await cursor.fetchall())
            cursor = await conn.execute(sql.bundle_events, (sid,))
            bundle.events = await cursor.fetchall()
            cursor = await conn.execute(sql.bundle_keys, (sid,))
            bundle.idempotency = {key: (v, f) for key, v, f in await cursor.fetchall()}
        return bundle

    async def restore(self, records: Iterable[Record]) -> int:
        count = 0
        sql = self._sql
        for item in read_records(records):
            async with self._db.connection() as conn:
                if isinstance(item, ScopeState):
                    if item.user_id is None:
                        await conn.execute(sql.write_app, (item.app, *changes(item.state)))
                    else:
                        await conn.execute(sql.write_user,
                                           (item.app, item.user_id, *changes(item.state)))
                    continue
                async with conn.transaction():
                    cursor = await conn.execute(sql.restore_session, (
                        item.app, item.user_id, item.id, item.version, item.created_at,
                        item.updated_at, item.expires_at, item.idle_ttl, item.deadline,
                        encode_metadata(item.metadata), join_object(item.base_state)))
                    row = await cursor.fetchone()
                    if row is None:
                        raise ConflictError(f"session {item.id!r} already exists")
                    await conn.execute(sql.restore_events,
                                       (row[0], *event_columns(item.events)))
                    await conn.execute(sql.restore_state, (row[0], *changes(item.state)))
                    keys = item.idempotency
                    await conn.execute(sql.restore_keys, (
                        row[0], list(keys), [v for v, _ in keys.values()],
                        [f for _, f in keys.values()]))
            count += 1
        return count

    # -- rewriting stored texts (see base.py) ---------------------------
    async def bundle(self, key: Key) -> SessionBundle | None:
        row = await self._one(self._sql.session_sid, (key.app, key.user_id, key.session_id))
        return None if row is None else await self._bundle(row[0])

    async def replace_session(self, old_version: int, bundle: SessionBundle) -> bool:
        check_session_texts(old_version, bundle)
        sql = self._sql
        async with self._db.connection() as conn, conn.transaction():
            cursor = await conn.execute(sql.replace_head, (
                encode_metadata(bundle.metadata), join_object(bundle.base_state), bundle.app,
                bundle.user_id, bundle.id, old_version))
            row = await cursor.fetchone()
            if row is None:
                return False  # gone, or its version moved on
            await conn.execute(sql.replace_state, (row[0], list(bundle.state)))
            if bundle.state:
                await conn.execute(sql.restore_state, (row[0], *changes(bundle.state)))
            if bundle.events:
                columns = event_columns(bundle.events)
                await conn.execute(sql.replace_events, (columns[0], *columns[4:8], row[0]))
        return True

    async def replace_shared(self, old: ScopeState, new: ScopeState) -> int:
        swaps = shared_swaps(old, new)
        if not swaps:
            return 0
        keys, olds, news = (list(column) for column in zip(*swaps, strict=True))
        query = self._sql.swap_app if new.user_id is None else self._sql.swap_user
        async with self._db.connection() as conn:
            cursor = await conn.execute(query, {"app": new.app, "user": new.user_id,
                                                "keys": keys, "olds": olds, "news": news})
            return cursor.rowcount

    async def close(self) -> None:
        await self._db.close()
