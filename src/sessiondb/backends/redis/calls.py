"""Script arguments from requests, and results from script replies.

Shared by the async backend and its generated sync twin, so neither holds
any of this logic. Where a script refused, the reply carries the session's
head and the core (:mod:`sessiondb._core.decisions`) raises the error, so
the rules and messages are the core's own; a reply the core disagrees with
is a ``BackendError`` (a bug), never a silent difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..._core import decisions
from ..._core.expiry import expires_at
from ..._core.jsonvalue import decode, encode, join_object, split_object
from ..._core.records import ScopeState, SessionBundle
from ..._core.requests import (
    AppendRequest,
    CreateRequest,
    EventsRequest,
    ForkRequest,
    GetRequest,
    Key,
    ListRequest,
    encode_metadata,
)
from ..._core.state import replay
from ...errors import BackendError, ConflictError
from ...models import Event, Session
from . import codec
from .codec import changes, text

DONE, MISSING, EXPIRED, PRIOR, MISMATCH = 1, 0, 2, 3, 4
Reply = Any


def disagree(what: str, reply: Reply) -> BackendError:
    return BackendError(f"the Redis script and the core disagree on {what} (reply {reply[0]!r})")


def readable(key: Key, now: float, reply: Reply) -> decisions.Head:
    """The head of a readable session; raises what the core decides for a
    missing or expired one."""
    head = codec.head(reply[1]) if reply[0] != MISSING else None
    head = decisions.check_readable(head, key, now)
    if reply[0] != DONE:
        raise disagree("a read", reply)
    return head


# -- create ----------------------------------------------------------------
def create_args(request: CreateRequest, grace: str, inline: bool) -> list[Any]:
    k, s = request.key, request.state
    now = text(request.now)
    args: list[Any] = [
        k.session_id, now, text(request.expires_at), text(request.idle_ttl),
        text(request.deadline), encode_metadata(request.metadata), join_object(s.session),  # type: ignore[arg-type]
        codec.order_key(request.now), grace, k.app, k.user_id,
    ]
    changes(args, s.session)
    changes(args, s.user)
    if inline:
        changes(args, s.app)
    return args


def created(request: CreateRequest, reply: Reply, shared: Sequence[str]) -> Session:
    k = request.key
    if reply[0] != DONE:
        raise ConflictError(f"session {k.session_id!r} already exists")
    return Session(k.app, k.user_id, k.session_id,
                   codec.state(request.state.session, reply[1], shared),  # type: ignore[arg-type]
                   0, (), dict(request.metadata), request.now, request.now, request.expires_at)


def app_member(key: Key, created_at: float, session_id: str | None = None) -> str:
    """A session's member in its app's index."""
    return f"{codec.order_key(created_at)} {key.user_id} {session_id or key.session_id}"


# -- get ---------------------------------------------------------------------
def load_args(request: GetRequest) -> list[Any]:
    return [request.key.session_id, text(request.now), request.limit,
            "" if request.after_seq is None else request.after_seq,
            "" if request.before_seq is None else request.before_seq]


def loaded(request: GetRequest, reply: Reply, shared: Sequence[str] | None) -> Session:
    """``shared``: the app's state when it was read apart (on a cluster)."""
    head = readable(request.key, request.now, reply)
    first, last = decisions.seq_range(request, head.version)
    stored = reply[9]
    if reply[8] != first or len(stored) != max(0, last - first + 1):
        raise disagree("a read window", reply)
    k = request.key
    merged = codec.state(reply[5], reply[6], reply[7] if shared is None else shared)
    return codec.session(k.app, k.user_id, k.session_id, head.version, reply[2], reply[3],
                         reply[1][1], reply[4], merged, codec.events(stored, first))


