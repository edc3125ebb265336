"""The whole service as ``sessiondb serve`` runs it: the JSON API, live
streams, MCP at /mcp and /metrics on one app, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from test_mcp import ok
from test_mcp_transports import serving

import sessiondb
from sessiondb.http.apikeys import ApiKeyAuth, create_key
from sessiondb.http.metrics import PrometheusObserver
from sessiondb.http.service import create_service

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def service(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path}/svc.db"
    with sessiondb.open_store(url) as admin:
        _, key = create_key(admin, "travel", "tests")
    store = sessiondb.open_async_store(url, observer=PrometheusObserver())
    app = create_service(store, url, auth=[ApiKeyAuth(store)])
    async with serving(app) as base:
        yield base, key


@asynccontextmanager
async def mcp_client(base: str, key: str, user: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"}
    if user:
        headers["X-SessionDB-User"] = user
    async with create_mcp_http_client(headers=headers) as http, \
            Client(streamable_http_client(f"{base}/mcp/", http_client=http)) as client:
        yield client


async def test_rest_stream_mcp_and_metrics_share_one_store(tmp_path: Path) -> None:
    async with service(tmp_path) as (base, key), httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}) as rest:
        async with mcp_client(base, key, "alice") as alice:
            sid = (await ok(alice, "session_create", state={"goal": "Lisbon"}))["session_id"]
            await ok(alice, "events_append", session_id=sid,
                     events=[{"role": "user", "content": "hello from MCP"}])
        url = f"/v1/apps/travel/users/alice/sessions/{sid}"
        got = (await rest.get(url, params={"last": 5})).json()
        assert got["state"] == {"goal": "Lisbon"}
        assert [e["content"] for e in got["events"]] == ["hello from MCP"]
        # Bob's MCP client cannot see Alice's session, whatever id it passes.
        async with mcp_client(base, key, "bob") as bob:
            result = await bob.call_tool("session_get", {"session_id": sid})
            assert result.is_error
        # The live stream hears an append made through the API.
        async with rest.stream("GET", f"{url}/events/stream",
                               headers={"Last-Event-ID": "1"}) as stream:
            appended = await rest.post(f"{url}/events",
                                       json={"events": [{"role": "assistant", "content": "hi"}]})
            assert appended.status_code == 200
            heard = None
            with anyio.fail_after(10):  # a regression fails here instead of hanging
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        heard = json.loads(line[5:])["content"]
                        break
            assert heard == "hi"
        metrics = (await httpx.AsyncClient(base_url=base).get("/metrics")).text
        assert 'sessiondb_sessions_created_total{backend="sqlite"} 1.0' in metrics
        assert "sessiondb_operation_duration_seconds_bucket" in metrics


async def test_mcp_needs_a_user_and_a_credential_for_it(tmp_path: Path) -> None:
    async with service(tmp_path) as (base, key), httpx.AsyncClient(base_url=base) as http:
        init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        accept = {"Accept": "application/json, text/event-stream"}
        assert (await http.post("/mcp/", json=init, headers=accept)).status_code == 401
        no_user = await http.post("/mcp/", json=init, headers={
            **accept, "Authorization": f"Bearer {key}"})
        assert no_user.status_code == 401 and "X-SessionDB-User" in no_user.text
        other_app = await http.post("/mcp/", json=init, headers={
            **accept, "Authorization": f"Bearer {key}", "X-SessionDB-User": "alice",
            "X-SessionDB-App": "bank"})
        assert other_app.status_code == 401 and "may not act" in other_app.text
