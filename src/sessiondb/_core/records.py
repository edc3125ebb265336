"""The export format (JSON Lines) and its validation on import.

One record per line, each a JSON object with a ``type``:

- ``app_state``  ``{app, state}``
- ``user_state`` ``{app, user_id, state}``
- ``session``    ``{app, user_id, id, version, created_at, updated_at,
  expires_at, idle_ttl, deadline, metadata, base_state, state}``, followed by
- ``event``      ``{seq, id, role, kind, content, data, state_delta,
  created_at}`` for each of its events, in order, then
- ``idempotency`` ``{key, version, fingerprint}`` for each remembered key.

Events and idempotency records belong to the session record before them.
Importing an export gives back the same records, so a round trip is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InvalidInputError
from ..models import EVENT_KINDS
from .events import EventRow, event_from_row, valid_role
from .ids import check_id
from .jsonvalue import decode, encode, utf8_size

Record = dict[str, Any]


@dataclass(slots=True)
class ScopeState:
    """Shared state of an app (``user_id`` None) or of one user."""

    app: str
    user_id: str | None
    state: dict[str, str]


@dataclass(slots=True)
class SessionBundle:
    """One session with everything stored for it (JSON values encoded)."""

    app: str
    user_id: str
    id: str
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None
    idle_ttl: float | None
    deadline: float | None
    metadata: dict[str, str]
    base_state: dict[str, str]
    state: dict[str, str]
    events: list[EventRow] = field(default_factory=list)
    idempotency: dict[str, tuple[int, str]] = field(default_factory=dict)
    """idempotency key -> (version, fingerprint)"""

    def copy(self) -> SessionBundle:
        """A snapshot that later writes to this bundle do not change."""
        return replace(self, metadata=dict(self.metadata), base_state=dict(self.base_state),
                       state=dict(self.state), events=list(self.events),
                       idempotency=dict(self.idempotency))

    def records(self) -> Iterator[Record]:
        yield {
            "type": "session", "app": self.app, "user_id": self.user_id, "id": self.id,
            "version": self.version, "created_at": self.created_at,
            "updated_at": self.updated_at, "expires_at": self.expires_at,
            "idle_ttl": self.idle_ttl, "deadline": self.deadline, "metadata": self.metadata,
            "base_state": _decoded(self.base_state), "state": _decoded(self.state),
        }
        for row in self.events:
            yield {"type": "event", **event_from_row(row).to_dict()}
        for key, (version, fingerprint) in self.idempotency.items():
            yield {"type": "idempotency", "key": key, "version": version,
                   "fingerprint": fingerprint}


def scope_record(scope: ScopeState) -> Record:
    if scope.user_id is None:
        return {"type": "app_state", "app": scope.app, "state": _decoded(scope.state)}
    return {"type": "user_state", "app": scope.app, "user_id": scope.user_id,
            "state": _decoded(scope.state)}


def _decoded(state: Mapping[str, str]) -> dict[str, Any]:
    return {k: decode(v) for k, v in state.items()}


def _encoded(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be an object", field=what)
    members = {str(k): encode(v, what) for k, v in value.items()}
    for k, v in members.items():
        utf8_size(k, what)
        utf8_size(v, what)
    return members


def read_records(records: Iterable[Record]) -> Iterator[ScopeState | SessionBundle]:
    """Validate and group an export stream; raises ``InvalidInputError``
    naming the record number (1-based) at the first bad record."""
    current: SessionBundle | None = None
    for number, record in enumerate(records, 1):
        try:
            kind = record.get("type") if isinstance(record, Mapping) else None
            if kind in ("event", "idempotency"):
                if current is None:
                    raise InvalidInputError(f"an {kind} record needs a session record before it")
                _add_to(current, kind, record)
                continue
            if current is not None:
                yield _finished(current)
                current = None
            if kind == "session":
                current = _session(record)
            elif kind in ("app_state", "user_state"):
                user = check_id(record["user_id"], "user_id") if kind == "user_state" else None
                yield ScopeState(check_id(record["app"], "app"), user,
                                 _encoded(record["state"], "state"))
            else:
                raise InvalidInputError(f"unknown record type {kind!r}")
        except KeyError as exc:
            raise InvalidInputError(f"record {number}: missing field {exc}",
                                    field="records") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"record {number}: {exc}", field="records") from None
    if current is not None:
        yield _finished(current)


def _time(value: Any, name: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be a number")
    return float(value)


def _session(r: Record) -> SessionBundle:
    version = r["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidInputError("version must be a non-negative integer")
    metadata = r.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(v, str) for v in metadata.values()
    ):
        raise InvalidInputError("metadata must map keys to strings")
    return SessionBundle(
        check_id(r["app"], "app"), check_id(r["user_id"], "user_id"), check_id(r["id"], "id"),
        version, _time(r["created_at"], "created_at"), _time(r["updated_at"], "updated_at"),
        _time(r.get("expires_at"), "expires_at", True),
        _time(r.get("idle_ttl"), "idle_ttl", True), _time(r.get("deadline"), "deadline", True),
        dict(metadata), _encoded(r.get("base_state") or {}, "base_state"),
        _encoded(r.get("state") or {}, "state"),
    )


def _add_to(bundle: SessionBundle, kind: str, r: Record) -> None:
    if kind == "idempotency":
        bundle.idempotency[check_id(r["key"], "key")] = (int(r["version"]), str(r["fingerprint"]))
        return
    seq = r["seq"]
    if seq != len(bundle.events) + 1:
        raise InvalidInputError(f"event seq {seq!r} breaks the sequence (expected "
                                f"{len(bundle.events) + 1})")
    kind, role = r["kind"], r["role"]
    if not isinstance(kind, str) or kind not in EVENT_KINDS or not isinstance(role, str) or (
        not valid_role(role)
    ):
        raise InvalidInputError("event kind or role is invalid")
    content = r.get("content")
    as_json = 0 if isinstance(content, str) else 1
    stored = encode(content, "content") if as_json else content
    utf8_size(stored, "content")
    delta = r.get("state_delta")
    data = r.get("data")
    bundle.events.append((
        seq, check_id(r["id"], "event id"), r["role"], r["kind"],
        stored, as_json,
        _checked(encode(data, "data")) if data is not None else None,
        _checked(encode(delta, "state_delta")) if delta is not None else None,
        _time(r["created_at"], "created_at"),
    ))


def _checked(text: str) -> str:
    utf8_size(text, "records")
    return text


def _finished(bundle: SessionBundle) -> SessionBundle:
    if len(bundle.events) != bundle.version:
        raise InvalidInputError(
            f"session {bundle.id!r} has version {bundle.version} but "
            f"{len(bundle.events)} events", field="records"
        )
    return bundle
