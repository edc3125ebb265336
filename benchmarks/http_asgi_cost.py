"""The HTTP layer's own CPU cost per request, without a network or a server:
each contender app of the HTTP API benchmark (``http_servers.py``) is called
in-process as an ASGI app over a ``memory://`` store, one request at a
time, and timed. What the service costs beyond the bare handler here is its
routing, middleware, validation, authentication, observer and response
shaping, free of the noise of ``wrk``, sockets and a shared machine (the
figure is the best of ``--rounds`` rounds). The change hook costs next to
nothing here: a memory store's feed sends nothing to other processes (the
PostgreSQL and Redis publish is measured by ``http_api.py``).

    .venv/bin/python benchmarks/http_asgi_cost.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from _common import TextPool, format_table
from http_servers import BASE, bare_app, service_app
from http_wrk import w1_body

APP, USER, SESSIONS = "bench", "u1", 50


def _requests(token: str) -> dict[str, Callable[[int], tuple[dict[str, Any], bytes]]]:
    pool = TextPool(seed=7)
    bodies = [json.dumps(w1_body(pool, 0, turn)).encode() for turn in range(64)]

    def scope(method: str, path: str, query: bytes, size: int) -> dict[str, Any]:
        headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
                   (b"content-type", b"application/json")]
        if method == "POST":
            headers.append((b"content-length", str(size).encode()))
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": query, "root_path": "", "headers": headers,
                "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}

    def path(i: int) -> str:
        return BASE.format(app=APP, user=USER) + f"/s{i % SESSIONS:03d}"

    def append(i: int) -> tuple[dict[str, Any], bytes]:
        body = bodies[i % len(bodies)]
        return scope("POST", path(i) + "/events", b"", len(body)), body

    def get(i: int) -> tuple[dict[str, Any], bytes]:
        return scope("GET", path(i), b"last=20", 0), b""

    return {"append": append, "get": get}


async def call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]]]:
    """Start the app's lifespan (the store and feed); the task and its queue."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   inbox.get, outbox.put))
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    return task, inbox


async def measure(contenders: list[str], count: int, rounds: int
                  ) -> dict[str, dict[str, float]]:
    """Best µs per request for each contender and op; the contenders take
    turns within each round, so that a busy moment hits them all."""
    apps, lifespans, makers = {}, [], {}
    for contender in contenders:
        app = bare_app("memory://") if contender == "bare" else service_app("memory://",
                                                                            contender)
        lifespans.append(await lifespan(app))
        makers[contender] = _requests(await _setup(app.state.store, contender))
        apps[contender] = app
    best = {c: {"append": float("inf"), "get": float("inf")} for c in contenders}
    try:
        for _ in range(rounds):
            for op in ("append", "get"):
                for contender in contenders:
                    prepared = [makers[contender][op](i) for i in range(count)]
                    start = time.perf_counter()
                    for scope, body in prepared:
                        status = await call(apps[contender], scope, body)
                        if status != 200:
                            raise RuntimeError(f"{contender} {op}: status {status}")
                    seconds = (time.perf_counter() - start) / count
                    best[contender][op] = min(best[contender][op], seconds * 1e6)
    finally:
        for task, inbox in lifespans:
            await inbox.put({"type": "lifespan.shutdown"})
            await task
    return best


async def _setup(store: Any, contender: str) -> str:
    """Sessions of 20 events and an API key (the key record as ``create_key``
    writes it), in the app's own store: a memory store is not shared."""
    pool = TextPool(seed=1)
    for s in range(SESSIONS):
        sid = f"s{s:03d}"
        await store.create(APP, USER, sid)
        for turn in range(10):
            body = w1_body(pool, s, turn)
            await store.append(APP, USER, sid, body["events"], body["state_delta"])
    if contender in ("bare", "service-noauth"):
        return "unused"
    from sessiondb.http.apikeys import KEYS_APP, digest

    token = "sdb_0123456789abcdef_" + "A" * 43
    await store.create(KEYS_APP, "keys", "0123456789abcdef",
                       metadata={"app": APP, "sha256": digest(token), "name": "bench"})
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contenders", default="bare,service,service-noauth,service-nohook,"
                                                "service-batched,service-noobs")
    parser.add_argument("--count", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    contenders = ["bare", *(c for c in args.contenders.split(",") if c != "bare")]
    best = asyncio.run(measure(contenders, args.count, args.rounds))
    base = best["bare"]
    rows = []
    for contender in contenders:
        costs = best[contender]
        rows.append([contender, *(f"{costs[op]:.0f}" for op in ("append", "get")),
                     *(f"{costs[op] - base[op]:+.0f}" for op in ("append", "get"))])
    print("in-process ASGI calls on memory://, µs per request (best of "
          f"{args.rounds} rounds of {args.count})")
    print(format_table(["contender", "append µs", "get µs", "append vs bare",
                        "get vs bare"], rows))


if __name__ == "__main__":
    main()
