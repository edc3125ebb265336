"""Reading a thread back: sessions, events, and channel values rebuilt from
their deltas. Plans (see ``_io``): generators of store calls."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple

from ... import (
    ConflictError,
    Event,
    ExpiredError,
    InvalidInputError,
    NotFoundError,
    Session,
    SessionDBError,
)
from ._io import Cache, Op, Plan
from ._layout import (
    HEAD_MARK,
    INC,
    META_NS,
    META_THREAD,
    ListValue,
    Record,
    flatten_writes,
    items_session_id,
    meta_value,
    read_items,
    session_id,
)

if TYPE_CHECKING:
    from ._codec import Codec

#: Events read with the session state when looking for the latest checkpoint.
#: After a run it is the last event; during one, the cache usually knows it.
HEAD_WINDOW = 1


@dataclass(frozen=True, slots=True)
class Address:
    """Where a ``(thread, namespace)`` lives."""

    app: str
    user: str
    sid: str
    thread: str
    ns: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.app, self.user, self.sid)

    @property
    def metadata(self) -> dict[str, str]:
        return {META_THREAD: meta_value(self.thread), META_NS: meta_value(self.ns)}


#: Items sessions read during one listing: key -> (checked incarnation, events).
ItemsMemo = dict[tuple[str, str, str], tuple[str, dict[int, Event]]]


class CorruptThreadError(SessionDBError):
    """A stored checkpoint refers to an event that is not there."""


class Reader:
    """Plans that read. The saver provides these attributes."""

    app: str
    user_id: str
    idle_ttl: float | None
    max_lifetime: float | None
    _codec: Codec
    _cache: Cache
    _window: int
    _touched: dict[tuple[str, str, str], float]

    def _now(self) -> float:
        raise NotImplementedError

    # -- addresses and sessions ---------------------------------------------
    def _address(self, config: RunnableConfig) -> Address:
        conf = config.get("configurable") or {}
        if conf.get("thread_id") is None:
            raise InvalidInputError("config['configurable']['thread_id'] is required",
                                    field="thread_id")
        thread = str(conf["thread_id"])
        ns = str(conf.get("checkpoint_ns") or "")
        user = str(conf.get("user_id") or self.user_id)
        return Address(self.app, user, session_id(thread, ns), thread, ns)

    def _owned(self, addr: Address, session: Session) -> bool:
        meta = session.metadata
        return meta.get(META_THREAD) == meta_value(addr.thread) and \
            meta.get(META_NS, "") == meta_value(addr.ns)

    def _get(self, addr: Address, last: int = HEAD_WINDOW) -> Plan[Session | None]:
        """The session with its newest ``last`` events; None if it does not
        exist, has expired, or is not this thread's."""
        try:
            session = yield Op("get", addr.key, {"last": last})
        except (NotFoundError, ExpiredError):
            return None
        return session if self._owned(addr, session) else None

    def _open(self, addr: Address, last: int = 0) -> Plan[Session]:
        """The session for writing (its state and version, and its ``last``
        events), created on first use (an expired one is deleted and created
        again)."""
        for _ in range(3):
            try:
                session = yield Op("get", addr.key, {"last": last})
            except NotFoundError:
                pass
            except ExpiredError:
                yield Op("delete", addr.key, {})
            else:
                if not self._owned(addr, session):
                    raise ConflictError(
                        f"session {addr.sid!r} of app {addr.app!r} exists and is not the "
                        f"LangGraph thread {addr.thread!r}; use another app for the saver")
                return session  # type: ignore[no-any-return]
            try:
                return (yield Op("create", addr.key, {  # type: ignore[no-any-return]
                    "state": {INC: os.urandom(8).hex()}, "metadata": addr.metadata,
                    "idle_ttl": self.idle_ttl, "max_lifetime": self.max_lifetime}))
            except ConflictError:
                continue  # created meanwhile by another writer: read it
        raise ConflictError(f"could not open the session of thread {addr.thread!r}")

    # -- events -------------------------------------------------------------
    def _fetch(self, addr: Address, seq: int, have: dict[int, Event],
               window: int = 1) -> Plan[Event]:
        """The event ``seq``, reading the ``window`` events that end at it."""
        if seq not in have:
            window = min(window, self._window, seq)
            page = yield Op("events", addr.key, {"after_seq": seq - window, "limit": window})
            have.update((e.seq, e) for e in page.items)
        if seq not in have:
            raise CorruptThreadError(f"thread {addr.thread!r}: event {seq} is missing")
        return have[seq]

    def _read_all(self, addr: Address) -> Plan[list[Event] | None]:
        """Every event of the session, oldest first (None if it is missing)."""
        events: list[Event] = []
        after = 0
        while True:
            try:
                page = yield Op("events", addr.key, {"after_seq": after, "limit": self._window})
            except (NotFoundError, ExpiredError):
                return None
            events.extend(page.items)
            if page.next_cursor is None or not page.items:
                return events
            after = page.items[-1].seq

    def _form(self, addr: Address, event: Event, channel: str,
              have: dict[int, Event]) -> Plan[dict[str, Any]]:
        form = ((event.data or {}).get("x") or {}).get(channel)
        if not isinstance(form, dict):
            raise CorruptThreadError(
                f"thread {addr.thread!r}: event {event.seq} holds no value of {channel!r}")
        if "s" not in form:
            return form
        text = yield from self._chunks(addr, form["s"], have)
        return json.loads(text)  # type: ignore[no-any-return]

    def _chunks(self, addr: Address, span: list[int], have: dict[int, Event]) -> Plan[str]:
        """The text spilled over the ``lg.blob`` events ``[first, count]``."""
        first, count = span
        for seq in range(first, first + count):
            if seq not in have:
                page = yield Op("events", addr.key, {"after_seq": seq - 1,
                                                     "limit": min(self._window, count)})
                have.update((e.seq, e) for e in page.items)
            if seq not in have:
                raise CorruptThreadError(f"thread {addr.thread!r}: event {seq} is missing")
        return "".join(str(have[s].content) for s in range(first, first + count))

    def _writes(self, addr: Address, payloads: Iterable[dict[str, Any]],
                have: dict[int, Event]) -> Plan[list[dict[str, Any]]]:
        """Pending-writes payloads, with spilled ones read back."""
        out = []
        for payload in payloads:
            if "s" in payload:
                text = yield from self._chunks(addr, payload["s"], have)
                payload = {**payload, "w": json.loads(text)}
            out.append(payload)
        return out

    # -- values -------------------------------------------------------------
    def _items_address(self, addr: Address, channel: str) -> Address:
        return Address(addr.app, addr.user, items_session_id(addr.thread, addr.ns, channel),
                       addr.thread, addr.ns)

    def _read_items(self, addr: Address, channel: str, form: dict[str, Any],
                    memo: ItemsMemo | None = None) -> Plan[ListValue]:
        """A list channel's value: the events of its ranges in its items
        session, read in sequential pages (``memo`` keeps what was read, for
        listings)."""
        items_addr = self._items_address(addr, channel)
        checked = memo.get(items_addr.key) if memo is not None else None
        if checked is None or checked[0] != form["i"]:
            try:
                session = yield Op("get", items_addr.key, {"last": 0})
            except (NotFoundError, ExpiredError):
                session = None
            if session is None or session.state.get(INC) != form["i"]:
                raise CorruptThreadError(
                    f"thread {addr.thread!r}: the items of channel {channel!r} are gone "
                    "(their session expired or was replaced)")
            checked = (form["i"], {})
            if memo is not None:
                memo[items_addr.key] = checked
        seen = checked[1]
        ranges = [(int(a), int(n)) for a, n in form["l"]]
        wanted = sorted({q for a, n in ranges for q in range(a, a + n) if q not in seen})
        start = 0
        while start < len(wanted):
            after = wanted[start] - 1
            page = yield Op("events", items_addr.key, {"after_seq": after,
                                                       "limit": self._window})
            if not page.items:
                break
            seen.update((e.seq, e) for e in page.items)
            last = page.items[-1].seq
            while start < len(wanted) and wanted[start] <= last:
                start += 1
        try:
            events = [seen[seq] for a, n in ranges for seq in range(a, a + n)]
        except KeyError as missing:
            raise CorruptThreadError(f"thread {addr.thread!r}: item event {missing} of "
                                     f"channel {channel!r} is missing") from None
        raw, counts = read_items(events)
        decode = self._codec.decode
        return ListValue(tuple(decode(x) for x in raw), tuple(counts), tuple(ranges), form["i"])

    def _values(self, addr: Address, rec: Record, have: dict[int, Event], inc: str | None,
                memo: ItemsMemo | None = None) -> Plan[dict[str, Any]]:
        """The channel values of a checkpoint. With ``inc``, through the cache
        (and filling it); ``memo`` shares item reads across a listing."""
        values: dict[str, Any] = {}
        for channel, seq in rec.refs.items():
            hit = self._cache.value(inc, channel, seq) if inc is not None else None
            if hit is not None:
                values[channel] = list(hit[1].items) if hit[0] else self._codec.decode(hit[1])
                continue
            event = have.get(seq)
            if event is None:
                event = yield from self._fetch(addr, seq, have)
            form = yield from self._form(addr, event, channel, have)
            if "l" in form:
                stored = yield from self._read_items(addr, channel, form, memo)
                values[channel] = list(stored.items)
                if inc is not None:
                    self._cache.put_value(inc, channel, seq, True, stored)
            else:
                values[channel] = self._codec.decode(form["f"])
                if inc is not None:
                    self._cache.put_value(inc, channel, seq, False, form["f"])
        return values

    # -- tuples -------------------------------------------------------------
    def _config(self, addr: Address, checkpoint_id: str,
                head: bool | None = None) -> RunnableConfig:
        conf: dict[str, Any] = {"thread_id": addr.thread, "checkpoint_ns": addr.ns,
                                "checkpoint_id": checkpoint_id}
        if addr.user != self.user_id:
            conf["user_id"] = addr.user
        if head is not None:
            conf[HEAD_MARK] = head
        return {"configurable": conf}

    def _tuple(self, addr: Address, rec: Record, values: dict[str, Any],
               writes: Iterable[dict[str, Any]], head: bool) -> CheckpointTuple:
        decode = self._codec.decode
        checkpoint = {**decode(rec.body), "id": rec.id, "channel_values": values}
        pending = [(task, ch, decode(value)) for task, ch, value, _, _ in flatten_writes(writes)]
        parent = self._config(addr, rec.parent) if rec.parent else None
        return CheckpointTuple(self._config(addr, rec.id, head), checkpoint,  # type: ignore[arg-type]
                               decode(rec.meta), parent, pending)
