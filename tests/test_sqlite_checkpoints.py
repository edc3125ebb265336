"""WAL checkpoints on SQLite (sessiondb.backends.sqlite.checkpoints): the log
starts over regularly whoever writes, and no store leaves a thread behind."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import sessiondb
from sessiondb.backends.sqlite.checkpoints import EVERY

BIG = [{"role": "user", "content": "x" * 2000}]


def _checkpoint_threads(path: Path) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"sessiondb-checkpoint:{path}"]


def _wal_sizes_sync(path: Path, appends: int, marks: tuple[int, ...]) -> list[int]:
    sizes = []
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        sid = store.create("a", "u").id
        for i in range(appends):
            store.append("a", "u", sid, BIG, {"i": i})
            if i + 1 in marks:
                sizes.append(os.path.getsize(f"{path}-wal"))
        assert store.get("a", "u", sid).version == appends
    return sizes


def test_sync_log_starts_over(tmp_path: Path) -> None:
    """Without checkpoints the log would hold every append: five times as
    much at the second mark as at the first."""
    early, late = _wal_sizes_sync(tmp_path / "wal.db", 10 * EVERY, (2 * EVERY, 10 * EVERY))
    assert late < 2 * early, (early, late)


def test_async_log_starts_over(tmp_path: Path) -> None:
    """The same when every write runs inline on the event loop."""
    path = tmp_path / "wal.db"

    async def write_a_lot() -> list[int]:
        sizes = []
        async with sessiondb.open_async_store(f"sqlite:///{path}") as store:
            sid = (await store.create("a", "u")).id
            for i in range(10 * EVERY):
                await store.append("a", "u", sid, BIG, {"i": i})
                if i + 1 in (2 * EVERY, 10 * EVERY):
                    sizes.append(os.path.getsize(f"{path}-wal"))
        return sizes

    early, late = asyncio.run(write_a_lot())
    assert late < 2 * early, (early, late)


def test_the_thread_starts_at_the_first_checkpoint_and_ends_with_the_store(
        tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = sessiondb.open_store(f"sqlite:///{path}")
    sid = store.create("a", "u").id
    assert _checkpoint_threads(path) == []  # a short-lived store never starts one
    for _ in range(EVERY):
        store.append("a", "u", sid, BIG)
    assert len(_checkpoint_threads(path)) == 1
    store.close()
    assert _checkpoint_threads(path) == []
    assert not os.path.exists(f"{path}-wal")  # the last connection closed checkpointed it

    async def async_store() -> None:
        async with sessiondb.open_async_store(f"sqlite:///{path}") as store:
            for _ in range(EVERY):
                await store.append("a", "u", sid, BIG)
            assert len(_checkpoint_threads(path)) == 1  # one for both connections

    asyncio.run(async_store())
    assert _checkpoint_threads(path) == []
    with sessiondb.open_store("sqlite:///:memory:"):
        assert _checkpoint_threads(Path(":memory:")) == []


def test_a_failing_checkpoint_loses_nothing(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """The thread's connection is broken on purpose: the failure is logged,
    the thread and the store go on, and every append is there."""
    path = tmp_path / "s.db"
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        sid = store.create("a", "u").id
        for i in range(EVERY):
            store.append("a", "u", sid, BIG, {"i": i})
        checkpointer: Any = store._backend.checkpointer
        # Closed only once the thread is done with its first checkpoint and
        # waits: closing a connection another thread is using is undefined.
        deadline = time.monotonic() + 30
        while not checkpointer._catch_up:
            assert time.monotonic() < deadline, "the first checkpoint never ran"
            time.sleep(0.01)
        checkpointer._conn.close()
        with caplog.at_level(logging.WARNING, logger="sessiondb.sqlite"):
            for i in range(EVERY, 3 * EVERY):
                store.append("a", "u", sid, BIG, {"i": i})
            store.close()
        assert "WAL checkpoint failed" in caplog.text
    with sessiondb.open_store(f"sqlite:///{path}") as store:
        session = store.get("a", "u", sid, last=1)
        assert session.version == 3 * EVERY and session.state["i"] == 3 * EVERY - 1


def test_a_forked_child_checkpoints_inline(tmp_path: Path) -> None:
    """Threads do not survive fork(): a child writing through a store its
    parent opened checkpoints on its own writes instead, and closes."""
    path = tmp_path / "s.db"
    store = sessiondb.open_store(f"sqlite:///{path}")
    sid = store.create("a", "u").id
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            sizes = []
            for i in range(10 * EVERY):
                store.append("a", "u", sid, BIG, {"i": i})
                if i + 1 in (2 * EVERY, 10 * EVERY):
                    sizes.append(os.path.getsize(f"{path}-wal"))
            store.close()
            os.write(write, f"{sizes[0]} {sizes[1]}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    early, late = map(int, os.read(read, 100).split())
    os.close(read)
    assert late < 2 * early, (early, late)
    assert store.get("a", "u", sid).version == 10 * EVERY
    store.close()


def test_an_async_store_never_flushes_on_the_loop(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The catch-up an inline write is asked for runs on the worker thread."""
    from sessiondb.backends.sqlite.connection import Database

    threads: list[int] = []
    catch_up = Database.catch_up

    def recorded(self: Database) -> None:
        threads.append(threading.get_ident())
        catch_up(self)

    monkeypatch.setattr(Database, "catch_up", recorded)

    async def write_a_lot() -> int:
        async with sessiondb.open_async_store(f"sqlite:///{tmp_path}/s.db") as store:
            sid = (await store.create("a", "u")).id
            for i in range(10 * EVERY):
                await store.append("a", "u", sid, BIG, {"i": i})
            return (await store.get("a", "u", sid, last=1)).version

    assert asyncio.run(write_a_lot()) == 10 * EVERY
    assert threads and threading.get_ident() not in threads, threads


def test_an_async_store_moves_between_event_loops(tmp_path: Path) -> None:
    """An async store used from one event loop, then another, keeps writing
    and closes (each loop writes past a checkpoint and its catch-up)."""
    store = sessiondb.open_async_store(f"sqlite:///{tmp_path}/s.db")

    async def write(n: int, sid: str | None = None) -> str:
        if sid is None:
            sid = (await store.create("a", "u")).id
        for i in range(n):
            await store.append("a", "u", sid, BIG, {"i": i})
        return sid

    sid = asyncio.run(write(EVERY + 5))
    asyncio.run(write(EVERY, sid))

    async def finish() -> int:
        version = (await store.get("a", "u", sid, last=1)).version
        await store.close()
        return version

    assert asyncio.run(finish()) == 2 * EVERY + 5
