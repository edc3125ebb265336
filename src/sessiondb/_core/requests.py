"""What each store operation asks of a backend, validated.

The stores turn their arguments into one of these requests (raising
:class:`~sessiondb.InvalidInputError` or :class:`~sessiondb.LimitExceededError`
before anything is written), hand it to the backend, and the backend applies
the decisions of :mod:`._core.decisions` inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..models import Event
from .cursor import decode_cursor, query_tag
from .events import EventDraft, draft_events, fingerprint
from .expiry import expires_at, to_seconds
from .ids import check_id, is_id, new_id
from .jsonvalue import encode, utf8_size
from .limits import Limits, check_limit
from .state import Changes, ScopedDelta, combine, shared_changes, split_delta

if TYPE_CHECKING:
    from datetime import timedelta


@dataclass(slots=True)
class Key:
    """A session's address. Every backend operation is scoped by all three."""

    app: str
    user_id: str
    session_id: str


@dataclass(slots=True)
class CreateRequest:
    key: Key
    state: ScopedDelta
    metadata: dict[str, str]
    idle_ttl: float | None
    deadline: float | None
    expires_at: float | None
    now: float


@dataclass(slots=True)
class GetRequest:
    key: Key
    now: float
    limit: int
    after_seq: int | None
    before_seq: int | None

    @property
    def forward(self) -> bool:
        """Whether the window starts after ``after_seq`` (else it ends at the
        newest event before ``before_seq``)."""
        return self.after_seq is not None


@dataclass(slots=True)
class AppendRequest:
    key: Key
    now: float
    events: list[EventDraft]
    delta: ScopedDelta
    """The whole append's effect on state, by scope."""
    last_delta: dict[str, str]
    """The delta recorded on the append's last event (its own plus the
    ``state_delta`` argument)."""
    expected_version: int | None
    idempotency_key: str | None
    fingerprint: str | None


@dataclass(slots=True)
class EventsRequest:
    key: Key
    now: float
    after_seq: int
    limit: int


@dataclass(slots=True)
class ListRequest:
    app: str
    user_id: str | None
    updated_after: float | None
    metadata: dict[str, str]
    limit: int
    after: tuple[float, str, str] | None
    """Position of the last row of the previous page: (created_at, user_id, id)."""
    now: float
    tag: str


@dataclass(slots=True)
class ForkRequest:
    key: Key
    new_session_id: str
    at_seq: int
    now: float


@dataclass(slots=True)
class SharedRequest:
    """One shared scope, the app's (``user_id`` None) or one user's, and
    the changes to make to it (none for a read). ``now`` is not stored: it
    is for wrappers that need the time (per-user keys of encryption)."""

    app: str
    user_id: str | None
    now: float
    changes: Changes


def key(app: str, user_id: str, session_id: str) -> Key:
    """The checked address; raises naming the first ill-formed id.

    Keys are immutable by convention, so a well-formed one is cached and
    shared: the same app, user and session come back on every call.
    """
    if type(app) is str and type(user_id) is str and type(session_id) is str:
        checked = _checked_key(app, user_id, session_id)
        if checked is not None:
            return checked
    return Key(
        check_id(app, "app"), check_id(user_id, "user_id"), check_id(session_id, "session_id")
    )


@lru_cache(maxsize=4096)
def _checked_key(app: str, user_id: str, session_id: str) -> Key | None:
    """The key if all three ids are well formed, else None (the caller then
    finds which one is not)."""
    if is_id(app) and is_id(user_id) and is_id(session_id):
        return Key(app, user_id, session_id)
    return None


def create(
    app: str,
    user_id: str,
    session_id: str | None,
    state: Mapping[str, Any] | None,
    idle_ttl: float | timedelta | None,
    max_lifetime: float | timedelta | None,
    metadata: Mapping[str, str] | None,
    now: float,
    limits: Limits,
) -> CreateRequest:
    idle = to_seconds(idle_ttl, "idle_ttl")
    lifetime = to_seconds(max_lifetime, "max_lifetime")
    deadline = now + lifetime if lifetime is not None else None
    scoped = split_delta(state, limits, "state")
    if "null" in scoped.persisted.values():
        raise InvalidInputError("state values must not be None", field="state")
    return CreateRequest(
        key(app, user_id, session_id if session_id is not None else new_id()),
        scoped,
        check_metadata(metadata, limits),
        idle,
        deadline,
        expires_at(now, idle, deadline),
        now,
    )


