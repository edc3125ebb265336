"""How a LangGraph thread is laid out in SessionDB sessions. Pure: no I/O.

One session per ``(thread_id, checkpoint_ns)``, in the saver's app, owned by
the user named in ``config["configurable"]["user_id"]`` (else the saver's
default user). The root namespace's session id is the thread id itself when
it is a valid SessionDB id; others are ``lg.<hash>``. Session metadata
``lg.thread`` / ``lg.ns`` name the thread and namespace.

Its events (all ``kind="custom"``):

- ``lg.checkpoint``: content is the checkpoint id; ``data`` holds the parent
  id (``p``), the checkpoint without its values (``c``), the metadata
  (``m``), and for every channel a reference ``r[ch]``: the ``seq`` of the
  event that holds the channel's value at this checkpoint's version (0: this
  event). Only channels whose version changed carry a value (``x[ch]``):
  ``{"f": value}``, or for a list ``{"l": [[first, count], ...], "i": inc}``:
  its items are the events of those ranges in the channel's *items session*
  (below), whose ``lg.inc`` is ``inc``. A value too large for the event is
  spilled as JSON text over ``lg.blob`` events just before it:
  ``{"s": [first_seq, count]}``.
- ``lg.writes``: content is the checkpoint id; the append's state delta sets
  one key ``lg.w.<checkpoint>.<hash>`` to ``{"c", "t" (task), "p" (path),
  "w": [[idx, channel, value], ...]}`` (or, when large, ``"s"``: spilled
  like values), so it is both in the log (history) and in the session state
  (the latest checkpoint's pending writes, read with the session in one call).

State: ``lg.head`` = ``{"id", "seq"}`` of the latest checkpoint, ``lg.inc``
= a random incarnation id (cache entries are keyed by it, so a deleted and
recreated session never serves stale values), and the pending-writes keys.

**Items sessions** hold list channels (``add_messages``) one item per event
(``lg.item``, content = the item's JSON text; an item too large for one
event continues over the next ones, the first saying ``{"parts": n}``), in
the order they were first stored. A checkpoint refers to ranges of them, so
a list that grew by one message costs one event and a range that got longer,
and reading a list reads just its items, in a few sequential pages. One per
``(thread, ns, channel)``: ``lg.<hash>``, metadata ``lg.items`` = channel.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import Event

HEAD = "lg.head"
INC = "lg.inc"
WRITES_PREFIX = "lg.w."
ROLE_CHECKPOINT = "lg.checkpoint"
ROLE_WRITES = "lg.writes"
ROLE_BLOB = "lg.blob"
ROLE_ITEM = "lg.item"
META_THREAD = "lg.thread"
META_NS = "lg.ns"
META_ITEMS = "lg.items"
#: Put in the configurable of a config that get_tuple returned for the latest
#: checkpoint; a run that carries it may only extend the latest checkpoint.
HEAD_MARK = "__sessiondb_head"

_ID = re.compile(r"[A-Za-z0-9_.:@+\-]{1,128}")
_HASHED = re.compile(r"lg\.[0-9a-f]{32}")
_ATOMS = (str, int, float, bool, type(None))


def _digest(*parts: str, size: int = 32) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:size]


def session_id(thread: str, ns: str) -> str:
    """The session of ``(thread, ns)``: the thread id itself for the root
    namespace when it is a valid id (and not shaped like a hashed id)."""
    if not ns and _ID.fullmatch(thread) and not _HASHED.fullmatch(thread):
        return thread
    return "lg." + _digest(thread, ns)


def items_session_id(thread: str, ns: str, channel: str) -> str:
    """The items session of a list channel."""
    return "lg." + _digest(thread, ns, "items", channel)


def meta_value(text: str) -> str:
    """A thread id, namespace or channel as a metadata value (at most 512
    characters, else a digest of it)."""
    return text if len(text) <= 512 else "sha256:" + _digest(text, size=64)


def writes_key(checkpoint_id: str, task_id: str, first_idx: int) -> str:
    ckpt = checkpoint_id if len(checkpoint_id) <= 160 else _digest(checkpoint_id)
    return f"{WRITES_PREFIX}{ckpt}.{_digest(task_id, str(first_idx), size=16)}"


@dataclass(slots=True)
class Record:
    """A stored checkpoint, values still by reference."""

    seq: int
    id: str
    parent: str | None
    body: Any
    meta: Any
    refs: dict[str, int]
    forms: dict[str, Any]


def record(event: Event) -> Record:
    data = event.data or {}
    refs = {ch: (event.seq if r == 0 else r) for ch, r in data.get("r", {}).items()}
    return Record(event.seq, str(event.content), data.get("p"), data.get("c"),
                  data.get("m"), refs, data.get("x", {}))


@dataclass(slots=True)
class LogIndex:
    """A session's whole log, indexed: checkpoints by id (the last event for
    an id wins), pending writes by checkpoint id, events by seq."""

    events: dict[int, Event] = field(default_factory=dict)
    checkpoints: dict[str, Record] = field(default_factory=dict)
    writes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, events: Iterable[Event]) -> LogIndex:
        index = cls()
        for event in events:
            index.events[event.seq] = event
            if event.role == ROLE_CHECKPOINT:
                rec = record(event)
                index.checkpoints.pop(rec.id, None)  # keep log order of the last put
                index.checkpoints[rec.id] = rec
            elif event.role == ROLE_WRITES and event.state_delta:
                for key, payload in event.state_delta.items():
                    if key.startswith(WRITES_PREFIX) and isinstance(payload, dict):
                        index.writes.setdefault(payload["c"], {})[key] = payload
        return index


def state_writes(state: Mapping[str, Any], checkpoint_id: str) -> list[dict[str, Any]]:
    """The pending-writes payloads of ``checkpoint_id`` kept in session state."""
    return [v for k, v in state.items()
            if k.startswith(WRITES_PREFIX) and isinstance(v, dict) and v.get("c") == checkpoint_id]


def stale_writes(state: Mapping[str, Any], checkpoint_id: str) -> dict[str, None]:
    """Deletes for the pending-writes keys of checkpoints older than
    ``checkpoint_id`` (their writes stay in the log, for history)."""
    return {k: None for k, v in state.items() if k.startswith(WRITES_PREFIX)
            and isinstance(v, dict) and v.get("c", "") < checkpoint_id}


def flatten_writes(payloads: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, Any, int, str]]:
    """``(task_id, channel, encoded value, idx, task_path)`` in the order
    LangGraph applies them (``writes_sort_key``: path, task, idx)."""
    out = [(p["t"], ch, value, idx, p.get("p", "")) for p in payloads for idx, ch, value in p["w"]]
    out.sort(key=lambda w: (w[4], w[0], w[3]))
    return out


def common_prefix(old: Sequence[Any], new: Sequence[Any], by_identity: bool) -> int:
    """How many leading items of ``new`` are ``old``'s. By identity when
    ``old`` holds the very objects LangGraph was given (O(n) pointer checks,
    no encoding); else by equality (``old`` was decoded from the store)."""
    n = min(len(old), len(new))
    if by_identity:
        same = list(map(operator.is_, old, new))  # C speed: ~10 ns an item
        i = 0
        while True:
            try:
                i = same.index(False, i)
            except ValueError:
                return n
            if not (type(new[i]) in _ATOMS and type(old[i]) is type(new[i])
                    and old[i] == new[i]):
                return i
            i += 1
    for i in range(n):
        if old[i] != new[i]:
            return i
    return n


@dataclass(frozen=True, slots=True)
class ListValue:
    """A list channel's value as stored: its items, how many events each
    item took, the ranges of events, and the items session's incarnation."""

    items: tuple[Any, ...]
    counts: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    inc: str

    def form(self) -> dict[str, Any]:
        return {"l": [list(r) for r in self.ranges], "i": self.inc}


