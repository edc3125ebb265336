"""Where a contender's server time goes, per request, under the HTTP API
benchmark's load (``http_api.py``): ``py-spy`` samples the server process
while ``wrk`` drives one operation, and each sample is put in one bucket
by the frames on its stack (the first bucket of ``BUCKETS`` that matches).
The shares are scaled by the server's CPU time per request (from
``/proc``), so a bucket reads as CPU µs per request.

Needs ``py-spy`` (``pip install py-spy``; it attaches with ptrace).

    .venv/bin/python benchmarks/http_profile.py --backend redis --op append
    .venv/bin/python benchmarks/http_profile.py --contenders bare,service --raw /tmp/spy
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

from _common import format_table
from http_api import prepare
from http_servers import CONTENDERS, cpu_seconds, namespace, server
from http_wrk import Load, check_wrk, lua_script, run_wrk

#: (bucket, frame-name fragments): a sample goes to the first bucket one of
#: whose fragments occurs in a frame of its stack.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("authentication (API key check)", ("AuthMiddleware._admit", "AuthMiddleware._authenticate",
                                        "ApiKeyAuth.")),
    ("store call (backend, observer, client library)", ("AsyncSessionStore.",
                                                        "sessiondb/backends/",
                                                        "psycopg_pool/")),
    ("live-feed publish after a write", ("Feed.publish", "BatchedPublish.")),
    ("size limits middleware", ("LimitsMiddleware._check_headers", "_bounded.<locals>")),
    ("body read + JSON parse", ("json_body", "Request.json", "Request.body")),
    ("path/query/header validation", ("inputs.py", "ids (", "allow_query", "query_int")),
    ("response: dicts + JSON encode", ("JSONResponse", "session_json", "to_dict",
                                       "Response.__init__", "Response.render")),
    ("response: send (ASGI → HTTP → socket)", ("RequestResponseCycle.send",
                                              "Response.__call__")),
    ("HTTP parse + request setup (h11/httptools)", ("data_received", "handle_events",
                                                    "on_headers_complete", "on_url",
                                                    "on_message")),
    ("routing + middleware layers (Starlette)", ("starlette/", "sessiondb/http/")),
    # redis-py sends each command from a task of its own (asyncio.wait_for):
    # its stack does not say whether the store or the feed sent it.
    ("redis-py send tasks (store call or publish)", ("AbstractConnection._send_packed",)),
    ("uvicorn/asyncio other (event loop, tasks)", ("",)),
)


def bucket_of(frames: list[str]) -> str:
    for name, fragments in BUCKETS:
        if any(fragment in frame for frame in frames for fragment in fragments):
            return name
    return BUCKETS[-1][0]


def classify(raw: str) -> Counter[str]:
    """Samples per bucket in a ``py-spy --format raw`` file."""
    counts: Counter[str] = Counter()
    with open(raw) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            counts[bucket_of(stack.split(";"))] += int(n)
    return counts


def profile(backend: str, contender: str, op: str, load: Load, args: argparse.Namespace,
            url: str, paths: list[str], token: str, tmp: str) -> dict[str, float]:
    script = os.path.join(tmp, f"{op}.lua")
    with open(script, "w") as f:
        f.write(lua_script(op, paths, token, load.threads))
    raw = os.path.join(args.raw or tmp, f"{backend}-{contender}-{op}.txt")
    with server(contender, url, args.loop, args.http, python=args.python) as (port, pid):
        run_wrk(load.command(script, port, 2))  # warm-up
        spy = subprocess.Popen(
            [args.py_spy, "record", "--pid", str(pid), "--duration", str(int(load.duration) - 1),
             "--rate", "250", "--format", "raw", "--output", raw],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu = cpu_seconds(pid)
        result = run_wrk(load.command(script, port))
        cpu_us = (cpu_seconds(pid) - cpu) * 1e6 / max(1, result["requests"])
        spy.wait(30)
    counts = classify(raw)
    total = sum(counts.values()) or 1
    shares = {name: counts[name] / total * cpu_us for name, _ in BUCKETS}
    shares["total CPU µs/req"] = cpu_us
    shares["req/s"] = result["req_s"]
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="redis")
    parser.add_argument("--op", default="append", choices=("append", "get"))
    parser.add_argument("--contenders", default="bare,service",
                        help=f"from {', '.join(CONTENDERS[:-1])}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--http", default="auto")
    parser.add_argument("--python", default=sys.executable, help="the servers' interpreter")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or os.path.join(
        os.path.dirname(sys.executable), "py-spy"))
    parser.add_argument("--raw", metavar="DIR", help="keep py-spy's raw stacks in DIR")
    args = parser.parse_args()
    check_wrk()
    if not os.path.exists(args.py_spy):
        raise SystemExit("py-spy is not installed: pip install py-spy")
    load = Load(args.threads, args.connections, args.duration)
    contenders = args.contenders.split(",")
    columns = {}
    with namespace(args.backend) as url, tempfile.TemporaryDirectory() as tmp:
        paths, token = prepare(url, 50)
        for contender in contenders:
            columns[contender] = profile(args.backend, contender, args.op, load, args, url,
                                         paths, token, tmp)
    names = [name for name, _ in BUCKETS] + ["total CPU µs/req", "req/s"]
    print(f"{args.backend} {args.op}: CPU µs per request by where it is spent "
          f"(loop={args.loop}, http={args.http})")
    print(format_table(["bucket", *contenders],
                       [[name, *(f"{columns[c][name]:.0f}" for c in contenders)]
                        for name in names]))


if __name__ == "__main__":
    main()
