"""The Redis backend: each operation is one Lua script on the session's slot.

On one Redis server every operation is one round trip and atomic, ``app:``
state and the app-wide indexes included. On a Redis Cluster, what lives in
another slot is done in further calls after the session's script: the
app's state and session index (``app:`` changes of an append are applied
right after it, not atomically with it), and the global expiry index. See
docs/storage.md.
"""

from __future__ import annotations

from typing import Any

from ...._core.requests import (
    AppendRequest,
    CreateRequest,
    EventsRequest,
    ForkRequest,
    GetRequest,
    Key,
    ListRequest,
    SharedRequest,
)
from ...._core.state import Changes
from ....errors import ConflictError
from ....models import Event, Session
from .. import calls, codec
from ..options import RedisOptions
from .admin import Admin
from .client import Client

_FORK_ATTEMPTS = 3


class AsyncRedisBackend(Admin):
    def __init__(self, options: RedisOptions) -> None:
        self.options = options
        self.names = codec.Names(options.prefix)
        self.cluster = options.cluster
        self.grace = str(round(options.gc_grace * 1000))
        self.client = Client(options)

    # -- helpers --------------------------------------------------------
    def _keys(self, app: str, user_id: str) -> list[str]:
        """What a session script declares: the user's slot, and on one
        server the app's and global bases too (then it updates them itself)."""
        user = self.names.user(app, user_id)
        if self.cluster:
            return [user]
        return [user, self.names.app(app), self.names.globals]

    async def _register(self, app: str, user_id: str, member: str, expires: float | None,
                        app_changes: Changes) -> Any:
        """Cluster: a new session's entries in the app's and global slots
        (after the session exists, so a purge never misses it); the app's state."""
        args: list[Any] = []
        codec.changes(args, app_changes)
        shared = await self.client.script("app_step", [self.names.app(app)],
                                          [*args, member, user_id, "1"])
        await self.client.script("global_step", [self.names.globals],
                                 [app, f"{app}/{user_id}", codec.text(expires)])
        return shared

    async def _app_state(self, app: str) -> Any:
        return await self.client.call("HGETALL", self.names.app(app) + ":a")

    # -- protocol -------------------------------------------------------
    async def create(self, request: CreateRequest) -> Session:
        k = request.key
        args = calls.create_args(request, self.grace, not self.cluster)
        reply = await self.client.script("create", self._keys(k.app, k.user_id), args)
        shared = reply[2] if len(reply) > 2 else ()
        if self.cluster and reply[0] == calls.DONE:
            shared = await self._register(k.app, k.user_id, calls.app_member(k, request.now),
                                          request.expires_at, request.state.app)
        return calls.created(request, reply, shared)

    async def get(self, request: GetRequest) -> Session:
        k = request.key
        if not self.cluster and request.before_seq is None:
            # No Lua: a window that does not end at before_seq is an LRANGE
            # relative to the list's ends, readable without knowing the version.
            replies = await self.client.transaction(calls.snapshot_commands(
                request, self.names.user(k.app, k.user_id), self.names.app(k.app)))
            return calls.snapshot(request, replies)
        reply = await self.client.script("load", self._keys(k.app, k.user_id)[:2],
                                         calls.load_args(request))
        shared = None
        if self.cluster and reply[0] == calls.DONE:
            shared = await self._app_state(k.app)
        return calls.loaded(request, reply, shared)

    async def append(self, request: AppendRequest) -> int:
        k = request.key
        reply = await self.client.script(
            "append", self._keys(k.app, k.user_id)[:2],
            calls.append_args(request, self.grace, not self.cluster))
        version = calls.appended(request, reply)
        if self.cluster and request.delta.app and reply[0] == calls.DONE and request.events:
            args: list[Any] = []
            codec.changes(args, request.delta.app)
            await self.client.script("app_step", [self.names.app(k.app)], [*args, "", "", "0"])
        return version

    async def events(self, request: EventsRequest) -> list[Event]:
        k = request.key
        reply = await self.client.script("events", [self.names.user(k.app, k.user_id)],
                                         calls.events_args(request))
        return calls.events_of(request, reply)

    async def sessions(self, request: ListRequest) -> list[Session]:
        app = request.app
        if request.user_id is not None:
            keys = self._keys(app, request.user_id)[:2]
        elif not self.cluster:
            keys = [self.names.app(app)] * 2
        else:
            return await self._cluster_sessions(request)
        rows, flat_users, shared = await self.client.script(
            "list", keys, calls.list_args(request, self.names.prefix))
        if self.cluster:
            shared = await self._app_state(app)
        users = dict(zip(flat_users[::2], flat_users[1::2], strict=True))
        return calls.listed(app, rows, users, shared)

    async def _cluster_sessions(self, request: ListRequest) -> list[Session]:
        """An app-wide page on a cluster: the app's index, then the sessions'
        summaries from each user's slot, until the page is full."""
        app, want = request.app, request.limit + 1
        start = calls.list_start(request)
        found: list[Any] = []
        users: dict[str, Any] = {}
        more = True
        while more and len(found) < want:
            asked = want - len(found)
            members = await self.client.call(
                "ZRANGEBYLEX", self.names.app(app) + ":l", start, "+", "LIMIT", 0, asked)
            if not members:
                break
            more = len(members) == asked
            by_user: dict[str, list[str]] = {}
            for m in members:
                _, user_id, sid = m.split(" ")
                by_user.setdefault(user_id, []).append(sid)
            rows: dict[tuple[str, str], Any] = {}
            for user_id, sids in by_user.items():
                got, users[user_id] = await self.client.script(
                    "summaries", [self.names.user(app, user_id)],
                    [*calls.filter_args(request), *sids])
                rows.update(((user_id, row[0]), row) for row in got)
            for m in members:
                _, user_id, sid = m.split(" ")
                if (user_id, sid) in rows:
                    found.append([user_id, *rows[user_id, sid]])
            start = "(" + members[-1]
        return calls.listed(app, found, users, await self._app_state(app))

    async def fork(self, request: ForkRequest) -> Session:
        k = request.key
        keys = self._keys(k.app, k.user_id)
        for _ in range(_FORK_ATTEMPTS):
            source = await self.client.script(
                "fork_read", keys[:1], [k.session_id, codec.text(request.now), request.at_seq])
            args, state, expires = calls.fork_args(request, source, self.grace)
            reply = await self.client.script("fork_write", keys, args)
            if reply[0] == calls.MISSING:
                raise ConflictError(f"session {request.new_session_id!r} already exists")
            if reply[0] != calls.DONE:
                continue  # the source was deleted or replaced meanwhile: read it again
            shared = reply[2]
            if self.cluster:
                shared = await self._register(
                    k.app, k.user_id, calls.app_member(k, request.now, request.new_session_id),
                    expires, {})
            return calls.forked(request, reply, state, expires, shared)
        raise ConflictError(f"session {k.session_id!r} kept changing while being forked")

    async def delete(self, key: Key) -> bool:
        reply = await self.client.script("delete", self._keys(key.app, key.user_id)[:2],
                                         [key.session_id, key.user_id])
        if self.cluster and reply[0] == calls.DONE:
            await self.client.call("ZREM", self.names.app(key.app) + ":l", reply[1])
        return reply[0] == calls.DONE

    def _shared_hash(self, request: SharedRequest) -> tuple[str, str]:
        """The base of a shared scope's slot, and its hash's suffix there."""
        if request.user_id is None:
            return self.names.app(request.app), ":a"
        return self.names.user(request.app, request.user_id), ":u"

    async def shared(self, request: SharedRequest) -> dict[str, str]:
        base, suffix = self._shared_hash(request)
        return codec.pairs(await self.client.call("HGETALL", base + suffix))

    async def update_shared(self, request: SharedRequest) -> dict[str, str]:
        """One script in the scope's slot. On a cluster, a write that sets a
        key first registers the app (and the user) for export in their own
        slots, so a crash in between leaves nothing an export misses."""
        app, user_id = request.app, request.user_id
        base, suffix = self._shared_hash(request)
        args: list[Any] = [suffix, app, user_id or ""]
        codec.changes(args, request.changes)
        keys = [base]
        if not self.cluster:
            keys += [self.names.app(app), self.names.globals]
        elif any(v is not None for v in request.changes.values()):
            await self.client.script("global_step", [self.names.globals], [app, "", ""])
            if user_id is not None:
                await self.client.script("app_step", [self.names.app(app)], [0, "", user_id, "0"])
        return codec.pairs(await self.client.script("shared_update", keys, args))

    async def touch(self, key: Key, now: float) -> float | None:
        reply = await self.client.script("touch", [self.names.user(key.app, key.user_id)],
                                         [key.session_id, codec.text(now), self.grace])
        return calls.touched(key, now, reply)

    async def close(self) -> None:
        await self.client.aclose()
