"""Shared by the HTTP service tests: store URLs on every backend, a real
uvicorn server on a free loopback port, and service processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from backend_urls import store_urls

BACKENDS = ["sqlite", "postgres", "redis"]
__all__ = ["BACKENDS", "running", "store_urls"]
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on",
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


class ServiceProcess:
    """``sessiondb serve`` in a child process, on a free port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sessiondb", "serve", "--port", "0", "--log-level",
             "warning", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"on (http://\S+) ", line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"no address in {line!r}: {self.process.stderr.read()}")
        self.url = match.group(1)
        self.first_line = line

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