def cut_ranges(ranges: Iterable[Sequence[int]], events: int) -> list[tuple[int, int]]:
    """The first ``events`` events of ``ranges``."""
    out: list[tuple[int, int]] = []
    for first, count in ranges:
        if events <= 0:
            break
        take = min(count, events)
        out.append((first, take))
        events -= take
    return out


def add_range(ranges: list[tuple[int, int]], first: int, count: int) -> list[tuple[int, int]]:
    """``ranges`` then ``[first, count]``, merged with the last range when
    they touch (a list that only grows keeps a single range)."""
    if count <= 0:
        return ranges
    if ranges and ranges[-1][0] + ranges[-1][1] == first:
        return [*ranges[:-1], (ranges[-1][0], ranges[-1][1] + count)]
    return [*ranges, (first, count)]


def item_events(texts: Iterable[str], budget: int) -> tuple[list[dict[str, Any]], list[int]]:
    """The events of items given as JSON text, and how many each takes."""
    events: list[dict[str, Any]] = []
    counts: list[int] = []
    for text in texts:
        if len(text) * 4 <= budget or len(text.encode()) <= budget:
            events.append({"role": ROLE_ITEM, "kind": "custom", "content": text})
            counts.append(1)
            continue
        pieces = split_utf8(text, budget)
        events.append({"role": ROLE_ITEM, "kind": "custom", "content": pieces[0],
                       "data": {"parts": len(pieces)}})
        events.extend({"role": ROLE_ITEM, "kind": "custom", "content": p} for p in pieces[1:])
        counts.append(len(pieces))
    return events, counts


