"""JSON encoding of stored values: plain data only, never pickle."""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInputError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
decode = json.loads


def encode(value: Any, field: str) -> str:
    """Encode ``value`` as compact JSON or raise naming ``field``.

    NaN and infinities are refused (they are not JSON); tuples become lists.
    """
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{field} is not JSON data: {exc}", field=field) from None


def join_object(members: dict[str, str]) -> str:
    """The JSON object text of ``members``, whose values are already JSON."""
    return "{" + ",".join(f"{_encoder.encode(k)}:{v}" for k, v in members.items()) + "}"


def split_object(text: str) -> dict[str, str]:
    """The members of a JSON object text, each value as JSON text."""
    return {k: _encoder.encode(v) for k, v in decode(text).items()}
