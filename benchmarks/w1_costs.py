"""Where W1's time goes on the server engines.

Runs W1 turns (load, then append, round-robin over the sessions) for each
contender in this process, on a fresh namespace, and splits the mean wall
time of each operation into:

- **client CPU**: this process's CPU time (``time.process_time_ns``), i.e.
  sessiondb + the driver in Python;
- **server CPU**: the CPU time of the server processes serving the run, from
  ``/proc/<pid>/task/*/schedstat`` (Linux, servers on this machine): the
  contender's PostgreSQL backend(s), found by ``application_name``, or every
  ``redis-server`` of the run (the one server, or the cluster's nodes);
- **the rest**: wall minus both — the loopback network stack, wake-ups and
  scheduling, and PostgreSQL's WAL flush (fsync) at commit.

Server CPU is read between operations, outside the timed calls (reading it
still disturbs the machine: wall times come out somewhat above the W1 runs';
read the split, not the totals). On a shared Redis another client's commands
would count too. Also printed: the round-trip floor (``SELECT 1`` / ``PING``);
for Redis, the commands the server ran per turn with their execution time
(``INFO commandstats``), and a sessiondb ``get`` beside its parts (the
``load`` script, the same reads as one MULTI/EXEC, the app-state HGETALL a
cluster ``get`` adds).

    python benchmarks/w1_costs.py --engine postgres
    python benchmarks/w1_costs.py --engine redis-cluster --contenders raw,sync --turns 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from _common import TextPool, format_table
from w1 import engine_class

CLOCK = time.perf_counter_ns
CPU = time.process_time_ns


class Meter:
    """Wall, client CPU and server CPU of each operation, summed."""

    def __init__(self, pids: list[int]) -> None:
        self.tasks = [f"/proc/{pid}/task/{tid}/schedstat"
                      for pid in pids for tid in os.listdir(f"/proc/{pid}/task")]
        self.sums: dict[str, list[int]] = {}

    def server_ns(self) -> int:
        total = 0
        for path in self.tasks:
            with open(path) as f:
                total += int(f.read().split()[0])
        return total

    def add(self, op: str, wall: int, cpu: int, server: int) -> None:
        row = self.sums.setdefault(op, [0, 0, 0, 0])
        row[0] += 1
        row[1] += wall
        row[2] += cpu
        row[3] += server


def server_pids(engine: Any, ns: str, app_name: str) -> list[int]:
    if engine.name == "postgres":
        with engine._admin() as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                                "AND pid <> pg_backend_pid()",
                                (app_name,)).fetchall()
        return [r[0] for r in rows]
    from w1_redis import client

    with client(engine.url) as r:
        if hasattr(r, "get_primaries"):
            return [int(r.info("server", target_nodes=n)["process_id"])
                    for n in r.get_primaries()]
        return [int(r.info("server")["process_id"])]


def command_calls(engine: Any) -> dict[str, tuple[int, int]]:
    """Calls and µs of execution per command on the Redis server(s), summed
    over nodes (``EXEC`` includes the commands it runs, ``EVALSHA`` its script's)."""
    from w1_redis import client

    totals: dict[str, tuple[int, int]] = {}
    with client(engine.url) as r:
        nodes = r.get_primaries() if hasattr(r, "get_primaries") else [None]
        for node in nodes:
            stats = r.info("commandstats", **({"target_nodes": node} if node else {}))
            for name, value in stats.items():
                name = name.removeprefix("cmdstat_")
                calls, usec = totals.get(name, (0, 0))
                totals[name] = (calls + int(value["calls"]), usec + int(value["usec"]))
    return totals


def round_trip_us(engine: Any, n: int = 2000) -> float:
    """Median wall µs of the cheapest command (``SELECT 1`` prepared, ``PING``
    to the node of one key): the round-trip floor of the machine."""
    if engine.name == "postgres":
        import psycopg

        with psycopg.connect(engine.url, autocommit=True) as conn:
            def once() -> None:
                conn.execute("SELECT 1", prepare=True).fetchone()

            return _median_us(once, n)
    from w1_redis import client

    with client(engine.url) as r:
        kw = {"target_nodes": r.get_node_from_key("w1")} if hasattr(r, "get_primaries") else {}
        return _median_us(lambda: r.ping(**kw), n)


def _median_us(call: Any, n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = CLOCK()
        call()
        samples.append(CLOCK() - t0)
    return sorted(samples)[n // 2] / 1e3


def sessions(n: int) -> list[tuple[int, str, str]]:
    return [(k, f"user{k % 5}", f"session-{k}") for k in range(n)]


def run_sync(store: Any, meter_for: Any, args: argparse.Namespace) -> Meter:
    texts = TextPool(args.seed)
    plan = sessions(args.sessions)
    for _, user, sid in [*plan, (-1, "warmup", "warmup")]:
        store.create(user, sid)
    for turn in range(args.warmup):
        store.load("warmup", "warmup")
        store.append("warmup", "warmup", *texts.turn(-1, turn), turn)
    meter = meter_for()
    for turn in range(args.turns):
        for k, user, sid in plan:
            user_text, reply = texts.turn(k, turn)
            for op in ("load", "append"):
                s0 = meter.server_ns()
                c0, t0 = CPU(), CLOCK()
                if op == "load":
                    store.load(user, sid)
                else:
                    store.append(user, sid, user_text, reply, turn)
                t1, c1 = CLOCK(), CPU()
                meter.add(op, t1 - t0, c1 - c0, meter.server_ns() - s0)
    store.close()
    return meter


async def run_async(store: Any, meter_for: Any, args: argparse.Namespace) -> Meter:
    texts = TextPool(args.seed)
    plan = sessions(args.sessions)
    for _, user, sid in [*plan, (-1, "warmup", "warmup")]:
        await store.create(user, sid)
    for turn in range(args.warmup):
        await store.load("warmup", "warmup")
        await store.append("warmup", "warmup", *texts.turn(-1, turn), turn)
    meter = meter_for()
    for turn in range(args.turns):
        for k, user, sid in plan:
            user_text, reply = texts.turn(k, turn)
            for op in ("load", "append"):
                s0 = meter.server_ns()
                c0, t0 = CPU(), CLOCK()
                if op == "load":
                    await store.load(user, sid)
                else:
                    await store.append(user, sid, user_text, reply, turn)
                t1, c1 = CLOCK(), CPU()
                meter.add(op, t1 - t0, c1 - c0, meter.server_ns() - s0)
    await store.close()
    return meter


def measure(args: argparse.Namespace, engine: Any,
            name: str) -> tuple[Meter, dict[str, tuple[int, int]]]:
    ns = engine.namespace(name, 0, "")
    app_name = f"w1costs_{ns}"[:63]
    url = engine.url
    if engine.name == "postgres":  # to find this contender's backends
        engine.url = f"{url}{'&' if '?' in url else '?'}application_name={app_name}"
    before: dict[str, tuple[int, int]] = {}
    after: dict[str, tuple[int, int]] = {}

    def meter_for() -> Meter:
        if engine.name != "postgres":
            before.update(command_calls(engine))
        return Meter(server_pids(engine, ns, app_name))

    try:
        if name in ("async", "raw_async"):
            async def main() -> Meter:
                return await run_async(await engine.open_async(name, ns), meter_for, args)

            meter = asyncio.run(main())
        else:
            meter = run_sync(engine.open(name, ns), meter_for, args)
        if engine.name != "postgres":
            after.update(command_calls(engine))
    finally:
        engine.url = url
        engine.drop(ns)
    calls = {}
    for k, (n, usec) in after.items():
        n0, usec0 = before.get(k, (0, 0))
        if k != "info" and n - n0 > 0:
            calls[k] = (n - n0, usec - usec0)
    return meter, calls


def split_get(engine: Any, n: int = 2000) -> list[list[Any]]:
    """Redis: a sessiondb ``get`` (last 20 of 200 turns) beside its parts,
    called directly through the backend's client (sessiondb internals): the
    ``load`` script, a MULTI/EXEC of the same user-slot reads, and the
    HGETALL of the app's state (which a cluster ``get`` sends after the
    script). Median wall µs, and server execution µs per call."""
    from _w1_run import APP, WINDOW, delta, events

    import sessiondb

    ns = engine.namespace("split", 0, "")
    store = sessiondb.open_store(engine.store_url(ns))
    try:
        texts = TextPool(1)
        store.create(APP, "user0", "session-0")
        for turn in range(200):
            store.append(APP, "user0", "session-0", events(*texts.turn(0, turn)),
                         state_delta=delta(turn))
        backend = store._backend  # type: ignore[attr-defined]
        user, app = backend.names.user(APP, "user0"), backend.names.app(APP)
        keys = [user] if backend.cluster else [user, app]
        args = ["session-0", repr(time.time()), WINDOW, "", ""]
        reads = [("HMGET", f"{user}:h:session-0", "v", "x", "i", "d", "c", "t", "m"),
                 ("HGETALL", f"{user}:s:session-0"), ("HGETALL", f"{user}:u"),
                 ("LRANGE", f"{user}:e:session-0", -WINDOW, -1)]
        parts = [
            ("store.get (as W1 calls it)", None,
             lambda: store.get(APP, "user0", "session-0", last=WINDOW)),
            ("the load script alone (EVALSHA)", "evalsha",
             lambda: backend.client.script("load", keys, args)),
            ("MULTI/EXEC of the same user-slot reads", "exec",
             lambda: backend.client.transaction(reads)),
            ("HGETALL of the app state", "hgetall",
             lambda: backend.client.call("HGETALL", app + ":a")),
        ]
        rows = []
        for label, command, call in parts:
            before = command_calls(engine)
            wall = _median_us(call, n)
            after = command_calls(engine)
            server = ""
            if command:
                calls = after[command][0] - before.get(command, (0, 0))[0]
                usec = after[command][1] - before.get(command, (0, 0))[1]
                server = f"{usec / calls:.1f}"
            rows.append([label, wall, server])
        return rows
    finally:
        store.close()
        engine.drop(ns)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=("postgres", "redis", "redis-cluster"),
                   default="postgres")
    p.add_argument("--url")
    p.add_argument("--contenders", default="raw,sync,raw_async,async")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--turns", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rows = []
    notes = []
    with engine_class(args.engine)(args.url, "normal") as engine:
        print(f"{engine.describe()['server']}, {args.sessions} sessions x {args.turns} turns, "
              f"1-min load average {os.getloadavg()[0]:.2f}; round trip "
              f"({'SELECT 1' if engine.name == 'postgres' else 'PING'}, p50) "
              f"{round_trip_us(engine):.0f} µs")
        for name in args.contenders.split(","):
            meter, calls = measure(args, engine, name)
            for op in ("load", "append"):
                n, wall, cpu, server = meter.sums[op]
                rows.append([name, op, n, wall / n / 1e3, cpu / n / 1e3, server / n / 1e3,
                             (wall - cpu - server) / n / 1e3])
            if calls:
                turns = meter.sums["load"][0]
                per_turn = ", ".join(f"{k} {n / turns:.2f} x {usec / n:.1f} µs"
                                     for k, (n, usec) in sorted(calls.items())
                                     if n / turns >= 0.1)
                notes.append(f"{name}: server commands per turn (load + append), calls x "
                             f"execution µs per call: {per_turn}")
        split = split_get(engine) if engine.name != "postgres" else []
    print(format_table(["contender", "op", "count", "wall µs", "client CPU µs",
                        "server CPU µs", "rest µs"], rows))
    for note in notes:
        print(note)
    if split:
        print(format_table(["part of a get", "wall µs (p50)", "server execution µs per call"],
                           split))


if __name__ == "__main__":
    main()
