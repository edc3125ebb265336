"""The shipped conformance suite, on every backend here x {sync, async}."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sessiondb
from sessiondb.testing import BlockingStore, StoreConformance

_files = itertools.count()


def _url(kind: str, tmp_path: Path) -> str:
    return "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/s{next(_files)}.db"


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


class TestSync(StoreConformance):
    @pytest.fixture
    def make_store(self, backend: str, tmp_path: Path) -> Callable[[Any], Any]:
        return lambda clock: sessiondb.open_store(_url(backend, tmp_path), clock=clock)


class TestAsync(StoreConformance):
    @pytest.fixture
    def make_store(self, backend: str, tmp_path: Path) -> Callable[[Any], Any]:
        return lambda clock: BlockingStore(
            sessiondb.open_async_store(_url(backend, tmp_path), clock=clock))
