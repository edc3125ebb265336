"""The protocol every backend implements, documented once.

A backend stores; it holds no policy. Stores validate input into requests
(:mod:`sessiondb._core.requests`); the backend opens a transaction, reads what
it needs, asks :mod:`sessiondb._core.decisions` what to do, and writes it.
Driver exceptions are translated to :mod:`sessiondb.errors` here, at the
boundary, keeping the original as ``__cause__``.

The async protocol has the same methods, as coroutines.

:meth:`Backend.bundle`, :meth:`Backend.replace_session` and
:meth:`Backend.replace_shared` rewrite stored *texts* in place and nothing
else: encryption at rest uses them to seal a forked session's values for
their new place and to re-encrypt everything under a new key. Every
backend checks their input with :func:`check_session_texts` and
:func:`shared_swaps` before it writes anything.

Optional: ``get_rows(request) -> (session, rows, first)``, a ``get`` whose
window is handed out as the rows it was read in (see
:func:`sessiondb._core.events.events_from_window`), the session's ``events``
left empty. The SQLite backend offers it; encryption at rest uses it, where
offered, to open a window as rows and make events of it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from .._core.jsonvalue import decode, utf8_size
from .._core.records import ScopeState, SessionBundle
from .._core.requests import (
    AppendRequest,
    CreateRequest,
    EventsRequest,
    ForkRequest,
    GetRequest,
    Key,
    ListRequest,
    SharedRequest,
)
from ..errors import InvalidInputError
from ..models import Event, Session

Record = dict[str, Any]


class Backend(Protocol):
    def create(self, request: CreateRequest) -> Session:
        """Create a session; ``ConflictError`` if its id is taken."""
        ...

    def get(self, request: GetRequest) -> Session:
        """The session with its merged state and the requested window."""
        ...

    def append(self, request: AppendRequest) -> int:
        """Atomically store events with their state delta; the new version."""
        ...

    def events(self, request: EventsRequest) -> list[Event]:
        """Up to ``limit + 1`` events after ``after_seq``, oldest first."""
        ...

    def sessions(self, request: ListRequest) -> list[Session]:
        """Up to ``limit + 1`` live sessions (no events), in
        ``(created_at, user_id, id)`` order after ``request.after``."""
        ...

    def fork(self, request: ForkRequest) -> Session:
        """A new session holding events up to ``at_seq`` and the session
        state as it was then."""
        ...

    def delete(self, key: Key) -> bool:
        """Delete one session; whether it existed."""
        ...

    def delete_user(self, app: str, user_id: str) -> int:
        """Delete a user's sessions and ``user:`` state; how many sessions."""
        ...

    def shared(self, request: SharedRequest) -> dict[str, str]:
        """The stored state of one shared scope (the app's when
        ``request.user_id`` is None, else the user's): key (without prefix)
        -> JSON text; ``{}`` when nothing is stored. Needs no session."""
        ...

    def update_shared(self, request: SharedRequest) -> dict[str, str]:
        """Apply ``request.changes`` (``None`` deletes) to one shared scope
        atomically, each key last-writer-wins exactly as an append's
        ``app:``/``user:`` changes are, and return the scope as :meth:`shared`
        would right after. The state is stored where the appends' shared
        keys are, so every session's merged view, ``delete_user`` and
        :meth:`dump` include it (a user or app known only by its shared
        state too)."""
        ...

    def touch(self, key: Key, now: float) -> float | None:
        """Slide a live session's idle expiry; its new ``expires_at``."""
        ...

    def purge_expired(self, now: float, limit: int) -> int:
        """Delete up to ``limit`` sessions expired at ``now``; how many."""
        ...

    def dump(self, app: str | None) -> Iterator[Record]:
        """Every record (of one app, or all), in the export format."""
        ...

    def restore(self, records: Iterable[Record]) -> int:
        """Load records made by :meth:`dump`; how many sessions."""
        ...

    def bundle(self, key: Key) -> SessionBundle | None:
        """Everything stored for one session, expired or not, as :meth:`dump`
        gives it (metadata, base state, state, events as ``EventRow``s,
        idempotency keys); None if there is no such session."""
        ...

    def replace_session(self, old_version: int, bundle: SessionBundle) -> bool:
        """Atomically replace the stored texts of session ``(bundle.app,
        bundle.user_id, bundle.id)``: its metadata, base state, whole session
        state, and the content (with ``content_is_json``), data and state
        delta of each event in ``bundle.events``, matched by seq. Event ids,
        roles, kinds and times, the version, expiry and idempotency keys stay
        as they are. Only if the stored version still equals
        ``old_version``: else (or if the session is gone) nothing is written
        and the result is False, and the caller reads again and retries."""
        ...

    def replace_shared(self, old: ScopeState, new: ScopeState) -> int:
        """Shared state (of the app when ``new.user_id`` is None, else of the
        user): set each key of ``new.state`` to its new value only if the
        stored value still equals ``old.state[key]`` (compare-and-set, each
        key atomic on its own); how many keys were replaced."""
        ...

    def close(self) -> None: ...


