"""The shipped conformance suite on PostgreSQL, sync and async: one fresh
schema per store, dropped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pg_helpers import Schemas, fresh_schemas

import sessiondb
from sessiondb.testing import BlockingStore, StoreConformance


@pytest.fixture
def schemas() -> Iterator[Schemas]:
    yield from fresh_schemas()


class TestPostgresSync(StoreConformance):
    @pytest.fixture
    def make_store(self, schemas: Schemas) -> Callable[[Any], Any]:
        return lambda clock: sessiondb.open_store(schemas.url(), clock=clock)


class TestPostgresAsync(StoreConformance):
    @pytest.fixture
    def make_store(self, schemas: Schemas) -> Callable[[Any], Any]:
        return lambda clock: BlockingStore(
            sessiondb.open_async_store(schemas.url(), clock=clock))
