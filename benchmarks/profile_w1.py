"""Profile sessiondb's sync store on W1: where an append and a load spend time.

Two parts, both on a fresh SQLite file (WAL, synchronous=NORMAL by default):

1. a phase breakdown (mean µs per call): the whole store call, its request
   validation (``sessiondb._core.requests``) and the backend call (which
   runs the SQL and builds the result);
2. cProfile, with one profiler enabled only around appends and one only
   around loads, printed sorted by own time (``--sort``).

    python benchmarks/profile_w1.py [--turns 200] [--sessions 20] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
from time import perf_counter_ns

from _common import TextPool, snapshot_package
from w1 import APP, WINDOW, delta

import sessiondb
from sessiondb._core import requests


def _mean_us(samples: list[int]) -> float:
    return statistics.fmean(samples) / 1e3


def breakdown(path: str, synchronous: str, sessions: int, turns: int, seed: int) -> None:
    """Mean µs of the whole store calls, and of their two halves called apart:
    building the validated request, then the backend call (SQL + rows)."""
    store = sessiondb.open_store(f"sqlite:///{path}?synchronous={synchronous}")
    backend = store._backend
    limits = store.limits
    now = store.clock.now
    texts = TextPool(seed)
    keys = [(f"user{k % 5}", f"session-{k}") for k in range(sessions)]
    for user, sid in keys:
        store.create(APP, user, sid)
    t: dict[str, list[int]] = {name: [] for name in (
        "store.get", "requests.get", "backend.get",
        "store.append", "requests.append", "backend.append")}
    clock = perf_counter_ns
    for turn in range(turns):
        for k, (user, sid) in enumerate(keys):
            u, a = texts.turn(k, turn)
            events = [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
            if turn % 2 == 0:  # alternate: the whole calls, then their halves
                t0 = clock()
                store.get(APP, user, sid, last=WINDOW)
                t1 = clock()
                store.append(APP, user, sid, events, state_delta=delta(turn))
                t2 = clock()
                t["store.get"].append(t1 - t0)
                t["store.append"].append(t2 - t1)
                continue
            t0 = clock()
            get = requests.get(APP, user, sid, WINDOW, None, None, now(), limits)
            t1 = clock()
            backend.get(get)
            t2 = clock()
            app = requests.append(APP, user, sid, events, delta(turn), None, None, now(),
                                  limits)
            t3 = clock()
            backend.append(app)
            t4 = clock()
            for name, ns in (("requests.get", t1 - t0), ("backend.get", t2 - t1),
                             ("requests.append", t3 - t2), ("backend.append", t4 - t3)):
                t[name].append(ns)
    store.close()
    print("phase breakdown, mean µs per call:")
    for name, samples in t.items():
        print(f"  {name:16s} {_mean_us(samples):7.1f}  (n={len(samples)})")


def profile(path: str, synchronous: str, sessions: int, turns: int, seed: int,
            sort: str, top: int) -> None:
    store = sessiondb.open_store(f"sqlite:///{path}?synchronous={synchronous}")
    texts = TextPool(seed)
    keys = [(f"user{k % 5}", f"session-{k}") for k in range(sessions)]
    for user, sid in keys:
        store.create(APP, user, sid)
    on_append, on_load = cProfile.Profile(), cProfile.Profile()
    for turn in range(turns):
        for k, (user, sid) in enumerate(keys):
            u, a = texts.turn(k, turn)
            events = [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
            on_load.enable()
            store.get(APP, user, sid, last=WINDOW)
            on_load.disable()
            on_append.enable()
            store.append(APP, user, sid, events, state_delta=delta(turn))
            on_append.disable()
    store.close()
    for name, prof in (("append", on_append), ("load (get, last=20)", on_load)):
        print(f"\n==== cProfile: {name}, {turns * sessions} calls ====")
        pstats.Stats(prof).strip_dirs().sort_stats(sort).print_stats(top)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--turns", type=int, default=200)
    p.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    p.add_argument("--sort", default="tottime")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sessiondb-prof-") as tmp:
        code = snapshot_package(os.path.join(tmp, "src"))  # only to name the version
        print(f"sessiondb {code['source']} source {code['src_sha256']} "
              f"(git HEAD {code['git_head']} + working tree)")
        breakdown(os.path.join(tmp, "breakdown.db"), args.synchronous, args.sessions,
                  args.turns, args.seed)
        profile(os.path.join(tmp, "profile.db"), args.synchronous, args.sessions, args.turns,
                args.seed, args.sort, args.top)


if __name__ == "__main__":
    main()