def check_metadata(metadata: Mapping[str, str] | None, limits: Limits) -> dict[str, str]:
    """Metadata is a flat map of id-like keys to short strings (indexable,
    filterable)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError("metadata must be a mapping of strings", field="metadata")
    check_limit("metadata", len(metadata), limits.max_metadata_keys, "keys")
    for k, v in metadata.items():
        check_id(k, "metadata key")
        if not isinstance(v, str):
            raise InvalidInputError(f"metadata[{k!r}] must be a string", field="metadata")
        check_limit(f"metadata[{k!r}]", len(v), limits.max_metadata_value_length, "characters")
        utf8_size(v, f"metadata[{k!r}]")
        if "\x00" in v:
            raise InvalidInputError(f"metadata[{k!r}] holds a NUL character", field="metadata")
    return dict(metadata)


def _count(value: object, field: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{field} must be a non-negative integer", field=field)
    if maximum is not None:
        check_limit(field, value, maximum)
    return value


def get(
    app: str,
    user_id: str,
    session_id: str,
    last: int | None,
    after_seq: int | None,
    before_seq: int | None,
    now: float,
    limits: Limits,
) -> GetRequest:
    limit = limits.default_window if last is None else _count(last, "last", limits.max_window)
    if after_seq is not None:
        _count(after_seq, "after_seq")
    if before_seq is not None:
        _count(before_seq, "before_seq")
    return GetRequest(key(app, user_id, session_id), now, limit, after_seq, before_seq)


def append(
    app: str,
    user_id: str,
    session_id: str,
    events: Iterable[Event | Mapping[str, Any]],
    state_delta: Mapping[str, Any] | None,
    expected_version: int | None,
    idempotency_key: str | None,
    now: float,
    limits: Limits,
) -> AppendRequest:
    address = key(app, user_id, session_id)
    drafts = draft_events(events, limits)
    if not drafts:
        raise InvalidInputError(
            "events must hold at least one event (use update_state to change state alone)",
            field="events",
        )
    return _append(address, drafts, split_delta(state_delta, limits), expected_version,
                   idempotency_key, now)


def update_state(
    app: str,
    user_id: str,
    session_id: str,
    delta: Mapping[str, Any],
    expected_version: int | None,
    now: float,
    limits: Limits,
) -> AppendRequest:
    """A state change is an append of one ``state`` event carrying the delta,
    so it gets a ``seq`` and the version stays gap-free. A delta of only
    ``temp:`` keys stores nothing: it appends no event (the session is still
    checked, and its version returned)."""
    address = key(app, user_id, session_id)
    scoped = split_delta(delta, limits, "delta")
    if not scoped:
        return AppendRequest(address, now, [], scoped, {}, check_version(expected_version),
                             None, None)
    drafts = draft_events([Event(role="system", kind="state")], limits)
    return _append(address, drafts, scoped, expected_version, None, now)


def _append(
    address: Key,
    drafts: list[EventDraft],
    extra: ScopedDelta,
    expected_version: int | None,
    idempotency_key: str | None,
    now: float,
) -> AppendRequest:
    check_version(expected_version)
    if idempotency_key is not None:
        check_id(idempotency_key, "idempotency_key")
    total = combine([*(d.delta for d in drafts), extra])
    last_delta = {**drafts[-1].delta.persisted, **extra.persisted}
    return AppendRequest(
        address,
        now,
        drafts,
        total,
        last_delta,
        expected_version,
        idempotency_key,
        fingerprint(drafts, extra) if idempotency_key is not None else None,
    )


def check_version(expected_version: int | None) -> int | None:
    if expected_version is not None:
        _count(expected_version, "expected_version")
    return expected_version


def events(
    app: str,
    user_id: str,
    session_id: str,
    after_seq: int,
    limit: int,
    cursor: str | None,
    now: float,
    limits: Limits,
) -> EventsRequest:
    address = key(app, user_id, session_id)
    if cursor is not None:
        (after_seq,) = decode_cursor(cursor, "e", events_tag(address), (int,))
    _count(after_seq, "after_seq")
    return EventsRequest(address, now, after_seq, positive(limit, "limit", limits.max_window))


def events_tag(address: Key) -> str:
    return query_tag(address.app, address.user_id, address.session_id)


def positive(value: object, field: str, maximum: int) -> int:
    if _count(value, field, maximum) == 0:
        raise InvalidInputError(f"{field} must be at least 1", field=field)
    return value  # type: ignore[return-value]


def sessions(
    app: str,
    user_id: str | None,
    updated_after: float | None,
    metadata: Mapping[str, str] | None,
    limit: int,
    cursor: str | None,
    now: float,
    limits: Limits,
) -> ListRequest:
    check_id(app, "app")
    if user_id is not None:
        check_id(user_id, "user_id")
    if updated_after is not None and (
        isinstance(updated_after, bool) or not isinstance(updated_after, int | float)
    ):
        raise InvalidInputError("updated_after must be a Unix time in seconds",
                                field="updated_after")
    wanted = check_metadata(metadata, limits)
    tag = query_tag(app, user_id, updated_after, wanted)
    after = None
    if cursor is not None:
        u, w, i = decode_cursor(cursor, "s", tag, (float, str, str))
        after = (u, w, i)
    return ListRequest(
        app, user_id, None if updated_after is None else float(updated_after), wanted,
        positive(limit, "limit", limits.max_page), after, now, tag,
    )


def fork(
    app: str,
    user_id: str,
    session_id: str,
    at_seq: int,
    new_session_id: str | None,
    now: float,
) -> ForkRequest:
    address = key(app, user_id, session_id)
    new_id_ = check_id(new_session_id, "new_session_id") if new_session_id else new_id()
    return ForkRequest(address, new_id_, _count(at_seq, "at_seq"), now)


def shared(app: str, user_id: str | None, now: float) -> SharedRequest:
    """A read of one shared scope; raises naming an ill-formed id."""
    check_id(app, "app")
    if user_id is not None:
        check_id(user_id, "user_id")
    return SharedRequest(app, user_id, now, {})


def update_shared(
    app: str, delta: Mapping[str, Any] | None, user_id: str | None, now: float, limits: Limits
) -> SharedRequest:
    """A change of one shared scope, keys named without prefix (see
    :func:`.state.shared_changes`)."""
    request = shared(app, user_id, now)
    request.changes = shared_changes(delta, limits)
    return request


def encode_metadata(metadata: Mapping[str, str]) -> str:
    return encode(dict(metadata), "metadata")
