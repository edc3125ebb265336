"""AutoGen AgentChat state in SessionDB: save and load agents and teams.

    from sessiondb.adapters.autogen import load_state, save_state

    version = await save_state(store, "support", "alice", "case-7", team)
    ...                                  # later, in any process
    snapshot = await load_state(store, "support", "alice", "case-7", team)
    version = await save_state(store, "support", "alice", "case-7", team,
                               expected_version=snapshot.version)  # no lost update

Each save appends the component's ``save_state()`` (JSON data) to the
session's event log in ``data["autogen_state"]`` (split into parts when it
is larger than one event may be) and, in the same atomic append, points the
state key ``autogen:<key>`` at it. Older saves stay in the log: pass their
``seq`` as ``version`` to load one. ``expected_version`` makes a save fail
with ``ConflictError`` if the session changed since it was read.

Needs the ``autogen`` extra (``pip install 'sessiondb[autogen]'``).
See docs/integrations/autogen.md.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import ConfigurationError, ConflictError, InvalidInputError, NotFoundError
from ._bridge import resolve

try:
    import autogen_agentchat  # noqa: F401
    from pydantic_core import to_jsonable_python
except ImportError as exc:  # pragma: no cover - exercised with the module hidden
    raise ConfigurationError(
        "sessiondb.adapters.autogen needs AutoGen AgentChat: "
        "pip install 'sessiondb[autogen]'") from exc

if TYPE_CHECKING:
    from datetime import timedelta

    from .._async_store import AsyncSessionStore
    from ..store import SessionStore

    Store = AsyncSessionStore | SessionStore

__all__ = ["DATA_KEY", "STATE_PREFIX", "Snapshot", "load_state", "read_state", "save_state",
           "write_state"]

DATA_KEY = "autogen_state"
STATE_PREFIX = "autogen:"
_RETRIES = 16
T = TypeVar("T")


class Stateful(Protocol):
    """What AutoGen agents and teams have in common here."""

    async def save_state(self) -> Mapping[str, Any]: ...

    async def load_state(self, state: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A saved state as read: the ``state``, the ``seq`` of the save (its
    version, for loading it again), the component ``type`` that saved it and
    the session's ``version`` when it was read (pass it as the next save's
    ``expected_version``)."""

    state: dict[str, Any]
    seq: int
    version: int
    type: str | None = None


async def save_state(
    store: Store, app: str, user_id: str, session_id: str, component: Stateful, *,
    key: str = "default", expected_version: int | None = None,
    idle_ttl: float | timedelta | None = None, max_lifetime: float | timedelta | None = None,
) -> int:
    """Save ``await component.save_state()`` under ``key``; the session's new
    version. The session is created (with ``idle_ttl``/``max_lifetime``) if
    missing, unless ``expected_version`` says it should exist."""
    state = await component.save_state()
    return await write_state(store, app, user_id, session_id, state, key=key,
                             expected_version=expected_version,
                             component_type=type(component).__name__,
                             idle_ttl=idle_ttl, max_lifetime=max_lifetime)


async def write_state(
    store: Store, app: str, user_id: str, session_id: str, state: Mapping[str, Any], *,
    key: str = "default", expected_version: int | None = None,
    component_type: str | None = None,
    idle_ttl: float | timedelta | None = None, max_lifetime: float | timedelta | None = None,
) -> int:
    """Save a state mapping as :func:`save_state` does; the new version."""
    events = _events(to_jsonable_python(dict(state)), key, component_type, store)
    for _ in range(_RETRIES):
        base = expected_version
        try:
            if base is None:
                base = (await resolve(store.get(app, user_id, session_id, last=0))).version
            pointer = {"seq": base + 1, "parts": len(events), "type": component_type}
            return await resolve(store.append(
                app, user_id, session_id, events, state_delta={STATE_PREFIX + key: pointer},
                expected_version=base))
        except NotFoundError:
            if expected_version not in (None, 0):
                raise
            with contextlib.suppress(ConflictError):  # created meanwhile: fine
                await resolve(store.create(app, user_id, session_id, idle_ttl=idle_ttl,
                                         max_lifetime=max_lifetime))
        except ConflictError:
            if expected_version is not None:
                raise
    raise ConflictError(f"session {session_id!r} kept changing while saving; retry")


async def read_state(
    store: Store, app: str, user_id: str, session_id: str, *,
    key: str = "default", version: int | None = None,
) -> Snapshot | None:
    """The latest state saved under ``key`` (or the save whose ``seq`` is
    ``version``), or ``None`` if nothing was saved; two bounded reads."""
    try:
        session = await resolve(store.get(app, user_id, session_id, last=0))
    except NotFoundError:
        return None
    pointer = session.state.get(STATE_PREFIX + key)
    if version is None:
        if not isinstance(pointer, Mapping):
            return None
        seq, parts = int(pointer["seq"]), int(pointer.get("parts") or 1)
    else:
        seq, parts = version, 1
    page = await resolve(store.events(app, user_id, session_id, after_seq=seq - 1, limit=parts))
    first = page.items[0].data if page.items and page.items[0].seq == seq else None
    saved = (first or {}).get(DATA_KEY)
    if not isinstance(saved, Mapping) or saved.get("key") != key:
        raise InvalidInputError(f"event {seq} of session {session_id!r} is not a saved "
                                f"AutoGen state for key {key!r}", field="version")
    if "state" in saved:
        return Snapshot(dict(saved["state"]), seq, session.version, saved.get("type"))
    parts = int(saved["parts"])
    if len(page.items) < parts:
        page = await resolve(store.events(app, user_id, session_id, after_seq=seq - 1,
                                        limit=parts))
    text = "".join(str((e.data or {})[DATA_KEY]["text"]) for e in page.items[:parts])
    return Snapshot(json.loads(text), seq, session.version, saved.get("type"))


async def load_state(
    store: Store, app: str, user_id: str, session_id: str, component: Stateful, *,
    key: str = "default", version: int | None = None,
) -> Snapshot | None:
    """Load the state saved under ``key`` into ``component``; the snapshot
    loaded, or ``None`` (component untouched) if nothing was saved."""
    snapshot = await read_state(store, app, user_id, session_id, key=key, version=version)
    if snapshot is not None:
        await component.load_state(snapshot.state)
    return snapshot


def _events(state: dict[str, Any], key: str, component_type: str | None,
            store: Store) -> list[dict[str, Any]]:
    """One event holding ``state``, or several holding parts of its JSON text
    when it is larger than one event may be."""
    text = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    limits = getattr(store, "limits", None)
    most = getattr(limits, "max_event_bytes", 256 * 1024) - 1024
    head = {"key": key, "type": component_type}
    if len(text.encode()) <= most:
        return [_event({**head, "state": state})]
    # Escaping in the stored JSON may grow a character up to six bytes.
    size = max(1, most // 6)
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    return [_event({**head, "part": n, "parts": len(pieces), "text": piece})
            for n, piece in enumerate(pieces)]


def _event(saved: dict[str, Any]) -> dict[str, Any]:
    return {"role": "system", "kind": "custom", "data": {DATA_KEY: saved}}
