"""The whole conformance suite again with encryption at rest on: an
encrypting store must behave exactly like a plain one, on every backend."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_helpers import Schemas, fresh_schemas
from redis_helpers import redis_cluster_servers, url_factory

import sessiondb
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.testing import BlockingStore, StoreConformance

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

RING = KeyRing.from_string(f"k2:{new_key()},k1:{new_key()}")
_files = itertools.count()


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis", "cluster"])
def url_maker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    kind = request.param
    if kind == "memory":
        yield lambda: "memory://"
    elif kind == "sqlite":
        yield lambda: f"sqlite:///{tmp_path}/e{next(_files)}.db"
    elif kind == "postgres":
        for schemas in fresh_schemas():
            yield schemas.url
    else:
        with url_factory(kind, request) as make:
            yield make


class TestEncryptedSync(StoreConformance):
    @pytest.fixture
    def make_store(self, url_maker: Callable[[], str]) -> Callable[[Any], Any]:
        return lambda clock: sessiondb.open_store(url_maker(), clock=clock, keys=RING)


class TestEncryptedAsync(StoreConformance):
    @pytest.fixture
    def make_store(self, url_maker: Callable[[], str]) -> Callable[[Any], Any]:
        return lambda clock: BlockingStore(
            sessiondb.open_async_store(url_maker(), clock=clock, keys=RING))


_ = Schemas  # the type of fresh_schemas' items
