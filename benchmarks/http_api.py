"""HTTP API throughput: the service against a bare Starlette handler making
the same store call, per backend, under ``wrk`` on loopback.

Target: append and get through the HTTP API at >= 0.6x the throughput of
the bare handler, at the same concurrency.

Per backend and repeat, each contender (see ``http_servers.py``) gets a
fresh namespace of its own (SQLite file in a temporary directory,
PostgreSQL schema, Redis key prefix; dropped afterwards: so no server
receives another's live-feed messages) holding ``--sessions`` sessions of
20 events each and an API key, and runs in its own uvicorn process (one
worker, no access log, the same ``--loop``/``--http``). All are started at
once and idle when not measured; for each operation the contenders, in an
order rotated every repeat, get the same load back to back:

- ``append``: ``POST …/sessions/{sid}/events``, a W1 turn (2 events,
  ~200 B and ~800 B, state delta ``{"turn": i, "cart_items": i % 7}``);
- ``get``: ``GET …/sessions/{sid}?last=20``;

both spread round-robin over the sessions (``http_wrk.py``). Each operation
runs ``--warmup`` unmeasured seconds, then ``--duration`` measured ones.
Before that, one request of each kind is checked by hand (status, shape).
``wrk`` runs on the same machine and shares its cores with the server.

A run with any non-2xx response, socket error or timeout is invalid and
marked so. The ratio service/bare is taken per repeat; the table shows
its median (and min..max) and the medians of req/s, p50 and p99. It also
shows the server process's CPU time per request (user + system, from
``/proc``) and its ratio: on a machine shared with other work that is
steadier than req/s, and it is the throughput ratio a server with a core
of its own would reach.

    .venv/bin/python benchmarks/http_api.py                      # every backend
    .venv/bin/python benchmarks/http_api.py --backends sqlite --repeat 1
    .venv/bin/python benchmarks/http_api.py --contenders bare,service,cli
    .venv/bin/python benchmarks/http_api.py --profile /tmp/prof  # cProfile servers
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import sys
import tempfile
import urllib.request
from typing import Any

from _common import TextPool, format_table
from http_servers import BASE, CONTENDERS, cpu_seconds, namespace, run_server, server
from http_wrk import Load, check_wrk, lua_script, run_wrk, w1_body

APP, USER = "bench", "u1"
OPS = ("append", "get")


def prepare(url: str, sessions: int) -> tuple[list[str], str]:
    """Sessions of 10 W1 turns (20 events) each, and an API key; their paths
    and the key's token."""
    import sessiondb
    from sessiondb.http.apikeys import create_key

    pool = TextPool(seed=1)
    paths = []
    with sessiondb.open_store(url) as store:
        for s in range(sessions):
            sid = f"s{s:03d}"
            store.create(APP, USER, sid)
            for turn in range(10):
                body = w1_body(pool, s, turn)
                store.append(APP, USER, sid, body["events"], body["state_delta"])
            paths.append(BASE.format(app=APP, user=USER) + "/" + sid)
        _, token = create_key(store, APP, "http benchmark")
    return paths, token


def check(port: int, path: str, token: str) -> None:
    """One append and one get by hand: 200s of the expected shape."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps(w1_body(TextPool(seed=2), 0, 0)).encode()
    for method, target, data in (("POST", path + "/events", body), ("GET", path + "?last=20",
                                                                     None)):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{target}", data=data,
                                         headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        if method == "POST" and not isinstance(answer.get("version"), int):
            raise RuntimeError(f"append answered {answer!r}")
        if method == "GET" and len(answer.get("events", ())) != 20:
            raise RuntimeError(f"get answered {len(answer.get('events', ()))} events, not 20")


def start(stack: contextlib.ExitStack, backend: str, contender: str, load: Load, ops: list[str],
          args: argparse.Namespace, tmp: str) -> tuple[int, int, dict[str, str]]:
    """One contender's server on a namespace of its own (so that no server
    receives another's live-feed messages); its port, pid and op scripts."""
    url = stack.enter_context(namespace(backend))
    paths, token = prepare(url, args.sessions)
    scripts = {}
    for op in ops:
        scripts[op] = os.path.join(tmp, f"{contender}-{op}.lua")
        with open(scripts[op], "w") as f:
            f.write(lua_script(op, paths, token, load.threads))
    profile = None
    if args.profile and contender != "cli":
        os.makedirs(args.profile, exist_ok=True)
        profile = os.path.join(args.profile, f"{backend}-{contender}.prof")
    port, pid = stack.enter_context(server(contender, url, args.loop, args.http,
                                           profile=profile, python=args.python))
    check(port, paths[0], token)
    return port, pid, scripts


