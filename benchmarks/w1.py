"""W1 — agent chat (see /work/shared/workload.md), on SQLite.

Per turn of a session: **load** the state and the last 20 events, then
**append** one atomic write of 2 events (a ~200 B user message and a ~800 B
assistant message) with the state delta ``{"turn": i, "cart_items": i % 7}``.

Contenders, each on its own fresh file and in its own process (so peak memory
is per contender), all with WAL and the same ``synchronous`` setting:

- ``raw``:   the sqlite3 driver directly on an equivalent schema — per append
  ``BEGIN IMMEDIATE`` + two INSERTs + one state UPSERT + ``COMMIT``; per load
  one ``SELECT … ORDER BY seq DESC LIMIT 20`` + one state read;
- ``sync``:  ``sessiondb.open_store``;
- ``async``: ``sessiondb.open_async_store``, awaited one call at a time.

Runs repeat with the contenders' order rotated; figures are medians over the
repeats, and each ratio is the median of the per-repeat ratios against the
raw run of the same repeat.

    python benchmarks/w1.py                     # default: 20 sessions x 200 turns
    python benchmarks/w1.py --variant long      # 1 session x 10,000 turns
    python benchmarks/w1.py --synchronous full --repeat 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import (
    Samples,
    TextPool,
    check_third_party_imports,
    disk_bytes,
    format_table,
    import_time,
    median,
    peak_rss_kib,
    perf_counter_ns,
    snapshot_package,
)

CONTENDERS = ("raw", "sync", "async")
VARIANTS = {"default": (20, 200), "long": (1, 10_000)}
WINDOW = 20
APP = "w1"
EDGE = 100  # turns in the "first" and "last" windows of the growth figures
TARGETS = {"sync": 0.7, "async": 0.5}  # ops/s vs raw, append and load alike
LOAD_GROWTH_TARGET = 1.3


def delta(turn: int) -> dict[str, int]:
    return {"turn": turn, "cart_items": turn % 7}


# -- the raw sqlite3 baseline ---------------------------------------------------
RAW_SCHEMA = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX events_by_seq ON events (session, seq);
CREATE TABLE state (session TEXT PRIMARY KEY, state TEXT NOT NULL);
"""
RAW_INSERT = (
    "INSERT INTO events (session, seq, event_id, role, content, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
RAW_UPSERT = (
    "INSERT INTO state (session, state) VALUES (?, ?) "
    "ON CONFLICT (session) DO UPDATE SET state = json_patch(state, excluded.state)"
)
RAW_LAST = (
    "SELECT seq, event_id, role, content, created_at FROM events "
    "WHERE session = ? ORDER BY seq DESC LIMIT ?"
)
RAW_STATE = "SELECT state FROM state WHERE session = ?"


class RawSQLite:
    """The same reads and writes done directly with sqlite3: the near-physical
    limit for a Python process. Like sessiondb it stores a 128-bit event id
    and a timestamp per event, and merges the state delta in the database."""

    def __init__(self, path: str, synchronous: str) -> None:
        from secrets import token_urlsafe

        self._new_id = token_urlsafe
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                    cached_statements=256)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.conn.executescript(RAW_SCHEMA)
        self.last_seq: dict[str, int] = {}

    def create(self, user: str, sid: str) -> None:
        self.conn.execute("INSERT INTO state VALUES (?, '{}')", (sid,))

    def load(self, user: str, sid: str) -> tuple[dict, list]:
        conn = self.conn
        rows = conn.execute(RAW_LAST, (sid, WINDOW)).fetchall()
        rows.reverse()
        state = json.loads(conn.execute(RAW_STATE, (sid,)).fetchone()[0])
        # What a real caller does: it appends after the newest seq it loaded.
        self.last_seq[sid] = rows[-1][0] if rows else 0
        return state, rows

    def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        conn = self.conn
        seq = self.last_seq[sid]
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(RAW_INSERT, (sid, seq + 1, self._new_id(16), "user", user_text, now))
            conn.execute(RAW_INSERT, (sid, seq + 2, self._new_id(16), "assistant", reply, now))
            conn.execute(RAW_UPSERT, (sid, json.dumps(delta(turn))))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return seq + 2

    def check(self, user: str, sid: str, turns: int) -> None:
        state, rows = self.load(user, sid)
        assert state["turn"] == turns - 1 and len(rows) == min(WINDOW, 2 * turns), state
        assert rows[-1][0] == 2 * turns, rows[-1]

    def close(self) -> None:
        self.conn.close()


# -- sessiondb, sync and async ------------------------------------------------
def _url(path: str, synchronous: str) -> str:
    return f"sqlite:///{path}?synchronous={synchronous}"


