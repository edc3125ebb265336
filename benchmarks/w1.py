"""W1 — agent chat (see /work/shared/workload.md), on SQLite, PostgreSQL,
Redis or a Redis Cluster.

Per turn of a session: **load** the state and the last 20 events, then
**append** one atomic write of 2 events (a ~200 B user message and a ~800 B
assistant message) with the state delta ``{"turn": i, "cart_items": i % 7}``.

Contenders, each in its own process (so peak memory is per contender) and
on its own fresh namespace — a file (SQLite), a schema (PostgreSQL) or a key
prefix (Redis), removed after its run — with the same durability:

- ``raw``: the engine's driver directly on an equivalent layout (sqlite3,
  psycopg, redis-py; see w1_sqlite.py, w1_postgres.py, w1_redis.py);
- ``raw_async`` (servers only): the driver's async API, the same work;
- ``sync``:  ``sessiondb.open_store``;
- ``async``: ``sessiondb.open_async_store``, awaited one call at a time,
  compared with ``raw_async`` (with ``raw`` on SQLite, which has no async API).

Runs repeat with the contenders' order rotated; figures are medians over the
repeats, and each ratio is the median of the per-repeat ratios against the
baseline's run of the same repeat.

    python benchmarks/w1.py                     # SQLite, default: 20 sessions x 200 turns
    python benchmarks/w1.py --variant long      # 1 session x 10,000 turns
    python benchmarks/w1.py --synchronous full --repeat 5 --json
    python benchmarks/w1.py --engine postgres   # postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/w1.py --engine redis      # redis://127.0.0.1:6379/0
    python benchmarks/w1.py --engine redis-cluster   # starts a throwaway 3-master cluster
    python benchmarks/w1.py --engine postgres --url postgresql://u@host/db
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import (
    check_third_party_imports,
    import_time,
    peak_rss_kib,
    snapshot_package,
)
from _w1_report import aggregate, render
from _w1_run import APP, EDGE, VARIANTS, WINDOW, Recorder, delta, run_async, run_sync

__all__ = ["APP", "WINDOW", "delta", "main"]  # profile_w1.py imports these from here

ENGINES = {
    "sqlite": ("w1_sqlite", "Engine"),
    "postgres": ("w1_postgres", "Engine"),
    "redis": ("w1_redis", "Engine"),
    "redis-cluster": ("w1_redis", "ClusterEngine"),
}
ALL_CONTENDERS = ("raw", "sync", "raw_async", "async", "sync_enc", "async_enc", "sync_cold",
                  "raw_busy", "sync_busy")


def engine_class(name: str) -> Any:
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(module), cls)


# -- one contender, in its own process ----------------------------------------
def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run one contender on its fresh namespace; the measurements as a dict."""
    engine = engine_class(args.engine)(args.url, args.synchronous)
    name, ns = args.worker, args.ns
    shape = (args.sessions, args.turns, args.warmup, args.seed)
    start = time.perf_counter()
    if name in ("async", "raw_async", "async_enc"):
        async def main() -> tuple[Recorder, dict[str, int]]:
            store = await engine.open_async(name, ns)
            rec = await run_async(store, *shape)
            open_sizes = engine.sizes(ns, True)
            await store.close()
            return rec, open_sizes

        rec, sizes = asyncio.run(main())
    else:
        store = engine.open(name, ns)
        rec = run_sync(store, *shape)
        sizes = engine.sizes(ns, True)
        store.close()
    wall = time.perf_counter() - start
    peak = peak_rss_kib()
    sizes.update(engine.sizes(ns, False))
    return {
        "contender": name,
        "wall_s": wall,
        "append": rec.append.summary(EDGE),
        "load": rec.load.summary(EDGE),
        **sizes,
        "peak_rss_kib": peak,
        **rec.rss,
        "sessiondb": getattr(sys.modules.get("sessiondb"), "__file__", None),
    }


