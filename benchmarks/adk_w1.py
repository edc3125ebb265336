"""W1 — agent chat (see the project's workload.md) through Google ADK's
session-service interface, on SQLite: SessionDB's adapter against ADK's own
``DatabaseSessionService``, in the same run.

Per turn of a session, as an ADK ``Runner`` does it:

- **load**: ``get_session(config=GetSessionConfig(num_recent_events=20))``,
  the state and the last 20 events;
- **append**: ``append_event`` of a user message (~200 B) and of an assistant
  message (~800 B) carrying the state delta ``{"turn": i, "cart_items": i % 7}``
  (ADK appends one event per call: two calls per turn).

Contenders, each on its own fresh file and in its own process (so peak memory
is per contender), with the same durability (WAL, ``synchronous=NORMAL`` by
default, ``--synchronous full`` for FULL):

- ``adk-db``:  ``google.adk.sessions.DatabaseSessionService`` on
  ``sqlite+aiosqlite:///…`` (WAL and ``synchronous`` set on every connection);
- ``adapter``: ``sessiondb.adapters.google_adk.SessionDBSessionService`` on
  ``sessiondb.open_async_store("sqlite:///…")``;
- ``store``:   for reference, the plain SessionDB async API doing W1 directly
  (``get(last=20)``; one ``append`` of both events with the delta).

Runs repeat with the order rotated; figures are medians over the repeats.

    python benchmarks/adk_w1.py                      # 20 sessions x 200 turns
    python benchmarks/adk_w1.py --sessions 1 --turns 10000   # W1 long
    python benchmarks/adk_w1.py --repeat 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
from typing import Any

from _common import (
    Samples,
    TextPool,
    disk_bytes,
    format_table,
    median,
    peak_rss_kib,
    perf_counter_ns,
)

CONTENDERS = ("adk-db", "adapter", "store")
APP = "w1"
WINDOW = 20
WARMUP = 10
TARGET = 5.0  # adapter turns/s vs adk-db


def delta(turn: int) -> dict[str, int]:
    return {"turn": turn, "cart_items": turn % 7}


def adk_events(user_text: str, reply: str, turn: int) -> tuple[Any, Any]:
    from google.adk.events.event import Event
    from google.adk.events.event_actions import EventActions
    from google.genai import types

    invocation = f"inv-{turn}"
    user = Event(author="user", invocation_id=invocation, id=Event.new_id(),
                 content=types.Content(role="user", parts=[types.Part(text=user_text)]))
    answer = Event(author="agent", invocation_id=invocation, id=Event.new_id(),
                   content=types.Content(role="model", parts=[types.Part(text=reply)]),
                   actions=EventActions(state_delta=delta(turn)))
    return user, answer


async def open_service(contender: str, path: str, synchronous: str) -> Any:
    if contender == "adk-db":
        from google.adk.sessions import DatabaseSessionService
        from sqlalchemy import event

        service = DatabaseSessionService(db_url=f"sqlite+aiosqlite:///{path}")

        @event.listens_for(service.db_engine.sync_engine, "connect")
        def _durability(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.close()

        return service
    import sessiondb

    store = sessiondb.open_async_store(f"sqlite:///{path}?synchronous={synchronous}")
    if contender == "store":
        return store
    from sessiondb.adapters.google_adk import SessionDBSessionService

    return SessionDBSessionService(store)


async def adk_turn(service: Any, user: str, sid: str, texts: tuple[str, str], turn: int,
                   load: Samples, append: Samples) -> None:
    from google.adk.sessions.base_session_service import GetSessionConfig

    config = GetSessionConfig(num_recent_events=WINDOW)
    start = perf_counter_ns()
    session = await service.get_session(app_name=APP, user_id=user, session_id=sid,
                                        config=config)
    loaded = perf_counter_ns()
    first, second = adk_events(*texts, turn)  # built outside the timed append
    begin = perf_counter_ns()
    await service.append_event(session, first)
    await service.append_event(session, second)
    done = perf_counter_ns()
    load.add(loaded - start)
    append.add(done - begin)


async def store_turn(store: Any, user: str, sid: str, texts: tuple[str, str], turn: int,
                     load: Samples, append: Samples) -> None:
    start = perf_counter_ns()
    await store.get(APP, user, sid, last=WINDOW)
    loaded = perf_counter_ns()
    await store.append(APP, user, sid, [{"role": "user", "content": texts[0]},
                                        {"role": "assistant", "content": texts[1]}],
                       state_delta=delta(turn))
    append.add(perf_counter_ns() - loaded)
    load.add(loaded - start)


async def child(contender: str, path: str, sessions: int, turns: int,
                synchronous: str) -> dict[str, Any]:
    service = await open_service(contender, path, synchronous)
    step = store_turn if contender == "store" else adk_turn
    pool = TextPool(seed=1)
    ids: list[tuple[str, str]] = []
    for s in range(sessions + 1):
        user = f"user{s}"
        if contender == "store":
            ids.append((user, (await service.create(APP, user)).id))
        else:
            ids.append((user, (await service.create_session(app_name=APP, user_id=user)).id))
    scratch = Samples()
    for t in range(WARMUP):  # on the extra session, not counted
        await step(service, *ids[sessions], pool.turn(sessions, t), t, scratch, scratch)
    load, append = Samples(), Samples()
    rss_setup = peak_rss_kib()
    for t in range(turns):
        for s in range(sessions):
            await step(service, *ids[s], pool.turn(s, t), t, load, append)
    rss_end = peak_rss_kib()  # before the check below, which reads whole histories
    # Check the work was done: every event is there, the last delta applied.
    user, sid = ids[0]
    if contender == "store":
        final = await service.get(APP, user, sid, last=1)
        count, state = final.version, final.state
    else:
        from google.adk.sessions.base_session_service import GetSessionConfig

        final = await service.get_session(app_name=APP, user_id=user, session_id=sid,
                                          config=GetSessionConfig(num_recent_events=1))
        count = len((await service.get_session(app_name=APP, user_id=user,
                                               session_id=sid)).events)
        state = final.state
    assert count == 2 * turns and state == delta(turns - 1), (count, state)
    disk_open = sum(disk_bytes(path).values())
    close = getattr(service, "close", None) if contender != "adapter" else service.store.close
    if close is not None:
        await close()
    load_s, append_s = load.summary(), append.summary()
    total = load_s["total_s"] + append_s["total_s"]
    return {"contender": contender, "load": load_s, "append": append_s,
            "turns_s": load_s["count"] / total, "disk_open": disk_open,
            "disk_closed": sum(disk_bytes(path).values()),
            "peak_rss_kib": rss_end, "rss_setup_kib": rss_setup}


def run_child(contender: str, folder: str, args: argparse.Namespace, repeat: int) -> dict:
    path = os.path.join(folder, f"{contender}-{repeat}.db")
    done = subprocess.run(
        [sys.executable, __file__, "--child", contender, "--path", path,
         "--sessions", str(args.sessions), "--turns", str(args.turns),
         "--synchronous", args.synchronous],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{contender} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(child(args.child, args.path, args.sessions, args.turns,
                                   args.synchronous))
        print(json.dumps(result))
        return
    runs: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.repeat):
            order = CONTENDERS[r % 3:] + CONTENDERS[:r % 3]
            for contender in order:
                print(f"repeat {r + 1}/{args.repeat}: {contender} …", file=sys.stderr)
                runs[contender].append(run_child(contender, folder, args, r))
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    print(report(runs, args))


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> str:
    def med(contender: str, *keys: str) -> float:
        values = []
        for run in runs[contender]:
            value: Any = run
            for key in keys:
                value = value[key]
            values.append(value)
        return median(values)

    base = runs["adk-db"]
    rows = []
    for c in CONTENDERS:
        ratios = [run["turns_s"] / b["turns_s"] for run, b in zip(runs[c], base, strict=True)]
        rows.append([c, med(c, "turns_s"), median(ratios),
                     med(c, "load", "ops_s"), med(c, "load", "p50_us"),
                     med(c, "load", "p99_us"), med(c, "append", "ops_s"),
                     med(c, "append", "p50_us"), med(c, "append", "p99_us"),
                     med(c, "load", "last_mean_us") / med(c, "load", "first_mean_us"),
                     med(c, "append", "last_mean_us") / med(c, "append", "first_mean_us"),
                     med(c, "disk_closed") / 2**20, med(c, "peak_rss_kib") / 1024])
    headers = ["contender", "turns/s", "vs adk-db", "load/s", "load p50 µs", "load p99 µs",
               "append/s", "append p50 µs", "append p99 µs", "load growth",
               "append growth", "disk MiB", "peak RSS MiB"]
    ratio = rows[1][2]
    verdict = "met" if ratio >= TARGET else "NOT met"
    return "\n".join([
        f"W1 via the ADK session-service interface: {args.sessions} sessions x "
        f"{args.turns} turns, SQLite WAL synchronous={args.synchronous.upper()}, "
        f"{args.repeat} repeat(s); Python {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} CPUs",
        "(append = both append_event calls of a turn; for 'store', one append; growth = "
        "mean latency of the last 100 turns / of the first 100)", "",
        format_table(headers, rows), "",
        f"adapter vs adk-db turns/s: {ratio:.1f}x (target >= {TARGET:.0f}x: {verdict})"])


if __name__ == "__main__":
    main()
