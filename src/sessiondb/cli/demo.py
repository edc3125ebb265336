"""``sessiondb demo``: an agent conversation that survives a killed process.

The parent process runs nothing of the conversation itself. It starts

1. a child that plays turns 1-3 and then kills itself with SIGKILL right
   after its third append returned: no cleanup, the store never closed;
2. a brand-new child that opens the same store, loads the session (state and
   last events), says what it found, and plays turns 4-6;

then reads the whole session back, prints the transcript and checks it:
seq gap-free, every turn's events present and written by the right process,
the state equal to the last turn's. Exit code 1 if anything is missing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .. import open_store
from ..models import Event
from ..store import SessionStore
from .agent import APP, EVENTS_PER_TURN, SCRIPT, USER, check, describe, run_turn, start
from .context import db_url
from .errors import CLIError, UsageError
from .output import Output, compact

CRASH_AFTER = 3  # turns played by the process that is killed
_KILLED = -signal.SIGKILL if hasattr(signal, "SIGKILL") else None


@dataclass(slots=True)
class Phase:
    number: int
    pid: int = 0
    returncode: int | None = None
    output: list[str] = field(default_factory=list)


def run(args: argparse.Namespace, out: Output) -> int:
    url = db_url(args)
    _check_shared(url)
    if args.phase is not None:
        if not args.session:
            raise UsageError("--phase needs --session")
        return run_phase(args.phase, url, args.session)
    session_id = args.session or f"trip-{secrets.token_hex(6)}"
    return orchestrate(url, session_id, out)


def _check_shared(url: str) -> None:
    """The demo hands the session from one process to the next, so the store
    must outlive a process."""
    parts = urlsplit(url)
    if parts.scheme == "memory" or parts.path.endswith(":memory:"):
        raise UsageError(f"the demo needs a store that other processes can open; {url!r} "
                         "lives inside one process (use sqlite:///path/to/file.db)")


# -- the children ----------------------------------------------------------------
def _say(text: str) -> None:
    print(text, flush=True)


def run_phase(phase: int, url: str, session_id: str) -> int:
    store = open_store(url)
    if phase == 1:
        start(store, session_id)
        _say(f"created session {session_id} in {url}")
        for turn in SCRIPT[:CRASH_AFTER]:
            run_turn(store, session_id, turn, _say)
        _say(f"!! simulating a crash: process {os.getpid()} kills itself now, "
             "in the middle of the conversation (no cleanup, store not closed)")
        _crash()
    session = store.get(APP, USER, session_id, last=EVENTS_PER_TURN)
    done = int(session.state.get("turn", 0))
    _say(f"process {os.getpid()} opened the store and loaded session {session_id}:")
    _say(f"  version {session.version}, state {compact(dict(session.state))}")
    _say(f"  last {len(session.events)} events:")
    for event in session.events:
        _say(f"    {event.seq:>3}  {describe(event)}")
    _say(f"resuming at turn {done + 1}")
    for turn in SCRIPT[done:]:
        run_turn(store, session_id, turn, _say)
    store.close()
    return 0


def _crash() -> None:
    sys.stdout.flush()
    if _KILLED is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # no SIGKILL here (Windows): still skips every cleanup


# -- the parent ----------------------------------------------------------------------
def _spawn(phase: int, url: str, session_id: str, out: Output) -> Phase:
    command = [sys.executable, "-m", "sessiondb", "demo", "--phase", str(phase),
               "--session", session_id, "--db", url]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    # Run the same sessiondb as this process, even when it is not installed.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    result = Phase(phase)
    out.stdout.flush()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env, text=True, encoding="utf-8", errors="replace") as child:
        result.pid = child.pid
        if not out.json_mode:
            out.line(f"--- phase {phase}: process {child.pid} ---")
        assert child.stdout is not None
        for line in child.stdout:
            result.output.append(line.rstrip("\n"))
            if not out.json_mode:
                out.line(f"  [{child.pid}] {line.rstrip()}")
                out.stdout.flush()
        result.returncode = child.wait()
    return result


def _killed(phase: Phase) -> bool:
    return phase.returncode in (_KILLED, 137) if _KILLED is not None else (
        phase.returncode == 137)


def orchestrate(url: str, session_id: str, out: Output) -> int:
    if not out.json_mode:
        out.line(f"demo: a travel-booking agent in session {session_id} ({url})")
        out.line(f"the parent process {os.getpid()} only starts the agent and checks it")
        out.line()
    first = _spawn(1, url, session_id, out)
    if not _killed(first):
        raise CLIError(f"phase 1 should have been killed, but exited with "
                       f"{first.returncode}:\n" + "\n".join(first.output[-20:]))
    if not out.json_mode:
        out.line(f"phase 1 process {first.pid} is gone (exit status {first.returncode}).")
        out.line()
    second = _spawn(2, url, session_id, out)
    if second.returncode != 0:
        raise CLIError(f"phase 2 failed with exit status {second.returncode}:\n"
                       + "\n".join(second.output[-20:]))
    with open_store(url) as store:
        session = store.get(APP, USER, session_id, last=0)
        events = _all_events(store, session_id)
    writers = {t.number: first.pid if t.number <= CRASH_AFTER else second.pid
               for t in SCRIPT}
    problems = check(session, events, writers)
    if out.json_mode:
        out.json({
            "session": session_id, "db": url, "ok": not problems, "problems": problems,
            "turns": len({_turn_of(e) for e in events}), "events": len(events),
            "state": dict(session.state),
            "phases": [{"phase": p.number, "pid": p.pid, "returncode": p.returncode,
                        "output": p.output} for p in (first, second)],
            "transcript": [e.to_dict() for e in events],
        })
        return 1 if problems else 0
    out.line()
    _transcript(events, writers, out)
    out.line(f"final state: {compact(dict(session.state))}")
    out.line()
    if problems:
        for problem in problems:
            out.line(f"problem: {problem}")
        out.line(f"FAILED: the session did not survive the crash intact "
                 f"({len(problems)} problem{'s' if len(problems) != 1 else ''})")
        return 1
    out.line(f"resumed in a new process: {len(SCRIPT)} turns, {len(events)} events, "
             "nothing lost")
    return 0


def _turn_of(event: Event) -> int:
    return (event.seq - 1) // EVENTS_PER_TURN + 1


def _all_events(store: SessionStore, session_id: str) -> list[Event]:
    events: list[Event] = []
    cursor: str | None = None
    while True:
        page = store.events(APP, USER, session_id, limit=100, cursor=cursor)
        events.extend(page)
        cursor = page.next_cursor
        if cursor is None:
            return events


def _transcript(events: list[Event], writers: dict[int, int], out: Output) -> None:
    out.line("transcript, read back from the store:")
    turn = 0
    for event in events:
        if _turn_of(event) != turn:
            turn = _turn_of(event)
            pid = writers.get(turn)
            out.line(f"  turn {turn}" + (f"  (written by process {pid})" if pid else ""))
        out.line(f"    {event.seq:>3}  {describe(event)}")
