"""The PostgreSQL schema, as forward-only migrations.

Everything lives in one schema (``?schema=``, default ``sessiondb``), so
several stores, or test runs, share a database without meeting. Its
``schema_version`` table says how many migrations it has had; opening a store
applies the missing ones in one transaction under an advisory lock, so two
processes opening a new schema at once cannot both migrate it. A schema from
a newer SessionDB is refused, never downgraded. Never edit a released
migration: append a new one (``CREATE OR REPLACE FUNCTION`` for a function).

The tables mirror the SQLite design: one row per session, one per event
(keyed by the session's surrogate id and ``seq``), one per state key per
scope. State values, event content and deltas are kept as the JSON *text*
the core encoded (not ``jsonb``, which would reorder keys and rewrite
numbers), so what is read back, exported and imported is byte-identical.
Identifier columns use the ``C`` collation: the same order as the other
backends (code points), and cheaper comparisons.

The server-side functions make the hot operations one round trip each:
``append`` (the whole append: checks, events, the three state scopes, the
head, the idempotency key) and ``load`` (head, merged state and an event
window, read in one snapshot). They decide exactly as
:func:`sessiondb._core.decisions.plan_append` does, in the same order, and
return what they saw, so the client raises the core's own errors.
``{s}`` stands for the quoted schema name.
"""

from __future__ import annotations

_TABLES = """
CREATE TABLE {s}.sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    session_id text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    expires_at double precision,
    idle_ttl double precision,
    deadline double precision,
    metadata jsonb NOT NULL,
    base_state text NOT NULL,
    UNIQUE (app, user_id, session_id)
) WITH (fillfactor = 90);
CREATE INDEX sessions_by_user ON {s}.sessions (app, user_id, created_at, session_id);
CREATE INDEX sessions_by_app ON {s}.sessions (app, created_at, user_id, session_id);
CREATE INDEX sessions_by_expiry ON {s}.sessions (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE {s}.events (
    sid bigint NOT NULL,
    seq bigint NOT NULL,
    id text NOT NULL,
    role text NOT NULL,
    kind text NOT NULL,
    content text NOT NULL,
    content_is_json smallint NOT NULL,
    data text,
    state_delta text,
    created_at double precision NOT NULL,
    PRIMARY KEY (sid, seq)
);
CREATE TABLE {s}.session_state (
    sid bigint NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL,
    PRIMARY KEY (sid, key)
);
CREATE TABLE {s}.user_state (
    app text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL, value text NOT NULL,
    PRIMARY KEY (app, user_id, key)
);
CREATE TABLE {s}.app_state (
    app text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL,
    PRIMARY KEY (app, key)
);
CREATE TABLE {s}.idempotency (
    sid bigint NOT NULL, key text COLLATE "C" NOT NULL, version bigint NOT NULL,
    fingerprint text NOT NULL,
    PRIMARY KEY (sid, key)
);
"""

# Writing one scope's changes (a NULL value deletes its key). Session keys
# are written under the session's row lock, so set-wise statements are safe.
# Shared keys are written by many sessions at once: rows are locked in key
# order, and a mix of sets and deletes goes key by key in that order, so two
# writers never wait on each other in a cycle.
_SESSION_WRITER = """
CREATE FUNCTION {s}.write_session_state(p_sid bigint, p_keys text[], p_values text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {s}.session_state (sid, key, value)
        SELECT p_sid, t.k, t.v FROM unnest(p_keys, p_values) AS t(k, v) WHERE t.v IS NOT NULL
        ON CONFLICT (sid, key) DO UPDATE SET value = excluded.value;
    IF array_position(p_values, NULL) IS NOT NULL THEN
        DELETE FROM {s}.session_state s USING unnest(p_keys, p_values) AS t(k, v)
            WHERE s.sid = p_sid AND s.key = t.k AND t.v IS NULL;
    END IF;
END $$;
"""