class SyncStore:
    def __init__(self, path: str, synchronous: str) -> None:
        import sessiondb

        self.store = sessiondb.open_store(_url(path, synchronous))

    def create(self, user: str, sid: str) -> None:
        self.store.create(APP, user, sid)

    def load(self, user: str, sid: str) -> Any:
        return self.store.get(APP, user, sid, last=WINDOW)

    def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        return self.store.append(
            APP, user, sid,
            [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}],
            state_delta=delta(turn),
        )

    def check(self, user: str, sid: str, turns: int) -> None:
        s = self.load(user, sid)
        assert s.state["turn"] == turns - 1 and s.version == 2 * turns, s.state
        assert len(s.events) == min(WINDOW, 2 * turns) and s.events[-1].seq == 2 * turns

    def close(self) -> None:
        self.store.close()


class AsyncStore:
    def __init__(self, path: str, synchronous: str) -> None:
        import sessiondb

        self.store = sessiondb.open_async_store(_url(path, synchronous))

    async def create(self, user: str, sid: str) -> None:
        await self.store.create(APP, user, sid)

    async def load(self, user: str, sid: str) -> Any:
        return await self.store.get(APP, user, sid, last=WINDOW)

    async def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        return await self.store.append(
            APP, user, sid,
            [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}],
            state_delta=delta(turn),
        )

    async def check(self, user: str, sid: str, turns: int) -> None:
        s = await self.load(user, sid)
        assert s.state["turn"] == turns - 1 and s.version == 2 * turns, s.state
        assert len(s.events) == min(WINDOW, 2 * turns) and s.events[-1].seq == 2 * turns

    async def close(self) -> None:
        await self.store.close()


