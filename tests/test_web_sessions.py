"""Web sessions end to end, written once and run against the ASGI middleware
(Starlette) and the Flask interface, on SQLite — and the ones about races
and fixation on PostgreSQL and Redis too."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from web_helpers import APP, BUCKET, Harness, backend_url, harness, new_ring

from sessiondb.crypto.keyring import KeyRing

FRAMEWORKS = ["starlette", "flask"]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web(framework: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[Harness]:
    with backend_url("sqlite", tmp_path, request) as url, harness(framework, url) as made:
        yield made


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def any_web(framework: str, tmp_path: Any,
            request: pytest.FixtureRequest) -> Iterator[Harness]:
    with backend_url(request.param, tmp_path, request) as url, harness(framework, url) as made:
        yield made


def login(web: Harness, user: str = "alice", cookie: str | None = None) -> str:
    reply = web.request("login", user, cookie, {})
    assert reply.status == 200 and reply.cookie is not None
    return reply.cookie[0]


def session_id(cookie: str) -> str:
    return cookie.split(".")[1]


# -- the cookie ------------------------------------------------------------
def test_the_cookie_is_opaque_signed_and_flagged(web: Harness) -> None:
    reply = web.request("set", body={"cart.tea": 2, "note": "secret words"})
    value, attrs = reply.cookie or ("", {})
    kid, sid, mac = value.split(".")
    assert kid == "k1"
    assert len(base64.urlsafe_b64decode(sid + "==")) * 8 >= 128
    assert len(base64.urlsafe_b64decode(mac + "==")) == 32  # HMAC-SHA256
    assert "secret" not in value and "tea" not in value  # no state in the cookie
    assert {"secure", "httponly", "path"} <= attrs.keys()
    assert attrs["samesite"] == "Lax" and attrs["path"] == "/"
    assert "Cookie" in reply.vary
    assert web.state(sid) == {"cart.tea": 2, "note": "secret words"}
    assert web.live_ids() == [sid]


def test_reading_sets_vary_but_no_cookie(web: Harness) -> None:
    cookie = web.request("set", body={"a": 1}).cookie[0]  # type: ignore[index]
    reply = web.request("get", cookie=cookie)
    assert reply.body["data"] == {"a": 1}
    assert reply.cookie is None  # nothing to change in the browser
    assert "Cookie" in reply.vary


def test_nothing_stored_nothing_created(web: Harness) -> None:
    reply = web.request("get")
    assert reply.body["data"] == {} and reply.cookie is None
    assert web.request("plain").vary == ""
    assert web.live_ids() == []


def test_insecure_option_for_local_http(framework: str, tmp_path: Any,
                                        request: pytest.FixtureRequest) -> None:
    with backend_url("sqlite", tmp_path, request) as url, \
            harness(framework, url, secure=False, samesite="strict") as web:
        _, attrs = web.request("set", body={"a": 1}).cookie  # type: ignore[misc]
    assert "secure" not in attrs and attrs["samesite"] == "Strict"


# -- fixation: only ids the server issued ----------------------------------
@pytest.mark.parametrize("forged", [
    "plain-id-without-signature",
    "k1.AAAAAAAAAAAAAAAAAAAAAA",
    "k1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "k9.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "",
])
def test_a_forged_cookie_is_never_adopted(web: Harness, forged: str) -> None:
    reply = web.request("set", cookie=forged, body={"a": 1})
    value = reply.cookie[0]  # type: ignore[index]
    assert value != forged and session_id(value) != "AAAAAAAAAAAAAAAAAAAAAA"
    assert web.live_ids() == [session_id(value)]


def test_a_tampered_cookie_is_refused(web: Harness) -> None:
    cookie = web.request("set", body={"user": "alice"}).cookie[0]  # type: ignore[index]
    kid, sid, mac = cookie.split(".")
    flipped = sid[:-1] + ("A" if sid[-1] != "A" else "B")
    bad_mac = mac[:-1] + ("x" if mac[-1] != "x" else "y")
    for bad in (f"{kid}.{flipped}.{mac}", f"{kid}.{sid}.{bad_mac}", f"{kid}.{sid}."):
        reply = web.request("get", cookie=bad)
        assert reply.body["data"] == {}
        assert reply.cookie == ("", reply.cookie[1])  # type: ignore[index]  # deleted


def test_a_planted_id_the_server_never_issued_is_not_adopted(any_web: Harness) -> None:
    """Even correctly signed (a leaked key, an old backup), an id that is not
    live in the store is ignored: the server makes its own."""
    planted = "attacker-chosen-id-0123456789"
    signed = any_web_signer(any_web).sign(planted)
    reply = any_web.request("set", cookie=signed, body={"user": "victim"})
    issued = session_id(reply.cookie[0])  # type: ignore[index]
    assert issued != planted
    assert any_web.state(planted) is None
    assert any_web.live_ids() == [issued]
    # and the planted cookie still names nothing
    assert any_web.request("get", cookie=signed).body["data"] == {}


def any_web_signer(web: Harness) -> Any:
    from web_helpers import FlaskHarness

    if isinstance(web, FlaskHarness):
        return web.app.session_interface.settings.signer  # type: ignore[attr-defined]
    return web.client.app.middleware_stack.app.settings.signer  # type: ignore[attr-defined]


# -- login and logout --------------------------------------------------------
def test_regenerate_changes_the_id_keeps_the_data_and_kills_the_old_id(
        any_web: Harness) -> None:
    before = any_web.request("set", body={"cart.tea": 1}).cookie[0]  # type: ignore[index]
    after = login(any_web, "alice", before)
    assert session_id(after) != session_id(before)
    assert any_web.request("get", cookie=after).body["data"] == {"cart.tea": 1, "user": "alice"}
    assert any_web.state(session_id(before)) is None
    old = any_web.request("get", cookie=before)
    assert old.body["data"] == {}
    assert any_web.live_ids() == [session_id(after)]


def test_logout_deletes_the_server_side_session(web: Harness) -> None:
    cookie = login(web)
    reply = web.request("logout", cookie=cookie, body={})
    assert reply.cookie is not None and reply.cookie[0] == ""
    assert reply.cookie[1]["max-age"] == "0"
    assert web.state(session_id(cookie)) is None
    # a copy of the old cookie (stolen, or a second tab) opens nothing
    assert web.request("get", cookie=cookie).body["data"] == {}
    assert web.live_ids() == []


def test_data_stored_after_logout_starts_a_new_session(web: Harness) -> None:
    cookie = login(web)
    reply = web.request("logout", cookie=cookie, body={"flash": "bye"})
    fresh = reply.cookie[0]  # type: ignore[index]
    assert fresh and session_id(fresh) != session_id(cookie)
    assert web.state(session_id(fresh)) == {"flash": "bye"}
    assert web.live_ids() == [session_id(fresh)]


def test_a_request_in_flight_at_logout_cannot_bring_the_session_back(
        any_web: Harness) -> None:
    cookie = login(any_web)
    slow = any_web.in_flight("slow", cookie=cookie, body={})
    assert any_web.controls.waiting.acquire(timeout=20)  # loaded, now held
    assert any_web.request("logout", cookie=cookie, body={}).cookie[0] == ""  # type: ignore[index]
    any_web.controls.gate.set()
    late = slow()
    assert late.status == 200
    assert late.cookie is not None and late.cookie[0] == ""  # told to drop the cookie
    assert any_web.state(session_id(cookie)) is None
    assert any_web.live_ids() == []


def test_a_login_in_flight_at_logout_does_not_log_in(web: Harness) -> None:
    cookie = web.request("set", body={"cart.tea": 1}).cookie[0]  # type: ignore[index]
    slow = web.in_flight("slow-login", "mallory", cookie=cookie, body={})
    assert web.controls.waiting.acquire(timeout=20)
    web.request("logout", cookie=cookie, body={})
    web.controls.gate.set()
    assert slow().cookie[0] == ""  # type: ignore[index]
    assert web.live_ids() == []


# -- timeouts ------------------------------------------------------------------
def test_idle_timeout(framework: str, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    with backend_url("sqlite", tmp_path, request) as url, \
            harness(framework, url, idle_timeout=600, absolute_timeout=None) as web:
        cookie = web.request("set", body={"a": 1}).cookie[0]  # type: ignore[index]
        for _ in range(5):  # read-only visits, 5 minutes apart, keep it alive
            web.clock.advance(300)
            assert web.request("get", cookie=cookie).body["data"] == {"a": 1}
        web.clock.advance(601)
        reply = web.request("get", cookie=cookie)
        assert reply.body["data"] == {}
        assert reply.cookie[0] == ""  # type: ignore[index]


def test_absolute_timeout(framework: str, tmp_path: Any,
                          request: pytest.FixtureRequest) -> None:
    with backend_url("sqlite", tmp_path, request) as url, \
            harness(framework, url, idle_timeout=600, absolute_timeout=1000) as web:
        first = web.request("set", body={"a": 1})
        assert first.cookie[1]["max-age"] == "1000"  # type: ignore[index]
        cookie = first.cookie[0]  # type: ignore[index]
        for i in range(3):  # busy all along
            web.clock.advance(300)
            web.request("set", cookie=cookie, body={"n": i})
        web.clock.advance(101)  # 1001 s after creation
        assert web.request("get", cookie=cookie).body["data"] == {}
        # a write does not revive it either
        web.request("set", cookie=cookie, body={"b": 2})
        assert web.state(session_id(cookie)) is None


# -- concurrency: deltas, not overwrites ---------------------------------------
def test_concurrent_requests_lose_no_change(any_web: Harness) -> None:
    cookie = login(any_web)
    items = [f"item{i}" for i in range(8)]
    any_web.controls.together = len(items)
    pending = [any_web.in_flight("add", item, cookie=cookie, body={}) for item in items]
    replies = [p() for p in pending]
    assert all(r.status == 200 for r in replies)
    assert all(r.cookie is None for r in replies)
    data = any_web.request("get", cookie=cookie).body["data"]
    assert data == {"user": "alice", **{f"cart.{i}": 1 for i in items}}


def test_in_place_changes_and_deletes_are_saved(web: Harness) -> None:
    cookie = web.request("set", body={"a": 1, "b": 2}).cookie[0]  # type: ignore[index]
    web.request("append", "list", cookie=cookie, body={"item": "x"})
    web.request("append", "list", cookie=cookie, body={"item": "y"})
    web.request("del", cookie=cookie, body={"keys": ["a"]})
    web.request("set", cookie=cookie, body={"b": None})  # None deletes too
    assert web.request("get", cookie=cookie).body["data"] == {"list": ["x", "y"]}


# -- key rotation --------------------------------------------------------------
def test_rotating_keys_keeps_users_logged_in(framework: str, tmp_path: Any,
                                             request: pytest.FixtureRequest) -> None:
    old = new_ring("k1")
    rotated = KeyRing([("k2", new_ring("k2").key("k2")), ("k1", old.key("k1"))])
    with backend_url("sqlite", tmp_path, request) as url:
        with harness(framework, url, old) as web:
            cookie = login(web)
        with harness(framework, url, rotated) as web:
            assert web.request("get", cookie=cookie).body["data"] == {"user": "alice"}
            relogged = login(web, "alice", cookie)
            assert relogged.startswith("k2.")  # new cookies use the primary key
        with harness(framework, url, new_ring("k1")) as web:  # k1 replaced: refused
            assert web.request("get", cookie=relogged).body["data"] == {}


def test_sessions_live_under_the_configured_app_and_bucket(web: Harness) -> None:
    cookie = web.request("set", body={"a": 1}).cookie[0]  # type: ignore[index]
    found = web.call("get", APP, BUCKET, session_id(cookie), last=0)
    assert found.app == APP and found.user_id == BUCKET
