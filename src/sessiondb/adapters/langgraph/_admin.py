"""Whole-thread operations as plans: delete_thread, copy_thread, prune and
delete_for_runs.

SessionDB's event log is append-only, so pruning and deleting runs rebuild
the thread's session: read it, delete it, create it again with the kept
checkpoints (their stored forms copied as they are: list channels keep
pointing at the same items). That is several store calls, not one
transaction: run them while the thread is idle. Items sessions are left as
they are (items no kept checkpoint uses stay until the thread is deleted).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from ... import ConflictError, Event, ExpiredError, InvalidInputError, NotFoundError
from ._io import Op, Plan
from ._layout import (
    HEAD,
    INC,
    META_ITEMS,
    META_NS,
    META_THREAD,
    ROLE_BLOB,
    ROLE_WRITES,
    LogIndex,
    Record,
    checkpoint_events,
    items_session_id,
    meta_value,
    session_id,
    split_utf8,
)
from ._plans import Plans
from ._read import Address


class Admin(Plans):
    def _thread_sessions(self, thread_id: str) -> Plan[list[tuple[Address, str | None]]]:
        """Every session of a thread, for every user: each namespace's, and
        each list channel's items session (with its channel). Live sessions
        only: expired ones are left to ``purge_expired``."""
        sessions = yield from self._sessions({META_THREAD: meta_value(str(thread_id))}, None)
        return [(Address(self.app, s.user_id, s.id, str(thread_id), s.metadata.get(META_NS, "")),
                 s.metadata.get(META_ITEMS)) for s in sessions]

    def _delete_thread(self, thread_id: str) -> Plan[None]:
        for addr, _ in (yield from self._thread_sessions(thread_id)):
            yield Op("delete", addr.key, {})

    def _copy_thread(self, source: str, target: str) -> Plan[None]:
        target = str(target)
        for addr, channel in (yield from self._thread_sessions(source)):
            try:
                session = yield Op("get", addr.key, {"last": 0})
            except (NotFoundError, ExpiredError):
                continue
            events = yield from self._read_all(addr)
            sid = session_id(target, addr.ns) if channel is None else \
                items_session_id(target, addr.ns, channel)
            dest = Address(self.app, addr.user, sid, target, addr.ns)
            metadata = {**dest.metadata, **({META_ITEMS: channel} if channel else {})}
            # Items keep their incarnation: the copied checkpoints check it.
            inc = session.state.get(INC) if channel else None
            yield from self._recreate(dest, metadata, inc, refuse_existing=True)
            # A fresh session numbers the copies 1, 2, 3…: every reference holds.
            yield from self._append_all(dest, [_copy(e) for e in events or ()])

    def _prune(self, thread_ids: Sequence[str], strategy: str) -> Plan[None]:
        if strategy not in ("keep_latest", "delete"):
            raise InvalidInputError(
                f"strategy must be 'keep_latest' or 'delete', not {strategy!r}", field="strategy")
        for thread_id in thread_ids:
            for addr, channel in (yield from self._thread_sessions(thread_id)):
                if strategy == "delete":
                    yield Op("delete", addr.key, {})
                    continue
                if channel is not None:
                    continue
                events = yield from self._read_all(addr)
                index = LogIndex.build(events or ())
                if len(index.checkpoints) > 1:
                    yield from self._rewrite(addr, index, [list(index.checkpoints.values())[-1]])

    def _delete_for_runs(self, run_ids: Sequence[str]) -> Plan[None]:
        runs = set(run_ids)
        if not runs:
            return
        for session in (yield from self._sessions({}, None)):
            if META_ITEMS in session.metadata:
                continue
            addr = Address(self.app, session.user_id, session.id,
                           session.metadata.get(META_THREAD, ""), session.metadata.get(META_NS, ""))
            events = yield from self._read_all(addr)
            index = LogIndex.build(events or ())
            keep = [rec for rec in index.checkpoints.values()
                    if (self._codec.decode(rec.meta) or {}).get("run_id") not in runs]
            if len(keep) == len(index.checkpoints):
                continue
            if keep:
                yield from self._rewrite(addr, index, keep)
            else:
                yield Op("delete", addr.key, {})

    # -- rebuilding ---------------------------------------------------------------
    def _rewrite(self, addr: Address, index: LogIndex, keep: list[Record]) -> Plan[None]:
        """Replace the session by one holding only the ``keep`` checkpoints
        (in log order) and their pending writes."""
        events: list[dict[str, Any]] = []
        moved: dict[tuple[int, str], int] = {}  # (old seq, channel) -> new seq
        live: dict[str, str] = {}  # pending-writes key -> its checkpoint
        for rec in keep:
            refs, forms = {}, {}
            for channel, old in rec.refs.items():
                if (old, channel) in moved:
                    refs[channel] = moved[(old, channel)]
                    continue
                event = index.events.get(old)
                if event is None:
                    event = yield from self._fetch(addr, old, index.events)
                forms[channel] = yield from self._form(addr, event, channel, index.events)
                refs[channel] = 0
            batch = checkpoint_events(rec.id, rec.parent, rec.body, rec.meta, refs, forms,
                                      len(events) + 1, self._event_budget)
            seq = len(events) + len(batch)
            stale = {k: None for k, c in live.items() if c < rec.id}
            for k in stale:
                del live[k]
            batch[-1]["state_delta"] = {HEAD: {"id": rec.id, "seq": seq}, **stale}
            events.extend(batch)
            for channel in forms:
                moved[(rec.refs[channel], channel)] = seq
            for key, payload in index.writes.get(rec.id, {}).items():
                live[key] = rec.id
                if "s" in payload:  # spilled writes: move their pieces along
                    text = yield from self._chunks(addr, payload["s"], index.events)
                    pieces = split_utf8(text, self._event_budget)
                    payload = {**payload, "s": [len(events) + 1, len(pieces)]}
                    events.extend({"role": ROLE_BLOB, "kind": "custom", "content": p}
                                  for p in pieces)
                events.append({"role": ROLE_WRITES, "kind": "custom", "content": rec.id,
                               "state_delta": {key: payload}})
        yield Op("delete", addr.key, {})
        yield from self._recreate(addr, addr.metadata, None, refuse_existing=False)
        yield from self._append_all(addr, events)

    def _recreate(self, addr: Address, metadata: dict[str, str], inc: str | None,
                  refuse_existing: bool) -> Plan[None]:
        """Create the session afresh (version 0)."""
        try:
            session = yield Op("get", addr.key, {"last": 0})
        except NotFoundError:
            session = None
        except ExpiredError:
            yield Op("delete", addr.key, {})
            session = None
        if session is not None:
            if refuse_existing and (HEAD in session.state or session.version
                                    or session.metadata.get(META_THREAD) != addr.thread):
                raise ConflictError(f"thread {addr.thread!r} already exists in app {addr.app!r}")
            yield Op("delete", addr.key, {})
        items = META_ITEMS in metadata
        idle = self.idle_ttl * 2 if items and self.idle_ttl else self.idle_ttl
        yield Op("create", addr.key, {
            "state": {INC: inc or os.urandom(8).hex()}, "metadata": metadata,
            "idle_ttl": idle, "max_lifetime": self.max_lifetime})

    def _append_all(self, addr: Address, events: Iterable[dict[str, Any]]) -> Plan[None]:
        """Append ``events`` in batches within the store's limits, each batch
        guarded by the version the previous one left."""
        limits = self._limits
        version, batch, size = 0, [], 0
        for event in [*events, None]:
            weight = 0 if event is None else _weight(event)
            if batch and (event is None or len(batch) >= limits.max_events_per_append
                          or size + weight > limits.max_delta_bytes // 2):
                version = yield Op("append", addr.key, {"events": batch,
                                                        "expected_version": version})
                batch, size = [], 0
            if event is not None:
                batch.append(event)
                size += weight


def _copy(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"role": event.role, "kind": event.kind, "content": event.content}
    if event.data is not None:
        out["data"] = dict(event.data)
    if event.state_delta:
        out["state_delta"] = dict(event.state_delta)
    return out


def _weight(event: dict[str, Any]) -> int:
    delta = event.get("state_delta")
    return len(repr(delta)) if delta else 0
