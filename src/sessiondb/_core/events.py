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
from .jsonvalue import decode, encode, utf8_size
from .limits import Limits, check_limit
from .state import ScopedDelta, split_delta

ROLE_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_EVENT_KEYS = frozenset({"role", "content", "kind", "data", "id", "state_delta"})

EventRow = tuple[int, str, str, str, Any, int, str | None, str | None, float]


@dataclass(slots=True)
class EventDraft:
    """A validated event waiting for its ``seq``."""

    id: str
    role: str
    kind: str
    content: Any
    content_is_json: int
    data_json: str | None
    delta: ScopedDelta
    id_given: bool

    def row(self, seq: int, created_at: float, delta_json: str | None) -> EventRow:
        stored = encode_content(self.content) if self.content_is_json else self.content
        return (seq, self.id, self.role, self.kind, stored, self.content_is_json,
                self.data_json, delta_json, created_at)


def encode_content(content: Any) -> str:
    return encode(content, "content")


def draft_events(
    events: Iterable[Event | Mapping[str, Any]], limits: Limits
) -> list[EventDraft]:
    """Validate ``events`` (``Event`` objects or dicts) into drafts."""
    if isinstance(events, Event | Mapping | str | bytes):
        raise InvalidInputError("events must be a list of events", field="events")
    try:
        items = list(events)
    except TypeError:
        raise InvalidInputError("events must be a list of events", field="events") from None
    check_limit("events", len(items), limits.max_events_per_append, "events")
    return [_draft(item, i, limits) for i, item in enumerate(items)]


def _draft(item: Event | Mapping[str, Any], index: int, limits: Limits) -> EventDraft:
    field = f"events[{index}]"
    if isinstance(item, Event):
        role, content, kind, data = item.role, item.content, item.kind, item.data
        event_id, delta = item.id, item.state_delta
    elif isinstance(item, Mapping):
        if not _EVENT_KEYS.issuperset(item):
            unknown = set(item) - _EVENT_KEYS
            raise InvalidInputError(
                f"{field} has unknown fields {sorted(map(str, unknown))}; allowed: "
                f"{sorted(_EVENT_KEYS)}",
                field=field,
            )
        if "role" not in item:
            raise InvalidInputError(f"{field} needs a 'role'", field=f"{field}.role")
        role, content = item["role"], item.get("content")
        kind, data = item.get("kind", "message"), item.get("data")
        event_id, delta = item.get("id") or "", item.get("state_delta")
    else:
        raise InvalidInputError(
            f"{field} must be an Event or a dict, not {type(item).__name__}", field=field
        )
    if not isinstance(role, str) or not valid_role(role):
        raise InvalidInputError(
            f"{field}.role must be 1-64 letters, digits or _ . : -", field=f"{field}.role"
        )
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        raise InvalidInputError(
            f"{field}.kind must be one of {sorted(EVENT_KINDS)}", field=f"{field}.kind"
        )
    id_given = bool(event_id)
    event_id = check_id(event_id, f"{field}.id") if id_given else new_event_id()
    if isinstance(content, str):
        size, content_is_json = utf8_size(content, f"{field}.content"), 0
    else:
        size = utf8_size(encode(content, f"{field}.content"), f"{field}.content")
        content_is_json = 1
    data_json = None
    if data is not None:
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{field}.data must be a JSON object", field=f"{field}.data")
        data_json = encode(data, f"{field}.data")
        size += utf8_size(data_json, f"{field}.data")
    check_limit(field, size, limits.max_event_bytes, "bytes")
    return EventDraft(
        event_id, role, kind, content, content_is_json, data_json,
        split_delta(delta, limits, f"{field}.state_delta"), id_given,
    )


@lru_cache(maxsize=256)
def valid_role(role: str) -> bool:
    return ROLE_PATTERN.fullmatch(role) is not None


def fingerprint(drafts: list[EventDraft], delta: ScopedDelta) -> str:
    """A digest of an append's request, to tell a true retry from a reuse of
    its idempotency key for something else. Generated event ids are left out:
    a retry would generate new ones."""
    parts = [
        [d.id if d.id_given else "", d.role, d.kind, d.content, d.data_json, d.delta.persisted]
        for d in drafts
    ]
    import hashlib  # here, not at the top: it costs ~3 ms of every import

    text = encode([parts, delta.persisted], "request")
    return hashlib.sha256(text.encode()).hexdigest()


_new_event = tuple.__new__


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
        decode(delta_json) if delta_json is not None else None,
    ))
