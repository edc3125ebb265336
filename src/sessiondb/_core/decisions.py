"""What a backend must do with what it found, decided once for every backend.

A backend reads a session's :class:`Head` inside its transaction, asks these
functions what to do, and writes what they say.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConflictError, InvalidInputError, NotFoundError
from .events import EventRow
from .expiry import check_live, expires_at
from .jsonvalue import join_object
from .requests import AppendRequest, ForkRequest, GetRequest, Key


@dataclass(slots=True)
class Head:
    """The part of a session's record every decision needs."""

    version: int
    expires_at: float | None
    idle_ttl: float | None
    deadline: float | None


@dataclass(slots=True)
class AppendPlan:
    """What to write for an append: the new rows and the new head values."""

    rows: list[EventRow]
    version: int
    expires_at: float | None


def not_found(key: Key) -> NotFoundError:
    return NotFoundError(
        f"no session {key.session_id!r} for user {key.user_id!r} in app {key.app!r}"
    )


def check_readable(head: Head | None, key: Key, now: float) -> Head:
    """The head of a session that exists and has not expired, else raise."""
    if head is None:
        raise not_found(key)
    check_live(head.expires_at, now, key.session_id)
    return head


def plan_append(
    request: AppendRequest, head: Head | None, prior: tuple[int, str] | None
) -> int | AppendPlan:
    """Decide an append.

    ``prior`` is what an earlier append with the same idempotency key stored:
    ``(version, fingerprint)``. Returns that version for a true retry (nothing
    is to be written), else the plan. Raises ``NotFoundError``,
    ``ExpiredError`` or ``ConflictError``.
    """
    if head is None:
        raise not_found(request.key)
    if prior is not None:
        version, fingerprint = prior
        if fingerprint != request.fingerprint:
            raise ConflictError(
                f"idempotency key {request.idempotency_key!r} was already used for a "
                "different request"
            )
        return version
    check_live(head.expires_at, request.now, request.key.session_id)
    expected = request.expected_version
    if expected is not None and expected != head.version:
        raise ConflictError(
            f"session {request.key.session_id!r} is at version {head.version}, "
            f"not the expected {expected}",
            expected=expected,
            actual=head.version,
        )
    if not request.events:
        return head.version
    return AppendPlan(event_rows(request, head.version), head.version + len(request.events),
                      expires_at(request.now, head.idle_ttl, head.deadline))


def event_rows(request: AppendRequest, version: int) -> list[EventRow]:
    """The stored rows of an append's events, numbered after ``version``.
    Each records its own delta; the last one records the append's
    ``state_delta`` too."""
    drafts = request.events
    last = len(drafts) - 1
    last_json = join_object(request.last_delta) if request.last_delta else None
    return [
        d.row(version + i + 1, request.now,
              last_json if i == last else (
                  join_object(d.delta.persisted) if d.delta.persisted else None))
        for i, d in enumerate(drafts)
    ]


def check_fork(request: ForkRequest, head: Head | None) -> Head:
    """The source head of a valid fork, else raise."""
    head = check_readable(head, request.key, request.now)
    if request.at_seq > head.version:
        raise InvalidInputError(
            f"at_seq {request.at_seq} is past the session's version {head.version}",
            field="at_seq",
        )
    return head


def fork_expires_at(head: Head, now: float) -> float | None:
    """A fork keeps its source's idle TTL and absolute deadline: forking
    never extends how long a conversation may live."""
    return expires_at(now, head.idle_ttl, head.deadline)


def window_bounds(request: GetRequest, ceiling: int) -> tuple[int, int]:
    """The inclusive seqs a read window lies between, before its size limit
    is applied: after ``after_seq`` and before ``before_seq``, up to
    ``ceiling`` (the version, or a backend's largest seq)."""
    low = 1 if request.after_seq is None else request.after_seq + 1
    high = ceiling if request.before_seq is None else min(ceiling, request.before_seq - 1)
    return low, high


def seq_range(request: GetRequest, version: int) -> tuple[int, int]:
    """The inclusive ``(first, last)`` seqs of a read window; empty when
    ``first > last``. Forward windows are the first ``limit`` seqs of the
    bounds; others the last ``limit`` (the newest events)."""
    low, high = window_bounds(request, version)
    if request.forward:
        return low, min(high, low + request.limit - 1)
    return max(low, high - request.limit + 1), high
