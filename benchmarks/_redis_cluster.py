"""A throwaway 3-master Redis Cluster for a benchmark run: the tests'
launcher (``tests/redis_cluster.py``: ``redis-server`` nodes on free loopback
ports, no persistence, every slot covered), yielding the cluster's URL."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from redis_cluster import cluster as _servers
from redis_cluster import cluster_url


@contextmanager
def cluster(masters: int = 3, binary: str | None = None) -> Iterator[str]:
    """Start ``masters`` cluster nodes, join them, yield the cluster's URL;
    stop them (and remove their directory) on exit."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: it is needed to start a Redis Cluster")
    with tempfile.TemporaryDirectory(prefix="sessiondb-w1-cluster-") as tmp, \
            _servers(binary, Path(tmp), masters) as servers:
        yield cluster_url(servers)