_SHARED_WRITER = """
CREATE FUNCTION {s}.write_{scope}_state({params}, p_keys text[], p_values text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_key text;
    v_value text;
BEGIN
    IF array_position(p_values, NULL) IS NULL THEN
        INSERT INTO {s}.{scope}_state ({columns}, key, value)
            SELECT {args}, t.k, t.v FROM unnest(p_keys, p_values) AS t(k, v)
            ORDER BY t.k COLLATE "C"
            ON CONFLICT ({columns}, key) DO UPDATE SET value = excluded.value;
        RETURN;
    END IF;
    FOR v_key, v_value IN
        SELECT t.k, t.v FROM unnest(p_keys, p_values) AS t(k, v) ORDER BY t.k COLLATE "C"
    LOOP
        IF v_value IS NULL THEN
            DELETE FROM {s}.{scope}_state WHERE ({columns}) = ({args}) AND key = v_key;
        ELSE
            INSERT INTO {s}.{scope}_state ({columns}, key, value) VALUES ({args}, v_key, v_value)
                ON CONFLICT ({columns}, key) DO UPDATE SET value = excluded.value;
        END IF;
    END LOOP;
END $$;
"""


def _shared_writer(scope: str, columns: tuple[str, ...]) -> str:
    return (_SHARED_WRITER.replace("{scope}", scope)
            .replace("{params}", ", ".join(f"p_{c} text" for c in columns))
            .replace("{columns}", ", ".join(columns))
            .replace("{args}", ", ".join(f"p_{c}" for c in columns)))


# What load, create_session and fork_session return: the head, the merged
# state as parallel arrays (scope, key, JSON text) and the event window as
# one array per column. A missing session is no row at all.
_LOAD = """
CREATE TYPE {s}.loaded AS (
    sid bigint, version bigint, expires_at double precision, idle_ttl double precision,
    deadline double precision, metadata jsonb, created_at double precision,
    updated_at double precision,
    state_scopes smallint[], state_keys text[], state_values text[],
    event_seqs bigint[], event_ids text[], event_roles text[], event_kinds text[],
    event_contents text[], event_json smallint[], event_data text[], event_deltas text[],
    event_times double precision[]
);
-- STABLE: every statement sees the snapshot of the call, so the head, the
-- state and the window are of one moment. Forward windows are the first
-- p_limit events from p_low, others the last p_limit up to p_high (those
-- come newest first; the client reverses them).
CREATE FUNCTION {s}.load(
    p_app text, p_user text, p_session text, p_low bigint, p_high bigint, p_limit integer,
    p_forward boolean, p_state boolean
) RETURNS SETOF {s}.loaded LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT h.id, h.version, h.expires_at, h.idle_ttl, h.deadline, h.metadata, h.created_at,
           h.updated_at, st.scopes, st.keys, st.vals, ev.seqs, ev.ids, ev.roles, ev.kinds,
           ev.contents, ev.js, ev.data, ev.deltas, ev.times
    FROM {s}.sessions h
    CROSS JOIN LATERAL (
        SELECT array_agg(x.scope ORDER BY x.scope, x.key) AS scopes,
               array_agg(x.key ORDER BY x.scope, x.key) AS keys,
               array_agg(x.value ORDER BY x.scope, x.key) AS vals
        FROM (
            SELECT 0::smallint AS scope, t.key, t.value FROM {s}.session_state t
                WHERE p_state AND t.sid = h.id
            UNION ALL
            SELECT 1::smallint, t.key, t.value FROM {s}.user_state t
                WHERE p_state AND t.app = h.app AND t.user_id = h.user_id
            UNION ALL
            SELECT 2::smallint, t.key, t.value FROM {s}.app_state t
                WHERE p_state AND t.app = h.app
        ) x
    ) st
    CROSS JOIN LATERAL (
        SELECT array_agg(e.seq) AS seqs, array_agg(e.id) AS ids, array_agg(e.role) AS roles,
               array_agg(e.kind) AS kinds, array_agg(e.content) AS contents,
               array_agg(e.content_is_json) AS js, array_agg(e.data) AS data,
               array_agg(e.state_delta) AS deltas, array_agg(e.created_at) AS times
        FROM (
            (SELECT w.* FROM {s}.events w
                WHERE p_forward AND w.sid = h.id AND w.seq BETWEEN p_low AND p_high
                ORDER BY w.seq LIMIT p_limit)
            UNION ALL
            (SELECT w.* FROM {s}.events w
                WHERE NOT p_forward AND w.sid = h.id AND w.seq BETWEEN p_low AND p_high
                ORDER BY w.seq DESC LIMIT p_limit)
        ) e
    ) ev
    WHERE h.app = p_app AND h.user_id = p_user AND h.session_id = p_session;
END $$;
"""

