"""``sessiondb serve`` as real processes: two of them on one PostgreSQL or
Redis serve the same sessions (and the same API keys), and SIGTERM or
Ctrl-C lets the requests in flight finish before the process exits."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from http_helpers import ServiceProcess, store_urls

import sessiondb
from sessiondb.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_two_processes_serve_one_conversation(backend: str, tmp_path: Path,
                                              request: pytest.FixtureRequest,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with store_urls(backend, tmp_path, request) as make:
        url = make()
        capsys.readouterr()
        assert main(["--json", "--db", url, "apikeys", "create", "--app", "chat"]) == 0
        key = json.loads(capsys.readouterr().out)["key"]
        headers = {"Authorization": f"Bearer {key}"}
        with ServiceProcess("--db", url) as one, ServiceProcess("--db", url) as two, \
                httpx.Client(headers=headers, timeout=20) as client:
            assert one.url != two.url
            base = "/v1/apps/chat/users/alice/sessions"
            created = client.post(one.url + base, json={"state": {"turn": 0}})
            assert created.status_code == 201, created.text
            session = created.headers["location"]
            version = 0
            for turn in range(1, 7):  # the client moves between the processes each turn
                here = (one, two)[turn % 2].url
                read = client.get(here + session)
                assert read.status_code == 200 and read.headers["etag"] == f'"v{version}"'
                assert read.json()["state"]["turn"] == turn - 1
                appended = client.post(
                    f"{here}{session}/events",
                    json={"events": [{"role": "user", "content": f"q{turn}"},
                                     {"role": "assistant", "content": f"a{turn}"}],
                          "state_delta": {"turn": turn}},
                    headers={"If-Match": read.headers["etag"],
                             "Idempotency-Key": f"turn-{turn}"})
                assert appended.status_code == 200, appended.text
                version = appended.json()["version"]
                # A retry that lands on the other process stores nothing twice.
                other = (one, two)[(turn + 1) % 2].url
                retry = client.post(
                    f"{other}{session}/events",
                    json={"events": [{"role": "user", "content": f"q{turn}"},
                                     {"role": "assistant", "content": f"a{turn}"}],
                          "state_delta": {"turn": turn}},
                    headers={"Idempotency-Key": f"turn-{turn}"})
                assert retry.json() == {"version": version}
            for service in (one, two):
                events = client.get(f"{service.url}{session}/events").json()["items"]
                assert [e["seq"] for e in events] == list(range(1, 13))
                assert [e["content"] for e in events[-2:]] == ["q6", "a6"]
            assert one.stop() == 0 and two.stop() == 0


def _send_partly(url: str, path: str, body: bytes, first: int) -> socket.socket:
    """A POST whose body is only partly sent: a request in flight."""
    parts = urlsplit(url)
    conn = socket.create_connection((parts.hostname, parts.port), timeout=20)
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    conn.sendall(head.encode() + body[:first])
    return conn


def _status(conn: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_finishes_requests_in_flight(sig: signal.Signals, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    with ServiceProcess("--db", url, "--no-auth") as service:
        base = "/v1/apps/chat/users/alice/sessions"
        sid = httpx.post(service.url + base, json={}).json()["id"]
        body = json.dumps({"events": [{"role": "user", "content": "x" * 5000}]}).encode()
        in_flight = _send_partly(service.url, f"{base}/{sid}/events", body, 100)
        time.sleep(0.5)  # the server has read the headers: the request is being handled
        service.process.send_signal(sig)
        time.sleep(0.5)
        assert service.process.poll() is None  # still waiting for the request
        with pytest.raises(httpx.TransportError):  # ...but taking no new ones
            httpx.get(service.url + "/healthz", timeout=2)
        in_flight.sendall(body[100:])
        assert _status(in_flight) == 200
        in_flight.close()
        assert service.process.wait(20) == 0
    with sessiondb.open_store(url) as store:  # what was in flight is stored
        assert store.get("chat", "alice", sid).version == 1


def test_serve_prints_where_it_listens(tmp_path: Path) -> None:
    with ServiceProcess("--db", f"sqlite:///{tmp_path}/s.db") as service:
        assert service.first_line.startswith("sessiondb serving sqlite:///")
        assert "(authentication: API keys)" in service.first_line
        assert httpx.get(service.url + "/healthz").json() == {"status": "ok"}
        assert service.stop() == 0
