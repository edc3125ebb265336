"""The reporting hook and the Prometheus observer, on real memory and SQLite
stores: what is counted, that the wrapped store behaves exactly as before
(the conformance suite), and that no label carries an id."""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.testclient import TestClient

import sessiondb
from sessiondb import AsyncSessionStore, FrozenClock, SessionStore
from sessiondb.backends import open_async_backend, open_backend
from sessiondb.backends._async.observed import AsyncObservedBackend
from sessiondb.backends._sync.observed import ObservedBackend
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.crypto.rotation import rotate
from sessiondb.crypto.setup import encrypting
from sessiondb.http.metrics import PrometheusObserver, metrics_route
from sessiondb.observe import OPERATIONS, Observer, backend_label, observing
from sessiondb.testing import BlockingStore, StoreConformance

_files = itertools.count()


def _url(kind: str, tmp_path: Path) -> str:
    return "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/m{next(_files)}.db"


def observed_store(url: str, observer: Observer, clock: Any = None) -> SessionStore:
    return SessionStore(observing(open_backend(url), observer, url), clock=clock, url=url)


def observed_async_store(url: str, observer: Observer, clock: Any = None) -> AsyncSessionStore:
    return AsyncSessionStore(observing(open_async_backend(url), observer, url, asynchronous=True),
                             clock=clock, url=url)


def test_observing_wraps_only_when_there_is_an_observer() -> None:
    plain = open_backend("memory://")
    assert observing(plain, None, "memory://") is plain
    wrapped = observing(plain, PrometheusObserver(CollectorRegistry()), "memory://")
    assert isinstance(wrapped, ObservedBackend) and wrapped.label == "memory"
    inline = open_async_backend("memory://")
    assert isinstance(observing(inline, PrometheusObserver(CollectorRegistry()), "memory://",
                                asynchronous=True), AsyncObservedBackend)


@pytest.mark.parametrize(("url", "label"), [
    ("memory://", "memory"),
    ("sqlite:///x.db", "sqlite"),
    ("postgresql://u:secret@db.example:5432/app", "postgresql"),
    ("postgres://h/db", "postgresql"),
    ("redis://h:6379/0", "redis"),
    ("rediss://h:6379/0", "redis"),
    ("redis+cluster://a:1,b:2", "redis+cluster"),
    ("", "unknown"),
])
def test_backend_label_is_the_scheme_only(url: str, label: str) -> None:
    assert backend_label(url) == label


def _drive(store: Any, clock: FrozenClock, app: str = "shop") -> dict[str, str]:
    """One of each interesting outcome; the ids used, to look for in labels."""
    a = store.create(app, "alice", metadata={"channel": "web"})
    b = store.create(app, "alice", idle_ttl=10)
    store.append(app, "alice", a.id, [{"role": "user", "content": "hi"}], {"cart": ["tea"]})
    store.update_state(app, "alice", a.id, {"turn": 1})
    with pytest.raises(sessiondb.ConflictError):
        store.append(app, "alice", a.id, [{"role": "user", "content": "x"}], expected_version=1)
    store.fork(app, "alice", a.id, at_seq=1)
    assert store.get(app, "alice", a.id).state["cart"] == ["tea"]
    with pytest.raises(sessiondb.NotFoundError):
        store.get(app, "alice", "no-such-session")
    store.events(app, "alice", a.id)
    store.sessions(app, "alice")
    store.touch(app, "alice", a.id)
    clock.advance(20)
    with pytest.raises(sessiondb.ExpiredError):
        store.get(app, "alice", b.id)
    assert store.purge_expired() == 1
    assert len(list(store.export(app))) > 0
    assert store.delete(app, "alice", a.id) is True
    return {"app": app, "user": "alice", "a": a.id, "b": b.id}


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["sync", "async"])
def make_observed(request: pytest.FixtureRequest) -> Callable[..., Any]:
    if request.param == "sync":
        return observed_store
    return lambda *args: BlockingStore(observed_async_store(*args))


