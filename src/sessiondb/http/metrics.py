"""Prometheus metrics: the observer a store reports to, and ``/metrics``.

    from sessiondb.http.metrics import PrometheusObserver, metrics_route
    store = sessiondb.open_async_store(url, observer=PrometheusObserver())
    app = Starlette(routes=[metrics_route(), ...])

Every metric is prefixed ``sessiondb_``; durations are histograms in seconds;
labels are the backend (from the URL scheme), the operation, the error type
and the resume outcome: bounded sets, never an app, user or session id.

Under several worker processes (``uvicorn --workers N``), set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the server starts:
each worker then writes its samples there and ``/metrics`` (served by any
worker) adds them up. Needs ``pip install 'sessiondb[server]'``.
See docs/metrics.md.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import ConfigurationError, ExpiredError, NotFoundError

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigurationError(
        "sessiondb.http.metrics needs prometheus-client and starlette: "
        "pip install 'sessiondb[server]'") from exc

__all__ = ["BUCKETS", "PrometheusObserver", "metrics_endpoint", "metrics_route"]

#: Latency buckets in seconds: SQLite and memory operations take tens of
#: microseconds, server round trips milliseconds, so the default buckets
#: (from 5 ms) would put nearly everything in the first one.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
           0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Operations that make a session: counted in sessions_created_total.
_CREATING = frozenset({"create", "fork"})


class _Metrics:
    """The metric families, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "sessiondb_operation_duration_seconds",
            "Time a backend operation took, in seconds, failed ones included.",
            ["backend", "operation"], buckets=BUCKETS, registry=registry)
        self.errors = Counter(
            "sessiondb_operation_errors_total",
            "Backend operations that raised, by exception type.",
            ["backend", "operation", "error"], registry=registry)
        self.created = Counter(
            "sessiondb_sessions_created_total",
            "Sessions created (by create or fork).",
            ["backend"], registry=registry)
        self.resumes = Counter(
            "sessiondb_session_resumes_total",
            "Resume attempts (get), by outcome: found, not_found, expired or error.",
            ["backend", "outcome"], registry=registry)
        self.expired = Counter(
            "sessiondb_sessions_expired_total",
            "Expired sessions deleted by purge_expired.",
            ["backend"], registry=registry)


_registered: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_registering = threading.Lock()


def _metrics(registry: CollectorRegistry) -> _Metrics:
    """The families of ``registry``, created on first use, so any number of
    observers can share one registry."""
    with _registering:
        metrics = _registered.get(registry)
        if metrics is None:
            metrics = _registered[registry] = _Metrics(registry)
        return metrics


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "found"
    if isinstance(error, NotFoundError):
        return "not_found"
    if isinstance(error, ExpiredError):
        return "expired"
    return "error"


class PrometheusObserver:
    """A :class:`sessiondb.observe.Observer` recording into prometheus-client
    metrics (the default registry unless one is given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._metrics = _metrics(REGISTRY if registry is None else registry)
        # labels() takes a lock and builds a key on every call: keep the
        # children, the label sets are few.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, family: Any, *labels: str) -> Any:
        key = (family, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def operation(self, backend: str, operation: str, seconds: float,
                  error: BaseException | None) -> None:
        m = self._metrics
        self._child(m.duration, backend, operation).observe(seconds)
        if error is not None:
            self._child(m.errors, backend, operation, type(error).__name__).inc()
        if operation == "get":
            self._child(m.resumes, backend, _outcome(error)).inc()
        elif error is None and operation in _CREATING:
            self._child(m.created, backend).inc()

    def purged(self, backend: str, count: int) -> None:
        self._child(self._metrics.expired, backend).inc(count)


def multiprocess_dir() -> str | None:
    """The directory worker processes share samples through, if set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _render(encoder: Callable[[Any], bytes], registry: CollectorRegistry | None) -> bytes:
    if registry is None and multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return encoder(REGISTRY if registry is None else registry)


def metrics_endpoint(
    registry: CollectorRegistry | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving the metrics in the format the scraper
    asks for (Prometheus text or OpenMetrics). With no ``registry``: every
    worker's samples under ``PROMETHEUS_MULTIPROC_DIR``, else this process's
    default registry."""

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        # Reading many workers' files is blocking I/O: off the event loop.
        body = await run_in_threadpool(_render, encoder, registry)
        return Response(body, headers={"Content-Type": content_type})

    return metrics


def metrics_route(path: str = "/metrics", registry: CollectorRegistry | None = None) -> Route:
    """``GET path`` → :func:`metrics_endpoint`."""
    return Route(path, metrics_endpoint(registry), methods=["GET"])
