"""The shopping-cart example, served by a real uvicorn on a loopback port,
on SQLite and on PostgreSQL: shopping, login, concurrent adds, logout."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pg_helpers_server import free_port
from web_helpers import backend_url, new_ring

import sessiondb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.cart import create_app  # noqa: E402
from examples.cart.app import CATALOGUE  # noqa: E402


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The shop's base URL and its store's URL."""
    with backend_url(request.param, tmp_path, request) as store_url:
        port = free_port()
        app = create_app(store_url, keys=new_ring())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", store_url
        finally:
            server.should_exit = True
            thread.join(20)


class Browser:
    """Keeps the shop's cookie the way a browser would (Secure cookies on a
    local address), and sends it explicitly."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cookie: str | None = None

    async def send(self, method: str, path: str, form: dict[str, str] | None = None
                   ) -> httpx.Response:
        headers = {"Cookie": f"session={self.cookie}"} if self.cookie else {}
        response = await self.client.request(method, path, data=form, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            value = header.split(";")[0].split("=", 1)[1]
            self.cookie = value or None
        return response

    async def cart(self) -> Any:
        return (await self.send("GET", "/api/cart")).json()


def test_the_cart_example(served: tuple[str, str]) -> None:
    base, store_url = served

    async def shop() -> tuple[str, str | None]:
        async with httpx.AsyncClient(base_url=base) as client:
            browser = Browser(client)
            assert (await browser.send("POST", "/cart/add", {"sku": "tea"})).status_code == 303
            anonymous = browser.cookie
            assert anonymous is not None
            assert (await browser.send("POST", "/login", {"user": "alice"})).status_code == 303
            assert browser.cookie != anonymous  # regenerated at login
            assert await browser.cart() == {"user": "alice", "items": {"tea": 1}}
            # eight tabs add eight different things at once: none is lost
            others = [sku for sku in CATALOGUE if sku != "tea"]
            replies = await asyncio.gather(*(
                browser.send("POST", "/cart/add", {"sku": sku}) for sku in [*others, "tea"]))
            assert [r.status_code for r in replies] == [303] * len(CATALOGUE)
            cart = await browser.cart()
            assert cart["items"] == {**dict.fromkeys(others, 1), "tea": 2}
            await browser.send("POST", "/cart/remove", {"sku": "mug"})
            assert "mug" not in (await browser.cart())["items"]
            logged_in = browser.cookie
            page = (await browser.send("GET", "/")).text
            assert "Hello alice" in page and "Lemon cake" in page
            await browser.send("POST", "/logout")
            assert browser.cookie is None
            assert await browser.cart() == {"user": None, "items": {}}
            return anonymous, logged_in

    anonymous, logged_in = asyncio.run(shop())
    with sessiondb.open_store(store_url) as store:
        assert store.sessions("cart").items == ()  # logged out: nothing left
        for cookie in (anonymous, logged_in):
            assert cookie is not None
            with pytest.raises(sessiondb.NotFoundError):
                store.get("cart", "web", cookie.split(".")[1])


def test_the_shop_refuses_bad_input(served: tuple[str, str]) -> None:
    base, _ = served
    with httpx.Client(base_url=base) as client:
        assert client.post("/cart/add", data={"sku": "rocket"}).status_code == 404
        assert client.post("/login", data={"user": "<script>"}).status_code == 400
        assert "set-cookie" not in client.post("/login", data={"user": ""}).headers
