"""Identifier syntax and generation."""

from __future__ import annotations

import re
import secrets

from ..errors import InvalidInputError, LimitExceededError

#: Letters, digits and ``_ . : @ + -``: safe in URLs, SQL, Redis keys and paths.
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:@+\-]+")
MAX_ID_LENGTH = 128


def new_id() -> str:
    """A fresh random id: 128 bits from :mod:`secrets`, URL-safe."""
    return secrets.token_urlsafe(16)


def check_id(value: object, field: str) -> str:
    """Return ``value`` if it is a well-formed id, else raise naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a string, not {type(value).__name__}", field=field
        )
    if len(value) > MAX_ID_LENGTH:
        raise LimitExceededError(
            f"{field} is {len(value)} characters; the limit is {MAX_ID_LENGTH}",
            field=field,
            limit=MAX_ID_LENGTH,
            actual=len(value),
        )
    if not ID_PATTERN.fullmatch(value):
        raise InvalidInputError(
            f"{field} {value!r} must be 1-{MAX_ID_LENGTH} characters of letters, digits "
            "and _ . : @ + -",
            field=field,
        )
    return value
