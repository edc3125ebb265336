"""The live feed's cross-process publish, on real PostgreSQL and Redis: off
the request's path, batched (one message for the notices queued while the
previous one was sent, split under the payload limit), bounded, and flushed
when the feed closes. Received by a raw ``LISTEN`` / ``SUBSCRIBE`` of our own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from backend_urls import store_urls

import sessiondb
from sessiondb.http.live import batch_payloads, open_feed
from sessiondb.http.live_push import PostgresFeed, RedisFeed

APP, USER = "live", "u"


@pytest.fixture(params=["postgres", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_urls(request.param, tmp_path, request) as make:
        yield make()


@asynccontextmanager
async def listening(feed: Any) -> AsyncIterator[list[str]]:
    """Every message sent on the feed's channel, as it arrives."""
    received: list[str] = []
    if isinstance(feed, PostgresFeed):
        import psycopg
        from psycopg import sql

        conn = await psycopg.AsyncConnection.connect(feed._conninfo, autocommit=True)
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(feed.channel)))

        async def pump() -> None:
            async for notify in conn.notifies():
                received.append(notify.payload)

        task = asyncio.create_task(pump())
        try:
            yield received
        finally:
            task.cancel()
            await conn.close()
    else:
        assert isinstance(feed, RedisFeed)
        client = feed._client()
        pubsub = client.pubsub()
        await pubsub.subscribe(feed.channel)

        async def pump() -> None:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    received.append(message["data"])

        task = asyncio.create_task(pump())
        try:
            yield received
        finally:
            task.cancel()
            await pubsub.aclose()
            await client.aclose()


def notices(messages: list[str]) -> list[list[Any]]:
    return [notice for message in messages for notice in json.loads(message)]


async def settle(received: list[str], count: int) -> None:
    async with asyncio.timeout(5):
        while len(notices(received)) < count:
            await asyncio.sleep(0.01)


def test_publishes_in_a_burst_go_as_few_messages(url: str) -> None:
    """300 publishes that do not yield in between return at once and go out
    as one batch (a few messages under the payload limit); a session's
    notices collapse into its highest version."""

    async def scenario() -> tuple[int, list[list[Any]]]:
        store = sessiondb.open_async_store(url)
        feed = open_feed(store, url, poll_interval=None)
        async with feed, listening(feed) as received:
            for i in range(300):
                await feed.publish(APP, USER, f"s{i}", 1)
            await feed.publish(APP, USER, "s0", 2)
            await feed.publish(APP, USER, "s0", 3)
            await settle(received, 300)
            messages = len(received)
        await store.close()
        return messages, notices(received)

    messages, got = asyncio.run(scenario())
    assert 1 <= messages <= 8
    assert sorted(got) == sorted([[APP, USER, "s0", 3]] + [[APP, USER, f"s{i}", 1]
                                                          for i in range(1, 300)])


def test_a_delete_notice_covers_the_versions_before_it(url: str) -> None:
    async def scenario() -> list[list[Any]]:
        store = sessiondb.open_async_store(url)
        feed = open_feed(store, url, poll_interval=None)
        async with feed, listening(feed) as received:
            await feed.publish(APP, USER, "s1", 4)
            await feed.publish(APP, USER, "s1", None)
            await feed.publish(APP, USER, "s1", 5)
            await settle(received, 1)
        await store.close()
        return notices(received)

    assert asyncio.run(scenario()) == [[APP, USER, "s1", None]]


def test_closing_the_feed_sends_what_is_queued(url: str) -> None:
    async def scenario() -> list[list[Any]]:
        store = sessiondb.open_async_store(url)
        feed = open_feed(store, url, poll_interval=None)
        await feed.start()
        async with listening(feed) as received:
            for i in range(50):
                await feed.publish(APP, USER, f"s{i}", i + 1)
            await feed.aclose()  # right away: the sender has not run yet
            await feed.publish(APP, USER, "late", 1)  # closed: not sent
            await settle(received, 50)
            await asyncio.sleep(0.2)
        await store.close()
        return notices(received)

    got = asyncio.run(scenario())
    assert sorted(got) == sorted([APP, USER, f"s{i}", i + 1] for i in range(50))


def test_a_full_queue_makes_publishers_wait_not_drop(url: str) -> None:
    async def scenario() -> list[list[Any]]:
        store = sessiondb.open_async_store(url)
        feed = open_feed(store, url, poll_interval=None)
        feed.max_pending = 3
        async with feed, listening(feed) as received:
            await asyncio.gather(*(feed.publish(APP, USER, f"s{i}", 1) for i in range(40)))
            assert len(feed._pending) <= 3
            await settle(received, 40)
        await store.close()
        return notices(received)

    assert sorted(asyncio.run(scenario())) == sorted([APP, USER, f"s{i}", 1] for i in range(40))


def test_a_stream_wakes_on_batched_and_single_notices(url: str) -> None:
    """Another process's batch wakes the watch; so does a message of one
    notice, the shape sent before batching (a service being upgraded)."""

    async def scenario() -> tuple[bool, bool, bool]:
        store = sessiondb.open_async_store(url)
        async with open_feed(store, url, poll_interval=None) as mine, \
                open_feed(store, url, poll_interval=None) as theirs, \
                mine.watch(APP, USER, "s1") as watch:
            await theirs.publish(APP, USER, "other", 9)
            await theirs.publish(APP, USER, "s1", 2)
            batched = await watch.wait(1, 5)
            await theirs._send(json.dumps([APP, USER, "s1", 3]))
            single = await watch.wait(2, 5)
            await theirs._send("not json")  # logged and ignored
            await theirs._send(json.dumps([[APP, USER], [APP, USER, "s1", 4]]))
            mixed = await watch.wait(3, 5)
        await store.close()
        return batched, single, mixed

    assert asyncio.run(scenario()) == (True, True, True)


def test_batch_payloads_stay_under_the_limit() -> None:
    batch: dict[tuple[str, str, str], int | None] = {
        ("app", "user", f"session-{i:04d}"): i for i in range(1000)}
    batch[("app", "user", "gone")] = None
    payloads = batch_payloads(batch, 7900)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= 7900 for p in payloads)
    decoded = [tuple(n) for p in payloads for n in json.loads(p)]
    assert decoded == [(*key, version) for key, version in batch.items()]
    assert batch_payloads({}, 100) == []
    assert batch_payloads({("a" * 50, "u", "s"): 1}, 10) == [json.dumps([["a" * 50, "u", "s", 1]])]
