"""SSE fan-out: many live subscribers on one server process, per backend.

One process serves the HTTP service (``create_app`` with the live stream,
the feed's publish as the change hook, no authentication) under uvicorn;
this process opens the subscribers as raw asyncio connections (an HTTP/1.1
``GET …/events/stream`` each, read by a protocol callback rather than a
task, on uvloop when installed, so that the client side stays cheap) and a
writer that appends one event at a time through ``POST …/events``.

Scenarios (``--subscribers N``, default 1,000):

- ``one``: N subscribers on one session; each append reaches all N.
- ``spread``: N sessions with one subscriber each; each append goes to a
  random session and reaches its one subscriber.

Delivery latency = when a subscriber's socket received the event minus when
the writer began the ``POST`` (one monotonic clock: same machine), so it
includes the append itself (commit, then ``pg_notify`` / ``PUBLISH``), the
wakeup, the shared read and the fan-out. Appends are paced ``--gap`` seconds
apart (default 0.1), after three unmeasured warm-up appends. Each run gets
a fresh schema / key prefix / file, dropped afterwards.

"server µs/delivery" (scenario ``one``) is the server process's CPU time
over the measured appends divided by the deliveries: multiplied by the
subscribers of one event, the time a dedicated core needs to fan it out,
much less sensitive than latency to whatever else the machine is doing.
"server CPU %" is that CPU time over the wall time (pollers included).

The server runs uvicorn's defaults for what is installed (``--loop`` and
``--http`` choose: uvloop and httptools, from ``uvicorn[standard]``, are
about twice as fast per subscriber as asyncio and h11). The server is the
service's own runner (``sessiondb.http.server.serve``), which calls
``gc.freeze()`` once listening (removing the 100-200 ms pauses of full
garbage collections from the tail); ``--no-gc-freeze`` skips it.

    .venv/bin/python benchmarks/sse_fanout.py                  # every backend
    .venv/bin/python benchmarks/sse_fanout.py --backends redis --subscribers 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from _common import format_table, median
from http_servers import cpu_seconds, free_port, listening, namespace

APP, USER = "bench", "fan"
_ID = re.compile(rb"(?m)^id: (\d+)$")


# -- the server process -------------------------------------------------------------

def serve(url: str, port: int, loop: str, http: str, freeze: bool) -> None:
    import sessiondb
    from sessiondb.http import create_app
    from sessiondb.http.live import open_feed
    from sessiondb.http.server import serve as run
    from sessiondb.http.stream import routes

    store = sessiondb.open_async_store(url)
    feed = open_feed(store, url)
    app = create_app(store, auth=None, routes=routes(), lifespans=[feed.lifespan],
                     on_change=feed.publish)
    # The service's own runner (ends the streams first at shutdown; gc.freeze()
    # once listening unless --no-gc-freeze).
    run(app, "127.0.0.1", port, on_listening=lambda _: None, shutdown_timeout=5,
        log_level="warning", freeze_gc=freeze, loop=loop, http=http, backlog=4096)


@contextmanager
def server(url: str, loop: str, http: str, freeze: bool) -> Iterator[tuple[int, int]]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", url, "--port", str(port), "--loop", loop,
               "--http", http, *([] if freeze else ["--no-gc-freeze"])]
    with listening(command, port, "the server", stop_timeout=10) as pid:
        yield port, pid


# -- the client side --------------------------------------------------------------------

@dataclass
class Run:
    sent: dict[tuple[str, int], float] = field(default_factory=dict)
    """(session, seq) -> when the writer began its POST."""
    received: list[tuple[str, int, float]] = field(default_factory=list)
    append_s: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    """The server's CPU time from the first measured append to the last delivery."""
    measured_s: float = 0.0
    """How long that was."""