def check_session_texts(old_version: int, bundle: SessionBundle) -> None:
    """Refuse (``InvalidInputError``, nothing written) a replacement that
    would store something unreadable: texts that are not JSON, events that
    are not among the ``old_version`` stored ones."""
    if isinstance(old_version, bool) or not isinstance(old_version, int) or old_version < 0:
        raise InvalidInputError("old_version must be a non-negative integer",
                                field="old_version")
    metadata = bundle.metadata
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidInputError("metadata must map keys to strings", field="metadata")
    for value in metadata.values():
        utf8_size(value, "metadata")
    _json_members(bundle.base_state, "base_state")
    _json_members(bundle.state, "state")
    seen: set[int] = set()
    for row in bundle.events:
        seq, content, as_json, data, delta = row[0], row[4], row[5], row[6], row[7]
        what = f"event {seq!r}"
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq <= old_version or (
            seq in seen
        ):
            raise InvalidInputError(f"{what} is not one of the session's {old_version} events, "
                                    "or comes twice", field="events")
        seen.add(seq)
        if as_json not in (0, 1) or not isinstance(content, str):
            raise InvalidInputError(f"{what}: content must be text with content_is_json 0 or 1",
                                    field="events")
        if as_json:
            _json_text(content, f"{what} content")
        utf8_size(content, f"{what} content")
        for text, part in ((data, "data"), (delta, "state_delta")):
            if text is not None and not isinstance(_json_text(text, f"{what} {part}"), dict):
                raise InvalidInputError(f"{what} {part} must be a JSON object", field="events")


def shared_swaps(old: ScopeState, new: ScopeState) -> list[tuple[str, str, str]]:
    """``(key, old text, new text)`` for each key of ``new`` that ``old``
    has too (a key ``old`` lacks can match nothing stored); refuses scopes
    that differ or new texts that are not JSON."""
    if (old.app, old.user_id) != (new.app, new.user_id):
        raise InvalidInputError("old and new must be the same scope", field="scope")
    _json_members(new.state, "state")
    return [(k, old.state[k], v) for k, v in new.state.items() if k in old.state]


def _json_members(members: object, field: str) -> None:
    if not isinstance(members, dict):
        raise InvalidInputError(f"{field} must map keys to JSON texts", field=field)
    for key, text in members.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"{field} keys must be strings", field=field)
        utf8_size(key, field)
        _json_text(text, f"{field}[{key!r}]")


def _json_text(text: object, field: str) -> object:
    """The value of JSON ``text`` (which must also be storable Unicode)."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{field} must be JSON text", field=field)
    utf8_size(text, field)
    try:
        return decode(text)
    except (ValueError, RecursionError):
        raise InvalidInputError(f"{field} is not JSON text", field=field) from None
