"""Key rotation: seal every stored value anew with the primary key.

Put the new key first in the ring (``SESSIONDB_KEYS="k2:<new>,k1:<old>"``):
new writes use it at once and old values still open. ``rotate`` then
re-seals what the old keys sealed, one session per atomic replace, so the
old key can be removed from the ring. It is resumable: values already under
the primary key are left as they are, so a run that was interrupted is
simply run again. A session that an append moves on mid-way is re-read and
retried; values written meanwhile already use the primary key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._core.records import ScopeState, read_records
from .._core.requests import Key
from ..errors import ConfigurationError
from ._sync.encrypted import EncryptedBackend
from ._sync.user_keys import KEYS_APP

if TYPE_CHECKING:
    from ..store import SessionStore


@dataclass
class Rotation:
    """What a rotation went through."""

    sessions: int = 0
    shared_scopes: int = 0
    shared_keys_resealed: int = 0
    user_keys_rewrapped: int = 0


def rotate(store: SessionStore, app: str | None = None,
           advance: Callable[[], None] | None = None,
           total: Callable[[int], None] | None = None) -> Rotation:
    """Re-seal every value of the store (or of one ``app``) with the primary
    key. ``total`` is told how many sessions there are, ``advance`` is
    called after each."""
    backend = store._backend
    if not isinstance(backend, EncryptedBackend):
        raise ConfigurationError(
            "key rotation needs an encrypting store: give the key ring "
            "(SESSIONDB_KEYS=\"new:<key>,old:<key>\"), the new key first")
    # Addresses first, then one session at a time: a read of the whole store
    # is never held open while writing.
    sessions: list[Key] = []
    scopes: list[ScopeState] = []
    records = (r for r in backend.inner.dump(app) if r["type"] != "event")
    for record in records:
        if record["type"] == "session" and record["app"] != KEYS_APP:
            sessions.append(Key(record["app"], record["user_id"], record["id"]))
        elif record["type"] in ("app_state", "user_state"):
            scopes.extend(s for s in read_records([record]) if isinstance(s, ScopeState))
    if total is not None:
        total(len(sessions))
    done = Rotation()
    if backend.user_keys is not None:
        done.user_keys_rewrapped = backend.user_keys.rewrap(time.time())
    for scope in scopes:
        done.shared_keys_resealed += backend.reseal_shared(scope)
        done.shared_scopes += 1
    for key in sessions:
        if backend.reseal_session(key):
            done.sessions += 1
        if advance is not None:
            advance()
    return done
