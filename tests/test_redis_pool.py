"""The Redis client's connection pool under many concurrent callers: more
callers than connections wait for one instead of failing (the async client
on one event loop, the sync client in threads, on one server and on a
cluster), and a caller that waits too long gets ``BackendUnavailableError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis_helpers import UrlFactory, redis_cluster_servers, url_factory

import sessiondb
from sessiondb import BackendUnavailableError, ConfigurationError
from sessiondb.backends.redis.options import RedisOptions
from sessiondb.testing import run_threads

__all__ = ["redis_cluster_servers"]  # a fixture, to be found

CALLERS = 300
APP, USER = "pool", "u"


@pytest.fixture(params=["redis", "cluster"])
def urls(request: pytest.FixtureRequest) -> Iterator[UrlFactory]:
    with url_factory(request.param, request) as make:
        yield make


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def test_many_concurrent_async_calls_wait_for_a_connection(urls: UrlFactory) -> None:
    """300 appends and 300 gets at once on a pool of 10 connections all succeed."""
    url = _with(urls(), "max_connections=10")

    async def main() -> None:
        store = sessiondb.open_async_store(url)
        try:
            sids = [(await store.create(APP, USER)).id for _ in range(CALLERS)]
            versions = await asyncio.gather(*(
                store.append(APP, USER, sid, [{"role": "user", "content": {"i": i}}])
                for i, sid in enumerate(sids)))
            assert versions == [1] * CALLERS
            sessions = await asyncio.gather(*(store.get(APP, USER, sid) for sid in sids))
            assert [s.events[0].content for s in sessions] == [{"i": i} for i in range(CALLERS)]
        finally:
            await store.close()

    asyncio.run(main())


def test_default_pool_takes_more_callers_than_redis_py_allows(urls: UrlFactory) -> None:
    """Beyond redis-py's default of 100 connections, callers wait (they used
    to get "Too many connections")."""
    url = urls()

    async def main() -> None:
        store = sessiondb.open_async_store(url)
        try:
            sid = (await store.create(APP, USER)).id
            sessions = await asyncio.gather(*(store.get(APP, USER, sid) for _ in range(CALLERS)))
            assert len(sessions) == CALLERS
        finally:
            await store.close()

    asyncio.run(main())


def test_many_threads_wait_for_a_connection(urls: UrlFactory) -> None:
    """The sync client: 120 threads on a pool of 4 connections all succeed."""
    store = sessiondb.open_store(_with(urls(), "max_connections=4"))
    try:
        sid = store.create(APP, USER).id

        def work(i: int) -> None:
            store.append(APP, USER, sid, [{"role": "user", "content": {"i": i}}])
            store.get(APP, USER, sid, last=1)

        run_threads(120, work)
        assert store.get(APP, USER, sid, last=0).version == 120
    finally:
        store.close()


def test_a_caller_waiting_too_long_is_told_unavailable(urls: UrlFactory) -> None:
    """With the one connection held past ``timeout`` (by a ``BLPOP`` that
    waits 1 s), a caller gets ``BackendUnavailableError`` (worth retrying)
    after ``timeout``, not a hang; once it is free again, calls work."""
    url = _with(urls(), "max_connections=1&timeout=0.2")

    async def main() -> None:
        store = sessiondb.open_async_store(url)
        try:
            sid = (await store.create(APP, USER)).id
            client = store._backend.client  # type: ignore[attr-defined]
            holder = asyncio.create_task(client.call("BLPOP", "{nothing}:here", 1))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(BackendUnavailableError):
                await store.get(APP, USER, sid)
            assert 0.15 < time.monotonic() - started < 0.9
            await holder
            assert (await store.get(APP, USER, sid)).id == sid
        finally:
            await store.close()

    asyncio.run(main())


def test_pool_options_are_checked() -> None:
    options = RedisOptions.from_url("redis://h/0?max_connections=7&timeout=1.5")
    assert options.max_connections == 7
    assert options.pool_timeout == 1.5
    cluster = RedisOptions.from_url("redis+cluster://h:1,h:2/?max_connections=3&timeout=2")
    assert (cluster.max_connections, cluster.pool_timeout) == (3, 2.0)
    assert "timeout" not in cluster.kwargs and "max_connections" not in cluster.kwargs
    defaults = RedisOptions.from_url("redis://h/0")
    assert (defaults.max_connections, defaults.pool_timeout) == (100, 20.0)
    for bad in ("max_connections=0", "max_connections=x", "timeout=-1", "timeout=inf"):
        with pytest.raises(ConfigurationError):
            RedisOptions.from_url(f"redis://h/0?{bad}")
