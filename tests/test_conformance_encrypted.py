"""The whole conformance suite again with encryption at rest on: an
encrypting store must behave exactly like a plain one, on every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_urls import ALL_BACKENDS, store_urls
from redis_helpers import redis_cluster_servers

import sessiondb
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.testing import BlockingStore, StoreConformance

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

RING = KeyRing.from_string(f"k2:{new_key()},k1:{new_key()}")


@pytest.fixture(params=ALL_BACKENDS)
def url_maker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    with store_urls(request.param, tmp_path, request) as make:
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