def test_observer_counts_operations_and_kpis(
        kind: str, make_observed: Callable[..., Any], tmp_path: Path) -> None:
    registry = CollectorRegistry()
    clock = FrozenClock()
    store = make_observed(_url(kind, tmp_path), PrometheusObserver(registry), clock)
    _drive(store, clock)
    store.close()

    def ops(operation: str) -> float:
        return _value(registry, "sessiondb_operation_duration_seconds_count",
                      backend=kind, operation=operation)

    assert ops("create") == 2
    assert ops("append") == 3  # append, update_state, the conflicting append
    assert ops("get") == 3
    assert ops("fork") == ops("events") == ops("sessions") == ops("touch") == 1
    assert ops("purge_expired") == ops("delete") == 1
    assert _value(registry, "sessiondb_sessions_created_total", backend=kind) == 3  # + fork
    resumes = {outcome: _value(registry, "sessiondb_session_resumes_total",
                               backend=kind, outcome=outcome)
               for outcome in ("found", "not_found", "expired", "error")}
    assert resumes == {"found": 1, "not_found": 1, "expired": 1, "error": 0}
    assert _value(registry, "sessiondb_sessions_expired_total", backend=kind) == 1
    errors = {(s.labels["operation"], s.labels["error"]): s.value
              for family in registry.collect() if family.name == "sessiondb_operation_errors"
              for s in family.samples if s.name.endswith("_total")}
    assert errors == {("append", "ConflictError"): 1, ("get", "NotFoundError"): 1,
                      ("get", "ExpiredError"): 1}
    total = _value(registry, "sessiondb_operation_duration_seconds_sum",
                   backend=kind, operation="append")
    assert 0 < total < 5