# -- the orchestrator ---------------------------------------------------------
def run_all(args: argparse.Namespace) -> dict[str, Any]:
    cls = engine_class(args.engine)
    contenders = [c for c in (args.contenders or ",".join(cls.contenders)).split(",") if c]
    unknown = sorted(set(contenders) - set(cls.contenders))
    if unknown:
        sys.exit(f"--engine {args.engine} has no contender {unknown}: {cls.contenders}")
    runs: list[dict[str, dict]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sessiondb-w1-") as tmp, \
            cls(args.url, args.synchronous) as engine:
        # Measure one frozen copy of sessiondb: the library may be edited
        # while the benchmark runs. --live measures the checkout as it is.
        frozen = os.path.join(tmp, "src")
        code = snapshot_package(frozen)
        env = dict(os.environ)
        if not args.live:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (frozen, os.environ.get("PYTHONPATH")) if p)
        server = engine.describe()
        for rep in range(args.repeat):
            shift = rep % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            results = {}
            for name in order:
                ns = engine.namespace(name, rep, tmp)
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", name,
                       "--engine", args.engine, "--ns", ns, "--sessions", str(args.sessions),
                       "--turns", str(args.turns), "--synchronous", args.synchronous,
                       "--seed", str(args.seed), "--warmup", str(args.warmup)]
                if engine.url:
                    cmd += ["--url", engine.url]
                try:
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                finally:
                    engine.drop(ns)
                if done.returncode != 0:
                    sys.exit(f"the {name} contender failed:\n{done.stderr}")
                results[name] = json.loads(done.stdout)
                loaded = results[name].get("sessiondb")
                if loaded and not args.live and not loaded.startswith(frozen):
                    sys.exit(f"the {name} contender imported {loaded}, not the snapshot")
                if not args.json:
                    print(f"  repeat {rep + 1}/{args.repeat} {name:9s} "
                          f"{results[name]['wall_s']:.1f}s", file=sys.stderr)
            runs.append(results)
        if args.live and snapshot_package(os.path.join(tmp, "after"))["src_sha256"] != \
                code["src_sha256"]:
            code["warning"] = "sessiondb's source changed during the run: figures mix versions"
        code["measured"] = "the checkout (--live)" if args.live else "a snapshot taken at start"
        report: dict[str, Any] = {
            "workload": "W1",
            "engine": args.engine,
            "variant": args.variant,
            "sessions": args.sessions,
            "turns": args.turns,
            "warmup": args.warmup,
            "repeat": args.repeat,
        }
        if args.engine == "sqlite":
            report["synchronous"] = server.pop("synchronous")
            report["journal_mode"] = server.pop("journal_mode")
        else:
            report["server"] = server
        report.update({
            "machine": {**machine(), **({"sqlite": server["sqlite"]} if "sqlite" in server
                                        else {}),
                        "loadavg_1m_before": load_before[0],
                        "loadavg_1m_after": os.getloadavg()[0]},
            "code": code,
            "contenders": {name: aggregate(name, runs, cls.baselines[name], cls.size_keys)
                           for name in contenders},
            "runs": runs,
        })
        if not args.no_import:
            report["import"] = {
                **import_time("sessiondb", runs=args.import_runs, env=env),
                **check_third_party_imports("sessiondb", env=env),
            }
    return report


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=sorted(ENGINES), default="sqlite")
    p.add_argument("--url", help="the server to use (postgres, redis: default the local "
                   "one; redis-cluster: a redis+cluster:// URL, default a throwaway cluster)")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="default")
    p.add_argument("--sessions", type=int, help="override the variant's session count")
    p.add_argument("--turns", type=int, help="override the variant's turns per session")
    p.add_argument("--repeat", type=int, default=3, help="runs per contender (median)")
    p.add_argument("--synchronous", choices=("normal", "full"), default="normal",
                   help="SQLite only")
    p.add_argument("--contenders",
                   help="comma-separated subset of raw,sync,async (+ raw_async on servers)")
    p.add_argument("--warmup", type=int, default=10,
                   help="untimed turns on a separate session first")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--json-out", metavar="PATH", help="also write the JSON report to PATH")
    p.add_argument("--no-import", action="store_true", help="skip the import-time check")
    p.add_argument("--from-json", metavar="PATH",
                   help="print the tables of a report saved with --json-out; run nothing")
    p.add_argument("--live", action="store_true",
                   help="measure the checkout itself, not a snapshot of it taken at start")
    p.add_argument("--import-runs", type=int, default=21)
    p.add_argument("--worker", choices=ALL_CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--ns", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sessions, turns = VARIANTS[args.variant]
    args.sessions = args.sessions or sessions
    args.turns = args.turns or turns
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.from_json:
        with open(args.from_json) as f:
            print(render(json.load(f)))
        return
    report = run_all(args)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=2)
    out: Callable[[dict], str] = (lambda r: json.dumps(r, indent=2)) if args.json else render
    print(out(report))


if __name__ == "__main__":
    main()
