"""Redis-specific guarantees, on real servers: round trips per operation, no
KEYS/SCAN, concurrency, O(page) listings, failures and recovery, URLs.

Counting tests use a private ``redis-server`` of their own, so no other
client's commands mix into its statistics; the failure tests stop and
restart a throwaway server (never the shared one).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers_child import run_together
from redis_cluster import Server, free_port, standalone
from redis_counting import (
    APP,
    ROUND_TRIPS,
    USER,
    Sends,
    command_stats,
    delta,
    every_operation,
    open_store,
    turn,
)
from redis_helpers import (
    UrlFactory,
    cluster_urls,
    delete_prefix,
    raw_client,
    redis_cluster_servers,
    redis_urls,
)
from servers import need_redis_server_binary

import sessiondb
from sessiondb import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    FrozenClock,
)
from sessiondb.backends.redis.codec import order_key
from sessiondb.testing import run_threads

__all__ = ["cluster_urls", "redis_cluster_servers", "redis_urls"]  # fixtures, to be found

SCANS = ("keys", "scan", "hscan", "sscan", "zscan")


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A standalone redis-server for this module alone."""
    binary = need_redis_server_binary()
    with standalone(binary, Path(tmp_path_factory.mktemp("redis-private"))) as server:
        yield server


@pytest.fixture
def private_url(private: Server) -> Iterator[str]:
    prefix = "t" + secrets.token_hex(6)
    yield f"{private.url}?prefix={prefix}"
    delete_prefix(private.url, prefix)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_round_trips_on_one_server(private_url: str, private: Server, mode: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(private_url, mode)
    try:
        operations = every_operation(store, APP)
        for operation in operations.values():
            operation()  # warm up: connections made, scripts loaded
        sends = Sends(monkeypatch)
        for name, (expected, _) in ROUND_TRIPS.items():
            assert sends.of(operations[name]) == expected, name
        sid = store.create(APP, USER).id
        before = command_stats([private.port])
        for i in range(10):
            assert sends.of(lambda i=i: store.append(APP, USER, sid, turn(i), {"n": i})) == 1
            assert sends.of(lambda: store.get(APP, USER, sid, last=20)) == 1
        counted = delta(before, command_stats([private.port]))
        assert counted["evalsha"] == 10 and counted["exec"] == 10
        assert not {"eval", "script|load", "script"} & counted.keys()
    finally:
        store.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_round_trips_on_a_cluster(cluster_urls: UrlFactory, mode: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(cluster_urls(), mode)
    try:
        operations = every_operation(store, APP)
        for operation in operations.values():
            operation()
        sends = Sends(monkeypatch)
        for name, (_, expected) in ROUND_TRIPS.items():
            assert sends.of(operations[name]) == expected, name
    finally:
        store.close()


@pytest.mark.parametrize("where", ["one server", "cluster"])
def test_no_store_operation_scans(where: str, request: pytest.FixtureRequest) -> None:
    if where == "cluster":
        url = request.getfixturevalue("cluster_urls")()
        ports = [s.port for s in request.getfixturevalue("redis_cluster_servers")]
    else:
        url = request.getfixturevalue("private_url")
        ports = [request.getfixturevalue("private").port]
    store = sessiondb.open_store(url)
    try:
        before = command_stats(ports)
        for operation in every_operation(store, APP).values():
            operation()
        counted = delta(before, command_stats(ports))
        assert counted.get("evalsha", 0) > 0
        assert not set(SCANS) & counted.keys(), counted
    finally:
        store.close()


# -- concurrency ---------------------------------------------------------------
def check_log(store: Any, sid: str, expected: list[str]) -> None:
    """The session holds exactly ``expected`` contents (in any order),
    gap-free, each append's question right before its answer."""
    events, cursor = [], None
    while True:
        page = store.events(APP, USER, sid, limit=500, cursor=cursor)
        events += page.items
        if (cursor := page.next_cursor) is None:
            break
    assert [e.seq for e in events] == list(range(1, len(expected) + 1))
    assert sorted(e.content for e in events) == sorted(expected)
    for question, answer in zip(events[::2], events[1::2], strict=True):
        assert question.content[0] == "q" and answer.content == "a" + question.content[1:]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_threads_lose_nothing_and_one_writer_wins(private_url: str, mode: str) -> None:
    store = open_store(private_url, mode)
    try:
        sid = store.create(APP, USER).id
        threads, appends = 8, 30

        def writer(n: int) -> None:
            for i in range(appends):
                store.append(APP, USER, sid, turn(n * 1000 + i))

        run_threads(threads, writer)
        check_log(store, sid, [f"{p}{n * 1000 + i}" for n in range(threads)
                               for i in range(appends) for p in "qa"])
        for _ in range(10):  # rounds: 6 writers expect the same version
            version = store.get(APP, USER, sid, last=0).version

            def racer(n: int, version: int = version) -> Any:
                try:
                    return store.append(APP, USER, sid, turn(n), expected_version=version)
                except ConflictError as exc:
                    assert (exc.expected, exc.actual) == (version, version + 2)
                    return "conflict"

            outcomes = run_threads(6, racer)
            assert sorted(outcomes, key=str) == [version + 2] + ["conflict"] * 5
    finally:
        store.close()


def test_processes_lose_nothing(private_url: str, tmp_path: Path) -> None:
    with sessiondb.open_store(private_url) as store:
        sid = store.create(APP, USER, "s1").id
    workers, appends = 4, 100
    results = run_together(tmp_path, [["plain", private_url, sid, f"p{i}", str(appends)]
                                      for i in range(workers)])
    versions = sorted(v for r in results for v in r["versions"])
    assert versions == list(range(2, 2 * workers * appends + 1, 2))
    with sessiondb.open_store(private_url) as store:
        events = store.events(APP, USER, sid, limit=1000).items
        assert [e.seq for e in events] == list(range(1, 2 * workers * appends + 1))
        contents = [e.content for e in events]
        assert sorted(contents) == sorted(f"p{w}:{i}:{j}" for w in range(workers)
                                          for i in range(appends) for j in (0, 1))


def test_processes_with_expected_version(private_url: str, tmp_path: Path) -> None:
    with sessiondb.open_store(private_url) as store:
        sid = store.create(APP, USER, "s1").id
    results = run_together(tmp_path, [["cas", private_url, sid, f"c{i}", "15"]
                                      for i in range(3)])
    won = sorted(v for r in results for _, v in r["won"])
    assert won == list(range(2, 2 * len(won) + 1, 2)) and len(won) == 45
    for r in results:
        for _, passed, expected, actual in r["lost"]:
            assert expected == passed and actual > expected


# -- bounded work ---------------------------------------------------------------
def test_listing_costs_a_page_not_the_history(private_url: str, private: Server) -> None:
    store = sessiondb.open_store(private_url, clock=FrozenClock())
    try:
        for _ in range(300):
            store.create(APP, "alice", state={"k": 1})
        store.create(APP, "bob")
        for query in ({"user_id": "alice"}, {}):
            cursor = None
            for _ in range(3):  # the first page and two deeper ones
                before = command_stats([private.port])
                page = store.sessions(APP, limit=10, cursor=cursor, **query)
                work = delta(before, command_stats([private.port]))
                assert len(page.items) == 10
                assert work.get("hmget", 0) <= 11 and work.get("hgetall", 0) <= 14, work
                assert work["zrangebylex"] == 1
                cursor = page.next_cursor
    finally:
        store.close()


def test_pages_of_equal_creation_times_follow_the_cursor_order(redis_urls: UrlFactory) -> None:
    """Listing order is (created_at, user_id, session_id), ties included,
    exactly as the memory backend orders it."""
    clock = FrozenClock(0.0)
    stores = [sessiondb.open_store(redis_urls(), clock=clock),
              sessiondb.open_store("memory://", clock=clock)]
    users = ["al", "al-b", "al.c", "b", "al+", "A"]
    try:
        for step in range(3):
            for user in users:
                for store in stores:
                    store.create(APP, user, session_id=f"s{step}{user}")
                    store.create(APP, user, session_id=f"s{step}")
            clock.advance(-1.5 if step == 0 else 1e-6)
        for user in (None, "al"):
            seen: list[list[tuple[str, str]]] = [[], []]
            for i, store in enumerate(stores):
                cursor = None
                while True:
                    page = store.sessions(APP, user, limit=4, cursor=cursor)
                    seen[i] += [(s.user_id, s.id) for s in page.items]
                    if (cursor := page.next_cursor) is None:
                        break
            assert seen[0] == seen[1] and len(seen[0]) == (36 if user is None else 6)
    finally:
        for store in stores:
            store.close()


def test_purge_walks_the_expiry_index(redis_urls: UrlFactory) -> None:
    """Purges across apps and users, in batches, leaving live sessions and
    the indexes clean; sessions whose keys Redis already dropped are
    cleaned from the indexes too."""
    clock = FrozenClock()
    url = redis_urls()
    store = sessiondb.open_store(url, clock=clock)
    try:
        live = []
        for app in ("a1", "a2"):
            for user in (f"u{i}" for i in range(4)):
                for _ in range(2):
                    store.create(app, user, idle_ttl=10, state={"user:x": 1, "k": 0})
                live.append((app, user, store.create(app, user, idle_ttl=1000).id))
                live.append((app, user, store.create(app, user).id))
        dropped = store.create("a1", "u0", idle_ttl=5, state={"k": 1}).id
        prefix = url.rsplit("=", 1)[1]
        dropped_keys = [f"{prefix}:{{a1/u0}}:{part}:{dropped}" for part in "hesk"]
        raw = raw_client(url)
        try:
            assert raw.delete(*dropped_keys) == 2  # as Redis's own expiry would (h, s)
        finally:
            raw.close()
        clock.advance(11)
        counts = []
        while done := store.purge_expired(limit=3):
            counts.append(done)
        assert sum(counts) == 16 and max(counts) == 3
        for app, user, sid in live:
            assert store.get(app, user, sid).state == {"user:x": 1}
        for app in ("a1", "a2"):
            listed = {(s.user_id, s.id) for s in store.sessions(app, limit=100)}
            assert listed == {(u, sid) for a, u, sid in live if a == app}
        assert store.delete("a1", "u0", dropped) is False
        clock.advance(1000)
        assert store.purge_expired() == 8
        assert len(store.sessions("a1", limit=100).items) == 4
    finally:
        store.close()


def test_order_keys_sort_as_their_times() -> None:
    times = [-1e300, -5.5, -1.0, -1e-300, 0.0, 1e-300, 1.0, 1.5, 1_700_000_000.25, 1e300]
    assert sorted(times, key=order_key) == times
    assert all(len(order_key(t)) == 16 for t in times)


def test_native_expiry_only_collects_garbage(private_url: str, private: Server) -> None:
    clock = FrozenClock(1_000_000.0)  # far from the server's clock: only our clock counts
    client = redis.Redis(port=private.port)
    prefix = private_url.rsplit("=", 1)[1]
    try:
        for grace, url in ((3600, private_url), (0, private_url + "&gc_grace=0")):
            with sessiondb.open_store(url, clock=clock) as store:
                sid = store.create(APP, USER, state={"k": 1}, idle_ttl=60).id
                head = f"{prefix}:{{{APP}/{USER}}}:h:{sid}"
                assert abs(client.pttl(head) - (60 + grace) * 1000) < 2000
                clock.advance(50)
                store.append(APP, USER, sid, turn(0))
                for part in "hes":
                    assert abs(client.pttl(head[:-len(sid) - 2] + f"{part}:{sid}")
                               - (60 + grace) * 1000) < 2000
                forever = store.create(APP, USER).id
                assert client.pttl(head.replace(sid, forever)) == -1
    finally:
        client.close()


# -- failures ------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_server_down_and_back(tmp_path: Path, mode: str) -> None:
    binary = need_redis_server_binary()
    server = Server(binary, tmp_path, None, "--requirepass", "sekret")
    url = (f"redis://:sekret@127.0.0.1:{server.port}/0"
           "?prefix=t&socket_timeout=2&socket_connect_timeout=2")
    store = open_store(url, mode)  # opening does no I/O
    try:
        with pytest.raises(BackendUnavailableError) as caught:
            store.create(APP, USER)
        assert_masked(caught.value)
        server.start()
        sid = store.create(APP, USER).id
        assert store.append(APP, USER, sid, turn(0)) == 2
        server.stop()
        for operation in (lambda: store.append(APP, USER, sid, turn(1)),
                          lambda: store.get(APP, USER, sid)):
            with pytest.raises(BackendUnavailableError) as caught:
                operation()
            assert_masked(caught.value)
        server.start()  # no persistence: it comes back empty
        sid = store.create(APP, USER).id
        assert store.append(APP, USER, sid, turn(0)) == 2
        assert store.get(APP, USER, sid).version == 2
    finally:
        store.close()
        server.stop()


def assert_masked(error: BaseException) -> None:
    assert "sekret" not in str(error) and ":***@127.0.0.1" in str(error)
    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)


def test_an_unreachable_cluster() -> None:
    url = f"redis+cluster://:sekret@127.0.0.1:{free_port()}?socket_connect_timeout=1"
    for mode in ("sync", "async"):
        store = open_store(url, mode)  # opening does no I/O
        try:
            for _ in range(2):
                with pytest.raises(BackendUnavailableError) as caught:
                    store.create(APP, USER)
                assert "sekret" not in str(caught.value) and ":***@" in str(caught.value)
        finally:
            store.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_other_driver_errors_are_backend_errors(private_url: str, private: Server,
                                                mode: str) -> None:
    store = open_store(private_url, mode)
    prefix = private_url.rsplit("=", 1)[1]
    client = redis.Redis(port=private.port)
    try:
        sid = store.create(APP, USER).id
        client.delete(f"{prefix}:{{{APP}/{USER}}}:e:{sid}")
        client.set(f"{prefix}:{{{APP}/{USER}}}:e:{sid}", "not a list")
        for operation in (lambda: store.append(APP, USER, sid, turn(0)),
                          lambda: store.get(APP, USER, sid)):
            with pytest.raises(BackendError) as caught:
                operation()
            assert not isinstance(caught.value, BackendUnavailableError)
            assert isinstance(caught.value.__cause__, redis.exceptions.ResponseError)
    finally:
        client.close()
        store.close()


# -- URLs ------------------------------------------------------------------------
@pytest.mark.parametrize(("query", "named"), [
    ("bogus=1", "bogus"), ("prefix=bad%20prefix", "prefix"), ("prefix=a%7Bb%7D", "prefix"),
    ("gc_grace=-1", "gc_grace"), ("gc_grace=soon", "gc_grace"),
    ("decode_responses=no", "decode_responses"), ("socket_timeout=abc", "socket_timeout"),
])
def test_bad_urls(query: str, named: str) -> None:
    for url in (f"redis://:sekret@127.0.0.1:1/0?{query}",
                f"redis+cluster://:sekret@127.0.0.1:1,127.0.0.1:2/?{query}"):
        with pytest.raises(ConfigurationError) as caught:
            sessiondb.open_store(url)
        assert named in str(caught.value) and "sekret" not in str(caught.value)
    with pytest.raises(ConfigurationError):
        sessiondb.open_store("redis+cluster://127.0.0.1:1,nonsense")


def test_driver_options_pass_through(private: Server) -> None:
    url = (f"{private.url}?prefix=t{secrets.token_hex(6)}&socket_timeout=3"
           "&socket_connect_timeout=3&client_name=sessiondb-test&health_check_interval=30"
           "&max_connections=4&protocol=2")
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER, state={"k": [1]}).id
        assert store.append(APP, USER, sid, turn(0)) == 2
        assert store.get(APP, USER, sid).state == {"k": [1]}
        names = [c["name"] for c in redis.Redis(port=private.port).client_list()]
        assert "sessiondb-test" in names
    delete_prefix(private.url, url.split("prefix=")[1].split("&")[0])


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "redis" or m.startswith(
            ("redis.", "sessiondb.backends.redis"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis -> ImportError
    with pytest.raises(ConfigurationError) as caught:
        sessiondb.open_store("redis://127.0.0.1:1/0")
    assert "pip install 'sessiondb[redis]'" in str(caught.value)
