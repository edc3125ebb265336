"""Counting what Redis stores do: requests written per operation (round
trips) and commands the server ran, for tests/test_redis.py."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio.connection

import sessiondb
from sessiondb.testing import BlockingStore

APP, USER = "app", "user"


def turn(i: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]


def open_store(url: str, mode: str, clock: Any = None) -> Any:
    if mode == "sync":
        return sessiondb.open_store(url, clock=clock)
    return BlockingStore(sessiondb.open_async_store(url, clock=clock))


def command_stats(ports: list[int]) -> dict[str, int]:
    """Calls per command, summed over servers (commands run by scripts included)."""
    total: dict[str, int] = {}
    for port in ports:
        client = redis.Redis(port=port)
        try:
            for name, stats in client.info("commandstats").items():
                command = name.removeprefix("cmdstat_")
                total[command] = total.get(command, 0) + int(stats["calls"])
        finally:
            client.close()
    return total


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


class Sends:
    """Counts requests written to any Redis connection: one per round trip
    (a pipeline or MULTI is one write)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        sync_send = redis.connection.AbstractConnection.send_packed_command
        async_send = redis.asyncio.connection.AbstractConnection.send_packed_command

        def counted(conn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return sync_send(conn, *args, **kwargs)

        async def counted_async(conn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await async_send(conn, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        monkeypatch.setattr(redis.asyncio.connection.AbstractConnection,
                            "send_packed_command", counted_async)

    def of(self, operation: Callable[[], object]) -> int:
        self.count = 0
        operation()
        return self.count


def every_operation(store: Any, app: str) -> dict[str, Callable[[], object]]:
    """One call of each store operation, on a session made for it."""
    sid = store.create(app, USER, state={"user:u": 1, "app:a": 1}, idle_ttl=600).id
    store.append(app, USER, sid, turn(0), {"k": 0})
    spare = [store.create(app, USER, idle_ttl=600).id for _ in range(3)]
    exported = list(store.export(app))
    return {
        "create": lambda: store.create(app, USER, idle_ttl=600),
        "append": lambda: store.append(app, USER, sid, turn(1), {"k": 1}),
        "append with app: state": lambda: store.append(app, USER, sid, turn(2), {"app:a": 2}),
        "append, idempotent": lambda: store.append(app, USER, sid, turn(3),
                                                   idempotency_key=secrets.token_hex(4)),
        "append, expected_version": lambda: store.append(
            app, USER, sid, turn(4), expected_version=store.get(app, USER, sid).version),
        "update_state": lambda: store.update_state(app, USER, sid, {"k": 5}),
        "get": lambda: store.get(app, USER, sid, last=20),
        "get after_seq": lambda: store.get(app, USER, sid, after_seq=1, last=2),
        "get before_seq": lambda: store.get(app, USER, sid, before_seq=3),
        "events": lambda: store.events(app, USER, sid, limit=5),
        "touch": lambda: store.touch(app, USER, sid),
        "sessions of a user": lambda: store.sessions(app, USER, limit=5),
        "sessions of an app": lambda: store.sessions(app, limit=5),
        "fork": lambda: store.fork(app, USER, sid, at_seq=2),
        "delete": lambda: store.delete(app, USER, spare.pop()),
        "purge_expired": lambda: store.purge_expired(),
        "delete_user": lambda: store.delete_user(app, "nobody"),
        "export": lambda: list(store.export(app)),
        "import": lambda: store.import_records(
            [{**r, "app": app + "x"} for r in exported]),
    }


#: Round trips per operation on one Redis server, and on a cluster.
ROUND_TRIPS = {
    "create": (1, 3), "append": (1, 1), "append with app: state": (1, 2),
    "append, idempotent": (1, 1), "append, expected_version": (2, 3),  # get + append
    "update_state": (1, 1), "get": (1, 2), "get after_seq": (1, 2), "get before_seq": (1, 2),
    "events": (1, 1), "touch": (1, 1), "sessions of a user": (1, 2),
    "sessions of an app": (1, 3), "fork": (2, 4), "delete": (1, 2),
    "purge_expired": (1, 1), "delete_user": (1, 4),
}
