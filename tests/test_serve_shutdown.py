"""``sessiondb serve`` stops promptly on SIGTERM or Ctrl-C while live event
streams are open: their feed closes first (each stream ends cleanly), then
the graceful shutdown finishes the requests in flight and exits with 0."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from http_helpers import BACKENDS, ServiceProcess, store_urls

pytestmark = pytest.mark.slow

#: Well under the service's default ``--shutdown-timeout`` of 30 s.
PROMPTLY = 8.0


def _open_stream(url: str, path: str) -> socket.socket:
    """A raw SSE request, read until the stream is live (``: open``)."""
    parts = urlsplit(url)
    conn = socket.create_connection((parts.hostname, parts.port), timeout=10)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    received = b""
    while b": open" not in received:
        chunk = conn.recv(65536)
        assert chunk, f"the stream closed before it was live: {received!r}"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return conn


def _read_to_close(conn: socket.socket) -> bytes:
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_signal_ends_open_streams_and_exits(backend: str, sig: signal.Signals,
                                                 tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    with store_urls(backend, tmp_path, request) as make, \
            ServiceProcess("--db", make(), "--no-auth") as service:
        base = "/v1/apps/chat/users/alice/sessions"
        sid = httpx.post(service.url + base, json={}, timeout=10).json()["id"]
        streams = [_open_stream(service.url, f"{base}/{sid}/events/stream") for _ in range(3)]
        started = time.monotonic()
        service.process.send_signal(sig)
        assert service.process.wait(PROMPTLY) == 0
        assert time.monotonic() - started < PROMPTLY
        for conn in streams:  # each stream ended (the connection closed), none reset
            _read_to_close(conn)
            conn.close()
        assert "Traceback" not in service.process.stderr.read()  # type: ignore[union-attr]


def test_an_open_mcp_stream_ends_cleanly_on_stop(tmp_path: Path) -> None:
    """The MCP SDK's GET stream (server messages) stops with its session
    manager at shutdown; its response is ended, not cut off with an error."""
    with ServiceProcess("--db", f"sqlite:///{tmp_path}/s.db", "--no-auth") as service:
        parts = urlsplit(service.url)
        conn = socket.create_connection((parts.hostname, parts.port), timeout=10)
        conn.sendall(f"GET /mcp/ HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     "Accept: text/event-stream\r\nX-SessionDB-App: chat\r\n"
                     "X-SessionDB-User: alice\r\n\r\n".encode())
        head = conn.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, head
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(PROMPTLY) == 0
        assert time.monotonic() - started < PROMPTLY
        rest = _read_to_close(conn)
        conn.close()
        assert (head + rest).endswith(b"0\r\n\r\n")  # the chunked body's last chunk
        errors = service.process.stderr.read()  # type: ignore[union-attr]
        assert "ERROR" not in errors and "Traceback" not in errors, errors
