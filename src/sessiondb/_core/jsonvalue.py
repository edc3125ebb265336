"""JSON encoding of stored values: plain data only, never pickle."""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInputError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_scan = json.JSONDecoder().scan_once
_encode_string = json.encoder.encode_basestring


def decode(text: str) -> Any:
    """Decode JSON that this module encoded (compact, no surrounding space).

    Calls the C scanner directly, about 3x faster than ``json.loads`` on
    small values; anything it does not consume whole goes to ``json.loads``.
    """
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


#: The types of JSON values that no reader can change.
IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def is_flat_object(value: Any) -> bool:
    """Whether ``value`` is a JSON object of immutable values only: a
    shallow copy of it is then as good as decoding it again."""
    return type(value) is dict and all(type(v) in IMMUTABLE for v in value.values())


#: What :func:`dumps` and :func:`sized` raise for a value that is not storable JSON.
NOT_JSON = (TypeError, ValueError, RecursionError)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``; raises one of :data:`NOT_JSON`.

    NaN and infinities are refused (they are not JSON); tuples become lists.
    Strings and integers, the commonest state values, skip the encoder.
    """
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return f"{value}"  # ValueError past sys.get_int_max_str_digits()
    return _encoder.encode(value)


def sized(text: str) -> int:
    """The UTF-8 size of ``text``; ``UnicodeEncodeError`` (a ``ValueError``)
    for lone surrogates, which no backend can store. ASCII text (known
    without a scan) is its own size: no copy is encoded."""
    return len(text) if text.isascii() else len(text.encode())


def not_json(field: str, exc: BaseException) -> InvalidInputError:
    """The error for a value of ``field`` that :func:`dumps` or :func:`sized` refused."""
    if isinstance(exc, UnicodeEncodeError):
        return InvalidInputError(
            f"{field} holds a lone surrogate, which is not valid Unicode text", field=field
        )
    return InvalidInputError(f"{field} is not JSON data: {exc}", field=field)


def encode(value: Any, field: str) -> str:
    """:func:`dumps`, raising :class:`InvalidInputError` naming ``field``."""
    try:
        return dumps(value)
    except NOT_JSON as exc:
        raise not_json(field, exc) from None


def join_object(members: dict[str, str]) -> str:
    """The JSON object text of ``members``, whose values are already JSON."""
    return "{" + ",".join([f"{_encode_string(k)}:{v}" for k, v in members.items()]) + "}"


def split_object(text: str) -> dict[str, str]:
    """The members of a JSON object text, each value as JSON text."""
    return {k: _encoder.encode(v) for k, v in decode(text).items()}


def utf8_size(text: str, field: str) -> int:
    """:func:`sized`, raising :class:`InvalidInputError` naming ``field``."""
    try:
        return len(text.encode())
    except UnicodeEncodeError as exc:
        raise not_json(field, exc) from None