# -- one contender, in its own process ----------------------------------------
class Recorder:
    """Latencies per operation and the peak RSS along the way."""

    def __init__(self, turns: int) -> None:
        self.load = Samples()
        self.append = Samples()
        self.turns = turns
        self.rss: dict[str, int] = {}

    def mark(self, turn: int) -> None:
        """Record peak RSS after 10% of the turns (the memory-growth reference)."""
        if turn == max(1, self.turns // 10) - 1:
            self.rss["peak_kib_at_10pct"] = peak_rss_kib()


def _schedule(sessions: int) -> list[tuple[int, str, str]]:
    return [(k, f"user{k % 5}", f"session-{k}") for k in range(sessions)]


def run_sync(store: Any, args: argparse.Namespace) -> Recorder:
    sessions = _schedule(args.sessions)
    texts = TextPool(args.seed)
    for _, user, sid in [*sessions, (-1, "warmup", "warmup")]:
        store.create(user, sid)
    for turn in range(args.warmup):  # code paths and statement cache, not timed
        store.load("warmup", "warmup")
        store.append("warmup", "warmup", *texts.turn(-1, turn), turn)
    rec = Recorder(args.turns)
    rec.rss["peak_kib_setup"] = peak_rss_kib()
    clock = perf_counter_ns
    for turn in range(args.turns):
        for k, user, sid in sessions:
            user_text, reply = texts.turn(k, turn)
            t0 = clock()
            store.load(user, sid)
            t1 = clock()
            store.append(user, sid, user_text, reply, turn)
            t2 = clock()
            rec.load.add(t1 - t0)
            rec.append.add(t2 - t1)
        rec.mark(turn)
    for _, user, sid in sessions:
        store.check(user, sid, args.turns)
    return rec


async def run_async(store: Any, args: argparse.Namespace) -> Recorder:
    sessions = _schedule(args.sessions)
    texts = TextPool(args.seed)
    for _, user, sid in [*sessions, (-1, "warmup", "warmup")]:
        await store.create(user, sid)
    for turn in range(args.warmup):
        await store.load("warmup", "warmup")
        await store.append("warmup", "warmup", *texts.turn(-1, turn), turn)
    rec = Recorder(args.turns)
    rec.rss["peak_kib_setup"] = peak_rss_kib()
    clock = perf_counter_ns
    for turn in range(args.turns):
        for k, user, sid in sessions:
            user_text, reply = texts.turn(k, turn)
            t0 = clock()
            await store.load(user, sid)
            t1 = clock()
            await store.append(user, sid, user_text, reply, turn)
            t2 = clock()
            rec.load.add(t1 - t0)
            rec.append.add(t2 - t1)
        rec.mark(turn)
    for _, user, sid in sessions:
        await store.check(user, sid, args.turns)
    return rec


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run one contender on a fresh file; the measurements as a dict."""
    path = args.path
    start = time.perf_counter()
    if args.worker == "async":
        async def main() -> tuple[Recorder, dict[str, int]]:
            store = AsyncStore(path, args.synchronous)
            rec = await run_async(store, args)
            open_sizes = disk_bytes(path)
            await store.close()
            return rec, open_sizes

        rec, open_sizes = asyncio.run(main())
    else:
        store = (RawSQLite if args.worker == "raw" else SyncStore)(path, args.synchronous)
        rec = run_sync(store, args)
        open_sizes = disk_bytes(path)
        store.close()
    closed = disk_bytes(path)
    return {
        "contender": args.worker,
        "wall_s": time.perf_counter() - start,
        "append": rec.append.summary(EDGE),
        "load": rec.load.summary(EDGE),
        "disk_open_bytes": open_sizes["db"] + open_sizes["wal"],
        "disk_closed_bytes": closed["db"] + closed["wal"],
        "peak_rss_kib": peak_rss_kib(),
        **rec.rss,
        "sessiondb": getattr(sys.modules.get("sessiondb"), "__file__", None),
    }


# -- the orchestrator ---------------------------------------------------------
def run_all(args: argparse.Namespace) -> dict[str, Any]:
    contenders = [c for c in args.contenders.split(",") if c]
    runs: list[dict[str, dict]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sessiondb-w1-") as tmp:
        # Measure one frozen copy of sessiondb: the library may be edited
        # while the benchmark runs. --live measures the checkout as it is.
        frozen = os.path.join(tmp, "src")
        code = snapshot_package(frozen)
        env = dict(os.environ)
        if not args.live:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (frozen, os.environ.get("PYTHONPATH")) if p)
        for rep in range(args.repeat):
            shift = rep % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            results = {}
            for name in order:
                path = os.path.join(tmp, f"{name}-{rep}.db")
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", name,
                       "--path", path, "--sessions", str(args.sessions),
                       "--turns", str(args.turns), "--synchronous", args.synchronous,
                       "--seed", str(args.seed), "--warmup", str(args.warmup)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    sys.exit(f"the {name} contender failed:\n{done.stderr}")
                results[name] = json.loads(done.stdout)
                loaded = results[name].get("sessiondb")
                if loaded and not args.live and not loaded.startswith(frozen):
                    sys.exit(f"the {name} contender imported {loaded}, not the snapshot")
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
                if not args.json:
                    print(f"  repeat {rep + 1}/{args.repeat} {name:5s} "
                          f"{results[name]['wall_s']:.1f}s", file=sys.stderr)
            runs.append(results)
        if args.live and snapshot_package(os.path.join(tmp, "after"))["src_sha256"] != \
                code["src_sha256"]:
            code["warning"] = "sessiondb's source changed during the run: figures mix versions"
        code["measured"] = "the checkout (--live)" if args.live else "a snapshot taken at start"
        report: dict[str, Any] = {
            "workload": "W1",
            "variant": args.variant,
            "sessions": args.sessions,
            "turns": args.turns,
            "repeat": args.repeat,
            "synchronous": args.synchronous.upper(),
            "journal_mode": "WAL",
            "machine": {**machine(), "loadavg_1m_before": load_before[0],
                        "loadavg_1m_after": os.getloadavg()[0]},
            "code": code,
            "contenders": {name: aggregate(name, runs) for name in contenders},
            "runs": runs,
        }
        if not args.no_import:
            report["import"] = {
                **import_time("sessiondb", runs=args.import_runs, env=env),
                **check_third_party_imports("sessiondb", env=env),
            }
    return report


def aggregate(name: str, runs: list[dict[str, dict]]) -> dict[str, Any]:
    """Medians over the repeats; ratios as medians of per-repeat ratios."""
    mine = [r[name] for r in runs]
    out: dict[str, Any] = {}
    for op in ("append", "load"):
        stats = [m[op] for m in mine]
        agg = {key: median(s[key] for s in stats) for key in stats[0]}
        agg["growth"] = median(s["last_mean_us"] / s["first_mean_us"] for s in stats)
        agg["growth_p50"] = median(s["last_p50_us"] / s["first_p50_us"] for s in stats)
        if "raw" in runs[0]:
            ratios = [r[name][op]["ops_s"] / r["raw"][op]["ops_s"] for r in runs]
            agg["vs_raw"] = median(ratios)
            agg["vs_raw_min"], agg["vs_raw_max"] = min(ratios), max(ratios)
        out[op] = agg
    for key in ("disk_open_bytes", "disk_closed_bytes", "peak_rss_kib", "peak_kib_setup",
                "peak_kib_at_10pct", "wall_s"):
        out[key] = median(m[key] for m in mine)
    out["rss_growth_kib"] = median(m["peak_rss_kib"] - m["peak_kib_at_10pct"] for m in mine)
    return out


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


# -- the report -----------------------------------------------------------------
def render(report: dict[str, Any]) -> str:
    c = report["contenders"]
    long = report["variant"] == "long"
    m = report["machine"]
    lines = [
        f"W1 {report['variant']}: {report['sessions']} session(s) x {report['turns']} turns, "
        f"WAL, synchronous={report['synchronous']}, median of {report['repeat']} repeats",
        f"CPython {m['python']}, SQLite {m['sqlite']}, {m['cpus']} CPUs, {m['platform']}, "
        f"1-min load average {m.get('loadavg_1m_before', float('nan')):.2f} before, "
        f"{m.get('loadavg_1m_after', float('nan')):.2f} after",
        f"sessiondb source {report['code']['src_sha256']} (git HEAD {report['code']['git_head']}"
        f" + working tree; measured: {report['code']['measured']})",
    ]
    if "warning" in report["code"]:
        lines.append(f"WARNING: {report['code']['warning']}")
    lines.append("")
    headers = ["contender", "op", "count", "ops/s", "p50 µs", "p99 µs", "vs raw",
               "vs raw, range"]
    if long:
        headers += ["first100 mean µs", "last100 mean µs", "growth", "growth p50"]
    rows = []
    for name, agg in c.items():
        for op in ("append", "load"):
            a = agg[op]
            nan = float("nan")
            row = [name, op, int(a["count"]), a["ops_s"], a["p50_us"], a["p99_us"],
                   f"{a.get('vs_raw', nan):.2f}x",
                   f"{a.get('vs_raw_min', nan):.2f}..{a.get('vs_raw_max', nan):.2f}"]
            if long:
                row += [a["first_mean_us"], a["last_mean_us"], f"{a['growth']:.2f}x",
                        f"{a['growth_p50']:.2f}x"]
            rows.append(row)
    lines += [format_table(headers, rows), ""]
    rows = [[name, f"{agg['disk_open_bytes'] / 2**20:.2f}",
             f"{agg['disk_closed_bytes'] / 2**20:.2f}", f"{agg['peak_kib_setup'] / 1024:.1f}",
             f"{agg['peak_kib_at_10pct'] / 1024:.1f}", f"{agg['peak_rss_kib'] / 1024:.1f}",
             f"{agg['rss_growth_kib'] / 1024:.2f}"] for name, agg in c.items()]
    lines += [format_table(["contender", "disk open MiB (db+wal)", "disk closed MiB",
                            "peak RSS setup MiB", "peak RSS @10% MiB", "peak RSS end MiB",
                            "RSS growth 10%→end MiB"], rows), ""]
    if "import" in report:
        imp = report["import"]
        lines += [
            f"import sessiondb: {imp['import_ms']:.1f} ms over bare startup "
            f"({imp['python_import_ms']:.1f} vs {imp['python_pass_ms']:.1f} ms); "
            f"-X importtime cumulative {imp['importtime_cumulative_ms']:.1f} ms; "
            f"{imp['modules']} modules loaded; third-party: {imp['third_party'] or 'none'}",
            "",
        ]
    lines += [format_table(["target", "measured", "met"], targets(report)), ""]
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> list[list[str]]:
    c = report["contenders"]
    rows: list[list[str]] = []
    if "raw" not in c:
        return rows

    def verdict(ok: bool) -> str:
        return "yes" if ok else "NO"

    for name, floor in TARGETS.items():
        for op in ("append", "load"):
            if name in c:
                r = c[name][op]["vs_raw"]
                rows.append([f"{name} {op} ops/s >= {floor}x raw", f"{r:.2f}x",
                             verdict(r >= floor)])
    if report["variant"] == "long":
        raw_growth = c["raw"]["append"]["growth"]
        for name in ("sync", "async"):
            if name not in c:
                continue
            g = c[name]["load"]["growth"]
            rows.append([f"{name} load growth <= {LOAD_GROWTH_TARGET}", f"{g:.2f}x",
                         verdict(g <= LOAD_GROWTH_TARGET)])
            g = c[name]["append"]["growth"]
            rows.append([f"{name} append growth <= raw's ({raw_growth:.2f}x)", f"{g:.2f}x",
                         verdict(g <= raw_growth)])
    raw_rss = c["raw"]["rss_growth_kib"]
    for name in ("sync", "async"):
        if name in c:
            g = c[name]["rss_growth_kib"]
            rows.append([f"{name} peak RSS flat 10%→end (<= raw's {raw_rss / 1024:.2f} MiB "
                         "+ 1 MiB)", f"{g / 1024:.2f} MiB", verdict(g <= raw_rss + 1024)])
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS), default="default")
    p.add_argument("--sessions", type=int, help="override the variant's session count")
    p.add_argument("--turns", type=int, help="override the variant's turns per session")
    p.add_argument("--repeat", type=int, default=3, help="runs per contender (median)")
    p.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma-separated subset of raw,sync,async")
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
    p.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
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
