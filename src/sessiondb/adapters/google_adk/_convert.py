"""ADK events to SessionDB events and back, losslessly.

An ADK event is stored as one SessionDB event whose ``data["adk_event"]`` is
the event's own JSON dump (``model_dump(mode="json", by_alias=True,
exclude_none=True)``), read back with ``Event.model_validate``. The
SessionDB fields are chosen so any reader understands the event without
ADK: ``role`` (``user``, ``assistant`` or ``tool``), ``kind`` (``message``,
``tool_call``, ``tool_result``, ``state`` or ``custom``), ``content`` (the
event's text, thoughts left out) and ``state_delta`` (the persisted delta).

The text is not stored twice: when the event has one text part, its text is
left out of the dump (``TEXT_PART`` names the part) and put back from
``content`` on reading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from google.adk.events.event import Event as AdkEvent
from google.adk.events.event_actions import EventActions
from google.genai import types

from ...models import Event

DATA_KEY = "adk_event"
#: Dump key naming the part whose text is the SessionDB event's ``content``.
TEXT_PART = "sessiondbTextPart"
_ID = re.compile(r"[A-Za-z0-9_.:@+\-]{1,128}")
T = TypeVar("T")


def from_adk(event: AdkEvent) -> dict[str, Any]:
    """The SessionDB event (a dict for ``append``) holding ``event``."""
    dump = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    parts = event.content.parts if event.content and event.content.parts else []
    texts = [p.text for p in parts if p.text and not p.thought]
    with_text = [i for i, p in enumerate(parts) if p.text is not None]
    if len(texts) == 1 and len(with_text) == 1:
        dump["content"]["parts"][with_text[0]].pop("text")
        dump[TEXT_PART] = with_text[0]
    role = "user" if event.author == "user" else "assistant"
    delta = (dump.get("actions") or {}).get("stateDelta") or None
    if any(p.function_response for p in parts):
        role, kind = "tool", "tool_result"
    elif any(p.function_call for p in parts):
        kind = "tool_call"
    elif parts:
        kind = "message"
    else:
        kind = "state" if delta else "custom"
    stored: dict[str, Any] = {
        "role": role, "kind": kind, "content": "\n".join(texts) if texts else None,
        "data": {DATA_KEY: dump}, "state_delta": delta,
    }
    if event.id and _ID.fullmatch(event.id):
        stored["id"] = event.id  # else the id lives in the dump only
    return stored


def dump_of(event: Event) -> Mapping[str, Any] | None:
    """The complete ADK dump stored in ``event`` (its text put back), or
    ``None`` for an event another client wrote."""
    dump = event.data.get(DATA_KEY) if event.data else None
    if not isinstance(dump, Mapping):
        return None
    if TEXT_PART in dump:
        dump = dict(dump)
        index = dump.pop(TEXT_PART)
        content = dict(dump["content"])
        parts = list(content["parts"])
        parts[index] = {**parts[index], "text": event.content}
        content["parts"] = parts
        dump["content"] = content
    return dump


def to_adk(event: Event) -> AdkEvent:
    """The ADK event stored in ``event``; a plain SessionDB event (written
    by another client) becomes an ADK event with its text and state delta."""
    dump = dump_of(event)
    if dump is not None:
        return AdkEvent.model_validate(dump)
    content = None
    if event.content is not None:
        import json

        text = event.content if isinstance(event.content, str) else json.dumps(event.content)
        content = types.Content(role="user" if event.role == "user" else "model",
                                parts=[types.Part(text=text)])
    return AdkEvent(
        id=event.id, author=event.role, timestamp=event.created_at, content=content,
        actions=EventActions(state_delta=dict(event.state_delta or {})))


def timestamp(event: Event) -> float:
    """The ADK timestamp of a stored event (its creation time if foreign)."""
    dump = event.data.get(DATA_KEY) if event.data else None
    if isinstance(dump, Mapping) and isinstance(dump.get("timestamp"), int | float):
        return float(dump["timestamp"])
    return event.created_at
