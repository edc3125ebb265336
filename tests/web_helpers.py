"""One small test app, served by the ASGI middleware (Starlette) and by the
Flask interface, behind one harness: the web-session scenarios are written
once and run against both, on real stores.

Cookies are handled by hand (sent as a ``Cookie`` header, read from
``Set-Cookie``), so a test sees exactly what the server sets and can send
what it likes: a forged value, a planted id, an old cookie after logout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

import sessiondb
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.web import SessionMiddleware, WebSession

APP, BUCKET, COOKIE = "shop", "web", "session"


def new_ring(*ids: str) -> KeyRing:
    return KeyRing.from_string(",".join(f"{kid}:{new_key()}" for kid in ids or ("k1",)))


@dataclass
class Reply:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def cookie(self) -> tuple[str, dict[str, str]] | None:
        """The value and attributes our cookie was set to (``""``: deleted)."""
        mine = [c for c in self.set_cookies if c.startswith(COOKIE + "=")]
        assert len(mine) <= 1, mine
        if not mine:
            return None
        first, *attributes = (part.strip() for part in mine[0].split(";"))
        attrs = {}
        for a in attributes:
            name, _, value = a.partition("=")
            attrs[name.lower()] = value
        return first.partition("=")[2], attrs

    @property
    def vary(self) -> str:
        return ", ".join(v for k, v in self.headers if k.lower() == "vary")


@dataclass
class Controls:
    """What the test apps wait on, to hold requests in flight."""

    gate: threading.Event = field(default_factory=threading.Event)
    waiting: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    together: int = 1
    arrived: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    all_here: threading.Event = field(default_factory=threading.Event)

    def arrive(self) -> None:
        with self.lock:
            self.arrived += 1
            if self.arrived >= self.together:
                self.all_here.set()


def apply(session: WebSession, route: str, arg: str, body: dict[str, Any]) -> None:
    """What each route does to the session (after any waiting)."""
    if route == "set":
        for k, v in body.items():
            session[k] = v
    elif route == "del":
        for k in body["keys"]:
            del session[k]
    elif route == "append":
        if arg in session:
            session[arg].append(body["item"])
        else:
            session[arg] = [body["item"]]
    elif route == "add":
        session[f"cart.{arg}"] = 1
    elif route in ("login", "slow-login"):
        session.regenerate()
        session["user"] = arg
    elif route == "logout":
        session.logout()
        if body.get("flash"):
            session["flash"] = body["flash"]
    elif route == "slow":
        session["late"] = True
    elif route != "get":
        raise AssertionError(route)


WAITS_FOR_GATE = ("slow", "slow-login")


class Harness:
    """A test app with its store; ``request`` returns a :class:`Reply`."""

    store: Any
    controls: Controls
    clock: sessiondb.FrozenClock

    def request(self, route: str, arg: str = "-", cookie: str | None = None,
                body: dict[str, Any] | None = None) -> Reply:
        raise NotImplementedError

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A store method, run where the store lives."""
        raise NotImplementedError

    def live_ids(self) -> list[str]:
        return [s.id for s in self.call("sessions", APP, BUCKET, limit=1000).items]

    def state(self, session_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.call("get", APP, BUCKET, session_id, last=0).state)
        except (sessiondb.NotFoundError, sessiondb.ExpiredError):
            return None

    def in_flight(self, route: str, arg: str = "-", cookie: str | None = None,
                  body: dict[str, Any] | None = None) -> Callable[[], Reply]:
        """Start a request in a thread; the returned call waits for its reply."""
        box: list[Any] = []

        def run() -> None:
            try:
                box.append(self.request(route, arg, cookie, body))
            except BaseException as exc:  # re-raised in the test's thread
                box.append(exc)

        thread = threading.Thread(target=run)
        thread.start()

        def result() -> Reply:
            thread.join(30)
            assert box, "the request did not finish"
            if isinstance(box[0], BaseException):
                raise box[0]
            return box[0]

        return result


def _cookie_header(cookie: str | None) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}


