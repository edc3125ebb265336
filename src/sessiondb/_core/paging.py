"""Turning a backend's rows into :class:`~sessiondb.Page` results.

Backends fetch one row more than the page size; that extra row only tells
that another page exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import Event, Page, Session
from .cursor import encode_cursor
from .requests import EventsRequest, ListRequest, events_tag


def events_page(rows: Sequence[Event], request: EventsRequest) -> Page[Event]:
    items = tuple(rows[: request.limit])
    more = len(rows) > request.limit
    cursor = encode_cursor("e", events_tag(request.key), [items[-1].seq]) if more else None
    return Page(items, cursor)


def sessions_page(rows: Sequence[Session], request: ListRequest) -> Page[Session]:
    items = tuple(rows[: request.limit])
    if len(rows) <= request.limit:
        return Page(items, None)
    last = items[-1]
    return Page(items, encode_cursor("s", request.tag, [last.created_at, last.user_id, last.id]))
