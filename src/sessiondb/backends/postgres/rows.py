"""Between the core's requests and decisions and the server's rows.

Shared by the async backend and its generated sync twin; no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from operator import itemgetter
from typing import Any

from ..._core import decisions
from ..._core.events import EventRow, event_from_row
from ..._core.jsonvalue import encode
from ..._core.requests import AppendRequest, Key
from ..._core.state import merged_view
from ...errors import BackendError
from ...models import Event, Session
from .sql import MAX_SEQ

_seq = itemgetter(0)


def changes(scope: dict[str, str | None] | dict[str, str]) -> tuple[list[str], list[str | None]]:
    """A scope's changes as the two arrays the server functions take."""
    return list(scope), list(scope.values())


def storable(content: Any, content_is_json: int) -> tuple[Any, int]:
    """PostgreSQL text cannot hold NUL: string content with one is stored as
    its JSON string instead, which reads back as the same string."""
    if not content_is_json and "\x00" in content:
        return encode(content, "content"), 1
    return content, content_is_json


def event_columns(rows: Iterable[EventRow]) -> list[list[Any]]:
    """Event rows as the column arrays the server takes (seq first)."""
    columns: list[list[Any]] = [[] for _ in range(9)]
    for row in rows:
        content, is_json = storable(row[4], row[5])
        for column, value in zip(columns, (*row[:4], content, is_json, *row[6:]), strict=True):
            column.append(value)
    return columns


def clamp(seq: int) -> int:
    return MAX_SEQ if seq > MAX_SEQ else seq


def append_params(request: AppendRequest) -> tuple[Any, ...]:
    """The parameters of the ``append`` function for ``request``.

    The event rows are the core's own (:func:`decisions.event_rows`), so every
    column but ``seq`` is exactly what the other backends write; the server
    numbers the rows after the version it finds.
    """
    expected = request.expected_version
    columns = event_columns(decisions.event_rows(request, 0)) if request.events else [[]] * 9
    k, delta = request.key, request.delta
    return (
        k.app, k.user_id, k.session_id, request.now,
        None if expected is None else clamp(expected),
        request.idempotency_key, request.fingerprint,
        *columns[1:8],
        *changes(delta.session), *changes(delta.user), *changes(delta.app),
    )


def append_outcome(request: AppendRequest, row: Sequence[Any]) -> int:
    """The new version, or the core's error, from what ``append`` returned."""
    found, version, expires, idle, deadline, prior_version, prior_fingerprint, written = row
    if written:
        return int(version) + len(request.events)
    head = decisions.Head(version, expires, idle, deadline) if found else None
    prior = None if prior_version is None else (prior_version, prior_fingerprint)
    outcome = decisions.plan_append(request, head, prior)
    if isinstance(outcome, int):
        return outcome
    raise BackendError("the server declined an append that the rules allow; "
                       "is the schema from another SessionDB version?")


def head_of(row: Sequence[Any] | None) -> decisions.Head | None:
    """The head of a ``loaded`` row (or of ``id, version, expires_at,
    idle_ttl, deadline, …``)."""
    return None if row is None else decisions.Head(row[1], row[2], row[3], row[4])


def events_of(row: Sequence[Any], forward: bool = True) -> list[Event]:
    """The event window of a ``loaded`` row, oldest first."""
    if row[11] is None:
        return []
    rows = list(zip(*row[11:20], strict=True))
    if not forward:
        rows.reverse()  # a backward window comes newest first
    if any(a[0] >= b[0] for a, b in pairwise(rows)):  # never seen; cheap to be sure
        rows.sort(key=_seq)
    return [event_from_row(r) for r in rows]  # type: ignore[arg-type]


def state_of(scopes: Sequence[int] | None, keys: Sequence[str], values: Sequence[str]
             ) -> dict[str, Any]:
    return {} if scopes is None else merged_view(zip(scopes, keys, values, strict=True))


def session_of(key: Key, session_id: str, row: Sequence[Any], forward: bool = True,
               events: bool = True) -> Session:
    """The :class:`Session` of a ``loaded`` row."""
    return Session(
        key.app, key.user_id, session_id, state_of(row[8], row[9], row[10]), row[1],
        tuple(events_of(row, forward)) if events else (), row[5], row[6], row[7], row[2],
    )


def listed_session(app: str, row: Sequence[Any]) -> Session:
    """A :class:`Session` of a listing row: ``user_id, session_id, version,
    expires_at, metadata, created_at, updated_at, scopes, keys, values``."""
    user_id, session_id, version, expires, metadata, created, updated = row[:7]
    return Session(app, user_id, session_id, state_of(*row[7:10]), version, (), metadata,
                   created, updated, expires)
