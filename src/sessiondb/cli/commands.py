"""The commands that read and change sessions: ``sessions``, ``events``,
``state`` and ``purge``. Each takes the parsed arguments and an
:class:`Output` and returns the exit code."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..models import Event
from ..store import SessionStore
from .context import opened_store
from .errors import CLIError, UsageError
from .output import (
    EVENT_HEADERS,
    SESSION_HEADERS,
    Output,
    compact,
    content_text,
    message_rows,
    session_row,
    session_summary,
    state_rows,
    when,
)
from .progress import Progress

#: Seconds between polls of ``events tail --follow``.
FOLLOW_INTERVAL = 0.5
_PAGE = 100


def sleep(seconds: float) -> None:
    """``time.sleep``, named here so tests can replace it."""
    time.sleep(seconds)


# -- sessions ------------------------------------------------------------------
def sessions_ls(args: argparse.Namespace, out: Output) -> int:
    metadata = dict(args.metadata or [])
    found = []
    cursor: str | None = None
    with opened_store(args) as store:
        while len(found) < args.limit:
            page = store.sessions(args.app, args.user, metadata=metadata or None,
                                  limit=min(_PAGE, args.limit - len(found)), cursor=cursor)
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        more = cursor is not None
    if out.json_mode:
        out.json([session_summary(s) for s in found])
        return 0
    if not found:
        out.note(f"no live sessions in app {args.app!r}"
                 + (f" for user {args.user!r}" if args.user else ""))
        return 0
    out.table(SESSION_HEADERS, map(session_row, found))
    if more:
        out.note(f"(showing the first {len(found)}; there are more: raise --limit)")
    return 0


def sessions_show(args: argparse.Namespace, out: Output) -> int:
    with opened_store(args) as store:
        session = store.get(args.app, args.user, args.session_id, last=args.last)
    if out.json_mode:
        out.json(session.to_dict())
        return 0
    meta = ", ".join(f"{k}={v}" for k, v in sorted(session.metadata.items())) or "-"
    out.table(("field", "value"), [
        ["session", session.id], ["app", session.app], ["user", session.user_id],
        ["version", str(session.version)], ["created", when(session.created_at)],
        ["updated", when(session.updated_at)], ["expires", when(session.expires_at)],
        ["metadata", meta],
    ])
    out.line()
    if session.state:
        out.line("state:")
        out.table(("key", "value"), state_rows(session.state), indent="  ")
    else:
        out.line("state: (empty)")
    out.line()
    shown = len(session.events)
    out.line(f"events: last {shown} of {session.version}" if shown
             else f"events: {session.version} (none shown; see --last)")
    if shown:
        # The neutral view reads what any adapter stored (ADK events, OpenAI
        # items, LangChain messages) as role, text and tool calls; the raw
        # events stay available through --json and 'events tail'.
        from ..adapters.view import conversation

        out.table(EVENT_HEADERS, message_rows(conversation(session.events,
                                                           include_state=True)),
                  indent="  ")
    return 0


def sessions_rm(args: argparse.Namespace, out: Output) -> int:
    with opened_store(args) as store:
        existed = store.delete(args.app, args.user, args.session_id)
    if not existed:
        raise CLIError(f"no session {args.session_id!r} for user {args.user!r} "
                       f"in app {args.app!r}; nothing deleted")
    if out.json_mode:
        out.json({"deleted": True, "app": args.app, "user_id": args.user,
                  "id": args.session_id})
    else:
        out.line(f"deleted session {args.session_id}")
    return 0


# -- events --------------------------------------------------------------------
def events_tail(args: argparse.Namespace, out: Output) -> int:
    with opened_store(args) as store:
        session = store.get(args.app, args.user, args.session_id, last=args.lines)
        events = list(session.events)
        if out.json_mode and not args.follow:
            out.json([e.to_dict() for e in events])
            return 0
        for event in events:
            _print_event(event, out)
        if not events and not out.json_mode:
            out.note("(no events yet)" if session.version == 0 else "(no events shown)")
        if args.follow:
            _follow(store, args, session.version, out)
    return 0


def _follow(store: SessionStore, args: argparse.Namespace, seen: int, out: Output) -> None:
    """Print new events as they are appended, until Ctrl-C."""
    try:
        while True:
            cursor: str | None = None
            while True:
                page = store.events(args.app, args.user, args.session_id,
                                    after_seq=seen, limit=_PAGE, cursor=cursor)
                for event in page:
                    _print_event(event, out)
                    seen = event.seq
                cursor = page.next_cursor
                if cursor is None:
                    break
            sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        # Ctrl-C is how --follow is meant to end: not an error.
        return


def _print_event(event: Event, out: Output) -> None:
    if out.json_mode:
        out.json_line(event.to_dict())
        return
    # Fixed widths, so lines that arrive later under --follow line up too.
    out.line(f"{event.seq:>6}  {when(event.created_at)}  {event.role:<10} {event.kind:<11} "
             f"{content_text(event)}".rstrip())
    out.stdout.flush()


# -- state ---------------------------------------------------------------------
def state_get(args: argparse.Namespace, out: Output) -> int:
    with opened_store(args) as store:
        state = dict(store.get(args.app, args.user, args.session_id, last=0).state)
    if args.key is None:
        if out.json_mode:
            out.json(state)
        elif state:
            out.table(("key", "value"), state_rows(state))
        else:
            out.note("(the state is empty)")
        return 0
    if args.key not in state:
        raise CLIError(f"the state of session {args.session_id!r} has no key {args.key!r}")
    value = state[args.key]
    if out.json_mode:
        out.json(value)
    else:
        out.line(value if isinstance(value, str) else compact(value))
    return 0


def parse_value(text: str) -> Any:
    """A state value from the command line: JSON if it parses, else the text
    itself (so ``42`` is a number, ``[1,2]`` a list and ``Lisbon`` a string)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def state_set(args: argparse.Namespace, out: Output) -> int:
    if args.key.startswith("temp:"):
        raise UsageError(f"{args.key!r}: temp: keys are never stored, so there is "
                         "nothing to set")
    if args.delete:
        if args.value is not None:
            raise UsageError("give either a VALUE or --delete, not both")
        value = None
    else:
        if args.value is None:
            raise UsageError("a VALUE is needed (or --delete to delete the key)")
        value = parse_value(args.value)
        if value is None:
            raise UsageError("null is not a state value; use --delete to delete a key")
    with opened_store(args) as store:
        version = store.update_state(args.app, args.user, args.session_id, {args.key: value})
    if out.json_mode:
        out.json({"key": args.key, "value": value, "deleted": value is None,
                  "version": version})
    elif value is None:
        out.line(f"deleted {args.key} (version {version})")
    else:
        out.line(f"set {args.key} = {compact(value)} (version {version})")
    return 0


# -- purge ---------------------------------------------------------------------
def purge(args: argparse.Namespace, out: Output) -> int:
    total = 0
    with opened_store(args) as store, Progress(
            "purging", unit="sessions", enabled=False if out.json_mode else None) as bar:
        while True:
            deleted = store.purge_expired(limit=args.batch)
            if deleted == 0:
                break
            total += deleted
            bar.advance(deleted)
    if out.json_mode:
        out.json({"purged": total})
    else:
        out.line(f"purged {total} expired session{'s' if total != 1 else ''}")
    return 0
