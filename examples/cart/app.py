"""A small shop: a cart kept in a server-side SessionDB web session.

Each cart line is its own session key (``cart.<sku>``), so two tabs adding
different items at the same moment both keep theirs: the middleware writes
only the keys a request changed. Logging in calls ``regenerate()`` (a new
session id, the same cart); logging out deletes the session on the server.
"""

from __future__ import annotations

import html
import logging
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sessiondb import AsyncSessionStore
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.web import SessionMiddleware, WebSession

CATALOGUE = {
    "tea": "Green tea", "coffee": "Coffee beans", "cake": "Lemon cake", "mug": "Mug",
    "spoon": "Spoon", "kettle": "Kettle", "honey": "Honey", "biscuits": "Biscuits",
}
PREFIX = "cart."
USER = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
log = logging.getLogger("examples.cart")


def cart(session: WebSession) -> dict[str, int]:
    return {k[len(PREFIX):]: v for k, v in session.items() if k.startswith(PREFIX)}


def session_of(request: Request) -> WebSession:
    return request.session  # type: ignore[return-value]


async def form_field(request: Request, name: str) -> str:
    return str((await request.form()).get(name, "")).strip()


def back_home() -> Response:
    return RedirectResponse("/", status_code=303)


async def home(request: Request) -> HTMLResponse:
    session = session_of(request)
    user = session.get("user")
    lines = "".join(
        f"<li>{html.escape(CATALOGUE.get(sku, sku))} &times; {qty} "
        f"<form method=post action=/cart/remove>"
        f"<button name=sku value=\"{html.escape(sku)}\">remove</button>"
        "</form></li>" for sku, qty in sorted(cart(session).items())) or "<li>empty</li>"
    shop = "".join(
        f"<button name=sku value=\"{sku}\">{html.escape(name)}</button> "
        for sku, name in CATALOGUE.items())
    who = (f"Hello {html.escape(user)} <form method=post action=/logout><button>log out"
           "</button></form>" if user else
           "<form method=post action=/login><input name=user placeholder=name>"
           "<button>log in</button></form>")
    return HTMLResponse(
        f"<!doctype html><title>Cart</title><p>{who}</p><h2>Shop</h2>"
        f"<form method=post action=/cart/add>{shop}</form><h2>Your cart</h2><ul>{lines}</ul>")


async def api_cart(request: Request) -> JSONResponse:
    session = session_of(request)
    return JSONResponse({"user": session.get("user"), "items": cart(session)})


async def add(request: Request) -> Response:
    sku = await form_field(request, "sku")
    if sku not in CATALOGUE:
        return JSONResponse({"error": f"no product {sku!r}"}, status_code=404)
    session = session_of(request)
    session[PREFIX + sku] = session.get(PREFIX + sku, 0) + 1
    return back_home()


async def remove(request: Request) -> Response:
    session_of(request).pop(PREFIX + await form_field(request, "sku"), None)
    return back_home()


async def login(request: Request) -> Response:
    user = await form_field(request, "user")
    if not USER.fullmatch(user):
        return JSONResponse({"error": "a name is 1-32 letters, digits, _ . -"}, status_code=400)
    # A real shop checks a password here. Then: a new session id, so an id
    # someone planted in this browser before login is worth nothing.
    session = session_of(request)
    session.regenerate()
    session["user"] = user
    return back_home()


async def logout(request: Request) -> Response:
    session_of(request).logout()  # deleted on the server, cookie expired
    return back_home()


def create_app(store: AsyncSessionStore | str | None = None, *,
               keys: KeyRing | str | None = None, secure: bool = True) -> Starlette:
    """The shop. ``store``: a store or URL (None: ``$SESSIONDB_URL`` or the
    default SQLite file). ``keys``: the cookie-signing key ring (None:
    ``$SESSIONDB_KEYS``, else a throwaway key: sessions end with the process)."""
    if keys is None and KeyRing.from_env() is None:
        log.warning("SESSIONDB_KEYS is not set: signing cookies with a throwaway key")
        keys = KeyRing.from_string(f"demo:{new_key()}")
    app = Starlette(routes=[
        Route("/", home),
        Route("/api/cart", api_cart),
        Route("/cart/add", add, methods=["POST"]),
        Route("/cart/remove", remove, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ])
    app.add_middleware(SessionMiddleware, store=store, keys=keys, app_name="cart",
                       secure=secure)
    return app
