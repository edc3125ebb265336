"""Identifier syntax and generation."""

from __future__ import annotations

import base64
import itertools
import os
import re
from functools import lru_cache

from ..errors import InvalidInputError, LimitExceededError

#: Letters, digits and ``_ . : @ + -``: safe in URLs, SQL, Redis keys and paths.
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:@+\-]+")
MAX_ID_LENGTH = 128


def _token(size: int) -> str:
    """``size`` random bytes from the OS, URL-safe base64: what
    ``secrets.token_urlsafe`` does, without importing ``secrets`` (and with
    it ``hmac`` and ``hashlib``, a tenth of ``import sessiondb``)."""
    return base64.urlsafe_b64encode(os.urandom(size)).rstrip(b"=").decode()


def new_id() -> str:
    """A fresh random id: 128 bits from the OS's CSPRNG, URL-safe. Session
    ids are made with this: knowing one never helps to guess another."""
    return _token(16)


_process_prefix = _token(9)
_event_counter = itertools.count(1)


def _new_process() -> None:
    """A forked child draws its own prefix, or it would repeat its parent's ids."""
    global _process_prefix, _event_counter
    _process_prefix = _token(9)
    _event_counter = itertools.count(1)


os.register_at_fork(after_in_child=_new_process)


def new_event_id() -> str:
    """A unique event id: a random 72-bit prefix drawn once per process,
    then a counter. Unique, but not secret (events are reached only through
    their session), and ten times cheaper than a fresh random draw.
    """
    return f"{_process_prefix}{next(_event_counter):x}"


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
    if not _well_formed(value):
        raise InvalidInputError(
            f"{field} {value!r} must be 1-{MAX_ID_LENGTH} characters of letters, digits "
            "and _ . : @ + -",
            field=field,
        )
    return value


def is_id(value: str) -> bool:
    """Whether the string ``value`` is a well-formed id."""
    return len(value) <= MAX_ID_LENGTH and _well_formed(value)


@lru_cache(maxsize=4096)
def _well_formed(value: str) -> bool:
    """Cached: the same app, user and session ids come back on every call."""
    return ID_PATTERN.fullmatch(value) is not None
