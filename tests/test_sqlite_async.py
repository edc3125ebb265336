"""The async SQLite store (sessiondb.backends.sqlite.aio): everyday calls run
inline on the event loop and never wait on SQLite's lock; a write that finds
the database locked runs again on the worker thread, which waits for it,
while the loop goes on with other work."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

import sessiondb
from sessiondb.crypto.keyring import KeyRing, new_key

RING = KeyRing.from_string(f"k1:{new_key()}")


def _locked(path: Path, seconds: float) -> threading.Event:
    """Another connection holds SQLite's write lock for ``seconds``; the
    returned event is set once it holds it."""
    held = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        threading.Event().wait(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(5)
    return held


@pytest.mark.parametrize("keys", [None, RING], ids=["plain", "encrypted"])
def test_a_locked_write_waits_on_the_worker_not_on_the_loop(tmp_path: Path,
                                                            keys: KeyRing | None) -> None:
    path = tmp_path / "a.db"

    async def scenario() -> tuple[float, float, int]:
        store = sessiondb.open_async_store(f"sqlite:///{path}", keys=keys)
        sid = (await store.create("a", "u")).id
        await store.append("a", "u", sid, [{"role": "user", "content": "before"}])
        _locked(path, 0.8)
        ticks: list[int] = []

        async def tick() -> None:  # runs only while the loop is free
            for i in range(20):
                ticks.append(i)
                await asyncio.sleep(0.005)

        ticker = asyncio.ensure_future(tick())
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Reads go on inline while the lock is held (WAL readers never wait).
        during = await store.get("a", "u", sid)
        read_ms = (loop.time() - started) * 1000
        version = await store.append("a", "u", sid, [{"role": "user", "content": "after"}])
        write_ms = (loop.time() - started) * 1000 - read_ms
        ticked = len(ticks)
        await ticker
        again = await store.get("a", "u", sid)
        await store.close()
        assert version == 2
        assert [e.content for e in during.events] == ["before"]
        assert [e.content for e in again.events] == ["before", "after"]
        return read_ms, write_ms, ticked

    read_ms, write_ms, ticked = asyncio.run(scenario())
    assert read_ms < 400  # the read did not wait for the 800 ms lock
    assert write_ms > 400  # the write did, on the worker...
    assert ticked == 20  # ...while the loop went on (20 ticks of 5 ms)


def test_an_encrypting_async_store_reads_its_windows_as_rows(tmp_path: Path) -> None:
    """The encrypting layer takes SQLite's windows as rows, inline: the
    events it hands out equal a sync store's, window after window."""
    url = f"sqlite:///{tmp_path}/b.db"

    async def scenario() -> None:
        store = sessiondb.open_async_store(url, keys=RING)
        assert store._backend._get_rows is not None
        sid = (await store.create("a", "u", state={"n": 0})).id
        reader = sessiondb.open_store(url, keys=RING)
        for i in range(6):
            await store.append("a", "u", sid, [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": {"a": [i]}, "data": {"d": i}}],
                state_delta={"n": i})
            for last in (1, 3, 5):
                assert await store.get("a", "u", sid, last=last) == reader.get(
                    "a", "u", sid, last=last)
        reader.close()
        await store.close()

    asyncio.run(scenario())