class Subscriber(asyncio.Protocol):
    """One SSE subscriber on a raw connection: a protocol, not a task, so
    that the client side costs little per event (the arrival time is taken
    as the bytes come in)."""

    def __init__(self, path: str, run: Run, sid: str, opened: Callable[[], None]) -> None:
        self.path, self.run, self.sid, self.opened = path, run, sid, opened
        self.buffer = b""
        self.is_open = False
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\n"  # type: ignore[attr-defined]
                        "Accept: text/event-stream\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer + data
        if not self.is_open and b": open" in buffer:
            self.is_open = True
            self.opened()
        cut = buffer.rfind(b"\n")
        self.buffer = buffer[cut + 1:]
        for match in _ID.finditer(buffer, 0, cut + 1):
            self.run.received.append((self.sid, int(match.group(1)), now))


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
               body: bytes) -> bytes:
    """One HTTP/1.1 request on a kept-alive connection; the response body."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 2"):
        raise RuntimeError(head.decode(errors="replace"))
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    return await reader.readexactly(length)


async def scenario(port: int, pid: int, scenario_name: str, subscribers: int, appends: int,
                   gap: float) -> Run:
    import json

    run = Run()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    base = f"/v1/apps/{APP}/users/{USER}/sessions"
    count = 1 if scenario_name == "one" else subscribers
    sids = [json.loads(await post(reader, writer, base, b"{}"))["id"] for _ in range(count)]
    targets = [sids[0]] * subscribers if scenario_name == "one" else sids
    opened, ready = asyncio.Event(), [0]

    def one_more() -> None:
        ready[0] += 1
        if ready[0] == subscribers:
            opened.set()

    transports = []
    loop = asyncio.get_running_loop()
    for i, sid in enumerate(targets):
        path = f"{base}/{sid}/events/stream"
        transport, _ = await loop.create_connection(
            lambda sid=sid, path=path: Subscriber(path, run, sid, one_more),  # type: ignore[misc]
            "127.0.0.1", port)
        transports.append(transport)
        if i % 25 == 24:  # 500 new streams a second: a steady arrival, not a storm
            await asyncio.sleep(0.05)
    await asyncio.wait_for(opened.wait(), 120)
    writer.close()  # idle for longer than the server's keep-alive: a fresh one
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    versions = dict.fromkeys(sids, 0)
    for i in range(-3, appends):  # three warm-up appends first, not measured
        if i == 0:
            await asyncio.sleep(1.0)  # let the server settle
            cpu_before, measuring = cpu_seconds(pid), time.monotonic()
        sid = sids[0] if scenario_name == "one" else random.choice(sids)
        body = json.dumps({"events": [{"role": "user", "content": f"hello {i}"}]}).encode()
        began = time.monotonic()
        answer = await post(reader, writer, f"{base}/{sid}/events", body)
        versions[sid] = json.loads(answer)["version"]
        if i >= 0:
            run.append_s.append(time.monotonic() - began)
            run.sent[(sid, versions[sid])] = began
        await asyncio.sleep(gap)
    expected = (appends + 3) * (subscribers if scenario_name == "one" else 1)
    deadline = loop.time() + 30
    while len(run.received) < expected and loop.time() < deadline:
        await asyncio.sleep(0.01)
    run.server_cpu_s = cpu_seconds(pid) - cpu_before
    run.measured_s = time.monotonic() - measuring
    for transport in transports:
        transport.close()
    writer.close()
    return run


def run_client(main: Coroutine[Any, Any, Run]) -> Run:
    """Run the client side on uvloop when it is installed (cheaper per event)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)  # type: ignore[no-any-return]


def describe(loop: str, http: str) -> str:
    """What uvicorn's "auto" picks here."""
    import importlib.util

    def have(name: str) -> bool:
        return importlib.util.find_spec(name) is not None

    used_loop = loop if loop != "auto" else "uvloop" if have("uvloop") else "asyncio"
    used_http = http if http != "auto" else "httptools" if have("httptools") else "h11"
    return f"{used_loop} + {used_http}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="postgres,redis,sqlite")
    parser.add_argument("--scenarios", default="one,spread")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--appends", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per row; the table shows their medians")
    parser.add_argument("--loop", default="auto", help="uvicorn's --loop (auto, asyncio, uvloop)")
    parser.add_argument("--http", default="auto", help="uvicorn's --http (auto, h11, httptools)")
    parser.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                        help="skip the gc.freeze() the server makes once started")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.loop, args.http, args.gc_freeze)
        return
    rows = []
    for backend in args.backends.split(","):
        for name in args.scenarios.split(","):
            appends = args.appends if name == "one" else args.appends * 4
            expected = appends * (args.subscribers if name == "one" else 1)
            runs = [measure(backend, name, appends, args) for _ in range(args.repeat)]
            p50s = sorted(r[1] for r in runs)
            rows.append([backend, name, args.subscribers, appends, min(r[0] for r in runs),
                         expected, median(p50s), f"{p50s[0]:.0f}-{p50s[-1]:.0f}",
                         median(r[2] for r in runs), max(r[3] for r in runs),
                         median(r[4] for r in runs),
                         median(r[5] for r in runs) if name == "one" else "",
                         median(r[6] for r in runs)])
    print(f"server: uvicorn --loop {args.loop} --http {args.http} "
          f"({describe(args.loop, args.http)})"
          f"{', gc.freeze()' if args.gc_freeze else ', no gc.freeze()'}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeat} run(s)")
    print(format_table(["backend", "scenario", "subscribers", "appends", "delivered",
                        "expected", "p50 ms", "p50 range", "p99 ms", "max ms",
                        "append p50 ms", "server µs/delivery", "server CPU %"], rows))


def measure(backend: str, name: str, appends: int,
            args: argparse.Namespace) -> tuple[int, float, float, float, float, float, float]:
    """One run on a fresh server: delivered, p50, p99, max (ms), append p50
    (ms), server CPU per delivery (µs), server CPU use (%)."""
    with namespace(backend) as url, \
            server(url, args.loop, args.http, args.gc_freeze) as (port, pid):
        run = run_client(scenario(port, pid, name, args.subscribers, appends, args.gap))
    latencies = [(at - run.sent[(sid, seq)]) * 1000 for sid, seq, at in run.received
                 if (sid, seq) in run.sent]
    print(f"{backend} {name}: done", file=sys.stderr)
    return (len(latencies), percentile(latencies, 0.5), percentile(latencies, 0.99),
            max(latencies), percentile([a * 1000 for a in run.append_s], 0.5),
            run.server_cpu_s * 1e6 / max(1, len(latencies)),
            100 * run.server_cpu_s / run.measured_s)


if __name__ == "__main__":
    main()
