"""A long LangGraph conversation: the stock ``SqliteSaver`` against
``SessionDBSaver`` on SQLite, in the same run.

One thread, ``--turns`` turns (default 1,000) through a ``StateGraph`` whose
``messages`` channel uses ``add_messages``: each turn invokes the graph with
a ~200 B user message and a scripted model node answers with a ~800 B
message (seeded text from ``_common.TextPool``; no network, no model).

Each contender runs in its own process on a fresh file in a temporary
directory, with the same durability (WAL, ``synchronous=NORMAL``):

- ``stock``: ``langgraph.checkpoint.sqlite.SqliteSaver`` on ``sqlite3``
  (``pip install langgraph-checkpoint-sqlite``);
- ``sessiondb``: ``SessionDBSaver(sessiondb.open_store("sqlite:///…"))``;
- ``floor``: a checkpointer that keeps the checkpoint objects in a dict and
  stores nothing: what LangGraph itself costs per turn (``add_messages``
  alone is O(messages) per step), for reference.

Before timing, 10 turns run on another thread (not counted). Reported:
bytes on disk (db + WAL while open, and the file after close,
which checkpoints the WAL), the mean and median latency of a whole turn
(``graph.invoke``) over the first and the last 100 turns and their ratio
(growth), a cold load of the finished thread in a fresh saver, and peak RSS.
All contenders must end with the same conversation.

    python benchmarks/langgraph_long.py                 # 1,000 turns
    python benchmarks/langgraph_long.py --turns 200 --json
    python benchmarks/langgraph_long.py --repeat 3        # medians of 3 runs each
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from time import perf_counter_ns
from typing import Annotated, Any, TypedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Samples, TextPool, disk_bytes, format_table, median, peak_rss_kib
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, copy_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

CONTENDERS = ("floor", "stock", "sessiondb")


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def build(checkpointer: Any, pool: TextPool) -> Any:
    def model(state: State) -> dict[str, Any]:
        turn = len(state["messages"]) // 2
        return {"messages": [AIMessage(pool.turn(0, turn)[1])]}

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    return graph.compile(checkpointer=checkpointer)


class FloorSaver(BaseCheckpointSaver):  # type: ignore[type-arg]
    """Keeps the latest checkpoint of each thread as objects: no storage."""

    def __init__(self) -> None:
        super().__init__()
        self.latest: dict[str, CheckpointTuple] = {}

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        found = self.latest.get(config["configurable"]["thread_id"])
        if found is None:
            return None
        checkpoint = copy_checkpoint(found.checkpoint)
        checkpoint["channel_values"] = {
            k: list(v) if type(v) is list else v for k, v in checkpoint["channel_values"].items()}
        return found._replace(checkpoint=checkpoint)

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        thread = config["configurable"]["thread_id"]
        stored = {"configurable": {"thread_id": thread, "checkpoint_ns": "",
                                   "checkpoint_id": checkpoint["id"]}}
        checkpoint = copy_checkpoint(checkpoint)
        checkpoint["channel_values"] = {
            k: list(v) if type(v) is list else v for k, v in checkpoint["channel_values"].items()}
        self.latest[thread] = CheckpointTuple(stored, checkpoint, metadata, None, [])
        return stored

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        pass


class _Nothing:
    def close(self) -> None:
        pass


def open_saver(contender: str, path: str) -> tuple[Any, Any]:
    """The checkpointer, and what to close afterwards."""
    if contender == "floor":
        return FloorSaver(), _Nothing()
    if contender == "stock":
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return SqliteSaver(conn), conn
    import sessiondb
    from sessiondb.adapters.langgraph import SessionDBSaver

    store = sessiondb.open_store(f"sqlite:///{path}")
    return SessionDBSaver(store), store


def run_contender(contender: str, path: str, turns: int, seed: int) -> dict[str, Any]:
    pool = TextPool(seed)
    saver, closer = open_saver(contender, path)
    graph = build(saver, pool)
    for turn in range(10):  # warm-up, on another thread: not counted
        graph.invoke({"messages": [HumanMessage(pool.turn(1, turn)[0])]},
                     {"configurable": {"thread_id": "warm-up"}})
    config = {"configurable": {"thread_id": "long"}}
    turn_ns = Samples()
    for turn in range(turns):
        text = pool.turn(0, turn)[0]
        start = perf_counter_ns()
        graph.invoke({"messages": [HumanMessage(text)]}, config)
        turn_ns.add(perf_counter_ns() - start)
    disk_open = disk_bytes(path)
    final = graph.get_state(config).values["messages"]
    cold: list[float] = []
    for _ in range(3 if contender != "floor" else 0):  # a new process's first read
        fresh, fresh_closer = open_saver(contender, path)
        start = perf_counter_ns()
        fresh.get_tuple(config)
        cold.append((perf_counter_ns() - start) / 1e6)
        if fresh_closer is not closer:
            fresh_closer.close()
    closer.close()
    return {
        "contender": contender,
        "turns": turns,
        "messages": len(final),
        "digest": hashlib.sha256(json.dumps([m.content for m in final]).encode()).hexdigest(),
        "turn": turn_ns.summary(edge=min(100, max(turns // 10, 1))),
        "disk_open": sum(disk_open.values()),
        "disk_closed": sum(disk_bytes(path).values()),
        "cold_load_ms": median(cold) if cold else 0.0,
        "peak_rss_kib": peak_rss_kib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per contender, order rotated; figures are medians")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:  # a child process: one contender
        print(json.dumps(run_contender(args.contender, args.path, args.turns, args.seed)))
        return
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    with tempfile.TemporaryDirectory(prefix="lg-long-") as tmp:
        for repeat in range(args.repeat):
            order = CONTENDERS[repeat % 3:] + CONTENDERS[:repeat % 3]  # rotate the order
            for contender in order:
                path = os.path.join(tmp, f"{contender}-{repeat}.db")
                done = subprocess.run(
                    [sys.executable, __file__, "--contender", contender, "--path", path,
                     "--turns", str(args.turns), "--seed", str(args.seed)],
                    check=True, capture_output=True, text=True)
                runs[contender].append(json.loads(done.stdout.strip().splitlines()[-1]))
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
    results = {c: _median_run(r) for c, r in runs.items()}
    if len({(r["messages"], r["digest"]) for r in results.values()}) != 1:
        raise SystemExit("the contenders ended with different conversations")
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(report(results, args.turns))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median over the runs (sizes and messages are the same)."""
    out = dict(runs[-1])
    for key in ("disk_open", "disk_closed", "cold_load_ms", "peak_rss_kib"):
        out[key] = median(r[key] for r in runs)
    out["turn"] = {k: median(r["turn"][k] for r in runs) for k in runs[-1]["turn"]}
    out["repeats"] = len(runs)
    return out


def report(results: dict[str, dict[str, Any]], turns: int) -> str:
    rows = []
    for name, r in results.items():
        t = r["turn"]
        rows.append([name, r["disk_closed"] / 1e6, r["disk_open"] / 1e6,
                     t["first_mean_us"] / 1e3, t["last_mean_us"] / 1e3,
                     t["last_mean_us"] / t["first_mean_us"],
                     t["first_p50_us"] / 1e3, t["last_p50_us"] / 1e3,
                     t["mean_us"] / 1e3, r["cold_load_ms"], r["peak_rss_kib"] / 1024])
    stock, ours = results["stock"], results["sessiondb"]
    edge = min(100, max(turns // 10, 1))
    table = format_table(
        ["saver", "disk MB (closed)", "disk MB (open)", f"first {edge} ms",
         f"last {edge} ms", "growth", f"first {edge} p50 ms", f"last {edge} p50 ms",
         "mean ms", "cold load ms", "peak RSS MiB"], rows)
    ratio = stock["disk_closed"] / ours["disk_closed"]
    return (f"{turns} turns, {ours['messages']} messages, one thread\n\n{table}\n\n"
            f"storage: stock / sessiondb = {ratio:.0f}x")


if __name__ == "__main__":
    main()
