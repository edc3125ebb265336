"""PostgreSQL beyond the conformance suite: round trips, concurrency across
threads, tasks and processes, migrations, URLs, and a server that goes away.

Everything runs on a real server; one fresh schema per store.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from helpers_child import APP, USER, append_events, run_together
from pg_helpers import Schemas, fresh_schemas, schema_url
from pg_helpers_server import CountingProxy, ThrowawayServer, free_port
from servers import need_postgres

import sessiondb
from sessiondb import (
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    SessionStore,
)
from sessiondb.backends.postgres import PostgresOptions
from sessiondb.backends.postgres._sync.migrate import migrate, schema_version
from sessiondb.backends.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from sessiondb.testing import BlockingStore, run_threads


def open_either(url: str, kind: str) -> Any:
    if kind == "sync":
        return sessiondb.open_store(url)
    return BlockingStore(sessiondb.open_async_store(url))


def history(store: Any, sid: str) -> list[Any]:
    found, cursor = [], None
    while True:
        page = store.events(APP, USER, sid, limit=500, cursor=cursor)
        found += page.items
        if (cursor := page.next_cursor) is None:
            return found


def assert_whole_pairs(store: Any, sid: str) -> list[Any]:
    """Gap-free seqs, every append's two events together, version = count."""
    events = history(store, sid)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) % 2 == 0
    for first, second in zip(events[::2], events[1::2], strict=True):
        assert first.content.rsplit(":", 1)[0] == second.content.rsplit(":", 1)[0]
    assert store.get(APP, USER, sid, last=0).version == len(events)
    return events


@pytest.fixture
def schemas() -> Iterator[Schemas]:
    yield from fresh_schemas()


# -- round trips ----------------------------------------------------------
@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    parts = urlsplit(need_postgres())
    counting = CountingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield counting
    counting.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_one_round_trip_per_append_and_per_get(kind: str, proxy: CountingProxy,
                                               schemas: Schemas) -> None:
    parts = urlsplit(need_postgres())
    userinfo = parts.netloc.rpartition("@")[0]
    base = parts._replace(netloc=f"{userinfo}@127.0.0.1:{proxy.port}").geturl()
    store = open_either(schema_url(base, schemas.new(), pool_min=1, pool_max=1), kind)
    try:
        sid = store.create(APP, USER, state={"turn": 0, "user:name": "Al"}).id
        store.append(APP, USER, sid, append_events("warm", 0))
        store.get(APP, USER, sid, last=20)
        counts = []
        for i in range(1, 6):
            proxy.reset()
            store.append(APP, USER, sid, append_events("w", i),
                         {"turn": i, "cart": None, "user:seen": i, "user:gone": None,
                          "app:hits": i}, expected_version=2 * i, idempotency_key=f"k{i}")
            counts.append(proxy.round_trips)
            proxy.reset()
            got = store.get(APP, USER, sid, last=20)
            counts.append(proxy.round_trips)
            assert got.version == 2 * i + 2
            assert got.state == {"turn": i, "user:name": "Al", "user:seen": i, "app:hits": i}
        assert counts == [1] * 10
        for refused in (
            lambda: store.append(APP, USER, sid, append_events("x", 0), expected_version=1),
            lambda: store.append(APP, USER, sid, append_events("y", 0), idempotency_key="k1"),
            lambda: store.append(APP, USER, "missing", append_events("z", 0)),
        ):
            proxy.reset()
            with pytest.raises((ConflictError, sessiondb.NotFoundError)):
                refused()
            assert proxy.round_trips == 1
        proxy.reset()
        assert store.append(APP, USER, sid, append_events("w", 1),
                            {"turn": 1, "cart": None, "user:seen": 1, "user:gone": None,
                             "app:hits": 1}, expected_version=2, idempotency_key="k1") == 4
        assert proxy.round_trips == 1  # a true retry: the first version, nothing stored
        assert store.get(APP, USER, sid, last=0).version == 12
    finally:
        store.close()


# -- concurrency ----------------------------------------------------------
def test_many_threads_lose_nothing(schemas: Schemas) -> None:
    with sessiondb.open_store(schemas.url(pool_max=4)) as store:
        sid = store.create(APP, USER).id

        def writer(n: int) -> None:
            for i in range(25):
                store.append(APP, USER, sid, append_events(f"t{n}", i), {"last": n})

        run_threads(12, writer)
        events = assert_whole_pairs(store, sid)
        assert len(events) == 12 * 25 * 2
        assert Counter(e.content.split(":")[0] for e in events) == {
            f"t{n}": 50 for n in range(12)}


