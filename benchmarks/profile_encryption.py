"""What encryption at rest costs W1 on SQLite (sync store), per load and append.

Runs W1 turns (load = state + last 20 events, then append = 2 events + the
state delta; sessions round-robin) on a fresh SQLite file, with and without
a key ring, after untimed warm-up turns that fill each session's window.

Three ways to look at it:

- ``--callgrind`` (the A/B figure): instruction counts, deterministic. It runs
  this script under ``valgrind --tool=callgrind`` three times per mode —
  warm-up only, warm-up + N turns, warm-up + N append-only turns — and
  derives instructions per append and per load from the differences;
- ``--cprofile``: cProfile of the measured loads and appends (own time);
- ``--wall``: mean µs per load and append, plain and encrypted in the same
  process, alternating, a few repeats;
- ``--parts``: the same, split into the backend's share, sealing and
  opening, with the cost of a reload (a second load of the same window).

``enc-cold`` is ``enc`` with ``remember_sealed`` off: what a reader pays for
values another process wrote (W1's own writes are otherwise read back from
the cache of opened values).

    python benchmarks/profile_encryption.py --callgrind
    python benchmarks/profile_encryption.py --cprofile --mode enc --top 30
    python benchmarks/profile_encryption.py --wall --repeat 5
    python benchmarks/profile_encryption.py --parts --repeat 5

Set ``PYTHONPATH`` to measure another copy of the package (e.g. a snapshot
taken before a change): the callgrind runs inherit the environment.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter_ns
from typing import Any

from _common import TextPool
from _w1_run import APP, WINDOW, delta, events

import sessiondb

#: plain: no key ring; enc: encryption at rest; enc-cold: the same without
#: remembering what it seals (every value read back is opened afresh).
MODES = ("plain", "enc", "enc-cold")
KEYS = "bench:" + "A" * 43  # a fixed key (32 bytes): runs are repeatable


class Turns:
    """W1's sessions on one fresh store, turn by turn."""

    def __init__(self, path: str, mode: str, sessions: int, seed: int) -> None:
        self.store = sessiondb.open_store(f"sqlite:///{path}?synchronous=normal",
                                          keys=None if mode == "plain" else KEYS)
        if mode == "enc-cold":  # values sealed here are not remembered as opened
            self.store._backend.encryption.remember_sealed = False
        self.texts = TextPool(seed)
        self.keys = [(f"user{k % 5}", f"session-{k}") for k in range(sessions)]
        self.turn = 0
        for user, sid in self.keys:
            self.store.create(APP, user, sid)

    def load(self, k: int) -> Any:
        user, sid = self.keys[k]
        return self.store.get(APP, user, sid, last=WINDOW)

    def append(self, k: int) -> int:
        user, sid = self.keys[k]
        u, a = self.texts.turn(k, self.turn)
        return self.store.append(APP, user, sid, events(u, a), state_delta=delta(self.turn))

    def run(self, turns: int, ops: str) -> None:
        """``turns`` turns of every session; ``ops``: ``turn`` (load then
        append) or ``append`` (appends only)."""
        for _ in range(turns):
            for k in range(len(self.keys)):
                if ops == "turn":
                    self.load(k)
                self.append(k)
            self.turn += 1

    def close(self) -> None:
        self.store.close()


def step(args: argparse.Namespace) -> None:
    """One run: warm-up, then the measured turns (what callgrind counts)."""
    with tempfile.TemporaryDirectory(prefix="sessiondb-enc-") as tmp:
        w = Turns(os.path.join(tmp, "w1.db"), args.mode, args.sessions, args.seed)
        w.run(args.warmup, "turn")
        w.run(args.turns, args.ops)
        w.close()


_COLLECTED = re.compile(r"Collected : (\d+)")


