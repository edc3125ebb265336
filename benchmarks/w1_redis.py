"""W1 on Redis and Redis Cluster: the raw redis-py contenders and the
engines' plumbing.

Each contender run gets a fresh key prefix with a random name (sessiondb's
via its URL's ``?prefix=``); its keys are deleted after the run. Durability
is the server's configuration, which the report names (``save``,
``appendonly``). ``redis-cluster`` starts a throwaway 3-master cluster on
free loopback ports for the run (see ``_redis_cluster.py``) unless ``--url``
names one.

- ``raw`` / ``raw_async``: redis-py directly (``Redis`` / ``redis.asyncio``;
  ``RedisCluster`` on a cluster, except that ``raw_async`` sends its pipelines
  to the session's node over a plain client: see :class:`RawRedisAsync`),
  ``decode_responses=True``. Keys per session,
  under one hash tag ``P:{sid}`` (one cluster slot): the events as a list of
  JSON strings ``[id, role, content, created_at]`` (seq = index + 1), the
  state as a hash of JSON values, the version as a counter. Per append, one
  ``MULTI``/``EXEC`` pipeline: ``RPUSH`` of the 2 events + ``HSET`` of the
  delta's fields + ``INCRBY`` of the version. Per load, one ``MULTI``/``EXEC``
  pipeline: ``LRANGE -20 -1`` + ``HGETALL``, then ``json.loads`` of each event
  and state value (sessiondb decodes them too).
- ``sync`` / ``async``: ``sessiondb.open_store`` / ``open_async_store``.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from secrets import token_hex, token_urlsafe
from typing import Any, ClassVar
from urllib.parse import urlsplit

from _w1_run import WINDOW, AsyncStore, SyncStore, delta

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _fields(turn: int) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in delta(turn).items()}


def _decoded(events: list[str], state: dict[str, str]) -> tuple[dict, list]:
    return {k: json.loads(v) for k, v in state.items()}, [json.loads(e) for e in events]


def _check(state: dict, events: list, version: str, turns: int) -> None:
    assert state["turn"] == turns - 1 and len(events) == min(WINDOW, 2 * turns), state
    assert int(version) == 2 * turns, version


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The ``host:port`` nodes of a ``redis+cluster://`` URL."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    return [(h, int(p)) for h, _, p in (node.rpartition(":") for node in netloc.split(","))]


def client(url: str, asynchronous: bool = False) -> Any:
    """A redis-py client (decoded replies) for a ``redis://`` or a
    ``redis+cluster://`` URL; the URL's own query options are not used."""
    if url.startswith("redis+cluster://"):
        if asynchronous:
            from redis.asyncio.cluster import ClusterNode as AsyncNode
            from redis.asyncio.cluster import RedisCluster as AsyncCluster

            return AsyncCluster(startup_nodes=[AsyncNode(h, p) for h, p in cluster_nodes(url)],
                                decode_responses=True)
        from redis.cluster import ClusterNode, RedisCluster

        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster_nodes(url)],
                            decode_responses=True)
    if asynchronous:
        import redis.asyncio

        return redis.asyncio.Redis.from_url(url, decode_responses=True)
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


