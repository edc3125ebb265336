"""Concurrent writers on one SQLite session file: threads, processes, tasks.

Without ``expected_version`` no append may be lost and ``seq`` stays gap-free;
with it, every append either wins a distinct version or fails with a
``ConflictError`` that says the version had moved. No "database is locked"
may escape: any exception in a writer (``BackendUnavailableError`` included)
fails the test.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from helpers_child import APP, USER, all_events, append_events, run_together

import sessiondb
from sessiondb import ConflictError
from sessiondb.testing import run_threads

THREADS = 8
APPENDS = 50
PROCESSES = 4
PROCESS_APPENDS = 200
CAS_SUCCESSES = 40


def url_of(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def new_session(url: str) -> str:
    with sessiondb.open_store(url) as store:
        return store.create(APP, USER, "s1").id


def check_history(url: str, sid: str, appends: dict[str, list[tuple[int, int]]]) -> None:
    """The session holds exactly the events of ``appends`` (worker -> list of
    ``(counter, returned version)``), gap-free, each append's two events at
    ``version - 1`` and ``version``."""
    total = sum(len(v) for v in appends.values())
    with sessiondb.open_store(url) as store:
        session = store.get(APP, USER, sid, last=0)
        events = all_events(store, sid)
    assert session.version == 2 * total
    assert [e.seq for e in events] == list(range(1, 2 * total + 1))
    contents = [e.content for e in events]
    expected = [c["content"] for w, done in appends.items() for i, _ in done
                for c in append_events(w, i)]
    assert Counter(contents) == Counter(expected)
    assert len(set(contents)) == len(contents)
    by_seq = {e.seq: e.content for e in events}
    versions = [v for done in appends.values() for _, v in done]
    assert len(set(versions)) == len(versions), "two appends returned the same version"
    for worker, done in appends.items():
        for i, version in done:
            first, second = append_events(worker, i)
            assert by_seq[version - 1] == first["content"]
            assert by_seq[version] == second["content"]


# -- (a) threads, no expected_version --------------------------------------

@pytest.mark.parametrize("sharing", ["one shared store", "a store per thread"])
def test_threads_append_without_loss(tmp_path: Path, sharing: str) -> None:
    url = url_of(tmp_path)
    sid = new_session(url)
    shared = sessiondb.open_store(url) if sharing == "one shared store" else None

    def body(i: int) -> list[tuple[int, int]]:
        store = shared or sessiondb.open_store(url)
        try:
            return [(n, store.append(APP, USER, sid, append_events(f"t{i}", n)))
                    for n in range(APPENDS)]
        finally:
            if shared is None:
                store.close()

    try:
        results = run_threads(THREADS, body)
    finally:
        if shared is not None:
            shared.close()
    appends = {f"t{i}": r for i, r in enumerate(results)}
    check_history(url, sid, appends)  # type: ignore[arg-type]
    with sessiondb.open_store(url) as store:
        assert store.get(APP, USER, sid, last=0).version == THREADS * APPENDS * 2


# -- (b) processes, no expected_version ------------------------------------

def test_processes_append_without_loss(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sid = new_session(url)
    results = run_together(tmp_path, [
        ["plain", url, sid, f"p{i}", str(PROCESS_APPENDS)] for i in range(PROCESSES)
    ])
    appends = {f"p{i}": list(enumerate(r["versions"])) for i, r in enumerate(results)}
    check_history(url, sid, appends)
    with sessiondb.open_store(url) as store:
        assert store.get(APP, USER, sid, last=0).version == PROCESSES * PROCESS_APPENDS * 2


# -- (c) threads with expected_version -------------------------------------

def check_optimistic(url: str, sid: str, won: dict[str, list], lost: dict[str, list]) -> None:
    """``won``: worker -> [attempt, version]; ``lost``: worker ->
    [attempt, passed version, e.expected, e.actual]."""
    versions = sorted(v for done in won.values() for _, v in done)
    successes = len(versions)
    assert versions == list(range(2, 2 * successes + 1, 2)), "versions not distinct v+2 steps"
    for failures in lost.values():
        for _, passed, expected, actual in failures:
            assert expected == passed
            assert actual is not None and actual != expected
            assert actual > expected, "a conflict although the version had not moved"
            assert actual <= 2 * successes
    check_history(url, sid, {w: [(a, v) for a, v in done] for w, done in won.items()})
    with sessiondb.open_store(url) as store:
        assert store.get(APP, USER, sid, last=0).version == 2 * successes


@pytest.mark.parametrize("sharing", ["one shared store", "a store per thread"])
def test_threads_expected_version(tmp_path: Path, sharing: str) -> None:
    url = url_of(tmp_path)
    sid = new_session(url)
    shared = sessiondb.open_store(url) if sharing == "one shared store" else None

    def body(i: int) -> tuple[list, list]:
        store = shared or sessiondb.open_store(url)
        won: list[list] = []
        lost: list[list] = []
        attempt = 0
        try:
            while len(won) < CAS_SUCCESSES:
                assert attempt < 100_000, "no progress"
                v = store.get(APP, USER, sid, last=0).version
                try:
                    new = store.append(APP, USER, sid, append_events(f"t{i}", attempt),
                                       expected_version=v)
                except ConflictError as e:
                    assert e.actual != e.expected
                    lost.append([attempt, v, e.expected, e.actual])
                else:
                    assert new == v + 2
                    won.append([attempt, new])
                attempt += 1
        finally:
            if shared is None:
                store.close()
        return won, lost

    try:
        results = run_threads(THREADS, body)
    finally:
        if shared is not None:
            shared.close()
    won = {f"t{i}": r[0] for i, r in enumerate(results)}  # type: ignore[index]
    lost = {f"t{i}": r[1] for i, r in enumerate(results)}  # type: ignore[index]
    check_optimistic(url, sid, won, lost)
    assert sum(map(len, won.values())) == THREADS * CAS_SUCCESSES


# -- (d) processes with expected_version -----------------------------------

def test_processes_expected_version(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sid = new_session(url)
    results = run_together(tmp_path, [
        ["cas", url, sid, f"p{i}", str(CAS_SUCCESSES)] for i in range(PROCESSES)
    ])
    won = {f"p{i}": r["won"] for i, r in enumerate(results)}
    lost = {f"p{i}": r["lost"] for i, r in enumerate(results)}
    for done in won.values():
        for attempt, version in done:
            assert version % 2 == 0, (attempt, version)
    check_optimistic(url, sid, won, lost)
    assert sum(map(len, won.values())) == PROCESSES * CAS_SUCCESSES


# -- async tasks on one AsyncSessionStore ----------------------------------

TASKS = 8


def test_async_tasks_append_without_loss(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sid = new_session(url)

    async def main() -> list[list[tuple[int, int]]]:
        async with sessiondb.open_async_store(url) as store:
            async def task(i: int) -> list[tuple[int, int]]:
                done = []
                for n in range(APPENDS):
                    done.append((n, await store.append(APP, USER, sid,
                                                       append_events(f"a{i}", n))))
                return done

            return await asyncio.gather(*(task(i) for i in range(TASKS)))

    results = asyncio.run(main())
    check_history(url, sid, {f"a{i}": r for i, r in enumerate(results)})


def test_async_tasks_expected_version(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sid = new_session(url)

    async def main() -> list[tuple[list, list]]:
        async with sessiondb.open_async_store(url) as store:
            async def task(i: int) -> tuple[list, list]:
                won: list[list] = []
                lost: list[list] = []
                attempt = 0
                while len(won) < CAS_SUCCESSES:
                    assert attempt < 100_000, "no progress"
                    v = (await store.get(APP, USER, sid, last=0)).version
                    try:
                        new = await store.append(APP, USER, sid,
                                                 append_events(f"a{i}", attempt),
                                                 expected_version=v)
                    except ConflictError as e:
                        lost.append([attempt, v, e.expected, e.actual])
                    else:
                        won.append([attempt, new])
                    attempt += 1
                return won, lost

            return await asyncio.gather(*(task(i) for i in range(TASKS)))

    results = asyncio.run(main())
    won = {f"a{i}": r[0] for i, r in enumerate(results)}
    lost = {f"a{i}": r[1] for i, r in enumerate(results)}
    check_optimistic(url, sid, won, lost)
    assert sum(map(len, won.values())) == TASKS * CAS_SUCCESSES


def test_two_writers_same_expected_version_exactly_one_conflict(tmp_path: Path) -> None:
    """The contract in its smallest form, on two separate connections."""
    url = url_of(tmp_path)
    sid = new_session(url)
    stores = [sessiondb.open_store(url) for _ in range(2)]
    try:
        outcomes: list[object] = []
        for store in stores:
            try:
                outcomes.append(store.append(APP, USER, sid, [{"role": "user"}],
                                             expected_version=0))
            except ConflictError as e:
                outcomes.append(e)
    finally:
        for store in stores:
            store.close()
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ConflictError)
    assert (outcomes[1].expected, outcomes[1].actual) == (0, 1)


@pytest.mark.parametrize("sharing", ["one shared store", "a store per thread"])
def test_concurrent_retries_with_one_idempotency_key_store_once(
    tmp_path: Path, sharing: str
) -> None:
    """Every thread sends the same append with the same idempotency key (a
    retry storm): all get the same version, and it is stored once."""
    url = url_of(tmp_path)
    sid = new_session(url)
    shared = sessiondb.open_store(url) if sharing == "one shared store" else None
    request = [{"role": "user", "content": "pay once", "id": "evt-1"}]

    def body(i: int) -> list[int]:
        store = shared or sessiondb.open_store(url)
        try:
            versions = []
            for n in range(5):
                versions.append(store.append(APP, USER, sid, request, idempotency_key="pay-1"))
                # Other writes in between must not disturb the key's answer.
                store.append(APP, USER, sid, append_events(f"t{i}", n))
            return versions
        finally:
            if shared is None:
                store.close()

    try:
        results = run_threads(THREADS, body)
    finally:
        if shared is not None:
            shared.close()
    versions = {v for r in results for v in r}  # type: ignore[attr-defined]
    assert len(versions) == 1
    (version,) = versions
    with sessiondb.open_store(url) as store:
        events = all_events(store, sid)
    paid = [e for e in events if e.content == "pay once"]
    assert len(paid) == 1 and paid[0].seq == version
    assert len(events) == 1 + THREADS * 5 * 2
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