def measure(backend: str, order: list[str], ops: list[str], load: Load, args: argparse.Namespace
            ) -> list[dict[str, Any]]:
    """One repeat on one backend: every contender, every op."""
    rows = []
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        # All up at once (an idle server costs next to nothing), so that the
        # contenders run one op back to back and see the same noise.
        up = {contender: start(stack, backend, contender, load, ops, args, tmp)
              for contender in order}
        for op in ops:
            for contender in order:
                port, pid, scripts = up[contender]
                if args.warmup > 0:
                    run_wrk(load.command(scripts[op], port, args.warmup))
                cpu = cpu_seconds(pid)
                result = run_wrk(load.command(scripts[op], port))
                cpu = cpu_seconds(pid) - cpu
                result.update(backend=backend, contender=contender, op=op,
                              load=os.getloadavg()[0],
                              cpu_us=cpu * 1e6 / max(1, result["requests"]))
                rows.append(result)
                print(f"  {backend:8} {contender:15} {op:6} {result['req_s']:8.0f} req/s "
                      f"p50 {result['p50_us'] / 1e3:6.2f} ms p99 "
                      f"{result['p99_us'] / 1e3:6.2f} ms cpu {result['cpu_us']:5.0f} µs/req"
                      f" errors {result['errors']} load {result['load']:.2f}",
                      file=sys.stderr, flush=True)
    return rows


def _ratio(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def _runs(rows: list[dict[str, Any]], backend: str, op: str, contender: str
          ) -> list[dict[str, Any]]:
    return [r for r in rows if (r["backend"], r["op"], r["contender"]) == (backend, op, contender)]


def summarise(rows: list[dict[str, Any]], contenders: list[str], backends: list[str]
              ) -> list[list[Any]]:
    """Per backend, op and contender: medians over the repeats, and the
    median (min..max) of the per-repeat ratios against bare: req/s, and the
    inverse of the server's CPU time per request (the throughput ratio a
    server with a core of its own would show)."""
    table = []
    keys = sorted({(r["backend"], r["op"]) for r in rows},
                  key=lambda k: (backends.index(k[0]), OPS.index(k[1])))
    for backend, op in keys:
        bare = _runs(rows, backend, op, "bare")
        for contender in contenders:
            mine = _runs(rows, backend, op, contender)
            if not mine:
                continue
            pairs = list(zip(mine, bare, strict=False)) if contender != "bare" else []
            errors = sum(r["errors"] for r in mine)
            table.append([
                backend, op, contender,
                f"{statistics.median(r['req_s'] for r in mine):.0f}",
                f"{statistics.median(r['p50_us'] for r in mine) / 1e3:.1f}",
                f"{statistics.median(r['p99_us'] for r in mine) / 1e3:.1f}",
                f"{statistics.median(r['cpu_us'] for r in mine):.0f}",
                _ratio([r["req_s"] / b["req_s"] for r, b in pairs]),
                _ratio([b["cpu_us"] / r["cpu_us"] for r, b in pairs if r["cpu_us"]]),
                "ok" if errors == 0 else f"INVALID ({errors} errors)"])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres,redis")
    parser.add_argument("--contenders", default="bare,service,service-noauth",
                        help=f"from {', '.join(CONTENDERS)} (bare is always run)")
    parser.add_argument("--ops", default="append,get")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per op")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per op")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop", default="auto", help="uvicorn's loop (auto, asyncio, uvloop)")
    parser.add_argument("--http", default="auto", help="uvicorn's http (auto, h11, httptools)")
    parser.add_argument("--python", default=sys.executable, help="the servers' interpreter")
    parser.add_argument("--profile", metavar="DIR",
                        help="run each server under cProfile, stats to DIR (slows them)")
    parser.add_argument("--json-out", metavar="FILE", help="also save every run as JSON")
    parser.add_argument("--serve", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.url, args.port, args.loop, args.http, args.profile)
        return
    check_wrk()
    contenders = ["bare", *(c for c in args.contenders.split(",") if c != "bare")]
    ops = args.ops.split(",")
    load = Load(args.threads, args.connections, args.duration)
    print("command: " + shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    print("wrk: " + shlex.join(load.command("<op>.lua", 0)).replace(":0", ":<port>"))
    before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        for repeat in range(args.repeat):
            shift = repeat % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            rows.extend(measure(backend, order, ops, load, args))
    after = os.getloadavg()
    print(f"load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
          f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} ({os.cpu_count()} cores)")
    print(format_table(("backend", "op", "contender", "req/s", "p50 ms", "p99 ms",
                        "server CPU µs/req", "req/s vs bare", "CPU/req: bare ÷ this",
                        "valid"), summarise(rows, contenders, args.backends.split(","))))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"argv": sys.argv, "load_before": before, "load_after": after,
                       "runs": rows}, f, indent=1)


if __name__ == "__main__":
    main()
