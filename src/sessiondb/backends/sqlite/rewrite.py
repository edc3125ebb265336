"""Rewriting stored texts in place on SQLite: :meth:`bundle`,
:meth:`replace_session` and :meth:`replace_shared` of the backend protocol
(see :mod:`..base`), which encryption at rest uses to re-seal values.

Each replacement is one write transaction (``BEGIN IMMEDIATE``), so it is
atomic against every other writer of the file. It updates text columns
only: no event row, seq, id or time is rewritten, and no index is touched.
"""

from __future__ import annotations

from ..._core.jsonvalue import join_object
from ..._core.records import ScopeState, SessionBundle
from ..._core.requests import Key, encode_metadata
from ..base import check_session_texts, shared_swaps
from .backend import _SESSION, SQLiteBackend
from .schema import event_key, new_incarnation

# A new incarnation: the event rows are rewritten, rows kept in memory are not them.
_REPLACE_HEAD = (
    "UPDATE sessions SET metadata = ?, base_state = ?, incarnation = ? WHERE id = ?"
)
_REPLACE_EVENT = (
    "UPDATE events SET content = ?, content_is_json = ?, data = ?, state_delta = ? WHERE key = ?"
)
_SWAP = {
    "app": "UPDATE app_state SET value = ? WHERE app = ? AND key = ? AND value = ?",
    "user": "UPDATE user_state SET value = ? WHERE app = ? AND user_id = ? AND key = ? "
            "AND value = ?",
}


def bundle(backend: SQLiteBackend, key: Key) -> SessionBundle | None:
    row = backend._db.fetch_one(_SESSION, (key.app, key.user_id, key.session_id))
    if row is None:
        return None
    found = backend._bundle(row[0])
    # A rowid freed by a delete in between may have been given to another session.
    if found is None or (found.app, found.user_id, found.id) != (
        key.app, key.user_id, key.session_id
    ):
        return None
    return found


def replace_session(backend: SQLiteBackend, old_version: int, new: SessionBundle) -> bool:
    check_session_texts(old_version, new)
    with backend._db.writing as conn:
        row = conn.execute(_SESSION, (new.app, new.user_id, new.id)).fetchone()
        if row is None or row[1] != old_version:
            return False
        sid = row[0]
        conn.execute(_REPLACE_HEAD, (encode_metadata(new.metadata), join_object(new.base_state),
                                     new_incarnation(), sid))
        conn.execute("DELETE FROM session_state WHERE sid = ?", (sid,))
        backend._write_changes(conn, "session", (sid,), new.state)  # type: ignore[arg-type]
        conn.executemany(_REPLACE_EVENT, [(r[4], r[5], r[6], r[7], event_key(sid, r[0]))
                                          for r in new.events])
        return True


def replace_shared(backend: SQLiteBackend, old: ScopeState, new: ScopeState) -> int:
    swaps = shared_swaps(old, new)
    if not swaps:
        return 0
    address = (new.app,) if new.user_id is None else (new.app, new.user_id)
    with backend._db.writing as conn:
        cursor = conn.executemany(
            _SWAP["app" if new.user_id is None else "user"],
            [(value, *address, key, was) for key, was, value in swaps])
        return cursor.rowcount