def test_many_tasks_lose_nothing_and_one_wins(schemas: Schemas) -> None:
    url = schemas.url(pool_max=5)

    async def main() -> None:
        async with sessiondb.open_async_store(url) as store:
            sid = (await store.create(APP, USER)).id

            async def writer(n: int) -> None:
                for i in range(20):
                    await store.append(APP, USER, sid, append_events(f"a{n}", i))

            await asyncio.gather(*(writer(n) for n in range(10)))
            assert (await store.get(APP, USER, sid, last=0)).version == 400
            for round_ in range(5):
                version = 400 + round_
                outcomes = await asyncio.gather(*(
                    store.append(APP, USER, sid, [{"role": "user", "content": f"c{n}"}],
                                 expected_version=version) for n in range(8)
                ), return_exceptions=True)
                assert sorted(map(str, outcomes)).count(str(version + 1)) == 1
                conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
                assert len(conflicts) == 7
                assert all((c.expected, c.actual) == (version, version + 1) for c in conflicts)

    asyncio.run(main())


def test_processes_lose_nothing(schemas: Schemas, tmp_path: Path) -> None:
    url = schemas.url(pool_max=2)
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER).id
    results = run_together(tmp_path, [["plain", url, sid, f"p{n}", "60"] for n in range(4)])
    with sessiondb.open_store(url) as store:
        events = assert_whole_pairs(store, sid)
    assert len(events) == 4 * 60 * 2
    versions = [v for r in results for v in r["versions"]]
    assert sorted(versions) == list(range(2, 4 * 60 * 2 + 1, 2))


def test_processes_with_expected_versions_win_each_version_once(
        schemas: Schemas, tmp_path: Path) -> None:
    url = schemas.url(pool_max=2)
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER).id
    results = run_together(tmp_path, [["cas", url, sid, f"c{n}", "15"] for n in range(3)])
    won = sorted(v for r in results for _, v in r["won"])
    assert won == list(range(2, 3 * 15 * 2 + 1, 2))  # every version won exactly once
    for r in results:
        for _, passed, expected, actual in r["lost"]:
            assert expected == passed and actual > passed
    with sessiondb.open_store(url) as store:
        assert len(assert_whole_pairs(store, sid)) == 90


# -- migrations -----------------------------------------------------------
def test_processes_migrating_a_fresh_schema_at_once(schemas: Schemas,
                                                    tmp_path: Path) -> None:
    url = schemas.url()
    results = run_together(tmp_path, [["open", url, f"m{n}"] for n in range(4)])
    assert [r["version"] for r in results] == [2] * 4
    with psycopg.connect(need_postgres(), autocommit=True) as conn:
        schema = f'"{schemas.made[-1]}"'
        rows = conn.execute(f"SELECT version FROM {schema}.schema_version").fetchall()
        assert rows == [(SCHEMA_VERSION,)]
    with sessiondb.open_store(url) as store:
        assert {s.id for s in store.sessions(APP)} == {f"s-m{n}" for n in range(4)}


