"""Fixtures and helpers shared by the Redis test modules.

Every store gets its own key prefix (``?prefix=t<hex>``), so one server
serves every test; a test's keys are deleted after it (SCAN is fine here,
in test code: the store itself never scans).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from redis.cluster import ClusterNode
from redis_cluster import Server, cluster, cluster_url
from servers import need_redis, need_redis_server_binary

UrlFactory = Callable[[], str]


def delete_prefix(ports_or_url: list[int] | str, prefix: str) -> None:
    """Delete every key under ``prefix`` (on each cluster node, or on the
    server of a URL)."""
    clients = ([redis.Redis(port=p) for p in ports_or_url] if isinstance(ports_or_url, list)
               else [redis.Redis.from_url(ports_or_url)])
    for client in clients:
        try:
            doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for key in doomed:  # one by one: a cluster node refuses cross-slot DELs
                client.delete(key)
        finally:
            client.close()


def raw_client(url: str) -> Any:
    """A plain redis-py client on a store URL's server or cluster, to look
    at (or tamper with) what a store wrote."""
    parts = urlsplit(url)
    if parts.scheme == "redis+cluster":
        nodes = [ClusterNode(host, int(port)) for host, port in
                 (n.rsplit(":", 1) for n in parts.netloc.split(","))]
        return redis.RedisCluster(startup_nodes=nodes)
    return redis.Redis.from_url(url.split("?")[0])


@pytest.fixture(scope="session")
def redis_cluster_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """A three-master Redis Cluster of our own, for the whole test session."""
    binary = need_redis_server_binary()
    with cluster(binary, Path(tmp_path_factory.mktemp("redis-cluster"))) as servers:
        yield servers


@contextmanager
def url_factory(kind: str, request: pytest.FixtureRequest) -> Iterator[UrlFactory]:
    """Store URLs with fresh prefixes on the shared Redis (``kind`` "redis")
    or on our cluster; their keys are deleted on exit."""
    prefixes: list[str] = []
    if kind == "redis":
        base = need_redis()
        target: list[int] | str = base

        def make() -> str:
            prefixes.append("t" + secrets.token_hex(6))
            return f"{base}?prefix={prefixes[-1]}"
    else:
        servers = request.getfixturevalue("redis_cluster_servers")
        target = [s.port for s in servers]

        def make() -> str:
            prefixes.append("t" + secrets.token_hex(6))
            return cluster_url(servers, f"prefix={prefixes[-1]}")

    try:
        yield make
    finally:
        for prefix in prefixes:
            delete_prefix(target, prefix)


@pytest.fixture(params=["redis", "cluster"])
def redis_urls(request: pytest.FixtureRequest) -> Iterator[UrlFactory]:
    """A factory of store URLs, each with a fresh prefix, on the shared
    Redis and (second run) on our cluster."""
    with url_factory(request.param, request) as make:
        yield make


@pytest.fixture
def cluster_urls(request: pytest.FixtureRequest) -> Iterator[UrlFactory]:
    """A factory of store URLs on our cluster, each with a fresh prefix."""
    with url_factory("cluster", request) as make:
        yield make
