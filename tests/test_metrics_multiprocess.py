"""Several worker processes, one ``/metrics``: prometheus-client's
multiprocess mode adds up what each process recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sessiondb.http.metrics import metrics_route

# A worker: its own observed SQLite store on the shared file, default registry.
WORKER = """
import sys
from sessiondb import SessionStore
from sessiondb.backends import open_backend
from sessiondb.backends._sync.observed import ObservedBackend
from sessiondb.http.metrics import PrometheusObserver
from sessiondb.observe import backend_label

url, n = sys.argv[1], int(sys.argv[2])
store = SessionStore(ObservedBackend(open_backend(url), PrometheusObserver(),
                                     backend_label(url)), url=url)
for i in range(n):
    s = store.create("shop", f"user{i}")
    store.get("shop", f"user{i}", s.id)
try:
    store.get("shop", "nobody", "missing")
except LookupError:
    pass
store.close()
"""


def test_metrics_of_two_processes_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    url = f"sqlite:///{tmp_path}/shared.db"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(n)], env=env)
               for n in (7, 5)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    assert len(list(shared.glob("counter_*.db"))) == 2  # one file per process

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    response = TestClient(Starlette(routes=[metrics_route()])).get("/metrics")
    assert response.status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text)
               for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("sessiondb_sessions_created_total", backend="sqlite") == 12
    assert value("sessiondb_session_resumes_total", backend="sqlite", outcome="found") == 12
    assert value("sessiondb_session_resumes_total", backend="sqlite", outcome="not_found") == 2
    assert value("sessiondb_operation_duration_seconds_count",
                 backend="sqlite", operation="get") == 14
    assert value("sessiondb_operation_duration_seconds_bucket",
                 backend="sqlite", operation="create", le="+Inf") == 12
    assert value("sessiondb_operation_errors_total", backend="sqlite", operation="get",
                 error="NotFoundError") == 2