class StarletteHarness(Harness):
    def __init__(self, url: str, ring: KeyRing, **options: Any) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient

        self.controls = Controls()
        self.clock = sessiondb.FrozenClock()
        self.store = sessiondb.open_async_store(url, clock=self.clock)
        controls = self.controls

        async def endpoint(request: Request) -> JSONResponse:
            route, arg = request.path_params["route"], request.path_params["arg"]
            body = await request.json() if request.method == "POST" else {}
            if route in WAITS_FOR_GATE:
                controls.waiting.release()
                await asyncio.to_thread(controls.gate.wait, 20)
            if route == "add":
                controls.arrive()
                await asyncio.to_thread(controls.all_here.wait, 20)
            if route == "plain":
                return JSONResponse({})
            session = request.session
            apply(session, route, arg, body)  # type: ignore[arg-type]
            return JSONResponse({"data": session.data()})  # type: ignore[attr-defined]

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            await self.store.close()

        app = Starlette(routes=[Route("/{route}/{arg}", endpoint, methods=["GET", "POST"])],
                        lifespan=lifespan)
        app.add_middleware(SessionMiddleware, store=self.store, keys=ring, app_name=APP,
                           bucket=BUCKET, cookie_name=COOKIE, **options)
        self.client = TestClient(app)

    def request(self, route: str, arg: str = "-", cookie: str | None = None,
                body: dict[str, Any] | None = None) -> Reply:
        path = f"/{route}/{arg}"
        response = (self.client.get(path, headers=_cookie_header(cookie)) if body is None
                    else self.client.post(path, json=body, headers=_cookie_header(cookie)))
        return Reply(response.status_code, response.json(), list(response.headers.multi_items()))

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(lambda: getattr(self.store, method)(*args, **kwargs))


class FlaskHarness(Harness):
    def __init__(self, url: str, ring: KeyRing, **options: Any) -> None:
        from flask import Flask, jsonify, request, session

        from sessiondb.web.flask import FlaskSessionInterface

        self.controls = Controls()
        self.clock = sessiondb.FrozenClock()
        self.store = sessiondb.open_store(url, clock=self.clock)
        controls = self.controls
        app = Flask(__name__)
        app.session_interface = FlaskSessionInterface(
            self.store, keys=ring, app_name=APP, bucket=BUCKET, cookie_name=COOKIE, **options)

        @app.route("/<route>/<arg>", methods=["GET", "POST"])
        def endpoint(route: str, arg: str) -> Any:
            body = request.get_json() if request.method == "POST" else {}
            if route in WAITS_FOR_GATE:
                controls.waiting.release()
                controls.gate.wait(20)
            if route == "add":
                controls.arrive()
                controls.all_here.wait(20)
            if route == "plain":
                return jsonify({})
            apply(session, route, arg, body)  # type: ignore[arg-type]
            return jsonify({"data": session.data()})  # type: ignore[attr-defined]

        self.app = app

    def request(self, route: str, arg: str = "-", cookie: str | None = None,
                body: dict[str, Any] | None = None) -> Reply:
        client = self.app.test_client(use_cookies=False)
        path = f"/{route}/{arg}"
        response = (client.get(path, headers=_cookie_header(cookie)) if body is None
                    else client.post(path, json=body, headers=_cookie_header(cookie)))
        return Reply(response.status_code, response.get_json(), list(response.headers.items()))

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.store, method)(*args, **kwargs)


FRAMEWORKS = {"starlette": StarletteHarness, "flask": FlaskHarness}


@contextmanager
def harness(framework: str, url: str, ring: KeyRing | None = None,
            **options: Any) -> Iterator[Harness]:
    made = FRAMEWORKS[framework](url, ring or new_ring(), **options)
    if isinstance(made, StarletteHarness):
        with made.client:
            yield made
    else:
        try:
            yield made
        finally:
            made.store.close()


@contextmanager
def backend_url(kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh store URL: a SQLite file, a PostgreSQL schema or a Redis prefix."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'web.db'}"
    elif kind == "postgres":
        from pg_helpers import fresh_schemas

        schemas = fresh_schemas()
        made = next(schemas)
        try:
            yield made.url()
        finally:
            schemas.close()
            made.drop()
    else:
        from redis_helpers import url_factory

        with url_factory("redis", request) as make:
            yield make()
