"""A throwaway 3-master Redis Cluster for a benchmark run.

Each node is a ``redis-server`` on a free loopback port (its cluster bus
port, +10000, free too), in a temporary directory, without persistence
(``--save "" --appendonly no``, as the machine's own Redis). The nodes get
equal shares of the 16384 slots and meet; :func:`cluster` yields the
``redis+cluster://`` URL once every node reports ``cluster_state:ok``, and
stops the nodes on exit. No replicas: nothing here measures failover.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

STARTUP_TIMEOUT = 20.0
PERSISTENCE = ("--save", "", "--appendonly", "no")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too."""
    for _ in range(1000):
        port = random.randrange(20000, 30000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


def _wait(what: str, ready: object) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.05)


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5)


def _answers(port: int) -> bool:
    try:
        with _client(port) as r:
            return bool(r.ping())
    except redis.RedisError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def cluster(masters: int = 3, binary: str | None = None) -> Iterator[str]:
    """Start ``masters`` cluster nodes, join them, yield the cluster's URL;
    stop them (and remove their directory) on exit."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: it is needed to start a Redis Cluster")
    processes: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    with tempfile.TemporaryDirectory(prefix="sessiondb-w1-cluster-") as tmp:
        try:
            for _ in range(masters):
                port = free_port()
                processes.append(subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", *PERSISTENCE,
                     "--dir", tmp, "--dbfilename", f"dump-{port}.rdb",
                     "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                     "--cluster-node-timeout", "5000"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                ports.append(port)
                _wait(f"redis-server on port {port}", lambda p=port: _answers(p))
            _join(ports)
            yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)
        finally:
            for process in processes:
                _stop(process)


def _join(ports: list[int]) -> None:
    """Give each node an equal share of the slots and let the nodes meet
    (what ``redis-cli --cluster create`` does, without its prompt)."""
    share = 16384 // len(ports)
    for i, port in enumerate(ports):
        first = i * share
        last = 16383 if i == len(ports) - 1 else first + share - 1
        with _client(port) as r:
            r.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
    with _client(ports[0]) as r:
        for port in ports[1:]:
            r.execute_command("CLUSTER", "MEET", "127.0.0.1", port)

    def ready() -> bool:
        for port in ports:
            with _client(port) as r:
                info = r.execute_command("CLUSTER", "INFO")
            if isinstance(info, bytes | str):
                text = info if isinstance(info, str) else info.decode()
            else:
                text = "\n".join(f"{k}:{v}" for k, v in dict(info).items())
            if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(ports)}" not in text:
                return False
        return True

    _wait("the Redis Cluster", ready)
