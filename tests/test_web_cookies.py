"""The pieces of sessiondb.web without a server: the cookie signer and
attributes, the change-tracking session, the options, and the public surface."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from web_helpers import new_ring

import sessiondb.web
from sessiondb import ConfigurationError, InvalidInputError, LimitExceededError
from sessiondb.crypto.keyring import KeyRing
from sessiondb.web import CookieSettings, CookieSigner, WebSession, WebSettings
from sessiondb.web.cookies import EXPIRE, cookie_values


# -- signing -----------------------------------------------------------------
def test_sign_and_verify_round_trip() -> None:
    signer = CookieSigner(new_ring("k1"), "shop\x00session")
    value = signer.sign("abc_DEF-123")
    assert value.startswith("k1.abc_DEF-123.")
    assert signer.verify(value) == "abc_DEF-123"


@pytest.mark.parametrize("mangle", [
    lambda v: v + "x",
    lambda v: v[:-1],
    lambda v: v.replace("abc", "abd"),
    lambda v: "k2" + v[2:],
    lambda v: v.rsplit(".", 1)[0],
    lambda v: v + ".extra",
    lambda v: "",
    lambda v: "..",
    lambda v: "k1.bad id.sig",
    lambda v: "k1." + "a" * 200 + "." + v.rsplit(".", 1)[1],
])
def test_verify_refuses_anything_altered(mangle: object) -> None:
    signer = CookieSigner(new_ring("k1", "k2"))
    assert signer.verify(mangle(signer.sign("abc"))) is None  # type: ignore[operator]


def test_a_signature_is_bound_to_its_context_and_key() -> None:
    ring = new_ring("k1")
    value = CookieSigner(ring, "shop\x00session").sign("abc")
    assert CookieSigner(ring, "other-app\x00session").verify(value) is None
    assert CookieSigner(ring, "shop\x00other-cookie").verify(value) is None
    assert CookieSigner(new_ring("k1"), "shop\x00session").verify(value) is None


def test_rotation_verifies_with_any_ring_key_and_signs_with_the_primary() -> None:
    old = new_ring("k1")
    rotated = KeyRing([("k2", new_ring("k2").key("k2")), ("k1", old.key("k1"))])
    cookie = CookieSigner(old).sign("abc")
    assert CookieSigner(rotated).verify(cookie) == "abc"
    assert CookieSigner(rotated).sign("abc").startswith("k2.")
    retired = KeyRing([("k2", rotated.key("k2"))])
    assert CookieSigner(retired).verify(cookie) is None


# -- attributes ----------------------------------------------------------------
def test_default_headers_are_the_safe_ones() -> None:
    cookie = CookieSettings(max_age=3600)
    assert cookie.set_header("v") == (
        "session=v; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax")
    assert cookie.expire_header() == ("session=; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                                      "00:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=Lax")
    assert cookie.header(EXPIRE) == cookie.expire_header()
    assert cookie.header("v") == cookie.set_header("v")


def test_options_show_in_the_header() -> None:
    cookie = CookieSettings(name="sid", path="/shop", domain="example.com", secure=False,
                            httponly=False, samesite="strict")
    assert cookie.set_header("v") == "sid=v; Path=/shop; Domain=example.com; SameSite=Strict"


@pytest.mark.parametrize("options", [
    {"name": "bad name"},
    {"name": "a;b"},
    {"samesite": "sometimes"},
    {"samesite": "none", "secure": False},
    {"name": "__Host-s", "secure": False},
    {"name": "__Host-s", "path": "/shop"},
    {"name": "__Host-s", "domain": "example.com"},
    {"name": "__Secure-s", "secure": False},
    {"path": "/; Domain=evil.example"},
    {"domain": "example.com\r\nX-Injected: 1"},
])
def test_unsafe_or_invalid_cookie_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        CookieSettings(**options)  # type: ignore[arg-type]


def test_host_prefixed_cookie_is_accepted() -> None:
    assert CookieSettings(name="__Host-session").set_header("v").startswith("__Host-session=v")


def test_cookie_values_finds_every_copy_in_order() -> None:
    header = 'a=1; session=first; other=x;session="second" ; sessionx=no; =; junk'
    assert cookie_values(header, "session") == ["first", "second"]
    assert cookie_values("", "session") == []


# -- options -------------------------------------------------------------------
def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSIONDB_KEYS", raising=False)
    monkeypatch.delenv("SESSIONDB_KEYS_FILE", raising=False)
    with pytest.raises(ConfigurationError, match="SESSIONDB_KEYS"):
        WebSettings.build()
    ring = new_ring("env1")
    monkeypatch.setenv("SESSIONDB_KEYS", f"env1:{_encoded(ring)}")
    assert WebSettings.build().signer.sign("x").startswith("env1.")
    assert WebSettings.build(keys=f"s1:{_encoded(ring)}").signer.sign("x").startswith("s1.")


def _encoded(ring: KeyRing) -> str:
    import base64

    return base64.urlsafe_b64encode(ring.key(ring.primary_id)).decode().rstrip("=")


def test_timeouts_and_their_defaults() -> None:
    ring = new_ring()
    default = WebSettings.build(keys=ring)
    assert (default.idle_ttl, default.max_lifetime) == (1800.0, 43200.0)
    assert default.cookie.max_age == 43200
    endless = WebSettings.build(keys=ring, idle_timeout=timedelta(days=2), absolute_timeout=None)
    assert endless.idle_ttl == 172800.0 and endless.cookie.max_age is None
    for bad in (0, -1, "10"):
        with pytest.raises(InvalidInputError):
            WebSettings.build(keys=ring, idle_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        WebSettings.build(keys=ring, app_name="no spaces")


def test_sliding_is_throttled_and_stops_at_the_deadline() -> None:
    settings = WebSettings.build(keys=new_ring(), idle_timeout=1000, absolute_timeout=10_000)
    created = 0.0
    # written at t=500: expires at 1500
    assert not settings.slide_due(1500.0, created, 550.0)  # 50 s since: not yet
    assert settings.slide_due(1500.0, created, 600.0)  # a tenth of the idle timeout
    assert not settings.slide_due(10_000.0, created, 9_500.0)  # capped by the deadline
    assert not settings.slide_due(None, created, 600.0)


# -- the session object -------------------------------------------------------
def test_only_changed_keys_are_in_the_delta() -> None:
    s = WebSession("id1", {"a": 1, "b": [1], "c": {"x": 1}, "d": "text"})
    assert s.delta() == {} and not s.modified and not s.accessed
    s["a"] = 2
    s["b"].append(2)  # in place
    _ = s["c"]  # handed out, not changed
    del s["d"]
    s["e"] = None  # None deletes (and was absent)
    assert s.accessed and s.modified
    assert s.delta() == {"a": 2, "b": [1, 2], "d": None, "e": None}
    assert dict(s) == {"a": 2, "b": [1, 2], "c": {"x": 1}}


def test_shared_scope_keys_are_hidden_and_refused() -> None:
    s = WebSession("id1", {"app:motd": "hi", "user:x": 1, "mine": 2})
    assert dict(s) == {"mine": 2}
    for key in ("app:motd", "user:x", "temp:y"):
        with pytest.raises(InvalidInputError, match="reserved"):
            s[key] = 1


@pytest.mark.parametrize("key, value, error", [
    ("k", object(), InvalidInputError),
    ("k", float("nan"), InvalidInputError),
    ("", 1, InvalidInputError),
    (1, 1, InvalidInputError),
    ("k", "x" * 300_000, LimitExceededError),
])
def test_values_must_be_json(key: object, value: object, error: type) -> None:
    s = WebSession()
    with pytest.raises(error):
        s[key] = value  # type: ignore[index]
    assert s.delta() == {}


def test_logout_clears_and_remembers_the_id_to_delete() -> None:
    s = WebSession("id1", {"user": "alice"})
    s.regenerate()
    s.clear()
    assert s.id is None and s.new and s.ended == ["id1"] and not s.regenerate_requested
    assert dict(s) == {} and s.delta() == {}
    s["flash"] = "bye"
    assert s.delta() == {"flash": "bye"}


def test_flask_attributes() -> None:
    s = WebSession()
    assert s.new and not s.permanent
    s.permanent = True
    assert s.permanent and s.delta() == {"_permanent": True}
    s.mark_accessed()
    assert s.accessed
    assert "keys=['_permanent']" in repr(s) and "id1" not in repr(WebSession("id1"))


# -- the public surface ----------------------------------------------------------
def test_all_is_curated_and_sorted() -> None:
    assert sessiondb.web.__all__ == sorted(sessiondb.web.__all__)
    for name in sessiondb.web.__all__:
        assert getattr(sessiondb.web, name) is not None
    with pytest.raises(AttributeError):
        sessiondb.web.Nothing  # noqa: B018


def test_importing_sessiondb_web_loads_no_framework() -> None:
    code = ("import json, sys, sessiondb, sessiondb.web; print(json.dumps(sorted("
            "m for m in sys.modules if m.split('.')[0] in ('starlette', 'flask', 'werkzeug',"
            " 'fastapi', 'itsdangerous'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []
    core = subprocess.run([sys.executable, "-c", "import sys, sessiondb; "
                           "print('sessiondb.web' in sys.modules)"],
                          capture_output=True, text=True, check=True)
    assert core.stdout.strip() == "False"
