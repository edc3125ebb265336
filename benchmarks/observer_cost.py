"""What the reporting hook costs per store operation.

Three ways to open the same store, timed on W1-shaped appends (2 events and
a small state delta) and loads (``get`` with the last 20 events):

- **plain**: no observer, so no wrapper (what every store gets by default);
- **wrapper**: the observed backend with an observer that does nothing (the
  cost of timing and forwarding alone);
- **prometheus**: the observed backend reporting to ``PrometheusObserver``
  (a private registry, single-process mode).

One store per mode is open side by side; timed batches of each mode
alternate, in rotating order, and the figure is the fastest batch's mean
latency (the machine is shared: read the differences, not the absolute
numbers). The default timer is the process's CPU time: the hook
adds CPU work only, and CPU time is not inflated by other processes' load.

    python benchmarks/observer_cost.py
    python benchmarks/observer_cost.py --batches 60 --api async --engines sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import TextPool, format_table, median, perf_counter_ns

from sessiondb import AsyncSessionStore, SessionStore
from sessiondb.backends import open_async_backend, open_backend
from sessiondb.observe import observing

SESSIONS = 20
#: The timer: CPU time of the whole process (every thread) by default, which
#: the hook adds to and which other processes' load does not inflate;
#: ``--clock wall`` for elapsed time.
CLOCK = time.process_time_ns
#: Batches to one figure: the fastest batch by default (interference only
#: ever adds time), ``--stat median`` for the typical one.
STAT: Callable[[list[float]], float] = min
MODES = ("plain", "wrapper", "prometheus")


class NullObserver:
    def operation(self, backend: str, operation: str, seconds: float,
                  error: BaseException | None) -> None:
        pass

    def purged(self, backend: str, count: int) -> None:
        pass


def _observer(mode: str) -> Any:
    if mode == "wrapper":
        return NullObserver()
    from prometheus_client import CollectorRegistry

    from sessiondb.http.metrics import PrometheusObserver

    return PrometheusObserver(CollectorRegistry())


def open_sync(url: str, mode: str) -> SessionStore:
    observer = None if mode == "plain" else _observer(mode)
    return SessionStore(observing(open_backend(url), observer, url), url=url)


def open_async(url: str, mode: str) -> AsyncSessionStore:
    observer = None if mode == "plain" else _observer(mode)
    return AsyncSessionStore(observing(open_async_backend(url), observer, url, asynchronous=True),
                             url=url)


class SyncRun:
    """One store per mode, side by side, so timed batches interleave."""

    def __init__(self, url: str, mode: str) -> None:
        self.store = open_sync(url, mode)
        self.ids = [self.store.create("bench", f"user{i}").id for i in range(SESSIONS)]
        self.turn = 0

    def appends(self, count: int, text: TextPool) -> int:
        """Time ``count`` appends; nanoseconds."""
        store, ids, first = self.store, self.ids, self.turn
        batch = [(n % SESSIONS, *text.turn(n % SESSIONS, n)) for n in range(first, first + count)]
        start = CLOCK()
        for n, (s, user, reply) in enumerate(batch, first):
            store.append("bench", f"user{s}", ids[s],
                         [{"role": "user", "content": user},
                          {"role": "assistant", "content": reply}],
                         {"turn": n, "cart_items": n % 7})
        self.turn += count
        return CLOCK() - start

    def gets(self, count: int) -> int:
        store, ids = self.store, self.ids
        start = CLOCK()
        for n in range(count):
            store.get("bench", f"user{n % SESSIONS}", ids[n % SESSIONS], last=20)
        return CLOCK() - start

    def close(self) -> None:
        self.store.close()


class AsyncRun(SyncRun):
    """The same on an async store, each batch one ``loop.run_until_complete``."""

    def __init__(self, url: str, mode: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.store = open_async(url, mode)  # type: ignore[assignment]
        self.ids = [self.loop.run_until_complete(self.store.create("bench", f"user{i}")).id
                    for i in range(SESSIONS)]
        self.turn = 0

    def appends(self, count: int, text: TextPool) -> int:
        store, ids, first = self.store, self.ids, self.turn
        batch = [(n % SESSIONS, *text.turn(n % SESSIONS, n)) for n in range(first, first + count)]

        async def timed() -> int:
            start = CLOCK()
            for n, (s, user, reply) in enumerate(batch, first):
                await store.append("bench", f"user{s}", ids[s],
                                   [{"role": "user", "content": user},
                                    {"role": "assistant", "content": reply}],
                                   {"turn": n, "cart_items": n % 7})
            return CLOCK() - start

        self.turn += count
        return self.loop.run_until_complete(timed())

    def gets(self, count: int) -> int:
        store, ids = self.store, self.ids

        async def timed() -> int:
            start = CLOCK()
            for n in range(count):
                await store.get("bench", f"user{n % SESSIONS}", ids[n % SESSIONS], last=20)
            return CLOCK() - start

        return self.loop.run_until_complete(timed())

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())


def measure(engine: str, api: str, modes: list[str], batches: int, size: int,
            folder: str) -> list[list[str]]:
    """The best batch's mean µs per append and per get, by mode."""
    text = TextPool(seed=1)
    loop = asyncio.new_event_loop()
    runs: dict[str, SyncRun] = {}
    for mode in modes:
        url = ("memory://" if engine == "memory"
               else f"sqlite:///{os.path.join(folder, f'{api}-{mode}.db')}")
        runs[mode] = SyncRun(url, mode) if api == "sync" else AsyncRun(url, mode, loop)
    appends: dict[str, list[float]] = {mode: [] for mode in modes}
    gets: dict[str, list[float]] = {mode: [] for mode in modes}
    for batch in range(batches):
        shift = batch % len(modes)
        for mode in modes[shift:] + modes[:shift]:
            appends[mode].append(runs[mode].appends(size, text) / size / 1e3)
        for mode in modes[shift:] + modes[:shift]:
            gets[mode].append(runs[mode].gets(size) / size / 1e3)
    for run in runs.values():
        run.close()
    loop.close()
    rows = []
    base_append, base_get = STAT(appends[modes[0]]), STAT(gets[modes[0]])
    for mode in modes:
        append, get = STAT(appends[mode]), STAT(gets[mode])
        rows.append([engine, api, mode, f"{append:.2f}", f"{append - base_append:+.2f}",
                     f"{get:.2f}", f"{get - base_get:+.2f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--size", type=int, default=200, help="operations per timed batch")
    parser.add_argument("--engines", default="memory,sqlite")
    parser.add_argument("--api", default="sync,async")
    parser.add_argument("--modes", default=",".join(MODES), help="the first is the baseline")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--stat", choices=["min", "median"], default="min")
    args = parser.parse_args()
    global CLOCK, STAT
    STAT = min if args.stat == "min" else median
    CLOCK = time.process_time_ns if args.clock == "cpu" else perf_counter_ns
    rows = []
    with tempfile.TemporaryDirectory(prefix="sessiondb-observer-") as folder:
        for engine in args.engines.split(","):
            for api in args.api.split(","):
                rows += measure(engine, api, args.modes.split(","), args.batches, args.size,
                                folder)
    print(f"{args.stat} over {args.batches} interleaved batches of {args.size} appends / gets "
          "(20 sessions round-robin; SQLite: WAL, synchronous=NORMAL); "
          f"{args.clock} µs per operation")
    print(format_table(["engine", "api", "mode", "append µs", "Δ", "get µs", "Δ"], rows))


if __name__ == "__main__":
    main()