def test_no_label_value_is_an_id(kind: str, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    clock = FrozenClock()
    store = observed_store(_url(kind, tmp_path), PrometheusObserver(registry), clock)
    ids = set(_drive(store, clock, app="app-7f3a9c").values())
    store.close()
    errors = {cls for cls in vars(sessiondb.errors).values()
              if isinstance(cls, type) and issubclass(cls, BaseException)}
    allowed = {
        "backend": {"memory", "sqlite", "postgresql", "redis", "redis+cluster", "unknown"},
        "operation": set(OPERATIONS),
        "error": {cls.__name__ for cls in errors},
        "outcome": {"found", "not_found", "expired", "error"},
    }
    seen = 0
    for family in registry.collect():
        assert family.name.startswith("sessiondb_")
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label == "le":
                    continue
                assert value in allowed[label], (sample.name, label, value)
                assert not any(i in value for i in ids)
                seen += 1
    assert seen > 0


def test_a_failing_observer_never_fails_the_store(
        kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def operation(self, *args: Any) -> None:
            raise RuntimeError("observer bug")

        def purged(self, *args: Any) -> None:
            raise RuntimeError("observer bug")

    clock = FrozenClock()
    store = observed_store(_url(kind, tmp_path), Broken(), clock)
    with caplog.at_level(logging.ERROR, logger="sessiondb.observe"):
        s = store.create("shop", "bob", idle_ttl=1)
        assert store.append("shop", "bob", s.id, [{"role": "user", "content": "hi"}]) == 1
        with pytest.raises(sessiondb.NotFoundError):  # the store's error, not the observer's
            store.get("shop", "bob", "missing")
        clock.advance(5)
        assert store.purge_expired() == 1
    store.close()
    assert "observer bug" in caplog.text


def test_errors_pass_through_unchanged(tmp_path: Path) -> None:
    """The wrapper re-raises the backend's own exception object."""
    seen: list[BaseException | None] = []

    class Recorder:
        def operation(self, backend: str, operation: str, seconds: float,
                      error: BaseException | None) -> None:
            seen.append(error)

        def purged(self, backend: str, count: int) -> None:
            pass

    async def scenario() -> BaseException:
        store = observed_async_store(_url("sqlite", tmp_path), Recorder())
        try:
            await store.get("shop", "bob", "missing")
        except sessiondb.NotFoundError as exc:
            return exc
        finally:
            await store.close()
        raise AssertionError("no error")

    raised = asyncio.run(scenario())
    assert seen == [raised]


def test_under_encryption_every_backend_call_is_reported(tmp_path: Path) -> None:
    """Observed right on the backend, with encryption on top: an encrypted
    fork and a key rotation go through the observer, and rotation still
    finds its encrypting store."""
    url = _url("sqlite", tmp_path)
    registry = CollectorRegistry()
    k1 = new_key()
    ring = KeyRing.from_string(f"k1:{k1}")
    backend = encrypting(observing(open_backend(url), PrometheusObserver(registry), url), ring)
    store = SessionStore(backend, url=url)
    s = store.create("shop", "erin", state={"card": "4111"})
    store.append("shop", "erin", s.id, [{"role": "user", "content": "secret"}])
    fork = store.fork("shop", "erin", s.id, at_seq=1)
    assert store.get("shop", "erin", fork.id).state["card"] == "4111"
    store.close()
    rotated = SessionStore(encrypting(
        observing(open_backend(url), PrometheusObserver(registry), url),
        KeyRing.from_string(f"k2:{new_key()},k1:{k1}")), url=url)
    assert rotate(rotated).sessions == 2
    rotated.close()

    def ops(operation: str) -> float:
        return _value(registry, "sessiondb_operation_duration_seconds_count",
                      backend="sqlite", operation=operation)

    assert ops("bundle") >= 3 and ops("replace_session") >= 3  # fork + 2 rotated
    # Encrypted loads read SQLite's window as rows (get_rows): still timed as gets.
    assert ops("get") >= 2  # the fork's read-back and the store.get
    assert _value(registry, "sessiondb_sessions_created_total", backend="sqlite") == 2


def test_metrics_endpoint_serves_text_and_openmetrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    store = observed_store(_url("sqlite", tmp_path), PrometheusObserver(registry))
    store.create("shop", "carol")
    store.close()
    client = TestClient(Starlette(routes=[metrics_route(registry=registry)]))
    text = client.get("/metrics")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert 'sessiondb_sessions_created_total{backend="sqlite"} 1.0' in text.text
    assert 'sessiondb_operation_duration_seconds_bucket{backend="sqlite",le="0.0001",' \
           'operation="create"}' in text.text
    open_metrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    assert client.post("/metrics").status_code == 405


def test_observers_share_a_registry(tmp_path: Path) -> None:
    """Two observers (two stores) on one registry add up instead of clashing."""
    registry = CollectorRegistry()
    for _ in range(2):
        store = observed_store("memory://", PrometheusObserver(registry))
        store.create("shop", "dave")
        store.close()
    assert _value(registry, "sessiondb_sessions_created_total", backend="memory") == 2


def test_the_core_never_imports_the_metrics_libraries() -> None:
    code = ("import sys, sessiondb, sessiondb.observe, sessiondb.backends._sync.observed, "
            "sessiondb.backends._async.observed; "
            "print(sorted(m for m in ('prometheus_client', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _Recorder:
    """Counts reports, so the conformance run also checks they happen."""

    def __init__(self) -> None:
        self.operations = 0

    def operation(self, backend: str, operation: str, seconds: float,
                  error: BaseException | None) -> None:
        assert operation in OPERATIONS and seconds >= 0
        self.operations += 1

    def purged(self, backend: str, count: int) -> None:
        assert count > 0


class TestObservedSync(StoreConformance):
    """The whole contract holds through the sync wrapper."""

    @pytest.fixture
    def make_store(self, kind: str, tmp_path: Path) -> Callable[[Any], Any]:
        return lambda clock: observed_store(_url(kind, tmp_path), _Recorder(), clock)


class TestObservedAsync(StoreConformance):
    """The whole contract holds through the async wrapper."""

    @pytest.fixture
    def make_store(self, kind: str, tmp_path: Path) -> Callable[[Any], Any]:
        return lambda clock: BlockingStore(
            observed_async_store(_url(kind, tmp_path), _Recorder(), clock))
