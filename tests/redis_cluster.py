"""Throwaway Redis servers for the Redis tests: a standalone server to stop
and restart at will, and a three-master Redis Cluster.

Each server runs from ``redis-server`` on a free loopback port in a temp
directory, without persistence. Nothing here ever touches the machine's
shared Redis.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT = 20.0


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


def _ask(port: int, *command: str) -> str:
    """One command through ``redis-cli``; its output ('' if it failed)."""
    cli = shutil.which("redis-cli") or "redis-cli"
    done = subprocess.run([cli, "-p", str(port), *command], capture_output=True, text=True,
                          timeout=10, check=False)
    return done.stdout if done.returncode == 0 else ""


def _wait(what: str, ready: object) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.05)


class Server:
    """One ``redis-server`` process on ``port``; start, stop and start again."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None,
                 *extra: str) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.dir = workdir / str(self.port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"redis-server on port {self.port}", self._answers)
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        reply = _ask(self.port, "PING")
        return "PONG" in reply or "NOAUTH" in reply  # NOAUTH: it runs, with a password

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def standalone(binary: str, workdir: Path) -> Iterator[Server]:
    server = Server(binary, workdir).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def cluster(binary: str, workdir: Path, masters: int = 3) -> Iterator[list[Server]]:
    """``masters`` cluster-enabled servers joined into one cluster with every
    slot covered; stopped on exit."""
    servers: list[Server] = []
    try:
        for _ in range(masters):
            servers.append(Server(binary, workdir, None, "--cluster-enabled", "yes",
                                  "--cluster-config-file", "nodes.conf",
                                  "--cluster-node-timeout", "5000").start())
        _join(servers)
        yield servers
    finally:
        for server in servers:
            server.stop()


def _join(servers: list[Server]) -> None:
    """Give each master an equal share of the 16384 slots and let the
    nodes meet (what ``redis-cli --cluster create`` does, without its prompt)."""
    share = 16384 // len(servers)
    for i, server in enumerate(servers):
        first = i * share
        last = 16383 if i == len(servers) - 1 else first + share - 1
        added = _ask(server.port, "CLUSTER", "ADDSLOTSRANGE", str(first), str(last))
        if "OK" not in added:  # before Redis 7: slot by slot
            added = _ask(server.port, "CLUSTER", "ADDSLOTS",
                         *map(str, range(first, last + 1)))
        if "OK" not in added:
            raise RuntimeError(f"CLUSTER ADDSLOTS failed on port {server.port}: {added}")
    for server in servers[1:]:
        _ask(servers[0].port, "CLUSTER", "MEET", "127.0.0.1", str(server.port))

    def ready() -> bool:
        return all("cluster_state:ok" in _ask(s.port, "CLUSTER", "INFO")
                   and f"cluster_known_nodes:{len(servers)}" in _ask(s.port, "CLUSTER", "INFO")
                   for s in servers)

    _wait("the Redis Cluster", ready)


def cluster_url(servers: list[Server], query: str = "") -> str:
    nodes = ",".join(f"127.0.0.1:{s.port}" for s in servers)
    return f"redis+cluster://{nodes}" + (f"/?{query}" if query else "")