def read_items(events: Sequence[Event]) -> tuple[list[Any], list[int]]:
    """Items (decoded JSON, not yet through the codec) from their events in
    order, and how many events each took."""
    items: list[Any] = []
    counts: list[int] = []
    i = 0
    while i < len(events):
        parts = (events[i].data or {}).get("parts", 1)
        text = "".join(str(e.content) for e in events[i:i + parts])
        items.append(json.loads(text))
        counts.append(parts)
        i += parts
    return items, counts


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def checkpoint_events(
    checkpoint_id: str,
    parent: str | None,
    body: Any,
    meta: Any,
    refs: dict[str, int],
    forms: dict[str, Any],
    next_seq: int,
    budget: int,
) -> list[dict[str, Any]]:
    """The events of one checkpoint, the checkpoint event last.

    Values that do not fit in the checkpoint event (``budget`` bytes of
    content and data) go to ``lg.blob`` events as JSON text, in pieces of at
    most ``budget`` bytes; ``next_seq`` is the seq the first event will get.
    """
    data: dict[str, Any] = {"p": parent, "c": body, "m": meta, "r": refs, "x": {}}
    room = budget - _size(data) - len(checkpoint_id.encode()) - 64
    sized = sorted(((_size(form), ch, form) for ch, form in forms.items()),
                   key=operator.itemgetter(0))
    blobs: list[dict[str, Any]] = []
    for size, ch, form in sized:
        if size + len(ch) + 8 <= room:
            room -= size + len(ch) + 8
            data["x"][ch] = form
            continue
        text = json.dumps(form, ensure_ascii=False, separators=(",", ":"))
        pieces = split_utf8(text, budget - 64)
        data["x"][ch] = {"s": [next_seq + len(blobs), len(pieces)]}
        room -= len(ch) + 40
        blobs.extend({"role": ROLE_BLOB, "kind": "custom", "content": piece} for piece in pieces)
    return [*blobs, {"role": ROLE_CHECKPOINT, "kind": "custom", "content": checkpoint_id,
                     "data": data}]


def split_utf8(text: str, budget: int) -> list[str]:
    """``text`` in pieces of at most ``budget`` UTF-8 bytes, never cutting a
    character in two."""
    raw = text.encode()
    pieces, start = [], 0
    while start < len(raw):
        end = min(start + budget, len(raw))
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # a continuation byte
            end -= 1
        pieces.append(raw[start:end].decode())
        start = end
    return pieces or [""]
