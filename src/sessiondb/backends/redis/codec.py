"""Key names and the encodings of what the Redis backend stores.

Keys (``P`` is the URL's prefix; ids never contain ``{``, ``}``, ``/``,
``#`` or spaces, so these names cannot collide)::

    P:{app/user}:h:<sid>   HASH  session head: v version, c created_at,
                                 t updated_at, x expires_at, i idle_ttl,
                                 d deadline, m metadata JSON, b base state
                                 JSON, o listing order (hex of created_at)
    P:{app/user}:e:<sid>   LIST  events, event seq n at index n - 1
    P:{app/user}:s:<sid>   HASH  session state: key -> JSON value
    P:{app/user}:k:<sid>   HASH  idempotency: key -> "version fingerprint"
    P:{app/user}:u         HASH  the user's ``user:`` state
    P:{app/user}:l         ZSET  the user's sessions, lex "<order> <sid>"
    P:{app/user}:x         ZSET  the same members, scored by expires_at
    P:{app}:a              HASH  the app's ``app:`` state
    P:{app}:l              ZSET  the app's sessions, lex "<order> <user> <sid>"
    P:{app}:u              ZSET  the app's users, lex (for export)
    P:{#}:apps             SET   every app (for export and purge)
    P:{#}:x                ZSET  "app/user" scored by a lower bound of the
                                 earliest expires_at of the user's sessions
    P:{#}:g                HASH  "app/user" -> a counter bumped whenever a
                                 session is registered in ``P:{#}:x``

The hash tag ``{app/user}`` puts a user's sessions and ``user:`` state in
one cluster slot, so every script touching them runs on one node.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from json.encoder import encode_basestring as _encode_string  # type: ignore[attr-defined]
from typing import Any

from ..._core.decisions import Head
from ..._core.events import EventRow
from ..._core.jsonvalue import decode, encode
from ..._core.state import APP_SCOPE, SESSION_SCOPE, USER_SCOPE, Changes, merged_view
from ...models import Event, Session

_new_event = tuple.__new__


class Names:
    """Key names under one prefix."""

    __slots__ = ("globals", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.globals = f"{prefix}:{{#}}"

    def user(self, app: str, user_id: str) -> str:
        return f"{self.prefix}:{{{app}/{user_id}}}"

    def app(self, app: str) -> str:
        return f"{self.prefix}:{{{app}}}"


def order_key(created_at: float) -> str:
    """16 hex digits that sort (as text) in the order of the floats."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", created_at))
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def number(text: str | None) -> float | None:
    return float(text) if text else None


def text(value: float | None) -> str:
    """A float for a script argument ('' for None), exactly (repr round-trips)."""
    return "" if value is None else repr(float(value))


def changes(flat: list[Any], scope: Changes) -> None:
    """Append ``scope`` to script arguments: a count, then key/JSON pairs
    ('' deletes: no JSON text is empty)."""
    flat.append(len(scope))
    for key, value in scope.items():
        flat.append(key)
        flat.append("" if value is None else value)


def row_text(row: EventRow) -> str:
    """An event row as stored: ``[id, role, kind, content, data, delta,
    created_at]`` with content, data and delta as JSON (string content
    becomes a JSON string), so one decode gives every field back. Its
    place in the session's list gives its seq."""
    return (f"[{_encode_string(row[1])},{_encode_string(row[2])},{_encode_string(row[3])},"
            f"{row_texts(row)},{float(row[8])!r}]")


def row_texts(row: EventRow) -> str:
    """The middle of :func:`row_text`: ``content,data,delta``, the parts
    ``replace_session`` rewrites. The parts around it (ids, roles and kinds
    are ids, times are floats) hold no comma, so a script finds them."""
    _, _, _, _, content, is_json, data, delta, _ = row
    stored = content if is_json else _encode_string(content)
    return f"{stored},{data or 'null'},{delta or 'null'}"


def event(stored: str, seq: int) -> Event:
    event_id, role, kind, content, data, delta, created = decode(stored)
    return _new_event(Event, (role, content, kind, data, event_id, seq, created, delta))  # type: ignore[call-overload]


def row(stored: str, seq: int) -> EventRow:
    event_id, role, kind, content, data, delta, created = decode(stored)
    is_json = not isinstance(content, str)
    return (seq, event_id, role, kind, encode(content, "content") if is_json else content,
            int(is_json), None if data is None else encode(data, "data"),
            None if delta is None else encode(delta, "state_delta"), created)


def events(stored: Sequence[str], first: int) -> tuple[Event, ...]:
    return tuple(event(s, first + i) for i, s in enumerate(stored))


def head(fields: Sequence[str]) -> Head:
    """A :class:`Head` from a script's ``[version, expires_at, idle_ttl, deadline]``."""
    return Head(int(fields[0]), number(fields[1]), number(fields[2]), number(fields[3]))


def pairs(flat: Sequence[str] | dict[str, str]) -> dict[str, str]:
    """A dict from a flat ``[key, value, key, value, …]`` script reply (or
    redis-py's own dict for a plain HGETALL)."""
    if isinstance(flat, dict):
        return flat
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def state(session: Sequence[str] | dict[str, str], user: Sequence[str] | dict[str, str],
          app: Sequence[str] | dict[str, str]) -> dict[str, Any]:
    """The merged view of the three scopes, from flat replies or dicts."""
    return merged_view([
        *((SESSION_SCOPE, k, v) for k, v in pairs(session).items()),
        *((USER_SCOPE, k, v) for k, v in pairs(user).items()),
        *((APP_SCOPE, k, v) for k, v in pairs(app).items()),
    ])


def session(app: str, user_id: str, session_id: str, version: int, created: str,
            updated: str, expires: str, metadata: str, merged: dict[str, Any],
            window: tuple[Event, ...] = ()) -> Session:
    return Session(app, user_id, session_id, merged, version, window, decode(metadata),
                   float(created), float(updated), number(expires))
