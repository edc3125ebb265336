"""State scopes and deltas.

A state delta sets or deletes top-level keys; ``None`` deletes (as in JSON
Merge Patch, RFC 7396, but only at the top level: nested objects are replaced
whole). The key's prefix picks its scope:

- ``app:``  shared by every session of the app;
- ``user:`` shared by every session of the user;
- ``temp:`` never persisted (dropped before anything is written);
- anything else belongs to the session.

App and user keys are stored without their prefix and shown with it in the
merged view a reader gets. Read or written directly (``shared_state``,
``update_shared_state``), a shared scope's keys are named without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import InvalidInputError, LimitExceededError
from .jsonvalue import NOT_JSON, decode, dumps, encode, not_json, sized, utf8_size
from .limits import Limits, check_limit

APP_PREFIX = "app:"
USER_PREFIX = "user:"
TEMP_PREFIX = "temp:"

#: Encoded values of one scope: key -> JSON text, or ``None`` to delete.
Changes = dict[str, str | None]


@dataclass(slots=True)
class ScopedDelta:
    """A validated delta split by scope, values already JSON-encoded."""

    session: Changes
    user: Changes
    app: Changes
    persisted: dict[str, str]
    """The delta as recorded on its event: every key but ``temp:`` ones, each
    with its value's JSON text (``null`` to delete)."""

    def __bool__(self) -> bool:
        return bool(self.persisted)


EMPTY_DELTA = ScopedDelta({}, {}, {}, {})


def split_delta(
    delta: Mapping[str, Any] | None, limits: Limits, field: str = "state_delta"
) -> ScopedDelta:
    """Validate ``delta`` and split it by scope; raises naming ``field``."""
    if delta is None:
        return EMPTY_DELTA
    if type(delta) is not dict and not isinstance(delta, Mapping):
        raise InvalidInputError(
            f"{field} must be a mapping of state keys to JSON values", field=field
        )
    check_limit(f"{field} key count", len(delta), limits.max_state_keys_per_delta, "keys")
    session: Changes = {}
    user: Changes = {}
    app: Changes = {}
    persisted: dict[str, str] = {}
    total = 0
    largest = limits.max_state_value_bytes
    for key, value in delta.items():
        target, name = _scope(key, limits, field)
        if target is None:
            continue
        if value is None:
            encoded = None
        else:
            # Field names are built only on failure: this loop is on every append.
            try:
                encoded = dumps(value)
                size = sized(encoded)
            except NOT_JSON as exc:
                raise not_json(f"{field}[{key!r}]", exc) from None
            if size > largest:
                check_limit(f"{field}[{key!r}]", size, largest, "bytes")
            total += size
        (session if target == "session" else user if target == "user" else app)[name] = encoded
        persisted[key] = "null" if encoded is None else encoded
    check_limit(field, total, limits.max_delta_bytes, "bytes")
    return ScopedDelta(session, user, app, persisted)


_PREFIXES = ((APP_PREFIX, "app"), (USER_PREFIX, "user"), (TEMP_PREFIX, None))
_ANY_PREFIX = (APP_PREFIX, USER_PREFIX, TEMP_PREFIX)


def _scope(key: object, limits: Limits, field: str) -> tuple[str | None, str]:
    """Where state key ``key`` goes: ``(scope, name)``, scope None for
    ``temp:`` keys; raises naming ``field`` for a bad key."""
    if type(key) is str:
        found = _scope_of(key, limits.max_state_key_length)
        if found is not None:
            return found
    return _checked_scope(key, limits.max_state_key_length, field)


@lru_cache(maxsize=4096)
def _scope_of(key: str, max_length: int) -> tuple[str | None, str] | None:
    """Cached: the same state keys come back on every append. None for a key
    that :func:`_checked_scope` refuses (which then says why)."""
    try:
        return _checked_scope(key, max_length, "")
    except (InvalidInputError, LimitExceededError):
        return None