def snapshot_commands(request: GetRequest, user: str, app: str) -> list[tuple[Any, ...]]:
    """The MULTI that reads a session on one server when its window does not
    end at ``before_seq``: head, the three scopes and the window."""
    sid = request.key.session_id
    commands: list[tuple[Any, ...]] = [
        ("HMGET", f"{user}:h:{sid}", "v", "x", "i", "d", "c", "t", "m"),
        ("HGETALL", f"{user}:s:{sid}"), ("HGETALL", f"{user}:u"), ("HGETALL", f"{app}:a"),
    ]
    if request.limit:
        after = request.after_seq
        span = (-request.limit, -1) if after is None else (after, after + request.limit - 1)
        commands.append(("LRANGE", f"{user}:e:{sid}", *span))
    return commands


def snapshot(request: GetRequest, replies: list[Any]) -> Session:
    """The session from :func:`snapshot_commands`' replies; raises what the
    core decides for a missing or expired one."""
    v, x, i, d, c, t, m = replies[0]
    head = None if v is None else decisions.Head(int(v), codec.number(x), codec.number(i),
                                                  codec.number(d))
    head = decisions.check_readable(head, request.key, request.now)
    first, last = decisions.seq_range(request, head.version)
    stored = replies[4] if len(replies) > 4 else ()
    if len(stored) != max(0, last - first + 1):
        raise BackendError(f"the stored events of session {request.key.session_id!r} do "
                           f"not match its version {head.version}")
    k = request.key
    return codec.session(k.app, k.user_id, k.session_id, head.version, c, t, x or "", m,
                         codec.state(replies[1], replies[2], replies[3]),
                         codec.events(stored, first))


# -- append ------------------------------------------------------------------
def append_args(request: AppendRequest, grace: str, inline: bool) -> list[Any]:
    """Arguments of ``append``. The events are the core's own rows
    (:func:`decisions.event_rows`, numbered from 1 here: the script numbers
    them after the session's version, and the seq is not part of the text)."""
    args: list[Any] = [
        request.key.session_id, text(request.now),
        "" if request.expected_version is None else request.expected_version,
        request.idempotency_key or "", request.fingerprint or "", grace, len(request.events),
    ]
    args.extend(map(codec.row_text, decisions.event_rows(request, 0)))
    delta = request.delta
    changes(args, delta.session)
    changes(args, delta.user)
    if inline:
        changes(args, delta.app)
    return args


def appended(request: AppendRequest, reply: Reply) -> int:
    """The new version, or the first one for an idempotent retry; else raise."""
    status = reply[0]
    if status == DONE:
        return int(reply[1])
    head = codec.head(reply[1]) if status != MISSING else None
    prior = None
    if status == PRIOR:
        version, fingerprint = reply[2].split(" ", 1)
        prior = (int(version), fingerprint)
    outcome = decisions.plan_append(request, head, prior)
    if status == PRIOR and isinstance(outcome, int):
        return outcome
    raise disagree("an append", reply)


# -- events and touch --------------------------------------------------------
def events_args(request: EventsRequest) -> list[Any]:
    return [request.key.session_id, text(request.now), request.after_seq, request.limit + 1]


def events_of(request: EventsRequest, reply: Reply) -> list[Event]:
    readable(request.key, request.now, reply)
    return list(codec.events(reply[2], request.after_seq + 1))


def touched(key: Key, now: float, reply: Reply) -> float | None:
    head = readable(key, now, reply)
    expires = expires_at(now, head.idle_ttl, head.deadline)
    if codec.number(reply[2]) != expires:
        raise disagree("an expiry", reply)
    return expires


# -- listing -----------------------------------------------------------------
def list_start(request: ListRequest) -> str:
    """Where the page starts in the index (the user's, or the app's)."""
    if request.after is None:
        return "-"
    created, user_id, session_id = request.after
    if request.user_id is not None:
        return f"({codec.order_key(created)} {session_id}"
    return f"({codec.order_key(created)} {user_id} {session_id}"


def list_args(request: ListRequest, prefix: str) -> list[Any]:
    """Arguments of ``list``, after which ``summaries`` takes session ids."""
    return [prefix, request.app, request.user_id or "", *filter_args(request),
            request.limit + 1, list_start(request)]


def filter_args(request: ListRequest) -> list[Any]:
    return [text(request.now), text(request.updated_after),
            encode(request.metadata, "metadata") if request.metadata else ""]


