"""What is particular to the ASGI middleware: FastAPI, WebSockets, the
lifespan, the Vary header, repeated cookies, streaming and failing handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket
from web_helpers import new_ring

import sessiondb
from sessiondb import AsyncSessionStore, BackendError
from sessiondb.crypto.keyring import KeyRing
from sessiondb.web import SessionMiddleware
from sessiondb.web.asgi import add_vary_cookie


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'asgi.db'}"


@pytest.fixture
def ring() -> KeyRing:
    return new_ring()


def cookie_of(response: object) -> str:
    header = response.headers["set-cookie"]  # type: ignore[attr-defined]
    return str(header.split(";")[0].split("=", 1)[1])


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.session))


async def remember(request: Request) -> JSONResponse:
    request.session.update(await request.json())
    return JSONResponse(dict(request.session))


def shop(url: str, ring: KeyRing, *extra: Route | WebSocketRoute) -> Starlette:
    app = Starlette(routes=[Route("/", whoami), Route("/set", remember, methods=["POST"]),
                            *extra])
    app.add_middleware(SessionMiddleware, store=url, keys=ring)
    return app


@pytest.fixture
def client(url: str, ring: KeyRing) -> Iterator[TestClient]:
    async def stream(request: Request) -> StreamingResponse:
        request.session["before"] = 1

        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            request.session["after"] = 1  # too late: the headers are gone
            yield b"b"

        return StreamingResponse(body())

    async def boom(request: Request) -> None:
        request.session["doomed"] = 1
        raise RuntimeError("boom")

    async def vary(request: Request) -> PlainTextResponse:
        request.session["x"] = 1
        return PlainTextResponse("", headers={"Vary": "Accept-Encoding"})

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        websocket.session["ws"] = await websocket.receive_text()
        await websocket.send_json(dict(websocket.session))
        await websocket.close()

    app = shop(url, ring, Route("/stream", stream), Route("/boom", boom),
               Route("/vary", vary), WebSocketRoute("/ws", chat))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as made:
        yield made


def test_fastapi_request_session_is_the_web_session(url: str, ring: KeyRing) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    app.add_middleware(SessionMiddleware, store=url, keys=ring)

    @app.post("/login/{user}")
    async def login(user: str, request: Request) -> dict[str, str]:
        request.session.regenerate()  # type: ignore[attr-defined]
        request.session["user"] = user
        return {"ok": user}

    @app.get("/me")
    async def me(request: Request) -> dict[str, object]:
        return dict(request.session)

    with TestClient(app, base_url="https://testserver") as client:
        assert client.post("/login/alice").json() == {"ok": "alice"}
        assert client.get("/me").json() == {"user": "alice"}  # the jar sent it back


def test_the_browser_flow_with_a_cookie_jar(client: TestClient) -> None:
    assert client.get("/").json() == {}
    client.post("/set", json={"a": 1})
    assert client.get("/").json() == {"a": 1}
    assert "session" in client.cookies


def test_websocket_saves_changes_to_an_existing_session(client: TestClient) -> None:
    cookie = cookie_of(client.post("/set", json={"a": 1}))
    # (the test client's jar keeps Secure cookies from wss://; a browser sends them)
    with client.websocket_connect("/ws", headers={"Cookie": f"session={cookie}"}) as ws:
        ws.send_text("hello")
        assert ws.receive_json() == {"a": 1, "ws": "hello"}
    assert client.get("/").json() == {"a": 1, "ws": "hello"}


def test_websocket_without_a_session_creates_none(url: str, ring: KeyRing) -> None:
    app = shop(url, ring)

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        websocket.session["ws"] = 1
        await websocket.send_json(dict(websocket.session))
        await websocket.close()

    app.router.routes.append(WebSocketRoute("/ws", chat))
    checker = sessiondb.open_store(url)
    try:
        with TestClient(app) as client, client.websocket_connect("/ws") as ws:
            assert ws.receive_json() == {"ws": 1}
        assert checker.sessions("web", "web").items == ()
    finally:
        checker.close()


def test_vary_is_merged_with_the_apps_own(client: TestClient) -> None:
    assert client.get("/vary").headers["vary"] == "Accept-Encoding, Cookie"
    headers = [(b"vary", b"Accept, cookie")]
    add_vary_cookie(headers)
    assert headers == [(b"vary", b"Accept, cookie")]
    headers = [(b"vary", b"*")]
    add_vary_cookie(headers)
    assert headers == [(b"vary", b"*")]


def test_the_first_copy_that_verifies_wins(client: TestClient) -> None:
    good = cookie_of(client.post("/set", json={"mine": True}))
    client.cookies.clear()
    response = client.get("/", headers={"Cookie": f"session=forged; session={good}"})
    assert response.json() == {"mine": True}
    assert "set-cookie" not in response.headers


def test_changes_after_the_headers_are_not_saved(client: TestClient) -> None:
    assert client.get("/stream").text == "ab"
    assert client.get("/").json() == {"before": 1}


def test_a_failing_handler_saves_nothing(client: TestClient) -> None:
    assert client.get("/boom").status_code == 500
    assert client.get("/").json() == {}


def test_a_store_opened_from_a_url_is_closed_at_shutdown(url: str, ring: KeyRing) -> None:
    middleware = SessionMiddleware(whoami, store=url, keys=ring)
    store = middleware.store
    with TestClient(shop(url, ring)) as client:
        client.get("/")

    async def lifespan() -> None:
        sent: list[str] = []
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> dict[str, str]:
            return next(messages)

        async def send(message: dict[str, str]) -> None:
            sent.append(message["type"])

        async def app(scope: object, receive: object, send: object) -> None:
            await receive()  # type: ignore[operator]
            await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            await receive()  # type: ignore[operator]
            await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]

        middleware.app = app
        await middleware({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        with pytest.raises(BackendError, match="closed"):
            await store.get("web", "web", "x")

    asyncio.run(lifespan())


def test_a_store_passed_in_is_left_open(url: str, ring: KeyRing) -> None:
    async def run() -> None:
        store = sessiondb.open_async_store(url)
        assert isinstance(store, AsyncSessionStore)
        app = Starlette(routes=[Route("/", whoami)])
        app.add_middleware(SessionMiddleware, store=store, keys=ring)
        async with app.router.lifespan_context(app):
            pass
        await store.sessions("web")  # still open
        await store.close()

    asyncio.run(run())
