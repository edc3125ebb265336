"""The Grafana dashboard against a real Prometheus (Debian's package).

The service runs under uvicorn with two workers sharing a
``PROMETHEUS_MULTIPROC_DIR``; each worker drives an observed SQLite store.
Prometheus scrapes ``/metrics`` on loopback every second, and every query of
every panel of ``dashboards/sessiondb.json`` must be valid and return data.

:func:`make_app` is the service (uvicorn imports this module to build it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import IN_CI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessiondb import AsyncSessionStore, ExpiredError, FrozenClock, NotFoundError
from sessiondb.backends import open_async_backend
from sessiondb.backends._async.observed import AsyncObservedBackend
from sessiondb.http.metrics import PrometheusObserver, metrics_route
from sessiondb.observe import backend_label

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "sessiondb.json"
# What Grafana puts in place of the dashboard's variables: all backends, and
# windows wide enough to hold the test's samples (scraped every second).
VARIABLES = {"$backend": ".*", "$__rate_interval": "1m", "$__range": "5m"}


def make_app() -> Starlette:
    """The service: ``/metrics``, and ``POST /drive`` running one round of
    store operations with every outcome the dashboard shows."""
    url = f"sqlite:///{os.environ['SESSIONDB_METRICS_TEST_DIR']}/worker{os.getpid()}.db"
    clock = FrozenClock()
    store = AsyncSessionStore(
        AsyncObservedBackend(open_async_backend(url), PrometheusObserver(), backend_label(url)),
        clock=clock, url=url)

    async def drive(request: Request) -> JSONResponse:
        a = await store.create("shop", "alice")
        await store.append("shop", "alice", a.id, [{"role": "user", "content": "hi"}])
        await store.get("shop", "alice", a.id, last=20)
        await store.events("shop", "alice", a.id)
        with contextlib.suppress(NotFoundError):
            await store.get("shop", "alice", "missing")
        b = await store.create("shop", "alice", idle_ttl=1)
        clock.advance(2)
        with contextlib.suppress(ExpiredError):
            await store.get("shop", "alice", b.id)
        purged = await store.purge_expired()
        return JSONResponse({"worker": os.getpid(), "purged": purged})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    return Starlette(routes=[metrics_route(), Route("/drive", drive, methods=["POST"])],
                     lifespan=lifespan)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prometheus_binary() -> str:
    """Checked before the service starts, to skip (or fail under CI) at once."""
    path = shutil.which("prometheus")
    if path is None:
        message = "prometheus is not installed (Debian: apt-get install -y prometheus)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return path


def _wait(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def _running(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """The service under uvicorn, two workers; its base URL."""
    shared = tmp_path / "multiproc"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared),
           "SESSIONDB_METRICS_TEST_DIR": str(tmp_path)}
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "--app-dir",
               str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "2", "--log-level", "warning", "test_metrics_prometheus:make_app"]
    base = f"http://127.0.0.1:{port}"
    with _running(command, tmp_path / "uvicorn.log", env):
        _wait(lambda: httpx.get(f"{base}/metrics").status_code == 200, "uvicorn")
        yield base


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path, service: str) -> Iterator[str]:
    """Prometheus scraping the service every second; its base URL."""
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "sessiondb",
                            "static_configs": [{"targets": [service.removeprefix("http://")]}]}],
    }))
    port = _free_port()
    command = [prometheus_binary, f"--config.file={config}",
               f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"]
    base = f"http://127.0.0.1:{port}"
    with _running(command, tmp_path / "prometheus.log"):
        _wait(lambda: httpx.get(f"{base}/-/ready").status_code == 200, "prometheus")
        yield base


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}).json()
    assert reply["status"] == "success", (expr, reply)
    return reply["data"]["result"]  # type: ignore[no-any-return]


def _created(prometheus: str) -> float:
    result = _query(prometheus, "sum(sessiondb_sessions_created_total)")
    return float(result[0]["value"][1]) if result else 0.0


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"unknown variable in {panel['title']!r}: {expr}"
            queries.append((f"{panel['title']} [{target['refId']}]", expr))
    return queries


@pytest.mark.slow
def test_every_panel_query_returns_data(service: str, prometheus: str) -> None:
    queries = _panel_queries()
    assert len(queries) >= 10

    def drive(rounds: int) -> None:
        for _ in range(rounds):
            assert httpx.post(f"{service}/drive").status_code == 200

    # Two batches of traffic with a scrape after each, so rates are not zero;
    # each round creates 2 sessions, whichever worker serves it.
    drive(6)
    _wait(lambda: _created(prometheus) == 12, "a scrape of the first batch")
    drive(6)
    _wait(lambda: _created(prometheus) == 24, "a scrape of the second batch")

    empty = []
    for title, expr in queries:
        values = [float(r["value"][1]) for r in _query(prometheus, expr)]
        if not any(math.isfinite(v) for v in values):
            empty.append((title, expr, values))
    assert not empty, empty


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert re.search(r"\bsessiondb_\w+", target["expr"]), target
