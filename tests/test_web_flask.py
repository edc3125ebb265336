"""What is particular to Flask: the drop-in session interface with Flask's
own helpers (flash messages, ``session.permanent``) and its cookie jar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, flash, get_flashed_messages, session
from web_helpers import new_ring

import sessiondb
from sessiondb import BackendError
from sessiondb.web import FlaskSessionInterface

HTTPS = "https://localhost"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flask.db'}"


@pytest.fixture
def app(url: str) -> Iterator[Flask]:
    app = Flask(__name__)
    interface = FlaskSessionInterface(url, keys=new_ring(), app_name="flaskshop")
    app.session_interface = interface

    @app.post("/login/<user>")
    def login(user: str) -> str:
        session.regenerate()  # type: ignore[attr-defined]
        session["user"] = user
        session.permanent = True
        flash(f"welcome {user}")
        return "ok"

    @app.get("/")
    def home() -> dict[str, object]:
        return {"user": session.get("user"), "flashes": get_flashed_messages(),
                "permanent": session.permanent}

    @app.post("/logout")
    def logout() -> str:
        session.clear()
        flash("bye")
        return "ok"

    yield app
    interface.close()


def test_flash_messages_and_login_flow_with_the_cookie_jar(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/", base_url=HTTPS).json == {
        "user": None, "flashes": [], "permanent": False}
    client.post("/login/alice", base_url=HTTPS)
    first = client.get("/", base_url=HTTPS).json
    assert first == {"user": "alice", "flashes": ["welcome alice"], "permanent": True}
    assert client.get("/", base_url=HTTPS).json["flashes"] == []  # shown once
    client.post("/logout", base_url=HTTPS)
    assert client.get("/", base_url=HTTPS).json == {
        "user": None, "flashes": ["bye"], "permanent": False}


def test_sessions_are_stored_under_the_configured_app(app: Flask, url: str) -> None:
    app.test_client().post("/login/bob", base_url=HTTPS)
    with sessiondb.open_store(url) as store:
        (found,) = store.sessions("flaskshop").items
        assert found.user_id == "web" and found.state["user"] == "bob"


def test_a_request_context_without_a_cookie_touches_nothing(app: Flask, url: str) -> None:
    with app.test_request_context("/"):
        assert dict(session) == {} and session.new  # type: ignore[attr-defined]
    with sessiondb.open_store(url) as store:
        assert store.sessions("flaskshop").items == ()


def test_close_closes_only_a_store_it_opened(url: str) -> None:
    ring = new_ring()
    given = sessiondb.open_store(url)
    FlaskSessionInterface(given, keys=ring).close()
    assert given.sessions("web").items == ()  # still open
    given.close()
    owned = FlaskSessionInterface(url, keys=ring)
    owned.close()
    with pytest.raises(BackendError, match="closed"):
        owned.store.sessions("web")
