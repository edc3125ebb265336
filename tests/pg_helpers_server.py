"""A throwaway PostgreSQL server to stop and restart, and a TCP proxy that
counts round trips. The machine's shared server is never stopped: only
servers started here are.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from servers import IN_CI

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str | None:
    for directory in BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


def need_server_binaries() -> tuple[str, str]:
    """initdb and pg_ctl; skip (fail under CI=true) when they are missing."""
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    if initdb is None or pg_ctl is None:
        message = ("initdb/pg_ctl are not installed (Debian: apt-get install postgresql); "
                   "needed to stop and restart a server of the test's own")
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return initdb, pg_ctl


class ThrowawayServer:
    """A PostgreSQL cluster in a temporary directory on a free loopback port,
    trust authentication, run as the ``postgres`` OS user when we are root
    (initdb refuses root)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = need_server_binaries()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sessiondb-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}\n{done.stderr}")

    def url(self, password: str | None = None) -> str:
        user = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql://{user}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=40")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
                  str(self.dir / "log"), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class CountingProxy:
    """Forwards TCP connections to ``target`` and counts round trips: each
    burst of client bytes that follows server bytes (or opens the
    connection) is one, however many packets it spans."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.round_trips = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.round_trips = 0

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        server_spoke_last = True
        with client, upstream, selector:
            while True:
                for key, _ in selector.select():
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(1 << 16)
                    except OSError:
                        return
                    if not data:
                        return
                    if source is client:
                        if server_spoke_last:
                            with self._lock:
                                self.round_trips += 1
                        server_spoke_last = False
                    else:
                        server_spoke_last = True
                    key.data.sendall(data)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
