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
from sessiondb.testing.suite_shared import SharedStateSuite

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

RING = KeyRing.from_string(f"k2:{new_key()},k1:{new_key()}")


@pytest.fixture(params=ALL_BACKENDS)
def url_maker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    with store_urls(request.param, tmp_path, request) as make:
        yield make

class _SharedStatePending:
    """Skips the shared-state part of the suite, and only it: the
    encryption wrapper does not seal and open ``shared_state`` /
    ``update_shared_state`` yet (the lead wires it; then delete this)."""

    @pytest.fixture(autouse=True)
    def _skip_shared_state(self, request: pytest.FixtureRequest) -> None:
        if request.function.__qualname__.startswith(f"{SharedStateSuite.__name__}."):
            pytest.skip("shared-state API not yet wired into the encryption wrapper")


class TestEncryptedSync(_SharedStatePending, StoreConformance):
    @pytest.fixture
    def make_store(self, url_maker: Callable[[], str]) -> Callable[[Any], Any]:
        return lambda clock: sessiondb.open_store(url_maker(), clock=clock, keys=RING)


class TestEncryptedAsync(_SharedStatePending, StoreConformance):
    @pytest.fixture
    def make_store(self, url_maker: Callable[[], str]) -> Callable[[Any], Any]:
        return lambda clock: BlockingStore(
            sessiondb.open_async_store(url_maker(), clock=clock, keys=RING))

