"""The live event stream over real HTTP (uvicorn on a loopback port, httpx
clients), on SQLite, PostgreSQL and Redis; and feeds across processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from pg_helpers import Schemas, fresh_schemas
from redis_helpers import redis_cluster_servers, url_factory
from starlette.applications import Starlette

import sessiondb
from sessiondb import AsyncSessionStore
from sessiondb.http import create_app, events
from sessiondb.http.live import Feed, open_feed
from sessiondb.http.live_push import RedisFeed
from sessiondb.http.problems import handle_error
from sessiondb.http.stream import routes
from sessiondb.http.tail import Tail

__all__ = ["redis_cluster_servers"]  # a fixture, imported to be found

APP, USER = "app", "alice"


# -- a minimal service: the stream, the append route, the problem table ----------

@dataclass
class Service:
    base: str
    store: AsyncSessionStore
    feed: Feed

    def stream_url(self, sid: str) -> str:
        return f"{self.base}/v1/apps/{APP}/users/{USER}/sessions/{sid}/events/stream"

    def events_url(self, sid: str) -> str:
        return f"{self.base}/v1/apps/{APP}/users/{USER}/sessions/{sid}/events"


@asynccontextmanager
async def serving(url: str, *, ping: float = 0.2, poll: Any = "default",
                  feed_url: str | None = None) -> AsyncIterator[Service]:
    store = sessiondb.open_async_store(url)
    feed = open_feed(store, feed_url or url, poll_interval=poll)
    app = Starlette(routes=[*routes(ping_interval=ping), *events.routes],
                    exception_handlers={Exception: handle_error})
    # the append route calls on_change after each append: the feed publishes
    app.state.store, app.state.feed, app.state.on_change = store, feed, feed.publish
    await feed.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield Service(f"http://127.0.0.1:{sock.getsockname()[1]}", store, feed)
    finally:
        await feed.aclose()  # ends the open streams, so the server can stop
        server.should_exit = True
        await task
        await store.close()


@dataclass
class Message:
    id: str | None
    event: str
    data: Any


class Subscriber:
    """An SSE client: events as they come, and the comment lines it saw."""

    def __init__(self, client: httpx.AsyncClient, url: str,
                 headers: dict[str, str] | None = None) -> None:
        self._client, self._url, self._headers = client, url, headers or {}
        self.comments: list[str] = []
        self.status = 0

    @asynccontextmanager
    async def open(self) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._client.stream("GET", self._url, headers=self._headers) as response:
            self.status = response.status_code
            yield self._messages(response)

    async def _messages(self, response: httpx.Response) -> AsyncIterator[Message]:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                yield Message(fields.get("id"), fields.get("event", "message"),
                              json.loads(fields["data"]))
                fields = {}


async def take(messages: AsyncIterator[Message], count: int,
               timeout: float = 10.0) -> list[Message]:
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        async for message in messages:
            got.append(message)
            if len(got) == count:
                break
    return got


async def opened(sub: Subscriber, timeout: float = 10.0) -> None:
    """Wait until the server says the subscription is live."""
    async with asyncio.timeout(timeout):
        while "open" not in sub.comments:
            await asyncio.sleep(0.01)


def texts(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"m{i}"} for i in range(start, start + n)]


# -- backends ------------------------------------------------------------------

@pytest.fixture
def schemas() -> Iterator[Schemas]:
    yield from fresh_schemas()


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
    elif request.param == "postgres":
        made = request.getfixturevalue("schemas")
        yield made.url()
    else:
        with url_factory("redis", request) as make:
            yield make()


# -- the stream ------------------------------------------------------------------

def test_a_client_receives_another_clients_appends_in_order(store_url: str) -> None:
    """Pushed only (no polling): sequential appends, then concurrent ones."""
    async def scenario() -> list[Message]:
        async with serving(store_url, poll=None) as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            await service.store.append(APP, USER, session.id, texts(3))  # history
            sub = Subscriber(client, service.stream_url(session.id))
            async with sub.open() as messages:
                reader = asyncio.create_task(take(messages, 43))
                await opened(sub)
                async with httpx.AsyncClient(timeout=10) as writer:
                    for i in range(3, 23):
                        answer = await writer.post(service.events_url(session.id),
                                                   json={"events": texts(1, i)})
                        assert answer.status_code == 200
                    answers = await asyncio.gather(*(
                        writer.post(service.events_url(session.id), json={"events": texts(1, i)})
                        for i in range(23, 43)))
                    assert {a.status_code for a in answers} == {200}
                got = await reader
        assert sub.status == 200
        return got

    got = asyncio.run(scenario())
    assert [m.id for m in got] == [str(i) for i in range(1, 44)]
    assert [m.data["seq"] for m in got] == list(range(1, 44))
    assert [m.data["content"] for m in got[:23]] == [f"m{i}" for i in range(23)]
    assert sorted(m.data["content"] for m in got[23:]) == sorted(f"m{i}" for i in range(23, 43))
    assert {m.event for m in got} == {"message"}


def test_resume_with_last_event_id_has_no_gaps_or_duplicates(store_url: str) -> None:
    async def scenario() -> None:
        async with serving(store_url) as service, httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            url = service.stream_url(session.id)
            await client.post(service.events_url(session.id), json={"events": texts(5)})
            async with Subscriber(client, url).open() as messages:
                first = await take(messages, 5)
            # appends made while nobody listens, then a resumption
            for i in range(5, 9):
                await client.post(service.events_url(session.id), json={"events": texts(1, i)})
            sub = Subscriber(client, url, {"Last-Event-ID": first[-1].id or ""})
            async with sub.open() as messages:
                reader = asyncio.create_task(take(messages, 7))
                await opened(sub)
                for i in range(9, 12):
                    await client.post(service.events_url(session.id),
                                      json={"events": texts(1, i)})
                second = await reader
            # ?after= starts there too (the header wins over it)
            later = Subscriber(client, url + "?after=9", {"Last-Event-ID": "10"})
            async with later.open() as messages:
                third = await take(messages, 1)
        seqs = [m.data["seq"] for m in first + second]
        assert seqs == list(range(1, 13))
        assert [m.data["content"] for m in first + second] == [f"m{i}" for i in range(12)]
        assert [m.data["seq"] for m in third] == [11]

    asyncio.run(scenario())


def test_keep_alive_pings_while_idle(tmp_path: Any) -> None:
    async def scenario() -> list[str]:
        async with serving(f"sqlite:///{tmp_path / 'p.db'}", ping=0.1) as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            sub = Subscriber(client, service.stream_url(session.id))
            async with sub.open() as messages:
                reader = asyncio.create_task(take(messages, 1))
                await asyncio.sleep(0.5)
                await client.post(service.events_url(session.id), json={"events": texts(1)})
                await reader
            return sub.comments

    comments = asyncio.run(scenario())
    assert comments[0] == "open"
    assert comments.count("ping") >= 2


def test_a_client_going_away_releases_the_session(tmp_path: Any) -> None:
    """No stream left behind: once its clients disconnect, the session is
    no longer watched (no reader, no poller)."""
    async def scenario() -> tuple[int, int]:
        async with serving(f"sqlite:///{tmp_path / 'd.db'}") as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            subs = [Subscriber(client, service.stream_url(session.id)) for _ in range(3)]
            async with contextlib.AsyncExitStack() as stack:
                for sub in subs:
                    messages = await stack.enter_async_context(sub.open())
                    stack.callback(asyncio.create_task(take(messages, 1)).cancel)
                    await opened(sub)
                watched = service.feed.watched
            async with asyncio.timeout(5):
                while service.feed.watched:
                    await asyncio.sleep(0.02)
            return watched, service.feed.watched

    assert asyncio.run(scenario()) == (1, 0)


def test_refusals_before_the_stream_starts(tmp_path: Any) -> None:
    async def scenario() -> list[tuple[int, str]]:
        async with serving(f"sqlite:///{tmp_path / 'r.db'}") as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            answers = [
                await client.get(service.stream_url("missing")),
                await client.get(service.stream_url(session.id),
                                 headers={"Last-Event-ID": "x1"}),
                await client.get(service.stream_url(session.id) + "?after=-3"),
            ]
            return [(a.status_code, a.headers["content-type"]) for a in answers]

    statuses = asyncio.run(scenario())
    assert [s for s, _ in statuses] == [404, 400, 422]
    assert all(t == "application/problem+json" for _, t in statuses)


def test_the_stream_ends_when_the_session_is_deleted(store_url: str) -> None:
    async def scenario() -> list[tuple[str, Any]]:
        async with serving(store_url, poll=0.1) as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            await service.store.append(APP, USER, session.id, texts(1))
            async with Subscriber(client, service.stream_url(session.id)).open() as messages:
                got = await take(messages, 1)
                await service.store.delete(APP, USER, session.id)  # no publish: polled
                got += await take(messages, 10)  # until the stream closes
        return [(m.event, m.data.get("seq", m.data)) for m in got]

    assert asyncio.run(scenario()) == [("message", 1), ("end", {"reason": "not_found"})]


def test_appends_made_through_the_library_reach_the_stream(store_url: str) -> None:
    """No publish at all: the poller (SQLite) or the safety net (servers) finds them."""
    async def scenario() -> list[int]:
        async with serving(store_url, poll=0.1) as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            sub = Subscriber(client, service.stream_url(session.id))
            async with sub.open() as messages:
                reader = asyncio.create_task(take(messages, 4))
                await opened(sub)
                other = sessiondb.open_async_store(store_url)  # another "process"
                for i in range(4):
                    await other.append(APP, USER, session.id, texts(1, i))
                await other.close()
                return [m.data["seq"] for m in await reader]

    assert asyncio.run(scenario()) == [1, 2, 3, 4]


def test_subscribers_of_one_session_share_each_read(tmp_path: Any) -> None:
    """50 streams on one session: an append costs a read or two, not 50."""
    async def scenario() -> tuple[int, list[list[int]]]:
        async with serving(f"sqlite:///{tmp_path / 's.db'}", poll=None) as service, \
                httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100)) \
                as client:
            session = await service.store.create(APP, USER)
            reads = 0
            real_events = service.store.events

            async def counted(*args: Any, **kwargs: Any) -> Any:
                nonlocal reads
                reads += 1
                return await real_events(*args, **kwargs)

            subs = [Subscriber(client, service.stream_url(session.id)) for _ in range(50)]
            async with asyncio.TaskGroup() as group:
                async def follow(sub: Subscriber) -> list[int]:
                    async with sub.open() as messages:
                        return [m.data["seq"] for m in await take(messages, 1)]

                tasks = [group.create_task(follow(sub)) for sub in subs]
                for sub in subs:
                    await opened(sub)
                service.store.events = counted  # type: ignore[method-assign]
                version = await service.store.append(APP, USER, session.id, texts(1))
                await service.feed.publish(APP, USER, session.id, version)
            return reads, [t.result() for t in tasks]

    reads, seen = asyncio.run(scenario())
    assert seen == [[1]] * 50
    assert 1 <= reads <= 3


def test_a_long_history_then_live_and_a_resume_from_ahead(tmp_path: Any) -> None:
    """A history longer than one read arrives whole before the live events;
    a stream resumed from a seq the session has not reached yet gets only
    what follows it (even when one append jumps past it), and does not hold
    back the others."""
    async def until(got: list[Message], count: int) -> list[int]:
        async with asyncio.timeout(5):
            while len(got) < count:
                await asyncio.sleep(0.01)
        return [m.data["seq"] for m in got]

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        async with serving(f"sqlite:///{tmp_path / 'h.db'}", poll=None) as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            for start in range(0, 250, 50):
                await service.store.append(APP, USER, session.id, texts(50, start))
            url = service.stream_url(session.id)
            ahead = Subscriber(client, url, {"Last-Event-ID": "253"})
            whole = Subscriber(client, url)
            got_ahead: list[Message] = []
            got_whole: list[Message] = []
            async with ahead.open() as after_253, asyncio.TaskGroup() as group:
                group.create_task(_collect(after_253, got_ahead))
                await opened(ahead)  # the first stream of the session: its tail starts
                async with whole.open() as all_of_it:
                    reader = group.create_task(_collect(all_of_it, got_whole))
                    await opened(whole)
                    await client.post(service.events_url(session.id), json={"events": texts(1)})
                    first = await until(got_whole, 251)
                    await client.post(service.events_url(session.id), json={"events": texts(5)})
                    second = await until(got_whole, 256)
                    third = await until(got_ahead, 3)
                    reader.cancel()
                await service.feed.aclose()  # ends the stream of ``ahead``
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first == list(range(1, 252))
    assert second == list(range(1, 257))
    assert third == [254, 255, 256]


async def _collect(messages: AsyncIterator[Message], into: list[Message]) -> None:
    async for message in messages:
        into.append(message)


def test_the_tail_hands_out_only_what_it_holds_from_the_start() -> None:
    async def scenario() -> list[Any]:
        tail = Tail(max_bytes=10)
        tail.head = 0
        tail._add(0, 1, b"aaaaaaaa")
        tail._add(1, 3, b"bbbbbbbb")  # over max_bytes: the first entry goes
        return [tail.take(0), tail.take(1), tail.take(2), tail.take(3), tail.take(9)]

    assert asyncio.run(scenario()) == [None, (b"bbbbbbbb", 3), None, (b"", 3), (b"", 9)]


# -- feeds between processes ---------------------------------------------------

@pytest.fixture(params=["postgres", "redis", "cluster"])
def namespaces(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of store URLs on one server (or our Redis Cluster), each in
    a fresh namespace."""
    if request.param == "postgres":
        yield request.getfixturevalue("schemas").url
    else:
        with url_factory(request.param, request) as make:
            yield make