def listed(app: str, rows: Sequence[Reply], users: dict[str, Sequence[str]],
           shared: Sequence[str]) -> list[Session]:
    """Sessions from listing rows ``[user, sid, v, x, c, t, m, state]``."""
    return [
        codec.session(app, u, sid, int(v), c, t, x, m, codec.state(own, users[u], shared))
        for u, sid, v, x, c, t, m, own in rows
    ]


# -- fork ----------------------------------------------------------------------
def fork_args(request: ForkRequest, reply: Reply,
              grace: str) -> tuple[list[Any], dict, float | None]:
    """Arguments of ``fork_write`` from ``fork_read``'s reply, the forked
    session state and its ``expires_at``; raises what the core decides."""
    head = codec.head(reply[1]) if reply[0] != MISSING else None
    head = decisions.check_fork(request, head)
    if reply[0] != DONE or len(reply) < 6:
        raise disagree("a fork", reply)
    created, base, stored = reply[2], reply[3], reply[5]
    state = replay(split_object(base), (decode(s)[5] for s in stored))
    expires = decisions.fork_expires_at(head, request.now)
    k = request.key
    args: list[Any] = [
        k.session_id, request.new_session_id, request.at_seq, created, text(request.now),
        text(expires), text(head.idle_ttl), text(head.deadline), codec.order_key(request.now),
        grace, k.app, k.user_id,
    ]
    changes(args, state)  # type: ignore[arg-type]
    return args, state, expires


def forked(request: ForkRequest, reply: Reply, state: dict, expires: float | None,
           shared: Sequence[str]) -> Session:
    k = request.key
    return codec.session(k.app, k.user_id, request.new_session_id, request.at_seq,
                         text(request.now), text(request.now), text(expires), reply[3],
                         codec.state(state, reply[1], shared))


# -- export and import --------------------------------------------------------
def bundle(app: str, user_id: str, session_id: str, reply: Reply,
           stored: Sequence[str]) -> SessionBundle:
    v, c, t, x, i, d, m, b = reply[1]
    idempotency = codec.pairs(reply[3])
    return SessionBundle(
        app, user_id, session_id, int(v), float(c), float(t), codec.number(x),
        codec.number(i), codec.number(d), decode(m), split_object(b), codec.pairs(reply[2]),
        [codec.row(s, seq) for seq, s in enumerate(stored, 1)],
        {key: _prior(idempotency[key]) for key in sorted(idempotency)},
    )


def replace_args(old_version: int, new: SessionBundle) -> list[Any]:
    """Arguments of ``replace_session``: the head's texts, the events'
    (seq and :func:`codec.row_texts`), then the whole session state."""
    args: list[Any] = [new.id, old_version, encode_metadata(new.metadata),
                       join_object(new.base_state), len(new.events)]
    for row in new.events:
        args.append(row[0])
        args.append(codec.row_texts(row))
    changes(args, new.state)  # type: ignore[arg-type]
    return args


def swap_args(scope: ScopeState, swaps: list[tuple[str, str, str]]) -> list[Any]:
    """Arguments of ``replace_shared``: which hash of the slot, then
    ``key, old, new`` triples."""
    return [":a" if scope.user_id is None else ":u", *(x for swap in swaps for x in swap)]


def _prior(stored: str) -> tuple[int, str]:
    version, fingerprint = stored.split(" ", 1)
    return int(version), fingerprint


def restore_args(item: SessionBundle) -> list[Any]:
    args: list[Any] = [
        item.id, item.version, text(item.created_at), text(item.updated_at),
        text(item.expires_at), text(item.idle_ttl), text(item.deadline),
        encode_metadata(item.metadata), join_object(item.base_state),
        codec.order_key(item.created_at), item.app, item.user_id, len(item.events),
        *map(codec.row_text, item.events),
    ]
    changes(args, item.state)  # type: ignore[arg-type]
    changes(args, {k: f"{v} {f}" for k, (v, f) in item.idempotency.items()})
    return args
