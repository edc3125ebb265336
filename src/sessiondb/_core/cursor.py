"""Opaque pagination cursors.

A cursor is URL-safe base64 of a small JSON array: a kind tag, a fingerprint
of the query it belongs to, and the position after which the next page
starts. A cursor given to another query, or altered, is refused with
:class:`~sessiondb.InvalidInputError`; it can never reach outside the scope of
the query it is used with, since scoping comes from the query's arguments.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..errors import InvalidInputError


def query_tag(*parts: Any) -> str:
    """A short fingerprint of a query's filters, so cursors stay with it."""
    import hashlib  # here, not at the top: it costs ~3 ms of every import

    text = json.dumps(parts, separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.blake2s(text.encode(), digest_size=6).hexdigest()


def encode_cursor(kind: str, tag: str, position: list[Any]) -> str:
    raw = json.dumps([kind, tag, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, kind: str, tag: str, shape: tuple[type, ...]) -> list[Any]:
    """The position inside ``cursor``, checked against ``kind``, ``tag`` and
    the types in ``shape``; raises :class:`InvalidInputError` otherwise."""
    bad = InvalidInputError("cursor is malformed or belongs to another query", field="cursor")
    if not isinstance(cursor, str) or len(cursor) > 2048:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise bad from None
    if not isinstance(value, list) or len(value) != 2 + len(shape):
        raise bad
    if value[0] != kind or value[1] != tag:
        raise bad
    position = value[2:]
    for item, expected in zip(position, shape, strict=True):
        if isinstance(item, bool) or not isinstance(item, expected):
            raise bad
    return position
