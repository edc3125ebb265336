"""Validating events given to ``append`` and turning stored rows back into
:class:`~sessiondb.Event` objects.

A stored event row is the tuple ``(seq, id, role, kind, content, content_is_json,
data_json, delta_json, created_at)``. String content (the common case) is
stored as it is, so reading a message decodes no JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import InvalidInputError
from ..models import EVENT_KINDS, Event
from .ids import check_id, new_event_id
from .jsonvalue import NOT_JSON, decode, dumps, encode, is_flat_object, not_json, sized
from .limits import Limits, check_limit
from .state import EMPTY_DELTA, ScopedDelta, split_delta

ROLE_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_EVENT_KEYS = frozenset({"role", "content", "kind", "data", "id", "state_delta"})

EventRow = tuple[int, str, str, str, Any, int, str | None, str | None, float]
#: A stored event as a read window may return it, two columns leaner than
#: an :data:`EventRow` (each column read costs more than the value it
#: carries): no seq, which the window's range gives, and no
#: ``content_is_json``: JSON content comes as bytes (its UTF-8 text), text
#: content as str; ``kind`` None for ``message``, the commonest (a NULL is
#: cheaper to read than a string). ``(id, role, kind, content, data_json,
#: delta_json, created_at)``.
WindowRow = tuple[str, str, str | None, str | bytes, str | None, str | None, float]


@dataclass(slots=True)
class EventDraft:
    """A validated event waiting for its ``seq``."""

    id: str
    role: str
    kind: str
    stored: str
    """The content as stored: the text itself, or JSON text when
    ``content_is_json``."""
    content_is_json: int
    data_json: str | None
    delta: ScopedDelta
    id_given: bool

    def row(self, seq: int, created_at: float, delta_json: str | None) -> EventRow:
        return (seq, self.id, self.role, self.kind, self.stored, self.content_is_json,
                self.data_json, delta_json, created_at)


def draft_events(
    events: Iterable[Event | Mapping[str, Any]], limits: Limits
) -> list[EventDraft]:
    """Validate ``events`` (``Event`` objects or dicts) into drafts."""
    if type(events) is not list and isinstance(events, Event | Mapping | str | bytes):
        raise InvalidInputError("events must be a list of events", field="events")
    try:
        items = list(events)
    except TypeError:
        raise InvalidInputError("events must be a list of events", field="events") from None
    check_limit("events", len(items), limits.max_events_per_append, "events")
    return [_draft(item, i, limits) for i, item in enumerate(items)]


def _draft(item: Event | Mapping[str, Any], index: int, limits: Limits) -> EventDraft:
    # This runs for every event appended: field names are built only when an
    # error needs one.
    if isinstance(item, Event):
        role, content, kind, data = item.role, item.content, item.kind, item.data
        event_id, delta = item.id, item.state_delta
    elif type(item) is dict or isinstance(item, Mapping):  # skips the ABC check for dicts
        if not _EVENT_KEYS.issuperset(item):
            unknown = sorted(map(str, set(item) - _EVENT_KEYS))
            raise _invalid(index, "", f"has unknown fields {unknown}; allowed: "
                                      f"{sorted(_EVENT_KEYS)}")
        if "role" not in item:
            raise _invalid(index, ".role", "is missing")
        role, content = item["role"], item.get("content")
        kind, data = item.get("kind", "message"), item.get("data")
        event_id, delta = item.get("id") or "", item.get("state_delta")
    else:
        raise _invalid(index, "", f"must be an Event or a dict, not {type(item).__name__}")
    if not isinstance(role, str) or not valid_role(role):
        raise _invalid(index, ".role", "must be 1-64 letters, digits or _ . : -")
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        raise _invalid(index, ".kind", f"must be one of {sorted(EVENT_KINDS)}")
    id_given = bool(event_id)
    event_id = check_id(event_id, f"events[{index}].id") if id_given else new_event_id()
    content_is_json = 0 if isinstance(content, str) else 1
    try:
        stored = dumps(content) if content_is_json else content
        size = sized(stored)
    except NOT_JSON as exc:
        raise not_json(f"events[{index}].content", exc) from None
    data_json = None
    if data is not None:
        if not isinstance(data, Mapping):
            raise _invalid(index, ".data", "must be a JSON object")
        try:
            data_json = dumps(data)
            size += sized(data_json)
        except NOT_JSON as exc:
            raise not_json(f"events[{index}].data", exc) from None
    if size > limits.max_event_bytes:
        check_limit(f"events[{index}]", size, limits.max_event_bytes, "bytes")
    return EventDraft(
        event_id, role, kind, stored, content_is_json, data_json,
        split_delta(delta, limits, f"events[{index}].state_delta") if delta is not None
        else EMPTY_DELTA, id_given,
    )


def _invalid(index: int, part: str, problem: str) -> InvalidInputError:
    field = f"events[{index}]{part}"
    return InvalidInputError(f"{field} {problem}", field=field)


@lru_cache(maxsize=256)
def valid_role(role: str) -> bool:
    return ROLE_PATTERN.fullmatch(role) is not None


def fingerprint(drafts: list[EventDraft], delta: ScopedDelta) -> str:
    """A digest of an append's request, to tell a true retry from a reuse of
    its idempotency key for something else. Generated event ids are left out:
    a retry would generate new ones."""
    parts = [
        [d.id if d.id_given else "", d.role, d.kind, d.stored, d.content_is_json, d.data_json,
         d.delta.persisted]
        for d in drafts
    ]
    import hashlib  # here, not at the top: it costs ~3 ms of every import

    text = encode([parts, delta.persisted], "request")
    return hashlib.sha256(text.encode()).hexdigest()


_new_event = tuple.__new__

#: Recorded deltas decoded lately, by their JSON text. A read window is read
#: again and again (an agent reloads its last events every turn) and about
#: one event in two carries a delta, whose decoding is most of the cost of
#: building that event. Only flat deltas are kept (every value a string,
#: number, bool or null), and each reader gets its own copy: nothing a caller
#: holds is shared. Cleared when full.
_decoded_deltas: dict[str, dict[str, Any]] = {}
_MEMO_SIZE = 1024
_MEMO_MAX_TEXT = 256


def decode_delta(text: str) -> Any:
    """The value of a recorded delta's JSON text (a fresh dict each call)."""
    hit = _decoded_deltas.get(text)
    if hit is not None:
        return hit.copy()
    value = decode(text)
    if len(text) <= _MEMO_MAX_TEXT and is_flat_object(value):
        if len(_decoded_deltas) >= _MEMO_SIZE:
            _decoded_deltas.clear()
        _decoded_deltas[text] = value
        return value.copy()
    return value


def event_from_row(row: EventRow) -> Event:
    seq, event_id, role, kind, content, content_is_json, data_json, delta_json, created = row
    return _new_event(Event, (  # type: ignore[call-overload]
        role,
        decode(content) if content_is_json else content,
        kind,
        decode(data_json) if data_json is not None else None,
        event_id,
        seq,
        created,
        decode_delta(delta_json) if delta_json is not None else None,
    ))


def events_from_window(rows: Iterable[WindowRow], first: int) -> tuple[Event, ...]:
    """The events of a read window: consecutive rows, the first being seq
    ``first``, in the lean form a backend may read them in (see
    :data:`WindowRow`). :func:`event_from_row` for a whole stored row."""
    return tuple([
        _new_event(Event, (  # type: ignore[call-overload]
            role,
            content if type(content) is str else decode(content.decode()),
            kind or "message",
            decode(data_json) if data_json is not None else None,
            event_id,
            seq,
            created,
            decode_delta(delta_json) if delta_json is not None else None,
        ))
        for seq, (event_id, role, kind, content, data_json, delta_json, created)
        in enumerate(rows, first)
    ])