# The whole append, in plan_append's order: the session (locked), an earlier
# append with the same idempotency key, expiry, expected_version; then the
# events, the state of the three scopes, the head and the key. Returns the
# head and the prior append it saw, and whether it wrote.
_APPEND = """
CREATE FUNCTION {s}.append(
    p_app text, p_user text, p_session text, p_now double precision, p_expected bigint,
    p_key text, p_fingerprint text,
    e_ids text[], e_roles text[], e_kinds text[], e_contents text[], e_json smallint[],
    e_data text[], e_deltas text[],
    s_keys text[], s_values text[], u_keys text[], u_values text[],
    a_keys text[], a_values text[],
    OUT o_found boolean, OUT o_version bigint, OUT o_expires_at double precision,
    OUT o_idle_ttl double precision, OUT o_deadline double precision,
    OUT o_prior_version bigint, OUT o_prior_fingerprint text, OUT o_written boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_sid bigint;
    v_count integer := cardinality(e_ids);
BEGIN
    o_written := false;
    SELECT h.id, h.version, h.expires_at, h.idle_ttl, h.deadline
        INTO v_sid, o_version, o_expires_at, o_idle_ttl, o_deadline
        FROM {s}.sessions h
        WHERE h.app = p_app AND h.user_id = p_user AND h.session_id = p_session
        FOR NO KEY UPDATE;
    o_found := FOUND;
    IF NOT o_found THEN
        RETURN;
    END IF;
    IF p_key IS NOT NULL THEN
        SELECT i.version, i.fingerprint INTO o_prior_version, o_prior_fingerprint
            FROM {s}.idempotency i WHERE i.sid = v_sid AND i.key = p_key;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF (o_expires_at IS NOT NULL AND p_now >= o_expires_at)
            OR (p_expected IS NOT NULL AND p_expected <> o_version) OR v_count = 0 THEN
        RETURN;
    END IF;
    INSERT INTO {s}.events (sid, seq, id, role, kind, content, content_is_json, data,
                            state_delta, created_at)
        SELECT v_sid, o_version + t.n, t.id, t.role, t.kind, t.content, t.js, t.data,
               t.delta, p_now
        FROM unnest(e_ids, e_roles, e_kinds, e_contents, e_json, e_data, e_deltas)
            WITH ORDINALITY AS t(id, role, kind, content, js, data, delta, n);
    IF cardinality(s_keys) > 0 THEN
        PERFORM {s}.write_session_state(v_sid, s_keys, s_values);
    END IF;
    IF cardinality(u_keys) > 0 THEN
        PERFORM {s}.write_user_state(p_app, p_user, u_keys, u_values);
    END IF;
    IF cardinality(a_keys) > 0 THEN
        PERFORM {s}.write_app_state(p_app, a_keys, a_values);
    END IF;
    -- expires_at(now, idle_ttl, deadline) of sessiondb._core.expiry
    UPDATE {s}.sessions SET
        version = o_version + v_count,
        updated_at = p_now,
        expires_at = CASE WHEN o_idle_ttl IS NULL THEN o_deadline
                          WHEN o_deadline IS NULL THEN p_now + o_idle_ttl
                          ELSE least(p_now + o_idle_ttl, o_deadline) END
        WHERE id = v_sid;
    IF p_key IS NOT NULL THEN
        INSERT INTO {s}.idempotency (sid, key, version, fingerprint)
            VALUES (v_sid, p_key, o_version + v_count, p_fingerprint);
    END IF;
    o_written := true;
END $$;
"""

