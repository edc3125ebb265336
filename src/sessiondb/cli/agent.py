"""The demo's scripted travel-booking agent: six deterministic turns.

Each turn is one atomic append of four events (the user's message, the
agent's tool call, the tool's result, the agent's reply) with a state delta.
Turns carry an idempotency key and the expected version, so replaying a turn
after a crash stores nothing twice, and two agents can never interleave.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..models import Event, Session
from ..store import SessionStore
from .output import compact

APP = "demo-travel"
USER = "traveler"
INITIAL_STATE: dict[str, Any] = {"turn": 0, "status": "planning"}
EVENTS_PER_TURN = 4
#: Demo sessions clean themselves up: ``sessiondb purge`` removes them a day later.
DEMO_TTL = timedelta(days=1)

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Turn:
    number: int
    user: str
    tool: str
    arguments: dict[str, Any]
    result: dict[str, Any]
    reply: str
    delta: dict[str, Any] = field(default_factory=dict)

    @property
    def first_seq(self) -> int:
        return (self.number - 1) * EVENTS_PER_TURN + 1

    @property
    def state_delta(self) -> dict[str, Any]:
        return {"turn": self.number, **self.delta}

    def events(self, pid: int = 0) -> list[dict[str, Any]]:
        """The turn's events; the reply records which process wrote it."""
        return [
            {"role": "user", "kind": "message", "content": self.user},
            {"role": "assistant", "kind": "tool_call", "content": self.tool,
             "data": {"arguments": self.arguments}},
            {"role": "tool", "kind": "tool_result", "content": self.result,
             "data": {"tool": self.tool}},
            {"role": "assistant", "kind": "message", "content": self.reply,
             "data": {"pid": pid}},
        ]


SCRIPT: tuple[Turn, ...] = (
    Turn(1, "Hi! I need to fly from London to Lisbon on Friday 13 June.",
         "search_flights", {"from": "LHR", "to": "LIS", "date": "2025-06-13"},
         {"flights": [{"id": "TP1351", "departs": "07:45", "eur": 118},
                      {"id": "BA500", "departs": "16:10", "eur": 164}]},
         "I found two flights: TP1351 at 07:45 (EUR 118) and BA500 at 16:10 (EUR 164).",
         {"city": "Lisbon", "date": "2025-06-13"}),
    Turn(2, "The morning one, please.",
         "hold_seat", {"flight": "TP1351", "passengers": 1},
         {"hold": "H-4821", "expires_in_minutes": 30},
         "Seat held on TP1351 (hold H-4821, valid 30 minutes).",
         {"city": "Lisbon", "flight": "TP1351"}),
    Turn(3, "Now a hotel near the old town for three nights.",
         "search_hotels", {"city": "Lisbon", "area": "Alfama", "nights": 3},
         {"hotels": [{"name": "Casa do Alfama", "eur_per_night": 96},
                     {"name": "Memmo Alfama", "eur_per_night": 210}]},
         "Casa do Alfama is EUR 96 a night; Memmo Alfama EUR 210. Which one?",
         {"city": "Lisbon", "nights": 3}),
    Turn(4, "Casa do Alfama.",
         "book_hotel", {"hotel": "Casa do Alfama", "nights": 3},
         {"confirmation": "HX-77120", "eur": 288},
         "Booked: Casa do Alfama, 3 nights, confirmation HX-77120.",
         {"city": "Lisbon", "hotel": "Casa do Alfama"}),
    Turn(5, "Can I add a day trip to Porto on Sunday?",
         "search_trains", {"from": "Lisbon", "to": "Porto", "date": "2025-06-15"},
         {"trains": [{"id": "AP131", "departs": "08:39", "eur": 36}]},
         "Alfa Pendular AP131 leaves at 08:39 for EUR 36. Added to your trip.",
         {"city": "Porto", "train": "AP131"}),
    Turn(6, "Perfect. Confirm everything and pay.",
         "checkout", {"items": ["TP1351", "HX-77120", "AP131"]},
         {"status": "paid", "eur": 442},
         "All booked and paid: EUR 442 in total. Have a great trip!",
         {"city": "Lisbon", "status": "booked"}),
)


def expected_state(turns: int = len(SCRIPT)) -> dict[str, Any]:
    """The session state after the first ``turns`` turns."""
    state = dict(INITIAL_STATE)
    for turn in SCRIPT[:turns]:
        state.update(turn.state_delta)
    return state


def start(store: SessionStore, session_id: str) -> Session:
    return store.create(APP, USER, session_id, state=INITIAL_STATE, idle_ttl=DEMO_TTL,
                        metadata={"source": "sessiondb-demo"})


def run_turn(store: SessionStore, session_id: str, turn: Turn, say: Say) -> int:
    """Play one turn and store it as one append; the new version."""
    say(f"user:      {turn.user}")
    say(f"assistant: -> {turn.tool}({compact(turn.arguments)})")
    say(f"tool:      <- {compact(turn.result)}")
    say(f"assistant: {turn.reply}")
    version = store.append(
        APP, USER, session_id, turn.events(os.getpid()), state_delta=turn.state_delta,
        expected_version=turn.first_seq - 1, idempotency_key=f"turn-{turn.number}")
    say(f"           [turn {turn.number} stored: version {version}]")
    return version


def describe(event: Event) -> str:
    """One transcript line for an event."""
    content = event.content
    if event.kind == "tool_call":
        arguments = (event.data or {}).get("arguments", {})
        return f"assistant -> {content}({compact(arguments)})"
    if event.kind == "tool_result":
        return f"tool      <- {compact(content)}"
    text = content if isinstance(content, str) else compact(content)
    return f"{event.role:<9} {text}"


def check(session: Session, events: list[Event],
          writers: Mapping[int, int] | None = None) -> list[str]:
    """What is missing or wrong in a finished demo session (empty: all good).

    ``writers`` maps a turn number to the pid expected to have written it.
    """
    problems: list[str] = []
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"seq is not gap-free 1..{len(seqs)}: {seqs}")
    by_seq = {e.seq: e for e in events}
    for turn in SCRIPT:
        for offset, wanted in enumerate(turn.events()):
            seq = turn.first_seq + offset
            got = by_seq.get(seq)
            if got is None:
                problems.append(f"turn {turn.number}: event {seq} is missing")
                continue
            data = dict(got.data or {})
            pid = data.pop("pid", None) if wanted["role"] == "assistant" else None
            wanted_data = {k: v for k, v in (wanted.get("data") or {}).items() if k != "pid"}
            if (got.role, got.kind, got.content, data or None) != (
                    wanted["role"], wanted["kind"], wanted["content"], wanted_data or None):
                problems.append(f"turn {turn.number}: event {seq} differs from the script")
            if offset == EVENTS_PER_TURN - 1:
                if dict(got.state_delta or {}) != turn.state_delta:
                    problems.append(f"turn {turn.number}: its state delta is wrong")
                if writers and writers.get(turn.number) not in (None, pid):
                    problems.append(f"turn {turn.number} was written by pid {pid}, "
                                    f"not {writers[turn.number]}")
    total = len(SCRIPT) * EVENTS_PER_TURN
    if len(events) != total:
        problems.append(f"{len(events)} events stored, expected {total}")
    if session.version != total:
        problems.append(f"the session is at version {session.version}, expected {total}")
    if dict(session.state) != expected_state():
        problems.append(f"the state {compact(dict(session.state))} does not match the last "
                        f"turn's {compact(expected_state())}")
    return problems
