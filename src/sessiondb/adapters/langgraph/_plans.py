"""The checkpointer operations as plans (see ``_io``): get_tuple, put,
put_writes, list. Written once; the saver runs them sync or async."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)

from ... import ConflictError, Event, ExpiredError, InvalidInputError, NotFoundError
from ._io import Emit, Op, Plan
from ._layout import (
    HEAD,
    HEAD_MARK,
    INC,
    META_ITEMS,
    ROLE_BLOB,
    ROLE_WRITES,
    ListValue,
    LogIndex,
    Record,
    add_range,
    checkpoint_events,
    common_prefix,
    cut_ranges,
    item_events,
    meta_value,
    record,
    split_utf8,
    stale_writes,
    state_writes,
    writes_key,
)
from ._read import Address, ItemsMemo, Reader

#: How often put re-reads and retries when other writes (usually this run's
#: own pending writes) moved the session on between its read and its append.
PUT_ATTEMPTS = 50


class Plans(Reader):
    _event_budget: int

    # -- get_tuple ------------------------------------------------------------
    def _get_tuple(self, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
        addr = self._address(config)
        wanted = (config.get("configurable") or {}).get("checkpoint_id")
        session = yield from self._get(addr)
        if session is None or HEAD not in session.state:
            return None
        head, inc = session.state[HEAD], session.state.get(INC, "")
        have = {e.seq: e for e in session.events}
        if not wanted or wanted == head["id"]:
            rec = self._cache.record(inc, head["id"])
            if rec is None or rec.seq != head["seq"]:
                event = yield from self._fetch(addr, head["seq"], have)
                rec = record(event)
                self._cache.put_record(inc, rec)
            values = yield from self._values(addr, rec, have, inc)
            writes = yield from self._writes(addr, state_writes(session.state, rec.id), have)
            return self._tuple(addr, rec, values, writes, True)
        # An older checkpoint (time travel, history): read the log.
        events = yield from self._read_all(addr)
        index = LogIndex.build(events or ())
        rec = index.checkpoints.get(wanted)
        if rec is None:
            return None
        values = yield from self._values(addr, rec, index.events, None)
        writes = yield from self._writes(addr, index.writes.get(rec.id, {}).values(), index.events)
        return self._tuple(addr, rec, values, writes, False)

    # -- put ------------------------------------------------------------------
    def _put(self, config: RunnableConfig, checkpoint: Checkpoint,
             metadata: CheckpointMetadata, new_versions: ChannelVersions) -> Plan[RunnableConfig]:
        addr = self._address(config)
        conf = config.get("configurable") or {}
        parent_id: str | None = conf.get("checkpoint_id") or None
        from_head = conf.get(HEAD_MARK) is True
        cid = checkpoint["id"]
        plain_meta = get_serializable_checkpoint_metadata(config, metadata)
        first_of_new_run = not parent_id and plain_meta.get("source") == "input" \
            and plain_meta.get("step") == -1
        meta = self._codec.encode(plain_meta, "metadata")
        body = self._codec.encode(
            {k: v for k, v in checkpoint.items() if k not in ("id", "channel_values")},
            "checkpoint")
        encoded: tuple[dict[str, int], dict[str, Any], dict[str, Any]] | None = None
        encoded_for = None
        for _ in range(PUT_ATTEMPTS):
            session = yield from self._open(addr)
            head, inc = session.state.get(HEAD), session.state.get(INC, "")
            if head is not None and head["id"] != parent_id and (from_head or first_of_new_run):
                raise ConflictError(
                    f"thread {addr.thread!r} moved on to checkpoint {head['id']} while this "
                    f"run was working from {parent_id or 'an empty thread'}: another run "
                    "wrote first. Nothing of this step was stored; retry the run.")
            if encoded is None or encoded_for != inc:  # a retry reuses the stored items
                encoded_for, have = inc, dict[int, Event]()
                parent = yield from self._parent(addr, session, inc, parent_id, have)
                encoded = yield from self._encode_values(
                    addr, inc, checkpoint, new_versions, parent, have)
            refs, forms, cached = encoded
            events = checkpoint_events(cid, parent_id, body, meta, refs, forms,
                                       session.version + 1, self._event_budget)
            seq = session.version + len(events)
            delta = {HEAD: {"id": cid, "seq": seq}, **stale_writes(session.state, cid)}
            try:
                yield Op("append", addr.key, {"events": events, "state_delta": delta,
                                              "expected_version": session.version})
            except ConflictError:
                continue  # another write landed first: read again and re-check
            self._cache.put_record(inc, Record(seq, cid, parent_id, body, meta, {
                ch: seq if r == 0 else r for ch, r in refs.items()}, forms))
            for channel, (is_list, payload) in cached.items():
                self._cache.put_value(inc, channel, seq, is_list, payload)
            yield from self._keep_items_alive(addr, inc, refs, forms)
            return self._config(addr, cid)
        raise ConflictError(f"thread {addr.thread!r}: gave up after {PUT_ATTEMPTS} attempts "
                            "to store a checkpoint while other writes kept landing")

    def _parent(self, addr: Address, session: Any, inc: str, parent_id: str | None,
                have: dict[int, Event]) -> Plan[Record | None]:
        if not parent_id:
            return None
        cached = self._cache.record(inc, parent_id)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        head = session.state.get(HEAD)
        if head is not None and head["id"] == parent_id:
            event = yield from self._fetch(addr, head["seq"], have)
            return record(event)
        # A fork from an older checkpoint: find it in the log.
        events = yield from self._read_all(addr)
        index = LogIndex.build(events or ())
        have.update(index.events)
        return index.checkpoints.get(parent_id)

    def _encode_values(
        self, addr: Address, inc: str, checkpoint: Checkpoint, new_versions: ChannelVersions,
        parent: Record | None, have: dict[int, Event],
    ) -> Plan[tuple[dict[str, int], dict[str, Any], dict[str, tuple[bool, Any]]]]:
        """References for unchanged channels; for the others, the full value,
        or for a list, the new items (stored in the items session) and ranges."""
        values = checkpoint["channel_values"]
        parent_versions = (parent.body or {}).get("channel_versions", {}) if parent else {}
        refs: dict[str, int] = {}
        forms: dict[str, Any] = {}
        cached: dict[str, tuple[bool, Any]] = {}
        for channel, version in checkpoint["channel_versions"].items():
            if channel not in values:
                continue
            base = parent.refs.get(channel) if parent else None
            if channel not in new_versions and base is not None \
                    and parent_versions.get(channel) == version:
                refs[channel] = base
                continue
            value = values[channel]
            refs[channel] = 0
            if type(value) is list and value:
                stored = yield from self._store_list(addr, inc, channel, value, base, have)
                forms[channel] = stored.form()
                cached[channel] = (True, stored)
            else:
                forms[channel] = {"f": self._codec.encode(value, f"channel {channel!r}")}
                cached[channel] = (False, forms[channel]["f"])
        return refs, forms, cached

    def _store_list(self, addr: Address, inc: str, channel: str, value: list[Any],
                    base: int | None, have: dict[int, Event]) -> Plan[ListValue]:
        """Store what is new in a list: the items after the longest prefix it
        shares with the parent's value go to the items session."""
        old: ListValue | None = None
        by_identity = False
        if base is not None:
            hit = self._cache.value(inc, channel, base)
            if hit is not None and hit[0]:
                old, by_identity = hit[1], True
            else:  # not in this process's cache: read it (once per thread)
                event = yield from self._fetch(addr, base, have)
                form = yield from self._form(addr, event, channel, have)
                if "l" in form:
                    old = yield from self._read_items(addr, channel, form)
        keep = common_prefix(old.items, value, by_identity) if old else 0
        texts = [json.dumps(self._codec.encode(item, f"channel {channel!r}"),
                            ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                 for item in value[keep:]]
        events, counts = item_events(texts, self._event_budget)
        kept = sum(old.counts[:keep]) if old else 0
        ranges = cut_ranges(old.ranges, kept) if old else []
        items_inc = old.inc if old else None
        if events:
            first, items_inc = yield from self._append_items(addr, channel, events, items_inc)
            if old is not None and items_inc != old.inc:  # a new items session: all anew
                return (yield from self._store_list(addr, inc, channel, value, None, have))
            ranges = add_range(ranges, first, len(events))
        return ListValue(tuple(value), (*(old.counts[:keep] if old else ()), *counts),
                         tuple(ranges), items_inc or "")

    def _append_items(self, addr: Address, channel: str, events: list[dict[str, Any]],
                      inc: str | None) -> Plan[tuple[int, str]]:
        """Append item events; the seq of the first and the items session's
        incarnation (creating the session on first use)."""
        items = self._items_address(addr, channel)
        for _ in range(3):
            try:
                version = yield Op("append", items.key, {"events": events})
            except (NotFoundError, ExpiredError) as exc:
                if isinstance(exc, ExpiredError):
                    yield Op("delete", items.key, {})
                inc = os.urandom(8).hex()
                try:
                    yield Op("create", items.key, {
                        "state": {INC: inc}, "metadata": {**items.metadata,
                                                          META_ITEMS: meta_value(channel)},
                        "idle_ttl": self.idle_ttl * 2 if self.idle_ttl else None,
                        "max_lifetime": self.max_lifetime})
                except ConflictError:
                    inc = None
                continue
            if inc is None:
                session = yield Op("get", items.key, {"last": 0})
                inc = session.state.get(INC, "")
            self._touched[items.key] = self._now()
            return version - len(events) + 1, inc
        raise ConflictError(f"thread {addr.thread!r}: could not store the items of {channel!r}")

    def _keep_items_alive(self, addr: Address, inc: str, refs: dict[str, int],
                          forms: dict[str, Any]) -> Plan[None]:
        """Items sessions idle-expire twice as late as their thread. Slide one
        on when this process has not written it for an idle period: it then
        always outlives the thread that refers to it."""
        if not self.idle_ttl:
            return
        now = self._now()
        for channel, ref in refs.items():
            form = forms.get(channel) if ref == 0 else None
            if form is None:
                hit = self._cache.value(inc, channel, ref)
                if hit is None or not hit[0]:
                    continue
            elif "l" not in form:
                continue
            items = self._items_address(addr, channel)
            if now - self._touched.get(items.key, -math.inf) < self.idle_ttl:
                continue
            try:
                yield Op("touch", items.key, {})
            except (NotFoundError, ExpiredError):
                continue
            self._touched[items.key] = now

    # -- put_writes -------------------------------------------------------------
    def _put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                    task_id: str, task_path: str) -> Plan[None]:
        if not writes:
            return
        addr = self._address(config)
        cid = (config.get("configurable") or {}).get("checkpoint_id")
        if not cid:
            raise InvalidInputError("put_writes needs config['configurable']['checkpoint_id']",
                                    field="checkpoint_id")
        entries = [[WRITES_IDX_MAP.get(channel, i), channel,
                    self._codec.encode(value, f"write to {channel!r}")]
                   for i, (channel, value) in enumerate(writes)]
        key = writes_key(cid, task_id, entries[0][0])
        payload = {"c": cid, "t": task_id, "p": task_path, "w": entries}
        event = {"role": ROLE_WRITES, "kind": "custom", "content": cid}
        text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
        if len(text.encode()) > self._limits.max_state_value_bytes - 1024:
            yield from self._spill_writes(addr, key, payload, text, event)
            return
        try:
            yield Op("append", addr.key, {"events": [event], "state_delta": {key: payload}})
        except (NotFoundError, ExpiredError):
            yield from self._open(addr)  # writes can race their thread's first put
            yield Op("append", addr.key, {"events": [event], "state_delta": {key: payload}})

    def _spill_writes(self, addr: Address, key: str, payload: dict[str, Any], text: str,
                      event: dict[str, Any]) -> Plan[None]:
        """Writes too large for a state value: their JSON text goes to
        ``lg.blob`` events stored with them, which the state value points to."""
        pieces = split_utf8(text, self._event_budget)
        blobs = [{"role": ROLE_BLOB, "kind": "custom", "content": p} for p in pieces]
        for _ in range(PUT_ATTEMPTS):
            session = yield from self._open(addr)
            pointer = {k: v for k, v in payload.items() if k != "w"}
            pointer["s"] = [session.version + 1, len(pieces)]
            try:
                yield Op("append", addr.key, {"events": [*blobs, event],
                                              "state_delta": {key: pointer},
                                              "expected_version": session.version})
                return
            except ConflictError:
                continue
        raise ConflictError(f"thread {addr.thread!r}: gave up storing large writes")

    # -- list -------------------------------------------------------------------
    def _list(self, config: RunnableConfig | None, filter: dict[str, Any] | None,
              before: RunnableConfig | None, limit: int | None) -> Plan[None]:
        addrs = yield from self._addresses(config)
        conf = (config or {}).get("configurable") or {}
        only = conf.get("checkpoint_id")
        below = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        found: list[tuple[str, Address, LogIndex, Record]] = []
        for addr in addrs:
            events = yield from self._read_all(addr)
            index = LogIndex.build(events or ())
            for rec in index.checkpoints.values():
                if (only and rec.id != only) or (below and not rec.id < below):
                    continue
                if filter:
                    meta = self._codec.decode(rec.meta) or {}
                    if any(meta.get(k) != v for k, v in filter.items()):
                        continue
                found.append((rec.id, addr, index, rec))
        found.sort(key=lambda item: item[0], reverse=True)
        if limit is not None:
            found = found[:limit]
        memo: ItemsMemo = {}
        for cid, addr, index, rec in found:
            values = yield from self._values(addr, rec, index.events, None, memo)
            writes = yield from self._writes(addr, index.writes.get(cid, {}).values(),
                                             index.events)
            yield Emit(self._tuple(addr, rec, values, writes, False))

    def _addresses(self, config: RunnableConfig | None) -> Plan[list[Address]]:
        """The sessions a listing covers: one namespace of a thread, every
        namespace of a thread, or (no config) every thread of the app."""
        conf = (config or {}).get("configurable") or {}
        if conf.get("thread_id") is not None and conf.get("checkpoint_ns") is not None:
            return [self._address(config)]  # type: ignore[arg-type]
        user = conf.get("user_id") if config else None
        wanted: dict[str, str] = {}
        if conf.get("thread_id") is not None:
            wanted = self._address(config).metadata  # type: ignore[arg-type]
            del wanted["lg.ns"]
            user = str(conf.get("user_id") or self.user_id)
        sessions = yield from self._sessions(wanted, user)
        return [Address(self.app, s.user_id, s.id, s.metadata.get("lg.thread", ""),
                        s.metadata.get("lg.ns", "")) for s in sessions
                if META_ITEMS not in s.metadata]

    def _sessions(self, metadata: dict[str, str], user: str | None) -> Plan[list[Any]]:
        """Every live session of the app (or of ``user``) with ``metadata``."""
        out: list[Any] = []
        cursor = None
        while True:
            page = yield Op("sessions", (self.app,), {
                "user_id": user, "metadata": metadata or None, "limit": 1000,
                "cursor": cursor})
            out.extend(s for s in page.items if "lg.thread" in s.metadata)
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor


def _fresh(value: Any) -> Any:
    """Listed checkpoints share items; give each its own list object."""
    return list(value) if type(value) is list else value
