"""The server side of the HTTP API benchmark (``http_api.py``): the apps the
contenders serve, and the server process that runs one under uvicorn.

Contenders (each in its own process, one uvicorn worker, no access log):

- ``bare``: a minimal Starlette app with two handlers making the store call
  and nothing else: ``request.json()`` → ``store.append``;
  ``store.get(last=20)`` → ``JSONResponse(session.to_dict())``. No auth, no
  validation beyond the store's, no change hook. The store is opened as a
  library user would: ``open_async_store(url)``.
- ``service``: :func:`sessiondb.http.service.create_service` with API-key
  authentication, the store opened as ``sessiondb serve`` opens it
  (``open_async_store(url, observer=PrometheusObserver())``).
- ``service-noauth``: the same with ``auth=None`` (what ``--no-auth`` serves).
- ``service-nohook``: ``service`` without the change hook (no live-feed
  publish after each append: no ``pg_notify`` / Redis ``PUBLISH``).
- ``service-batched``: ``service`` with the first sketch of the batched
  live-feed publish patched in (``http_batched_feed.py``; the library now
  batches by itself, so this is for comparison only).
- ``service-awaited``: ``service`` with the live-feed publish as it was before
  batching: one ``pg_notify`` / ``PUBLISH`` per append, awaited in the
  request's path (to measure what batching gained, in the same run).
- ``service-noobs``: ``service`` on a store without the Prometheus observer.
- ``cli``: ``sessiondb serve`` itself (its uvicorn settings: uvicorn's
  default loop and parser, log level info, access log off unless
  ``--access-log``, ``gc.freeze()`` once listening; output to ``/dev/null``
  here), to show what its defaults cost.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CONTENDERS = ("bare", "service", "service-noauth", "service-nohook", "service-batched",
              "service-awaited", "service-noobs", "cli")
BASE = "/v1/apps/{app}/users/{user}/sessions"
PG_URL = os.environ.get("SESSIONDB_BENCH_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SESSIONDB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def bare_app(url: str) -> Any:
    """The baseline: the two store calls behind Starlette, nothing more."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import sessiondb

    store = sessiondb.open_async_store(url)

    async def append(request: Request) -> JSONResponse:
        p = request.path_params
        body = await request.json()
        version = await store.append(p["app"], p["user"], p["sid"], body["events"],
                                     body.get("state_delta"))
        return JSONResponse({"version": version})

    async def get(request: Request) -> JSONResponse:
        p = request.path_params
        session = await store.get(p["app"], p["user"], p["sid"], last=20)
        return JSONResponse(session.to_dict())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        try:
            yield
        finally:
            await store.close()

    app = Starlette(routes=[Route(BASE + "/{sid}/events", append, methods=["POST"]),
                            Route(BASE + "/{sid}", get, methods=["GET"])],
                    lifespan=lifespan)
    app.state.store = store
    return app


def service_app(url: str, contender: str) -> Any:
    """The real service, its store opened as ``sessiondb serve`` does (less
    what an ablation contender takes out)."""
    import sessiondb
    from sessiondb.http.apikeys import ApiKeyAuth
    from sessiondb.http.metrics import PrometheusObserver
    from sessiondb.http.service import create_service

    observer = None if contender == "service-noobs" else PrometheusObserver()
    store = sessiondb.open_async_store(url, observer=observer)
    auth = None if contender == "service-noauth" else [ApiKeyAuth(store)]
    app = create_service(store, url, auth=auth)
    if contender == "service-nohook":
        app.state.on_change = None
    elif contender == "service-batched":
        from http_batched_feed import batch_publishing

        batch_publishing(app)
    elif contender == "service-awaited":
        awaited_publishing(app)
    return app


def awaited_publishing(app: Any) -> None:
    """Swap the service's change hook for the unbatched publish it replaced."""
    import json

    feed = app.state.on_change.__self__

    async def publish(app_id: str, user: str, sid: str, version: int | None = None) -> None:
        feed._signal((app_id, user, sid), version)
        try:
            await feed._send(json.dumps([app_id, user, sid, version]))
        except Exception as exc:
            print(f"publish failed: {exc}", file=sys.stderr)

    app.state.on_change = publish


def run_server(contender: str, url: str, port: int, loop: str, http: str,
               profile: str | None) -> None:
    """The server process: serve ``contender`` until SIGTERM."""
    import uvicorn

    app = bare_app(url) if contender == "bare" else service_app(url, contender)
    config: dict[str, Any] = dict(host="127.0.0.1", port=port, log_level="warning",
                                  access_log=False, lifespan="on", loop=loop, http=http,
                                  timeout_graceful_shutdown=1, server_header=False)
    if profile is None:
        uvicorn.run(app, **config)
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.run(app, **config)
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(contender: str, url: str, port: int, loop: str, http: str,
                   profile: str | None, python: str) -> list[str]:
    if contender == "cli":  # `sessiondb serve` exactly as a user starts it
        return [python, "-m", "sessiondb", "serve", "--db", url, "--port", str(port)]
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "http_api.py")
    return [python, here, "--serve", contender, "--url", url, "--port", str(port),
            "--loop", loop, "--http", http, *(["--profile", profile] if profile else [])]


@contextmanager
def server(contender: str, url: str, loop: str, http: str, *, profile: str | None = None,
           python: str = sys.executable) -> Iterator[tuple[int, int]]:
    """Start one contender's server process; yields (port, pid); stops it."""
    port = free_port()
    command = server_command(contender, url, port, loop, http, profile, python)
    # cli's access log: written, but not to our terminal
    with listening(command, port, f"the {contender} server", quiet=contender == "cli") as pid:
        yield port, pid


@contextmanager
def listening(command: list[str], port: int, what: str, *, quiet: bool = False,
              stop_timeout: float = 15) -> Iterator[int]:
    """Run ``command`` until it accepts connections on ``port``; yields its
    pid; terminates it afterwards (killed if it takes over ``stop_timeout``)."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL if quiet else None,
                             stderr=subprocess.DEVNULL if quiet else None)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"{what} did not start") from None
                time.sleep(0.1)
        yield child.pid
    finally:
        child.terminate()
        try:
            child.wait(stop_timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def namespace(backend: str) -> Iterator[str]:
    """A store URL in a fresh namespace of its own (a SQLite file, a
    PostgreSQL schema, a Redis key prefix), removed afterwards."""
    name = "bench" + secrets.token_hex(6)
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/{name}.db"
    elif backend == "postgres":
        import psycopg

        try:
            yield f"{PG_URL}?schema={name}"
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]
    elif backend == "redis":
        import redis

        try:
            yield f"{REDIS_URL}?prefix={name}"
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            for key in list(client.scan_iter(match=f"{name}:*", count=1000)):
                client.delete(key)
            client.close()
    else:
        raise SystemExit(f"unknown backend {backend!r}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
