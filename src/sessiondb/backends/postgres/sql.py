"""The statements the PostgreSQL backend sends, rendered once per schema.

Every parameter is cast, so the server functions resolve exactly and psycopg
may send Python values (lists included) as it likes. The hot operations call
the functions of :mod:`.schema`, one statement each.
"""

from __future__ import annotations

from typing import Any

from ..._core.requests import ListRequest, encode_metadata
from .schema import render

#: The largest seq (bigint); read windows are clamped to it.
MAX_SEQ = (1 << 63) - 1

_CHANGES = "%s::text[], %s::text[]"
_EVENT_COLUMNS = "seq, id, role, kind, content, content_is_json, data, state_delta, created_at"
_SESSION_COLUMNS = (
    "app, user_id, session_id, version, created_at, updated_at, expires_at, idle_ttl, "
    "deadline, metadata, base_state"
)
_STATE_OF_ROW = """
    SELECT array_agg(x.scope ORDER BY x.scope, x.key), array_agg(x.key ORDER BY x.scope, x.key),
           array_agg(x.value ORDER BY x.scope, x.key)
    FROM (
        SELECT 0::smallint AS scope, t.key, t.value FROM {s}.session_state t WHERE t.sid = h.id
        UNION ALL
        SELECT 1::smallint, t.key, t.value FROM {s}.user_state t
            WHERE t.app = h.app AND t.user_id = h.user_id
        UNION ALL
        SELECT 2::smallint, t.key, t.value FROM {s}.app_state t WHERE t.app = h.app
    ) x
"""



def _swap(table: str, scope: str) -> str:
    """Compare-and-set of shared keys (arrays of keys, old and new texts).
    Rows are locked in key order first, as the state writers of
    :mod:`.schema` lock them, so this never deadlocks with them; a row
    changed meanwhile is re-checked by the UPDATE against its committed
    value, and left alone if that moved on."""
    return (
        "WITH t AS (SELECT * FROM unnest(%(keys)s::text[], %(olds)s::text[], "
        "%(news)s::text[]) AS t(k, o, n)), "
        f"locked AS MATERIALIZED (SELECT s.key FROM {{s}}.{table} s JOIN t ON s.key = t.k "
        f"WHERE {scope} ORDER BY s.key FOR UPDATE OF s) "
        f"UPDATE {{s}}.{table} s SET value = t.n FROM t, locked "
        f"WHERE {scope} AND s.key = locked.key AND s.key = t.k AND s.value = t.o"
    )


def _shared(table: str, scope: str, writer: str) -> tuple[str, str]:
    """Reading one shared scope, and updating it in one statement: the
    writer of :mod:`.schema` (which locks keys in order, as appends do),
    and the scope as it was, sorted by key, for the client to apply the
    changes to (a volatile function's writes are not visible to the
    statement that calls it; the result is the same if they were)."""
    where = f"FROM {{s}}.{table} WHERE {scope}"
    return (
        f"SELECT key, value {where}",
        f"SELECT {{s}}.{writer}, ARRAY(SELECT key {where} ORDER BY key), "
        f"ARRAY(SELECT value {where} ORDER BY key)",
    )


_SHARED_USER = _shared("user_state", "app = %(app)s AND user_id = %(user)s",
                       "write_user_state(%(app)s::text, %(user)s::text, %(keys)s::text[], "
                       "%(values)s::text[])")
_SHARED_APP = _shared("app_state", "app = %(app)s",
                      "write_app_state(%(app)s::text, %(keys)s::text[], %(values)s::text[])")

