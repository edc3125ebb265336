"""A neutral, framework-free view of a conversation stored in SessionDB.

Every adapter stores its framework's own objects losslessly in the events'
``data``; :func:`conversation` reads them back as plain :class:`Message`
values (role, text, tool calls) whoever wrote them:

- Google ADK events (``data["adk_event"]``, and memory copies in
  ``data["adk_memory"]``);
- OpenAI Agents SDK items (``data["openai_item"]``; ``data["openai_pop"]``
  markers remove the item ``pop_item`` took back);
- LangChain messages: ``{"type": "human" | "ai" | "tool" | …, "data": {…}}``
  (``messages_to_dict``) or the serialised constructor form
  ``{"lc": 1, "type": "constructor", "id": [..., "AIMessage"], "kwargs": {…}}``,
  either as the data itself or as one of its values;
- AutoGen state snapshots (``data["autogen_state"]``), shown as state events;
- plain SessionDB events (``role``, ``content``, ``kind``, ``data``).

It imports no framework, so the CLI can use it on any store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import Event

__all__ = ["Message", "ToolCall", "conversation"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the assistant asked for: the tool's name, its arguments, its id."""

    name: str
    arguments: Any = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of the neutral view.

    ``role`` is ``user``, ``assistant``, ``tool``, ``system`` (or what a plain
    event said); ``kind`` is ``message``, ``tool_call``, ``tool_result``,
    ``state`` or ``custom``; ``name`` is the author (an agent's name, a
    tool's name for results); ``seq`` is the event it came from; ``source``
    names the format (``adk``, ``openai``, ``langchain``, ``autogen``,
    ``sessiondb``).
    """

    role: str
    text: str = ""
    kind: str = "message"
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    seq: int = 0
    source: str = "sessiondb"
    state_delta: Mapping[str, Any] | None = field(default=None, compare=False)


EventLike = Event | Mapping[str, Any]


def conversation(events: Iterable[EventLike], *, include_state: bool = False) -> list[Message]:
    """The messages of ``events`` (``Event`` objects or their dicts), in order.

    Events that carry no conversation (state changes, snapshots, agent
    bookkeeping) are left out unless ``include_state`` is true.
    """
    out: list[Message] = []
    popped: set[int] = set()
    for event in events:
        seq, role, kind, content, data, delta = _fields(event)
        if isinstance(data, Mapping) and isinstance(data.get("openai_pop"), int):
            popped.add(data["openai_pop"])
            continue
        messages = _read(seq, role, kind, content, data, delta)
        out.extend(m for m in messages if include_state or m.kind != "state")
    return [m for m in out if m.seq not in popped] if popped else out


def _fields(event: EventLike) -> tuple[int, str, str, Any, Any, Any]:
    if isinstance(event, Event):
        return (event.seq, event.role, event.kind, event.content, event.data,
                event.state_delta)
    return (int(event.get("seq") or 0), str(event.get("role") or ""),
            str(event.get("kind") or "message"), event.get("content"), event.get("data"),
            event.get("state_delta"))


def _read(seq: int, role: str, kind: str, content: Any, data: Any,
          delta: Any) -> list[Message]:
    if role.startswith("lg."):
        return _langgraph(seq, role, content)
    if isinstance(data, Mapping):
        if isinstance(data.get("adk_event"), Mapping):
            return _adk(seq, data["adk_event"], delta, content)
        if isinstance(data.get("adk_memory"), Mapping):
            return _adk(seq, data["adk_memory"], None, content)
        if isinstance(data.get("openai_item"), Mapping):
            return _openai(seq, data["openai_item"])
        if isinstance(data.get("autogen_state"), Mapping):
            return [_state(seq, role, f"autogen state {data['autogen_state'].get('key')!r} "
                                      "saved", None, "autogen")]
        lc = _langchain_payload(data)
        if lc is not None:
            return _langchain(seq, lc, content)
    return _plain(seq, role, kind, content, data, delta)


def _langgraph(seq: int, role: str, content: Any) -> list[Message]:
    """The LangGraph saver's layout: ``lg.item`` events hold a list channel's
    items (messages) as JSON text; its other events are bookkeeping."""
    if role != "lg.item" or not isinstance(content, str):
        return []
    try:
        item = json.loads(content)
    except ValueError:
        return []
    if isinstance(item, Mapping) and item.get("__sdb") == "msg":  # the saver's message tag
        item = {"type": item.get("type"), "data": item.get("v")}
    lc = _langchain_payload(item) if isinstance(item, Mapping) else None
    return _langchain(seq, lc, None) if lc is not None else []


def _state(seq: int, role: str, text: str, delta: Any, source: str) -> Message:
    return Message(role or "system", text, "state", seq=seq, source=source,
                   state_delta=dict(delta) if isinstance(delta, Mapping) else None)


def compact(value: Any) -> str:
    """Compact JSON text (non-ASCII kept readable); strings as they are."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# -- plain SessionDB events ------------------------------------------------------
def _plain(seq: int, role: str, kind: str, content: Any, data: Any, delta: Any) -> list[Message]:
    data = dict(data) if isinstance(data, Mapping) else None
    if kind == "state":
        text = compact(dict(delta)) if isinstance(delta, Mapping) and content is None \
            else _text_of(content)
        return [_state(seq, role, text, delta, "sessiondb")]
    if kind == "tool_call":
        name = (data or {}).get("name") or (content if isinstance(content, str) else None)
        if data and "name" in data:
            args = data.get("args", data.get("arguments",
                                             {k: v for k, v in data.items() if k != "name"}))
        else:
            args = data
        call = ToolCall(str(name or "tool"), args, (data or {}).get("id"))
        text = "" if content == name else _text_of(content)
        return [Message(role or "assistant", text, kind, (call,), seq=seq)]
    text = _text_of(content)
    if data and kind != "tool_result":
        text = f"{text} {compact(data)}".strip()
    tool_call_id = (data or {}).get("tool_call_id") if kind == "tool_result" else None
    return [Message(role, text, kind, tool_call_id=tool_call_id, seq=seq)]


def _text_of(content: Any) -> str:
    return "" if content is None else compact(content)


# -- Google ADK ------------------------------------------------------------------
def _adk(seq: int, event: Mapping[str, Any], delta: Any, text: Any) -> list[Message]:
    author = str(event.get("author") or "")
    content = event.get("content") or {}
    parts = content.get("parts") or [] if isinstance(content, Mapping) else []
    role = "user" if author == "user" else "assistant"
    # The ADK adapter keeps a lone text part's text only in the event's content.
    text_part = event.get("sessiondbTextPart")
    texts: list[str] = []
    calls: list[ToolCall] = []
    out: list[Message] = []
    for index, part in enumerate(parts):
        if not isinstance(part, Mapping):
            continue
        if index == text_part and isinstance(text, str):
            part = {**part, "text": text}
        if part.get("text") and not part.get("thought"):
            texts.append(str(part["text"]))
        call = part.get("functionCall") or part.get("function_call")
        if isinstance(call, Mapping):
            calls.append(ToolCall(str(call.get("name") or "tool"), call.get("args"),
                                  call.get("id")))
        response = part.get("functionResponse") or part.get("function_response")
        if isinstance(response, Mapping):
            out.append(Message("tool", compact(response.get("response")), "tool_result",
                               tool_call_id=response.get("id"),
                               name=response.get("name"), seq=seq, source="adk"))
    if texts or calls:
        out.insert(0, Message(role, "\n".join(texts), "tool_call" if calls else "message",
                              tuple(calls), name=author or None, seq=seq, source="adk"))
    if not out:
        actions = event.get("actions") or {}
        changes = actions.get("stateDelta") or actions.get("state_delta") or delta
        if changes:
            out.append(_state(seq, role, compact(changes), changes, "adk"))
        else:  # agent bookkeeping (end of agent, transfers …)
            out.append(Message(role, "", "custom", name=author or None, seq=seq, source="adk"))
    return out


# -- OpenAI Agents SDK -------------------------------------------------------------
_OPENAI_TEXT = ("input_text", "output_text", "text", "refusal", "summary_text")


def _openai(seq: int, item: Mapping[str, Any]) -> list[Message]:
    kind = item.get("type")
    if kind in (None, "message") and "role" in item:
        content = item.get("content")
        if isinstance(content, str):
            text = content
        else:
            text = "\n".join(
                str(p.get("text") or p.get("refusal") or "") for p in content or ()
                if isinstance(p, Mapping) and p.get("type") in _OPENAI_TEXT)
        return [Message(str(item["role"]), text, seq=seq, source="openai")]
    if kind == "function_call":
        args = item.get("arguments")
        call = ToolCall(str(item.get("name") or "tool"), _maybe_json(args), item.get("call_id"))
        return [Message("assistant", "", "tool_call", (call,), seq=seq, source="openai")]
    if kind in ("function_call_output", "custom_tool_call_output"):
        return [Message("tool", _text_of(item.get("output")), "tool_result",
                        tool_call_id=item.get("call_id"), seq=seq, source="openai")]
    if kind == "reasoning":
        return [Message("assistant", "", "custom", seq=seq, source="openai")]
    # Hosted tools (web search, file search, computer use, …): a call by type.
    call = ToolCall(str(kind), {k: v for k, v in item.items() if k != "type"}, item.get("id"))
    return [Message("assistant", "", "tool_call", (call,), seq=seq, source="openai")]


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- LangChain ---------------------------------------------------------------------
_LC_ROLES = {"human": "user", "ai": "assistant", "tool": "tool", "system": "system",
             "function": "tool", "developer": "system"}
_LC_CLASSES = {"HumanMessage": "human", "AIMessage": "ai", "ToolMessage": "tool",
               "SystemMessage": "system", "ChatMessage": "chat",
               "FunctionMessage": "function"}


def _langchain_payload(data: Mapping[str, Any],
                       depth: int = 2) -> tuple[str, Mapping[str, Any]] | None:
    """``(type, fields)`` of a LangChain message in ``data`` or nested in its
    values (at most ``depth`` levels down, e.g. ``{"message": {...}}`` or a
    codec's ``{"v": {...}}`` wrapper), or ``None``."""
    kind = data.get("type")
    if kind == "constructor" and isinstance(data.get("kwargs"), Mapping):
        ids = data.get("id")
        name = str(ids[-1]) if isinstance(ids, Sequence) and ids else ""
        base = _LC_CLASSES.get(name.removesuffix("Chunk"))
        if base:
            return base, data["kwargs"]
    elif isinstance(kind, str) and isinstance(data.get("data"), Mapping):
        base = kind.removesuffix("Chunk")
        base = _LC_CLASSES.get(base, base).lower()
        if base in _LC_ROLES or base == "chat":
            return base, data["data"]
    if depth:
        for value in data.values():
            if isinstance(value, Mapping):
                found = _langchain_payload(value, depth - 1)
                if found:
                    return found
    return None


def _langchain(seq: int, payload: tuple[str, Mapping[str, Any]],
               content: Any) -> list[Message]:
    """A LangChain message; its text is the event's ``content`` when the
    message dict leaves it out (the chat history stores it there once)."""
    kind, fields = payload
    role = str(fields.get("role") or "user") if kind == "chat" else _LC_ROLES[kind]
    text = _lc_text(fields.get("content", content))
    if role == "tool":
        return [Message("tool", text, "tool_result", tool_call_id=fields.get("tool_call_id"),
                        name=fields.get("name"), seq=seq, source="langchain")]
    calls = tuple(
        ToolCall(str(c.get("name") or "tool"), c.get("args"), c.get("id"))
        for c in fields.get("tool_calls") or () if isinstance(c, Mapping))
    return [Message(role, text, "tool_call" if calls else "message", calls,
                    name=fields.get("name"), seq=seq, source="langchain")]


def _lc_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [c if isinstance(c, str) else str(c.get("text") or "")
                 for c in content if isinstance(c, str | Mapping)]
        return "\n".join(p for p in parts if p)
    return _text_of(content)
