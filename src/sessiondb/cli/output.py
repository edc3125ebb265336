"""How commands print: aligned tables for people, JSON for machines.

Every command builds plain data and hands it here, so the ``--json`` form and
the readable form always show the same facts.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..models import Event, Session

if TYPE_CHECKING:
    from ..adapters.view import Message

_CONTENT_WIDTH = 72


class Output:
    """Where a command writes: ``stdout`` for results, ``stderr`` for notes.

    The streams are looked up at each write, so test harnesses that swap
    ``sys.stdout`` see everything.
    """

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode

    @property
    def stdout(self) -> TextIO:
        return sys.stdout

    @property
    def stderr(self) -> TextIO:
        return sys.stderr

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def note(self, text: str) -> None:
        """A remark for people, on stderr: never mixed into results."""
        self.stderr.write(text + "\n")

    def json(self, value: Any) -> None:
        """One JSON document on stdout."""
        self.line(json.dumps(value, ensure_ascii=False, indent=2))

    def json_line(self, value: Any) -> None:
        """One compact JSON value on one line (for streams such as ``--follow``)."""
        self.line(compact(value))
        self.stdout.flush()

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[str]],
              indent: str = "") -> None:
        for text in table_lines(headers, rows):
            self.line(indent + text)


def table_lines(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows aligned in columns under upper-case headers; the last column is
    left ragged so long content does not pad every line."""
    cells = [[h.upper() for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells]


def compact(value: Any) -> str:
    """Compact JSON text, keeping non-ASCII characters readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def when(timestamp: float | None, never: str = "never") -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``."""
    if timestamp is None:
        return never
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def shorten(text: str, width: int = _CONTENT_WIDTH) -> str:
    """One line of at most ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def content_text(event: Event, width: int = _CONTENT_WIDTH) -> str:
    """An event's content for a table cell: text as is, other JSON compact,
    followed by its ``data`` (tool arguments and the like) when present; a
    ``state`` event shows its delta."""
    content = event.content
    if event.kind == "state" and content is None:
        # update_state records its delta, not content: show what it changed.
        return shorten(compact(dict(event.state_delta or {})), width)
    text = content if isinstance(content, str) else compact(content)
    if event.data:
        text = f"{text} {compact(dict(event.data))}"
    return shorten(text, width)


EVENT_HEADERS = ("seq", "role", "kind", "content")


def message_text(message: Message, width: int = _CONTENT_WIDTH) -> str:
    """A message of the neutral view for a table cell: its text, then each
    tool call as ``→ name(arguments)``."""
    parts = [message.text] if message.text else []
    for call in message.tool_calls:
        args = "" if call.arguments is None else compact(call.arguments)
        parts.append(f"→ {call.name}({args})")
    if message.kind == "tool_result" and message.name:
        parts.insert(0, f"{message.name} →")
    return shorten(" ".join(parts), width)


def message_rows(messages: Iterable[Message]) -> list[list[str]]:
    """Rows of the neutral view: seq, role (with the agent's name when an
    assistant has one), kind, readable content."""
    return [[str(m.seq),
             f"{m.role}:{m.name}" if m.name and m.role == "assistant" else m.role,
             m.kind, message_text(m)] for m in messages]


def session_summary(session: Session) -> dict[str, Any]:
    """A session as JSON data, without its events."""
    data = session.to_dict()
    del data["events"]
    return data


def session_row(session: Session) -> list[str]:
    return [session.id, session.user_id, str(session.version),
            when(session.updated_at), when(session.expires_at)]


SESSION_HEADERS = ("id", "user", "version", "updated", "expires")


def state_rows(state: Mapping[str, Any]) -> list[list[str]]:
    return [[key, shorten(compact(value))] for key, value in sorted(state.items())]