_TEMPLATES = {
    "load": "SELECT * FROM {s}.load(%s::text, %s::text, %s::text, %s::bigint, %s::bigint, "
            "%s::integer, %s::boolean, %s::boolean)",
    "append": "SELECT * FROM {s}.append(%s::text, %s::text, %s::text, %s::float8, %s::bigint, "
              "%s::text, %s::text, %s::text[], %s::text[], %s::text[], %s::text[], "
              f"%s::smallint[], %s::text[], %s::text[], {_CHANGES}, {_CHANGES}, {_CHANGES})",
    "create": "SELECT * FROM {s}.create_session(%s::text, %s::text, %s::text, %s::float8, "
              "%s::float8, %s::float8, %s::float8, %s::jsonb, %s::text, "
              f"{_CHANGES}, {_CHANGES}, {_CHANGES})",
    "fork_source": "SELECT id, version, expires_at, idle_ttl, deadline, base_state "
                   "FROM {s}.sessions WHERE app = %s AND user_id = %s AND session_id = %s "
                   "FOR KEY SHARE",
    "fork_deltas": "SELECT state_delta FROM {s}.events WHERE sid = %s AND seq <= %s "
                   "AND state_delta IS NOT NULL ORDER BY seq",
    "fork": "SELECT * FROM {s}.fork_session(%s::bigint, %s::text, %s::bigint, %s::float8, "
            f"%s::float8, {_CHANGES})",
    "delete": "SELECT {s}.delete_sessions(%s::text, %s::text, %s::text, %s::float8, "
              "%s::integer)",
    "touch_head": "SELECT id, version, expires_at, idle_ttl, deadline FROM {s}.sessions "
                  "WHERE app = %s AND user_id = %s AND session_id = %s FOR NO KEY UPDATE",
    "touch": "UPDATE {s}.sessions SET expires_at = %s::float8 WHERE id = %s",
    "dump_scopes": "SELECT 2 AS scope, app, NULL AS user_id, key, value FROM {s}.app_state "
                   "WHERE %(app)s::text IS NULL OR app = %(app)s "
                   "UNION ALL SELECT 1, app, user_id, key, value FROM {s}.user_state "
                   "WHERE %(app)s::text IS NULL OR app = %(app)s "
                   "ORDER BY 1 DESC, 2, 3, 4",
    "dump_ids": "SELECT id FROM {s}.sessions WHERE id > %(after)s "
                "AND (%(app)s::text IS NULL OR app = %(app)s) ORDER BY id LIMIT 100",
    "repeatable_read": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "bundle_head": f"SELECT {_SESSION_COLUMNS} FROM {{s}}.sessions WHERE id = %s",
    "bundle_state": "SELECT key, value FROM {s}.session_state WHERE sid = %s ORDER BY key",
    "bundle_events": f"SELECT {_EVENT_COLUMNS} FROM {{s}}.events WHERE sid = %s ORDER BY seq",
    "bundle_keys": "SELECT key, version, fingerprint FROM {s}.idempotency WHERE sid = %s "
                   "ORDER BY key",
    "restore_session": f"INSERT INTO {{s}}.sessions ({_SESSION_COLUMNS}) "
                       "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s) "
                       "ON CONFLICT (app, user_id, session_id) DO NOTHING RETURNING id",
    "restore_events": f"INSERT INTO {{s}}.events (sid, {_EVENT_COLUMNS}) "
                      "SELECT %s, * FROM unnest(%s::bigint[], %s::text[], %s::text[], "
                      "%s::text[], %s::text[], %s::smallint[], %s::text[], %s::text[], "
                      "%s::float8[])",
    "restore_state": f"SELECT {{s}}.write_session_state(%s::bigint, {_CHANGES})",
    "restore_keys": "INSERT INTO {s}.idempotency (sid, key, version, fingerprint) "
                    "SELECT %s, * FROM unnest(%s::text[], %s::bigint[], %s::text[])",
    "write_user": f"SELECT {{s}}.write_user_state(%s::text, %s::text, {_CHANGES})",
    "write_app": f"SELECT {{s}}.write_app_state(%s::text, {_CHANGES})",
    # Rewriting stored texts in place (see base.py). The head's UPDATE locks
    # the session row as an append does, and re-checks the version on the
    # row an append committed meanwhile, so the two are serialised.
    "session_sid": "SELECT id FROM {s}.sessions "
                   "WHERE app = %s AND user_id = %s AND session_id = %s",
    "replace_head": "UPDATE {s}.sessions SET metadata = %s::jsonb, base_state = %s "
                    "WHERE app = %s AND user_id = %s AND session_id = %s AND version = %s "
                    "RETURNING id",
    "replace_state": "DELETE FROM {s}.session_state WHERE sid = %s AND key <> ALL(%s::text[])",
    "replace_events": "UPDATE {s}.events e SET content = x.content, content_is_json = x.js, "
                      "data = x.data, state_delta = x.delta "
                      "FROM unnest(%s::bigint[], %s::text[], %s::smallint[], %s::text[], "
                      "%s::text[]) AS x(seq, content, js, data, delta) "
                      "WHERE e.sid = %s AND e.seq = x.seq",
    "swap_user": _swap("user_state", "s.app = %(app)s AND s.user_id = %(user)s"),
    "swap_app": _swap("app_state", "s.app = %(app)s"),
    "shared_user": _SHARED_USER[0],
    "shared_app": _SHARED_APP[0],
    "update_user": _SHARED_USER[1],
    "update_app": _SHARED_APP[1],
}


class Statements:
    """The statements of one schema."""

    load: str
    append: str
    create: str
    fork_source: str
    fork_deltas: str
    fork: str
    delete: str
    touch_head: str
    touch: str
    dump_scopes: str
    dump_ids: str
    repeatable_read: str
    bundle_head: str
    bundle_state: str
    bundle_events: str
    bundle_keys: str
    restore_session: str
    restore_events: str
    restore_state: str
    restore_keys: str
    write_user: str
    write_app: str
    session_sid: str
    replace_head: str
    replace_state: str
    replace_events: str
    swap_user: str
    swap_app: str
    shared_user: str
    shared_app: str
    update_user: str
    update_app: str

    def __init__(self, quoted_schema: str) -> None:
        self.schema = quoted_schema
        for name, text in _TEMPLATES.items():
            setattr(self, name, render(text, quoted_schema))

    def sessions(self, request: ListRequest) -> tuple[str, list[Any]]:
        """One statement listing sessions with their merged state, in
        ``(created_at, user_id, session_id)`` order after ``request.after``."""
        where = ["h.app = %s", "(h.expires_at IS NULL OR h.expires_at > %s)"]
        params: list[Any] = [request.app, request.now]
        if request.user_id is not None:
            where.append("h.user_id = %s")
            params.append(request.user_id)
        if request.updated_after is not None:
            where.append("h.updated_at > %s")
            params.append(request.updated_after)
        if request.after is not None:
            where.append("(h.created_at, h.user_id, h.session_id) > (%s::float8, %s, %s)")
            params.extend(request.after)
        if request.metadata:
            where.append("h.metadata @> %s::jsonb")
            params.append(encode_metadata(request.metadata))
        params.append(request.limit + 1)
        query = render(
            "SELECT h.user_id, h.session_id, h.version, h.expires_at, h.metadata, h.created_at, "
            f"h.updated_at, st.* FROM {{s}}.sessions h CROSS JOIN LATERAL ({_STATE_OF_ROW}) st "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY h.created_at, h.user_id, h.session_id LIMIT %s",
            self.schema,
        )
        return query, params