class RawRedis:
    """The same reads and writes done directly with redis-py."""

    def __init__(self, url: str, prefix: str) -> None:
        self.r = client(url)
        self.prefix = prefix

    def _keys(self, sid: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{sid}}}"
        return base + ":e", base + ":s", base + ":v"

    def create(self, user: str, sid: str) -> None:
        self.r.set(self._keys(sid)[2], 0)

    def load(self, user: str, sid: str) -> tuple[dict, list]:
        e, s, _ = self._keys(sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.lrange(e, -WINDOW, -1)
        pipe.hgetall(s)
        events, state = pipe.execute()
        return _decoded(events, state)

    def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        e, s, v = self._keys(sid)
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(e, json.dumps([token_urlsafe(16), "user", user_text, now]),
                   json.dumps([token_urlsafe(16), "assistant", reply, now]))
        pipe.hset(s, mapping=_fields(turn))
        pipe.incrby(v, 2)
        return int(pipe.execute()[2])

    def check(self, user: str, sid: str, turns: int) -> None:
        _check(*self.load(user, sid), self.r.get(self._keys(sid)[2]), turns)

    def close(self) -> None:
        self.r.close()


class RawRedisAsync(RawRedis):
    """:class:`RawRedis` with ``redis.asyncio``.

    On a cluster the pipelines go to the session's node over a plain
    ``redis.asyncio.Redis`` client (found once per session from the key's
    slot): redis-py 8.1's async ``ClusterPipeline(transaction=True)`` runs
    each queued command in a new thread with its own event loop
    (``TransactionStrategy.execute_command``), about 1 ms per pipeline here,
    which would measure redis-py rather than Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        self.r = client(url, asynchronous=True)
        self.prefix = prefix
        self.cluster = url.startswith("redis+cluster://")
        self.nodes: dict[str, Any] = {}  # node name -> plain client (cluster)
        self.by_session: dict[str, Any] = {}  # sid -> the client its pipelines use

    async def create(self, user: str, sid: str) -> None:  # type: ignore[override]
        key = self._keys(sid)[2]
        target = self.r
        if self.cluster:
            import redis.asyncio

            await self.r.initialize()
            node = self.r.get_node_from_key(key)
            target = self.nodes.get(node.name)
            if target is None:
                target = self.nodes[node.name] = redis.asyncio.Redis(
                    host=node.host, port=node.port, decode_responses=True)
        self.by_session[sid] = target
        await target.set(key, 0)

    async def load(self, user: str, sid: str) -> tuple[dict, list]:  # type: ignore[override]
        e, s, _ = self._keys(sid)
        pipe = self.by_session[sid].pipeline(transaction=True)
        pipe.lrange(e, -WINDOW, -1)
        pipe.hgetall(s)
        events, state = await pipe.execute()
        return _decoded(events, state)

    async def append(self, user: str, sid: str, user_text: str, reply: str,  # type: ignore[override]
                     turn: int) -> int:
        e, s, v = self._keys(sid)
        now = time.time()
        pipe = self.by_session[sid].pipeline(transaction=True)
        pipe.rpush(e, json.dumps([token_urlsafe(16), "user", user_text, now]),
                   json.dumps([token_urlsafe(16), "assistant", reply, now]))
        pipe.hset(s, mapping=_fields(turn))
        pipe.incrby(v, 2)
        return int((await pipe.execute())[2])

    async def check(self, user: str, sid: str, turns: int) -> None:  # type: ignore[override]
        version = await self.by_session[sid].get(self._keys(sid)[2])
        _check(*await self.load(user, sid), version, turns)

    async def close(self) -> None:  # type: ignore[override]
        for node in self.nodes.values():
            await node.aclose()
        await self.r.aclose()


class Engine:
    """One Redis server: a fresh key prefix per contender run; the memory of
    its keys (``MEMORY USAGE … SAMPLES 0``, summed)."""

    name = "redis"
    contenders = ("raw", "sync", "raw_async", "async")
    baselines: ClassVar[dict[str, str]] = {"raw": "raw", "sync": "raw",
                                           "raw_async": "raw_async", "async": "raw_async"}
    size_keys = ("store_bytes", "store_keys")

    def __init__(self, url: str | None, synchronous: str) -> None:
        self.url = url or self.default_url()
        self._stack = ExitStack()

    def default_url(self) -> str:
        return DEFAULT_URL

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def describe(self) -> dict[str, Any]:
        import redis

        with client(self.url) as r:
            node = r.get_primaries()[0] if hasattr(r, "get_primaries") else None
            kw = {"target_nodes": node} if node else {}
            version = r.info("server", **kw)["redis_version"]
            config = r.config_get("*", **kw)
        save, aof = config.get("save", "?"), config.get("appendonly", "?")
        durability = f"save={save!r}, appendonly={aof}"
        if aof == "yes":
            durability += f", appendfsync={config.get('appendfsync')}"
        return {"server": f"Redis {version}" + (" Cluster, 3 masters" if node else ""),
                "url": self.url, "save": save, "appendonly": aof, "durability": durability,
                "driver": f"redis-py {redis.__version__}"}

    def namespace(self, contender: str, rep: int, tmp: str) -> str:
        return f"w1_{contender}_{rep}_{token_hex(4)}"

    def _namespace_keys(self, r: Any, ns: str) -> list[str]:
        return list(r.scan_iter(match=f"{ns}:*", count=1000))

    def drop(self, ns: str) -> None:
        with client(self.url) as r:
            for key in self._namespace_keys(r, ns):
                r.unlink(key)

    def store_url(self, ns: str) -> str:
        url = self.url + ("/" if self.url.startswith("redis+cluster://")
                          and "/" not in self.url.split("//", 1)[1] else "")
        return f"{url}{'&' if '?' in url else '?'}prefix={ns}"

    def open(self, contender: str, ns: str) -> Any:
        if contender == "raw":
            return RawRedis(self.url, ns)
        return SyncStore(self.store_url(ns))

    async def open_async(self, contender: str, ns: str) -> Any:
        if contender == "raw_async":
            return RawRedisAsync(self.url, ns)
        return AsyncStore(self.store_url(ns))

    def sizes(self, ns: str, store_open: bool) -> dict[str, int]:
        if store_open:
            return {}
        with client(self.url) as r:
            keys = self._namespace_keys(r, ns)
            used = sum(r.memory_usage(key, samples=0) or 0 for key in keys)
        return {"store_bytes": used, "store_keys": len(keys)}


class ClusterEngine(Engine):
    """A Redis Cluster: a throwaway 3-master one started for the run, unless
    ``--url`` names a ``redis+cluster://`` one."""

    name = "redis-cluster"

    def __init__(self, url: str | None, synchronous: str) -> None:
        super().__init__(url, synchronous)
        if not self.url.startswith("redis+cluster://"):
            raise SystemExit(f"--engine redis-cluster needs a redis+cluster:// URL: {self.url}")

    def default_url(self) -> str:
        return "redis+cluster://"  # none yet: __enter__ starts one

    def __enter__(self) -> Engine:
        if self.url == "redis+cluster://":
            from _redis_cluster import cluster

            self.url = self._stack.enter_context(cluster(3))
        return self
