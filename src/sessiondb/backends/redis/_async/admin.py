"""Deleting users, purging expired sessions, export and import, and
rewriting stored texts in place (see base.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from ...._core.records import Record, ScopeState, SessionBundle, read_records, scope_record
from ...._core.requests import Key, SharedRequest
from ....errors import BackendError, ConflictError
from ...base import check_session_texts, shared_swaps
from .. import calls, codec
from .client import Client

_PAGE = 500
_PURGE_USERS = 1000  # users one purge script visits before handing back
_BUNDLE_EVENTS = 1000


class Admin:
    """The backend's less frequent operations (mixed into it; the backend
    provides the client, the key names and the two helpers below)."""

    client: Client
    names: codec.Names
    cluster: bool

    def _keys(self, app: str, user_id: str) -> list[str]:
        raise NotImplementedError

    async def _register(self, app: str, user_id: str, member: str, expires: float | None,
                        app_changes: dict) -> Any:
        raise NotImplementedError

    async def _zrem(self, key: str, members: list[str]) -> None:
        for i in range(0, len(members), _PAGE):
            await self.client.call("ZREM", key, *members[i : i + _PAGE])

    async def delete_user(self, app: str, user_id: str) -> int:
        count, gone = await self.client.script("delete_user", self._keys(app, user_id),
                                               [app, user_id])
        if self.cluster:
            base, uid = self.names.app(app), f"{app}/{user_id}"
            await self._zrem(base + ":l", gone)
            await self.client.call("ZREM", base + ":u", user_id)
            await self.client.call("ZREM", self.names.globals + ":x", uid)
            await self.client.call("HDEL", self.names.globals + ":g", uid)
        return int(count)

    async def purge_expired(self, now: float, limit: int) -> int:
        if self.cluster:
            return await self._cluster_purge(now, limit)
        count = 0
        while count < limit:
            done, more = await self.client.script(
                "purge", [self.names.globals],
                [self.names.prefix, codec.text(now), limit - count, _PURGE_USERS])
            count += done
            if not more:
                break
        return count

    async def _cluster_purge(self, now: float, limit: int) -> int:
        """Visit each user whose expiry bound has passed: purge in the user's
        slot, then move the user's bound unless a session was registered
        meanwhile (``purge_cas``)."""
        globals_ = self.names.globals
        count, seen = 0, set()
        while count < limit:
            due = await self.client.call("ZRANGEBYSCORE", globals_ + ":x", "-inf",
                                         codec.text(now), "LIMIT", 0, 100)
            due = [uid for uid in due if uid not in seen]
            if not due:
                break
            counters = await self.client.call("HMGET", globals_ + ":g", *due)
            for uid, counter in zip(due, counters, strict=True):
                seen.add(uid)
                app, user_id = uid.split("/", 1)
                done, first, gone = await self.client.script(
                    "purge_user", [self.names.user(app, user_id)],
                    [user_id, codec.text(now), limit - count])
                await self._zrem(self.names.app(app) + ":l", gone)
                await self.client.script("purge_cas", [globals_], [uid, counter or "", first])
                count += done
                if count >= limit:
                    break
        return count

    # -- export and import ---------------------------------------------
    async def _lex(self, key: str) -> AsyncIterator[str]:
        """The members of a lex-ordered set, page by page."""
        start = "-"
        while True:
            page = await self.client.call("ZRANGEBYLEX", key, start, "+", "LIMIT", 0, _PAGE)
            for member in page:
                yield member
            if len(page) < _PAGE:
                return
            start = "(" + page[-1]

    async def dump(self, app: str | None) -> AsyncIterator[Record]:
        if app is not None:
            apps = [app]
        else:
            apps = sorted(await self.client.call("SMEMBERS", self.names.globals + ":apps"))
        for name in apps:
            shared = codec.pairs(await self.client.call(
                "HGETALL", self.names.app(name) + ":a"))
            if shared:
                yield scope_record(ScopeState(name, None, shared))
            async for user_id in self._lex(self.names.app(name) + ":u"):
                own = codec.pairs(await self.client.call(
                    "HGETALL", self.names.user(name, user_id) + ":u"))
                if own:
                    yield scope_record(ScopeState(name, user_id, own))
        for name in apps:
            async for member in self._lex(self.names.app(name) + ":l"):
                _, user_id, session_id = member.split(" ")
                bundle = await self._bundle(name, user_id, session_id)
                if bundle is not None:
                    for record in bundle.records():
                        yield record

    async def _bundle(self, app: str, user_id: str, session_id: str) -> SessionBundle | None:
        base = self.names.user(app, user_id)
        reply = await self.client.script("bundle", [base], [session_id, _BUNDLE_EVENTS])
        if reply[0] != calls.DONE:
            return None
        version, stored = int(reply[1][0]), list(reply[4])
        while len(stored) < version:
            first = len(stored) + 1
            more = await self.client.call("LRANGE", f"{base}:e:{session_id}", first - 1,
                                          min(version, first + _PAGE - 1) - 1)
            if not more:
                return None  # deleted meanwhile
            stored.extend(more)
        return calls.bundle(app, user_id, session_id, reply, stored)

    async def restore(self, records: Iterable[Record]) -> int:
        count = 0
        for item in read_records(records):
            if isinstance(item, ScopeState):
                await self._restore_scope(item)
                continue
            reply = await self.client.script("restore", self._keys(item.app, item.user_id),
                                             calls.restore_args(item))
            if reply[0] != calls.DONE:
                raise ConflictError(f"session {item.id!r} already exists")
            if self.cluster:
                member = f"{codec.order_key(item.created_at)} {item.user_id} {item.id}"
                await self._register(item.app, item.user_id, member, item.expires_at, {})
            count += 1
        return count

    async def update_shared(self, request: SharedRequest) -> dict[str, str]:
        raise NotImplementedError

    async def _restore_scope(self, item: ScopeState) -> None:
        await self.update_shared(SharedRequest(item.app, item.user_id, 0.0, dict(item.state)))  # type: ignore[arg-type]

    # -- rewriting stored texts --------------------------------------------
    async def bundle(self, key: Key) -> SessionBundle | None:
        return await self._bundle(key.app, key.user_id, key.session_id)

    async def replace_session(self, old_version: int, bundle: SessionBundle) -> bool:
        """One script in the user's slot: atomic against an append."""
        check_session_texts(old_version, bundle)
        reply = await self.client.script("replace_session",
                                         [self.names.user(bundle.app, bundle.user_id)],
                                         calls.replace_args(old_version, bundle))
        if reply == -1:
            raise BackendError(f"a stored event of session {bundle.id!r} is not in the "
                               "form this SessionDB writes")
        return bool(reply)

    async def replace_shared(self, old: ScopeState, new: ScopeState) -> int:
        swaps = shared_swaps(old, new)
        if not swaps:
            return 0
        base = (self.names.app(new.app) if new.user_id is None
                else self.names.user(new.app, new.user_id))
        return int(await self.client.script("replace_shared", [base],
                                            calls.swap_args(new, swaps)))