def test_migrations_are_forward_only_and_applied_once(schemas: Schemas) -> None:
    url = schemas.url()
    schema = schemas.made[-1]
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER, state={"k": 1}).id
    with psycopg.connect(need_postgres(), autocommit=True) as conn:
        assert migrate(conn, schema) == 0  # up to date: nothing to do
        later = (*MIGRATIONS, "CREATE TABLE {s}.later (x integer);")
        assert migrate(conn, schema, later) == 1
        assert schema_version(conn, f'"{schema}"') == SCHEMA_VERSION + 1
    with pytest.raises(ConfigurationError, match="newer than this SessionDB"):
        sessiondb.open_store(url)
    with psycopg.connect(need_postgres(), autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".schema_version SET version = %s', (SCHEMA_VERSION,))
    with sessiondb.open_store(url) as store:
        assert store.get(APP, USER, sid).state == {"k": 1}


# -- URLs -----------------------------------------------------------------
def test_url_options_are_ours_or_libpq() -> None:
    options = PostgresOptions.from_url(
        "postgres://u:pw@db.example:6543/main?sslmode=require&schema=tenant_1&pool_min=2"
        "&pool_max=7&pool_timeout=2.5&application_name=my%20app&connect_timeout=3")
    assert (options.schema, options.pool_min, options.pool_max, options.pool_timeout) == (
        "tenant_1", 2, 7, 2.5)
    assert options.conninfo == ("postgres://u:pw@db.example:6543/main?sslmode=require"
                                "&application_name=my%20app&connect_timeout=3")
    assert options.masked.startswith("postgres://u:***@db.example:6543/main?")
    defaults = PostgresOptions.from_url("postgresql://h/db")
    assert (defaults.schema, defaults.pool_min, defaults.pool_max) == ("sessiondb", 1, 10)
    assert "connect_timeout=10" in defaults.conninfo


@pytest.mark.parametrize("query, words", [
    ("scheme=x", "unknown PostgreSQL URL option 'scheme'"),
    ("schema=1bad", "schema must be"),
    ("schema=a-b", "schema must be"),
    ("pool_min=-1", "pool_min must be"),
    ("pool_max=0", "pool_max must be"),
    ("pool_min=5&pool_max=2", "pool_max \\(2\\) is below pool_min"),
    ("pool_timeout=soon", "pool_timeout must be"),
])
def test_bad_url_options(query: str, words: str) -> None:
    for opener in (sessiondb.open_store, sessiondb.open_async_store):
        with pytest.raises(ConfigurationError, match=words) as caught:
            opener(f"postgresql://u:hunter2@127.0.0.1/db?{query}&password=hunter2")
        assert "hunter2" not in str(caught.value)


def test_libpq_options_reach_the_server(schemas: Schemas) -> None:
    name = f"sdb_{schemas.new()}"
    url = schema_url(need_postgres(), schemas.made[-1], application_name=name)
    with sessiondb.open_store(url) as store:
        store.create(APP, USER)
        with psycopg.connect(need_postgres(), autocommit=True) as conn:
            seen = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = %s", (name,)).fetchone()
    assert seen is not None and seen[0] >= 1


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_unreachable_server_masks_the_password(kind: str) -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/test?schema=x&pool_timeout=1"
    with pytest.raises(BackendUnavailableError) as caught:
        store = open_either(url, kind)
        try:
            store.get(APP, USER, "s")
        finally:
            store.close()
    message = str(caught.value)
    assert "hunter2" not in message and "postgres:***@127.0.0.1" in message
    assert "refused" in message.lower()
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


# -- a server that goes away ----------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[ThrowawayServer]:
    throwaway = ThrowawayServer()
    throwaway.start()
    yield throwaway
    throwaway.remove()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_server_stops_and_returns(kind: str, server: ThrowawayServer) -> None:
    url = f"{server.url(password='hunter2')}?schema=s_{kind}&pool_max=3&pool_timeout=4"
    store = open_either(url, kind)
    try:
        sid = store.create(APP, USER).id
        for i in range(3):
            store.append(APP, USER, sid, append_events("before", i), {"turn": i})
        server.stop("fast")
        for attempt in range(3):
            with pytest.raises(BackendUnavailableError) as caught:
                store.append(APP, USER, sid, append_events("down", attempt), {"turn": -1})
            message = str(caught.value)
            assert "postgres:***@127.0.0.1" in message and "hunter2" not in message
            assert isinstance(caught.value.__cause__, psycopg.Error)
        server.start()
        got = store.get(APP, USER, sid)  # the pool reconnects by itself
        assert got.version == 6 and got.state == {"turn": 2}
        store.append(APP, USER, sid, append_events("after", 0), {"turn": 3})
        assert len(assert_whole_pairs(store, sid)) == 8
    finally:
        if not server_running(server):
            server.start()
        store.close()


def server_running(server: ThrowawayServer) -> bool:
    try:
        psycopg.connect(server.url(), connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def test_crash_mid_appends_leaves_nothing_partial(server: ThrowawayServer) -> None:
    url = f"{server.url()}?schema=s_crash&pool_max=4&pool_timeout=4"
    store: SessionStore = sessiondb.open_store(url)
    try:
        sid = store.create(APP, USER).id
        stop = threading.Event()
        outcomes: Counter[str] = Counter()

        def writer(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    store.append(APP, USER, sid, append_events(f"w{n}", i), {f"w{n}": i})
                    outcomes["ok"] += 1
                except BackendUnavailableError:
                    outcomes["unavailable"] += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while outcomes["ok"] < 30:
            assert time.monotonic() < deadline, f"the writers made no progress: {outcomes}"
            time.sleep(0.01)
        server.stop("immediate")  # a crash: in-flight transactions die
        time.sleep(0.3)
        server.start()
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        assert outcomes["unavailable"] > 0
        events = assert_whole_pairs(store, sid)
        assert len(events) >= 2 * outcomes["ok"]  # every acknowledged append is there
        state = store.get(APP, USER, sid).state
        for n in range(3):
            mine = [int(e.content.split(":")[1]) for e in events if e.content.startswith(f"w{n}:")]
            assert state.get(f"w{n}") == (mine[-1] if mine else None)
    finally:
        store.close()


def test_nul_characters(schemas: Schemas) -> None:
    """PostgreSQL text cannot hold NUL: content with one round-trips anyway;
    a key or metadata value with one is refused, and nothing is written."""
    with sessiondb.open_store(schemas.url().replace("postgresql://", "postgres://")) as store:
        sid = store.create(APP, USER).id
        store.append(APP, USER, sid, [{"role": "user", "content": "a\x00b"}])
        exported = list(store.export())
        assert store.get(APP, USER, sid).events[0].content == "a\x00b"
        for refused in (lambda: store.update_state(APP, USER, sid, {"k\x00": 1}),
                        lambda: store.create(APP, USER, metadata={"m": "\x00"})):
            with pytest.raises(sessiondb.InvalidInputError, match="NUL"):
                refused()
        assert store.get(APP, USER, sid).version == 1
    with sessiondb.open_store(schemas.url()) as target:
        assert target.import_records(exported) == 1
        assert list(target.export()) == exported