def test_a_publish_through_one_feed_wakes_a_stream_on_another(namespaces: Any) -> None:
    """Service B's feed does not poll: only A's message can wake its stream.
    On the cluster, A talks to another node than B."""
    url = namespaces()
    scheme, _, rest = url.partition("://")
    nodes, _, query = rest.partition("?")
    if scheme == "redis+cluster":
        first, *others = nodes.rstrip("/").split(",")
        writer_url = f"{scheme}://{','.join([*others, first])}?{query}"
    else:
        writer_url = url

    async def scenario() -> list[int]:
        async with serving(url, poll=None) as service, \
                httpx.AsyncClient(timeout=10) as client:
            session = await service.store.create(APP, USER)
            writer = sessiondb.open_async_store(writer_url)
            async with open_feed(writer, writer_url) as feed_a:
                sub = Subscriber(client, service.stream_url(session.id))
                async with sub.open() as messages:
                    reader = asyncio.create_task(take(messages, 3, timeout=5))
                    await opened(sub)
                    for i in range(3):
                        version = await writer.append(APP, USER, session.id, texts(1, i))
                        await feed_a.publish(APP, USER, session.id, version)
                    got = await reader
            await writer.close()
            return [m.data["seq"] for m in got]

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_feeds_of_other_namespaces_do_not_wake_each_other(namespaces: Any) -> None:
    url, other_url = namespaces(), namespaces()

    async def scenario() -> tuple[bool, bool]:
        store = sessiondb.open_async_store(url)
        other = sessiondb.open_async_store(other_url)
        for each in (store, other):
            await each.create(APP, USER, "s1")
        async with open_feed(store, url, poll_interval=None) as mine, \
                open_feed(other, other_url, poll_interval=None) as theirs, \
                open_feed(store, url, poll_interval=None) as same, \
                mine.watch(APP, USER, "s1") as watch:
            await theirs.publish(APP, USER, "s1", 5)
            crossed = await watch.wait(0, 0.5)
            await same.publish(APP, USER, "s1", 5)
            woken = await watch.wait(0, 5)
        await store.close()
        await other.close()
        return crossed, woken

    assert asyncio.run(scenario()) == (False, True)