def _instructions(mode: str, ops: str, turns: int, args: argparse.Namespace) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, __file__, "--step", "--mode", mode, "--ops", ops,
           "--turns", str(turns), "--warmup", str(args.warmup),
           "--sessions", str(args.sessions), "--seed", str(args.seed)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return int(_COLLECTED.findall(done.stderr)[-1])


def callgrind(args: argparse.Namespace) -> None:
    for mode in args.modes.split(","):  # compile the bytecode first: not counted
        subprocess.run([sys.executable, __file__, "--step", "--mode", mode, "--turns", "1",
                        "--warmup", "1", "--sessions", "1"], check=True)
    runs = [(mode, ops, turns) for mode in args.modes.split(",")
            for ops, turns in (("turn", 0), ("turn", args.turns), ("append", args.turns))]
    with ThreadPoolExecutor(args.jobs) as pool:
        counts = dict(zip(runs, pool.map(lambda r: _instructions(*r, args), runs), strict=True))
    n = args.turns * args.sessions
    per: dict[str, dict[str, float]] = {}
    for mode in args.modes.split(","):
        base = counts[(mode, "turn", 0)]
        both = counts[(mode, "turn", args.turns)] - base
        append = counts[(mode, "append", args.turns)] - base
        per[mode] = {"append": append / n, "load": (both - append) / n}
    print(f"instructions per op (callgrind; {n} measured turns after "
          f"{args.warmup * args.sessions} warm-up turns; {sys.version.split()[0]})")
    for op in ("load", "append"):
        p = per.get("plain", {}).get(op)
        print(f"  {op:7s}" + "".join(
            f"  {mode} {n[op] / 1e3:6.1f}k" + (f" (plain/{mode} {p / n[op]:.3f})"
                                               if p and mode != "plain" else "")
            for mode, n in per.items()))


