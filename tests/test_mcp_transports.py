"""The MCP server over its real transports, through the SDK's own client:
``sessiondb mcp`` as a child process on stdio, and streamable HTTP served by
uvicorn on a loopback port, alone or mounted in a host application."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from test_mcp import TOOLS, failed, ok, read_json

import sessiondb
from sessiondb import AsyncSessionStore, AuthError
from sessiondb.mcp import MCPHttpApp, streamable_http_app

pytestmark = pytest.mark.anyio

TOKENS = {"tok-alice": ("shop", "alice"), "tok-bob": ("shop", "bob"),
          "tok-odd": ("shop", "auth0|123")}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mcp.db'}"


@pytest.fixture
async def store(url: str) -> AsyncIterator[AsyncSessionStore]:
    async with sessiondb.open_async_store(url) as store:
        yield store


# -- stdio -------------------------------------------------------------------------
def stdio(*args: str, env: dict[str, str] | None = None) -> Client:
    return Client(StdioServerParameters(command=sys.executable,
                                        args=["-m", "sessiondb", "mcp", *args], env=env))


async def test_sessiondb_mcp_serves_the_configured_user_over_stdio(url: str) -> None:
    async with stdio("--db", url, "--app", "shop", "--user", "alice") as client:
        assert client.server_info is not None and client.server_info.name == "sessiondb"
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        sid = (await ok(client, "session_create", state={"step": 1}))["session_id"]
        await ok(client, "events_append", session_id=sid,
                 events=[{"role": "user", "content": "hello over stdio"}])
        assert (await read_json(client, f"sessiondb://sessions/{sid}/state"))["version"] == 1
        assert "not-found" in await failed(client, "session_get", session_id="nope")
    with sessiondb.open_store(url) as store:
        session = store.get("shop", "alice", sid)
        assert [e.content for e in session.events] == ["hello over stdio"]

    # The same from the environment, as an MCP client's "env" block sets it.
    env = {"SESSIONDB_URL": url, "SESSIONDB_MCP_APP": "shop", "SESSIONDB_MCP_USER": "bob"}
    async with stdio(env=env) as bob:
        assert (await ok(bob, "session_list"))["sessions"] == []
        assert "for user 'bob' in app 'shop'" in await failed(bob, "session_get",
                                                               session_id=sid)


def test_sessiondb_mcp_needs_an_app_and_a_user(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from sessiondb.cli import main

    monkeypatch.delenv("SESSIONDB_MCP_APP", raising=False)
    monkeypatch.delenv("SESSIONDB_MCP_USER", raising=False)
    assert main(["mcp", "--db", "memory://", "--app", "shop"]) == 2
    assert "--user is required (or set $SESSIONDB_MCP_USER)" in capsys.readouterr().err
    assert main(["mcp", "--db", "memory://", "--app", "shop", "--user", "bad user"]) == 1
    assert "user_id" in capsys.readouterr().err


# -- streamable HTTP ---------------------------------------------------------------
def resolve_token(request: Request) -> tuple[str, str]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token not in TOKENS:
        raise AuthError("a valid bearer token is required")
    return TOKENS[token]


async def resolve_token_async(request: Request) -> tuple[str, str]:
    await anyio.sleep(0)
    return resolve_token(request)


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


@asynccontextmanager
async def http_client(url: str, token: str | None, mode: str = "auto"
                      ) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


async def test_http_takes_the_scope_from_each_requests_token(store: AsyncSessionStore) -> None:
    resolved: list[str] = []
    requests: list[str] = []

    def counting_resolver(request: Request) -> tuple[str, str]:
        resolved.append(request.method)
        return resolve_token(request)

    mcp_app = streamable_http_app(store, counting_resolver)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            requests.append(scope["method"])
        await mcp_app(scope, receive, send)

    async with serving(app) as base:
        async with http_client(base, "tok-alice") as alice:
            sid = (await ok(alice, "session_create", state={"secret": 1}))["session_id"]
            await ok(alice, "events_append", session_id=sid,
                     events=[{"role": "user", "content": "over http"}])
            assert (await ok(alice, "session_get", session_id=sid))["version"] == 1
            events = await read_json(alice, f"sessiondb://sessions/{sid}/events")
            assert [e["content"] for e in events["events"]] == ["over http"]
        async with http_client(base, "tok-bob") as bob:
            assert "for user 'bob' in app 'shop'" in await failed(bob, "session_get",
                                                                   session_id=sid)
            assert (await ok(bob, "session_delete", session_id=sid))["deleted"] is False
            assert (await ok(bob, "session_list"))["sessions"] == []

        async with httpx2.AsyncClient() as raw:
            for headers in ({}, {"Authorization": "Bearer forged"}):
                answer = await raw.post(f"{base}/", headers=headers, json={
                    "jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                assert answer.status_code == 401
                assert answer.headers["www-authenticate"].startswith("Bearer")
                assert answer.json()["detail"] == "a valid bearer token is required"
            # A resolver's answer must be a valid id: refused, not served.
            answer = await raw.post(f"{base}/", headers={"Authorization": "Bearer tok-odd"},
                                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert answer.status_code == 422 and "user_id" in answer.json()["detail"]
        with pytest.raises(Exception):  # noqa: B017 - the SDK's wrapping varies by version
            async with http_client(base, None) as anonymous:
                await anonymous.list_tools()
    assert (await store.get("shop", "alice", sid)).version == 1
    # Once per HTTP request, by the app: the tools reuse its answer.
    assert len(resolved) == len(requests) > 10


@pytest.mark.parametrize(("stateless", "json_response", "mode"), [
    (True, True, "auto"), (True, True, "legacy"), (False, False, "legacy")])
async def test_http_app_mounted_in_a_host_application(
        store: AsyncSessionStore, stateless: bool, json_response: bool, mode: str) -> None:
    mcp_app: MCPHttpApp = streamable_http_app(store, resolve_token_async, stateless=stateless,
                                              json_response=json_response)

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    host = Starlette(routes=[Route("/health", health), Route("/mcp", endpoint=mcp_app)],
                     lifespan=lambda _: mcp_app.lifespan())
    async with serving(host) as base:
        async with http_client(f"{base}/mcp", "tok-alice", mode) as alice:
            sid = (await ok(alice, "session_create"))["session_id"]
            await ok(alice, "state_update", session_id=sid, delta={"n": 1})
            await ok(alice, "state_update", session_id=sid, delta={"n": 2})
            assert (await read_json(alice, f"sessiondb://sessions/{sid}/state"))["state"] == {
                "n": 2}
        async with http_client(f"{base}/mcp", "tok-bob", mode) as bob:
            assert "not-found" in await failed(bob, "state_update", session_id=sid,
                                               delta={"n": 666})
        async with httpx2.AsyncClient() as raw:
            assert (await raw.get(f"{base}/health")).text == "ok"
    assert (await store.get("shop", "alice", sid)).state == {"n": 2}


async def test_the_http_app_refuses_to_serve_before_its_lifespan(
        store: AsyncSessionStore) -> None:
    app = streamable_http_app(store, resolve_token)
    transport = httpx2.ASGITransport(app=app)  # no lifespan run
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as raw:
        with pytest.raises(RuntimeError, match=r"MCPHttpApp\.lifespan\(\)"):
            await raw.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