def test_a_push_feed_survives_an_unreachable_server() -> None:
    """An unreachable server is logged and retried; the feed still serves
    its own process's publishes, and closes cleanly."""
    url = "redis://127.0.0.1:1/0?prefix=nowhere&socket_connect_timeout=0.2"

    async def scenario() -> tuple[bool, bool]:
        store = sessiondb.open_async_store(url)
        feed = open_feed(store, url, poll_interval=None)
        assert isinstance(feed, RedisFeed)
        async with feed, feed.watch(APP, USER, "s1") as watch:
            await feed.publish(APP, USER, "s1", 1)  # logged, not raised
            return feed.listening, await watch.wait(0, 1)

    assert asyncio.run(scenario()) == (False, True)


def test_wired_into_the_service_app(tmp_path: Any) -> None:
    """The service's own app, wired as documented: the feed's lifespan and
    its publish as the change hook; a delete through the API ends the stream."""
    url = f"sqlite:///{tmp_path / 'app.db'}"

    async def scenario() -> list[tuple[str, Any]]:
        store = sessiondb.open_async_store(url)
        feed = open_feed(store, url, poll_interval=None)  # only publishes wake it
        app = create_app(store, auth=None, routes=routes(ping_interval=0.2),
                         lifespans=[feed.lifespan], on_change=feed.publish)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/apps/{APP}/users/{USER}/sessions"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                sid = (await client.post(base, json={})).json()["id"]
                sub = Subscriber(client, f"{base}/{sid}/events/stream")
                async with sub.open() as messages:
                    reader = asyncio.create_task(take(messages, 10))
                    await opened(sub)
                    await client.post(f"{base}/{sid}/events", json={"events": texts(2)})
                    assert (await client.delete(f"{base}/{sid}")).status_code == 204
                    got = await reader
        finally:
            await feed.aclose()  # what the server should do first on shutdown
            server.should_exit = True
            await task
        return [(m.event, m.data.get("seq", m.data)) for m in got]

    assert asyncio.run(scenario()) == [("message", 1), ("message", 2),
                                       ("end", {"reason": "not_found"})]