def cprofile(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sessiondb-enc-") as tmp:
        w = Turns(os.path.join(tmp, "w1.db"), args.mode, args.sessions, args.seed)
        w.run(args.warmup, "turn")
        profs = {"load": cProfile.Profile(), "append": cProfile.Profile()}
        for _ in range(args.turns):
            for k in range(args.sessions):
                profs["load"].runcall(w.load, k)
                profs["append"].runcall(w.append, k)
            w.turn += 1
        w.close()
    for name, prof in profs.items():
        print(f"\n==== cProfile ({args.mode}): {name}, {args.turns * args.sessions} calls ====")
        pstats.Stats(prof).strip_dirs().sort_stats(args.sort).print_stats(args.top)


def wall(args: argparse.Namespace) -> None:
    """Mean µs per op; plain and enc runs alternate, each on a fresh file."""
    clock = perf_counter_ns
    means: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for mode in ("plain", "enc"):
            with tempfile.TemporaryDirectory(prefix="sessiondb-enc-") as tmp:
                w = Turns(os.path.join(tmp, "w1.db"), mode, args.sessions, args.seed)
                w.run(args.warmup, "turn")
                spent = {"load": 0, "append": 0}
                for _ in range(args.turns):
                    for k in range(args.sessions):
                        t0 = clock()
                        w.load(k)
                        t1 = clock()
                        w.append(k)
                        t2 = clock()
                        spent["load"] += t1 - t0
                        spent["append"] += t2 - t1
                    w.turn += 1
                w.close()
            n = args.turns * args.sessions
            for op, ns in spent.items():
                means.setdefault((mode, op), []).append(ns / n / 1e3)
    print(f"mean µs per op, {args.repeat} runs of {args.turns * args.sessions} turns")
    for op in ("load", "append"):
        ratios = sorted(p / e for p, e in zip(means[("plain", op)], means[("enc", op)],
                                               strict=True))
        print(f"  {op:7s} plain {statistics.median(means[('plain', op)]):7.1f}  "
              f"enc {statistics.median(means[('enc', op)]):7.1f}  plain/enc min "
              f"{ratios[0]:.3f} median {statistics.median(ratios):.3f} max {ratios[-1]:.3f}")


def _timed(obj: Any, name: str, spent: dict[str, int], part: str) -> None:
    """Make ``obj.name`` add its time to ``spent[part]``."""
    method = getattr(obj, name)

    def timed(*args: Any) -> Any:
        t0 = perf_counter_ns()
        try:
            return method(*args)
        finally:
            spent[part] += perf_counter_ns() - t0

    setattr(obj, name, timed)


def parts(args: argparse.Namespace) -> None:
    """Mean µs per op and per part of it, plain and enc runs alternating:
    the backend's share of a load and an append (for enc, what the wrapper
    hands down), sealing, opening; and ``reload``, a second load of the same
    session right after the first (everything it needs already opened), in a
    run of its own. Each timed part adds about 0.1 µs of timing."""
    clock = perf_counter_ns
    means: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for mode in ("plain", "enc"):
            for reload in (False, True):
                with tempfile.TemporaryDirectory(prefix="sessiondb-enc-") as tmp:
                    w = Turns(os.path.join(tmp, "w1.db"), mode, args.sessions, args.seed)
                    w.run(args.warmup, "turn")
                    spent = dict.fromkeys(("load", "append", "reload", "backend load",
                                           "backend append", "seal", "open"), 0)
                    backend: Any = w.store._backend
                    if mode == "plain":
                        _timed(backend, "get", spent, "backend load")
                        _timed(backend, "append", spent, "backend append")
                    else:
                        _timed(backend, "_get_rows", spent, "backend load")
                        _timed(backend.inner, "append", spent, "backend append")
                        _timed(backend.encryption, "seal_append", spent, "seal")
                        _timed(backend.encryption, "open_session", spent, "open")
                    for _ in range(args.turns):
                        for k in range(args.sessions):
                            t0 = clock()
                            w.load(k)
                            t1 = clock()
                            if reload:
                                w.load(k)
                                spent["reload"] += clock() - t1
                                t1 = clock()
                            w.append(k)
                            spent["append"] += clock() - t1
                            spent["load"] += t1 - t0
                        w.turn += 1
                    w.close()
                n = args.turns * args.sessions
                for part, ns in spent.items():
                    if ns and (reload == (part == "reload")):
                        means.setdefault((mode, part), []).append(ns / n / 1e3)
    print(f"mean µs per op and part (median of {args.repeat} runs of "
          f"{args.turns * args.sessions} turns)")
    for part in ("load", "backend load", "open", "reload", "append", "backend append", "seal"):
        plain, enc = means.get(("plain", part)), means.get(("enc", part))
        print(f"  {part:15s} plain {statistics.median(plain) if plain else float('nan'):6.1f}"
              f"  enc {statistics.median(enc) if enc else float('nan'):6.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--callgrind", action="store_true", help="instructions per op")
    what.add_argument("--cprofile", action="store_true", help="cProfile of loads, appends")
    what.add_argument("--wall", action="store_true", help="mean µs per op")
    what.add_argument("--parts", action="store_true", help="mean µs per part of an op")
    what.add_argument("--step", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, default="enc")
    p.add_argument("--modes", default="plain,enc,enc-cold",
                   help="--callgrind: the modes to count, comma-separated")
    p.add_argument("--ops", choices=("turn", "append"), default="turn")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--warmup", type=int, default=12, help="untimed turns per session")
    p.add_argument("--turns", type=int, default=None,
                   help="measured turns per session (default: 10; --wall 50)")
    p.add_argument("--jobs", type=int, default=2, help="callgrind runs at a time")
    p.add_argument("--repeat", type=int, default=3, help="--wall runs per mode")
    p.add_argument("--sort", default="tottime")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.turns is None:
        args.turns = 50 if args.wall or args.parts else 10
    if args.step:
        step(args)
    elif args.callgrind:
        callgrind(args)
    elif args.cprofile:
        cprofile(args)
    elif args.parts:
        parts(args)
    else:
        wall(args)


if __name__ == "__main__":
    main()