def _checked_scope(key: object, max_length: int, field: str) -> tuple[str | None, str]:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"{field} keys must be non-empty strings", field=field)
    if len(key) > max_length:
        check_limit(f"{field} key", len(key), max_length, "characters")
    if not key.isascii():
        utf8_size(key, f"{field} key")
    if "\x00" in key:  # PostgreSQL text cannot hold NUL: refused everywhere alike
        raise InvalidInputError(f"{field} key {key!r} holds a NUL character", field=field)
    if not key.startswith(_ANY_PREFIX):
        return "session", key
    for prefix, target in _PREFIXES:
        if key.startswith(prefix):
            name = key[len(prefix) :]
            if not name:
                raise InvalidInputError(
                    f"{field} key {key!r} has a scope prefix but no name", field=field
                )
            return target, name
    raise AssertionError("unreachable")  # pragma: no cover


def shared_changes(
    delta: Mapping[str, Any] | None, limits: Limits, field: str = "delta"
) -> Changes:
    """Validate a delta for one shared scope (an app's or a user's state),
    its keys named without a prefix; the encoded changes.

    The checks and limits are :func:`split_delta`'s. A key with a scope
    prefix (``user:x``, ``app:x``, ``temp:x``) is refused: the scope is the
    call's, and ``user:x`` given for an app's state would be ambiguous (the
    key ``user:x`` in it, or the user scope?).
    """
    scoped = split_delta(delta, limits, field)
    # Every key is a valid string by now; the unprefixed ones are exactly
    # the "session" ones.
    prefixed = [k for k in delta or () if k not in scoped.session]
    if prefixed:
        raise InvalidInputError(
            f"{field} key {prefixed[0]!r} has a scope prefix: name shared state keys "
            "without one (the scope is given by app and user_id)", field=field)
    return scoped.session


def shared_view(stored: Mapping[str, str]) -> dict[str, Any]:
    """One shared scope's state as a reader gets it, keys without prefix."""
    return {k: decode(v) for k, v in stored.items()}


#: Scope numbers of stored state rows ``(scope, key, json)``.
SESSION_SCOPE, USER_SCOPE, APP_SCOPE = 0, 1, 2
_VIEW_PREFIX = ("", USER_PREFIX, APP_PREFIX)


def merged_view(rows: Iterable[tuple[int, str, str]]) -> dict[str, Any]:
    """The state a reader sees, from stored ``(scope, key, json)`` rows.

    Scoped keys never collide: session keys cannot carry the ``app:`` or
    ``user:`` prefix, since those route a key to the shared scopes.
    """
    return {_VIEW_PREFIX[scope] + k: decode(v) for scope, k, v in rows}


def view_from_objects(session: str | None, user: str | None, app: str | None) -> dict[str, Any]:
    """The state a reader sees, from each scope's stored JSON object text
    (``None`` for an empty scope)."""
    view: dict[str, Any] = decode(session) if session else {}
    if user:
        view.update((USER_PREFIX + k, v) for k, v in decode(user).items())
    if app:
        view.update((APP_PREFIX + k, v) for k, v in decode(app).items())
    return view


def apply_changes(stored: dict[str, str], changes: Changes) -> None:
    """Apply encoded ``changes`` to one scope's stored ``key -> json`` mapping."""
    for key, value in changes.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value


def replay(base: Mapping[str, str], deltas: Iterable[Mapping[str, Any] | None]) -> dict[str, str]:
    """The session scope's state after applying recorded ``deltas`` to ``base``.

    ``base`` and the result map keys to JSON text; ``deltas`` are events'
    persisted deltas in ``seq`` order (app and user keys are skipped: they are
    shared, not part of one session's history).
    """
    state = dict(base)
    for delta in deltas:
        if not delta:
            continue
        for key, value in delta.items():
            if key.startswith((APP_PREFIX, USER_PREFIX, TEMP_PREFIX)):
                continue
            if value is None:
                state.pop(key, None)
            else:
                state[key] = encode(value, "state_delta")
    return state


def combine(deltas: Iterable[ScopedDelta]) -> ScopedDelta:
    """One delta with the effect of ``deltas`` applied in order."""
    present = [d for d in deltas if d.persisted]
    if len(present) < 2:
        return present[0] if present else EMPTY_DELTA
    session: Changes = {}
    user: Changes = {}
    app: Changes = {}
    persisted: dict[str, str] = {}
    for delta in present:
        session.update(delta.session)
        user.update(delta.user)
        app.update(delta.app)
        persisted.update(delta.persisted)
    return ScopedDelta(session, user, app, persisted)
