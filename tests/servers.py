"""Where the test servers are, and what to do when one is not there.

``SESSIONDB_TEST_POSTGRES_URL`` and ``SESSIONDB_TEST_REDIS_URL`` name them,
defaulting to this machine's standard ports. A test that needs an unreachable
server is skipped with the reason shown — except under ``CI=true``, where it
fails: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "SESSIONDB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SESSIONDB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> str | None:
    """None if a TCP connection to the URL's host opens, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} is unreachable ({exc})"


def need(what: str, url: str, default_port: int) -> str:
    """``url`` if its server answers; otherwise skip (fail under CI)."""
    problem = _reachable(url, default_port)
    if problem is not None:
        message = f"{what} at {url}: {problem}; set SESSIONDB_TEST_{what.upper()}_URL"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return url


def need_postgres() -> str:
    return need("postgres", POSTGRES_URL, 5432)


def need_redis() -> str:
    return need("redis", REDIS_URL, 6379)


def need_redis_server_binary() -> str:
    """The path of ``redis-server``, to start a cluster of our own."""
    path = shutil.which("redis-server")
    if path is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return path
