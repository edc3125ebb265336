"""The shipped conformance suite on Redis and on a Redis Cluster of our own,
sync and async."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis_helpers import UrlFactory, redis_cluster_servers, redis_urls

import sessiondb
from sessiondb.testing import BlockingStore, StoreConformance

__all__ = ["redis_cluster_servers", "redis_urls"]  # fixtures, imported to be found


class TestRedisSync(StoreConformance):
    @pytest.fixture
    def make_store(self, redis_urls: UrlFactory) -> Callable[[Any], Any]:
        return lambda clock: sessiondb.open_store(redis_urls(), clock=clock)


class TestRedisAsync(StoreConformance):
    @pytest.fixture
    def make_store(self, redis_urls: UrlFactory) -> Callable[[Any], Any]:
        return lambda clock: BlockingStore(
            sessiondb.open_async_store(redis_urls(), clock=clock))