_CREATE_AND_FORK = """
CREATE FUNCTION {s}.create_session(
    p_app text, p_user text, p_session text, p_now double precision,
    p_expires_at double precision, p_idle_ttl double precision, p_deadline double precision,
    p_metadata jsonb, p_base_state text,
    s_keys text[], s_values text[], u_keys text[], u_values text[],
    a_keys text[], a_values text[]
) RETURNS SETOF {s}.loaded LANGUAGE plpgsql AS $$
DECLARE
    v_sid bigint;
BEGIN
    INSERT INTO {s}.sessions (app, user_id, session_id, version, created_at, updated_at,
                              expires_at, idle_ttl, deadline, metadata, base_state)
        VALUES (p_app, p_user, p_session, 0, p_now, p_now, p_expires_at, p_idle_ttl,
                p_deadline, p_metadata, p_base_state)
        ON CONFLICT (app, user_id, session_id) DO NOTHING
        RETURNING id INTO v_sid;
    IF v_sid IS NULL THEN
        RETURN;  -- taken
    END IF;
    PERFORM {s}.write_session_state(v_sid, s_keys, s_values);
    IF cardinality(u_keys) > 0 THEN
        PERFORM {s}.write_user_state(p_app, p_user, u_keys, u_values);
    END IF;
    IF cardinality(a_keys) > 0 THEN
        PERFORM {s}.write_app_state(p_app, a_keys, a_values);
    END IF;
    RETURN QUERY SELECT * FROM {s}.load(p_app, p_user, p_session, 1, 0, 0, true, true);
END $$;
-- The new session of a fork: the source's events up to p_at and the state
-- the client replayed from them. No row when p_session is taken.
CREATE FUNCTION {s}.fork_session(
    p_source bigint, p_session text, p_at bigint, p_now double precision,
    p_expires_at double precision, s_keys text[], s_values text[]
) RETURNS SETOF {s}.loaded LANGUAGE plpgsql AS $$
DECLARE
    v_sid bigint;
    h {s}.sessions%ROWTYPE;
BEGIN
    SELECT * INTO h FROM {s}.sessions WHERE id = p_source;
    INSERT INTO {s}.sessions (app, user_id, session_id, version, created_at, updated_at,
                              expires_at, idle_ttl, deadline, metadata, base_state)
        VALUES (h.app, h.user_id, p_session, p_at, p_now, p_now, p_expires_at, h.idle_ttl,
                h.deadline, h.metadata, h.base_state)
        ON CONFLICT (app, user_id, session_id) DO NOTHING
        RETURNING id INTO v_sid;
    IF v_sid IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO {s}.events (sid, seq, id, role, kind, content, content_is_json, data,
                            state_delta, created_at)
        SELECT v_sid, w.seq, w.id, w.role, w.kind, w.content, w.content_is_json, w.data,
               w.state_delta, w.created_at
        FROM {s}.events w WHERE w.sid = p_source AND w.seq <= p_at ORDER BY w.seq;
    PERFORM {s}.write_session_state(v_sid, s_keys, s_values);
    RETURN QUERY SELECT * FROM {s}.load(h.app, h.user_id, p_session, 1, 0, 0, true, true);
END $$;
"""

# Deleting sessions with everything stored for them: one session
# (p_session), a user's (p_user, with the user's shared state), or up to
# p_limit expired ones (neither). The children are deleted after the
# sessions, by later statements, so they include rows an append committed
# while this waited for a session's lock. Returns how many sessions.
_DELETE = """
CREATE FUNCTION {s}.delete_sessions(
    p_app text, p_user text, p_session text, p_now double precision, p_limit integer
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
BEGIN
    IF p_session IS NOT NULL THEN
        WITH d AS (DELETE FROM {s}.sessions
                   WHERE app = p_app AND user_id = p_user AND session_id = p_session
                   RETURNING id)
        SELECT array_agg(id) INTO v_ids FROM d;
    ELSIF p_user IS NOT NULL THEN
        WITH d AS (DELETE FROM {s}.sessions WHERE app = p_app AND user_id = p_user
                   RETURNING id)
        SELECT array_agg(id) INTO v_ids FROM d;
        DELETE FROM {s}.user_state WHERE app = p_app AND user_id = p_user;
    ELSE
        WITH d AS (DELETE FROM {s}.sessions WHERE id IN (
                       SELECT id FROM {s}.sessions WHERE expires_at <= p_now
                       ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
                   RETURNING id)
        SELECT array_agg(id) INTO v_ids FROM d;
    END IF;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM {s}.events WHERE sid = ANY (v_ids);
    DELETE FROM {s}.session_state WHERE sid = ANY (v_ids);
    DELETE FROM {s}.idempotency WHERE sid = ANY (v_ids);
    RETURN cardinality(v_ids);
END $$;
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: tables, and the functions that make append and load one round trip.
    _TABLES + _SESSION_WRITER + _shared_writer("user", ("app", "user_id"))
    + _shared_writer("app", ("app",)) + _LOAD + _APPEND + _CREATE_AND_FORK + _DELETE,
)

SCHEMA_VERSION = len(MIGRATIONS)


def render(text: str, quoted_schema: str) -> str:
    """``text`` with ``{s}`` replaced by the quoted schema name."""
    return text.replace("{s}", quoted_schema)
