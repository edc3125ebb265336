"""The HTTP API end to end: uvicorn on a free loopback port, an httpx client,
on SQLite, PostgreSQL and Redis (a fresh store and app per test)."""

from __future__ import annotations

import concurrent.futures
import logging
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from http_helpers import BACKENDS, running, store_urls

import sessiondb
from sessiondb.http import HttpLimits, create_app

PROBLEM = "application/problem+json"
MAX_BODY = 64 * 1024


@dataclass
class Api:
    client: httpx.Client
    clock: sessiondb.FrozenClock
    base: str
    """``/v1/apps/<fresh app>/users/alice``"""

    def create(self, **body: object) -> dict:
        response = self.client.post(f"{self.base}/sessions", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def append(self, sid: str, *contents: str, **extra: object) -> httpx.Response:
        events = [{"role": "user", "content": c} for c in contents]
        return self.client.post(f"{self.base}/sessions/{sid}/events",
                                json={"events": events, **extra})


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    clock = sessiondb.FrozenClock()
    with store_urls(request.param, tmp_path, request) as make:
        store = sessiondb.open_async_store(make(), clock=clock)
        app = create_app(store, auth=None,
                         limits=HttpLimits(max_body_bytes=MAX_BODY, max_header_bytes=8192))
        with running(app) as url, httpx.Client(base_url=url, timeout=20) as client:
            yield Api(client, clock, f"/v1/apps/app{secrets.token_hex(4)}/users/alice")


def problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:sessiondb:problem:{slug}"
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# -- sessions -------------------------------------------------------------------------
def test_a_conversation(api: Api) -> None:
    c = api.client
    created = c.post(f"{api.base}/sessions",
                     json={"state": {"cart": []}, "metadata": {"channel": "web"}})
    assert created.status_code == 201
    assert created.headers["etag"] == '"v0"'
    session = created.json()
    assert created.headers["location"] == f"{api.base}/sessions/{session['id']}"
    assert session["state"] == {"cart": []} and session["metadata"] == {"channel": "web"}
    assert "events" not in session
    url = created.headers["location"]

    append = {"events": [{"role": "user", "content": "tea please"},
                         {"role": "assistant", "content": "added"}],
              "state_delta": {"cart": ["tea"]}}
    first = c.post(f"{url}/events", json=append, headers={"Idempotency-Key": "turn-1"})
    assert first.status_code == 200 and first.json() == {"version": 2}
    assert first.headers["etag"] == '"v2"'
    retry = c.post(f"{url}/events", json=append, headers={"Idempotency-Key": "turn-1"})
    assert retry.json() == {"version": 2}  # stored once
    reused = c.post(f"{url}/events", json={"events": [{"role": "user", "content": "x"}]},
                    headers={"Idempotency-Key": "turn-1"})
    problem(reused, 409, "conflict")

    got = c.get(url)
    assert got.status_code == 200 and got.headers["etag"] == '"v2"'
    assert got.json()["version"] == 2 and got.json()["state"] == {"cart": ["tea"]}
    assert "events" not in got.json()
    window = c.get(url, params={"last": 1}).json()["events"]
    assert [e["content"] for e in window] == ["added"]
    cached = c.get(url, headers={"If-None-Match": '"v2"'})
    assert cached.status_code == 304 and cached.headers["etag"] == '"v2"'
    assert not cached.content
    assert c.get(url, headers={"If-None-Match": 'W/"v1", "v9"'}).status_code == 200

    patched = c.patch(url, json={"state": {"cart": None, "note": "gift"}},
                      headers={"If-Match": '"v2"'})
    assert patched.status_code == 200 and patched.headers["etag"] == '"v3"'
    assert patched.json()["state"] == {"note": "gift"}
    stale = c.patch(url, json={"state": {"note": "lost"}}, headers={"If-Match": '"v2"'})
    body = problem(stale, 412, "version-mismatch")
    assert body["expected"] == 2 and body["actual"] == 3 and stale.headers["etag"] == '"v3"'
    stale_append = c.post(f"{url}/events", json=append, headers={"If-Match": '"v2"'})
    problem(stale_append, 412, "version-mismatch")
    assert c.get(url).json()["state"] == {"note": "gift"}  # nothing of the losers stored

    assert c.delete(url).status_code == 204
    problem(c.get(url), 404, "not-found")
    problem(c.delete(url), 404, "not-found")
    problem(c.post(f"{url}/events", json=append), 404, "not-found")


def test_create_with_an_id_and_a_taken_id(api: Api) -> None:
    api.create(id="chat-1")
    problem(api.client.post(f"{api.base}/sessions", json={"id": "chat-1"}), 409, "conflict")
    empty = api.client.post(f"{api.base}/sessions")  # no body at all: all defaults
    assert empty.status_code == 201 and len(empty.json()["id"]) >= 22


def test_expired_sessions_are_404_expired(api: Api) -> None:
    sid = api.create(idle_ttl=60)["id"]
    assert api.client.get(f"{api.base}/sessions/{sid}").json()["expires_at"] is not None
    api.clock.advance(61)
    problem(api.client.get(f"{api.base}/sessions/{sid}"), 404, "expired")
    problem(api.append(sid, "late"), 404, "expired")


def test_listing_pages_with_link_headers(api: Api) -> None:
    made = []
    for _ in range(5):
        made.append(api.create()["id"])
        api.clock.advance(1)
    other = api.base.replace("/users/alice", "/users/bob")
    api.client.post(f"{other}/sessions", json={})
    seen: list[str] = []
    url: str | None = f"{api.base}/sessions?limit=2"
    pages = 0
    while url is not None:
        response = api.client.get(url)
        assert response.status_code == 200
        page = response.json()
        seen += [s["id"] for s in page["items"]]
        link = response.headers.get("link")
        assert (link is None) == (page["next_cursor"] is None)
        url = link[1:link.index(">")] if link else None
        pages += 1
    assert seen == made and pages == 3


def test_listing_filters_by_metadata(api: Api) -> None:
    web = api.create(metadata={"channel": "web"})["id"]
    api.create(metadata={"channel": "phone"})
    page = api.client.get(f"{api.base}/sessions", params={"metadata": "channel=web"}).json()
    assert [s["id"] for s in page["items"]] == [web]


# -- events ---------------------------------------------------------------------------
def test_event_windows_and_paging(api: Api) -> None:
    sid = api.create()["id"]
    assert api.append(sid, *(f"m{i}" for i in range(1, 8))).json() == {"version": 7}
    url = f"{api.base}/sessions/{sid}/events"

    def seqs(response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        return [e["seq"] for e in response.json()["items"]]

    first = api.client.get(url, params={"limit": 3})
    assert seqs(first) == [1, 2, 3]
    assert first.json()["items"][0]["content"] == "m1"
    link = first.headers["link"]
    second = api.client.get(link[1:link.index(">")])
    assert seqs(second) == [4, 5, 6]
    last = api.client.get(url, params={"limit": 3, "cursor": second.json()["next_cursor"]})
    assert seqs(last) == [7] and "link" not in last.headers
    assert seqs(api.client.get(url, params={"after": 5})) == [6, 7]

    newest = api.client.get(url, params={"before": 8, "limit": 2})
    assert seqs(newest) == [6, 7]
    older = newest.headers["link"]
    assert "before=6" in older
    assert seqs(api.client.get(older[1:older.index(">")])) == [4, 5]
    between = api.client.get(url, params={"after": 1, "before": 6, "limit": 2})
    assert seqs(between) == [2, 3] and "after=3" in between.headers["link"]
    problem(api.client.get(url, params={"before": 3, "cursor": "abc"}), 422, "invalid-input")


def test_concurrent_appends_with_one_version_store_one(api: Api) -> None:
    sid = api.create()["id"]
    url = f"{api.base}/sessions/{sid}/events"

    def attempt(i: int) -> int:
        body = {"events": [{"role": "user", "content": f"writer {i}"}]}
        return api.client.post(url, json=body, headers={"If-Match": '"v0"'}).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(attempt, range(4)))
    assert statuses == [200, 412, 412, 412]
    assert [e["seq"] for e in api.client.get(url).json()["items"]] == [1]


def test_fork(api: Api) -> None:
    sid = api.create()["id"]
    api.append(sid, "one", state_delta={"step": 1})
    api.append(sid, "two", state_delta={"step": 2})
    forked = api.client.post(f"{api.base}/sessions/{sid}/fork", json={"at_seq": 1,
                                                                      "id": "branch"})
    assert forked.status_code == 201
    assert forked.headers["location"] == f"{api.base}/sessions/branch"
    assert forked.json()["state"] == {"step": 1} and forked.headers["etag"] == '"v1"'
    events = api.client.get(f"{api.base}/sessions/branch/events").json()["items"]
    assert [e["content"] for e in events] == ["one"]
    problem(api.client.post(f"{api.base}/sessions/nope/fork", json={"at_seq": 0}), 404,
            "not-found")


def test_shared_state_routes(api: Api) -> None:
    app_url = api.base.rsplit("/users/", 1)[0]
    assert api.client.get(f"{api.base}/state").json() == {"state": {}}
    sid = api.create()["id"]
    api.append(sid, "hi", state_delta={"user:lang": "pt", "app:motd": "hello", "own": 1})
    assert api.client.get(f"{api.base}/state").json() == {"state": {"lang": "pt"}}
    assert api.client.get(f"{app_url}/state").json() == {"state": {"motd": "hello"}}


def test_shared_state_is_changed_without_a_session(api: Api) -> None:
    app_url = api.base.rsplit("/users/", 1)[0]
    changed = api.client.patch(f"{api.base}/state", json={"state": {"lang": "pt", "tz": "UTC"}})
    assert changed.status_code == 200 and changed.json() == {"state": {"lang": "pt", "tz": "UTC"}}
    assert api.client.patch(f"{api.base}/state", json={"state": {"tz": None}}).json() == {
        "state": {"lang": "pt"}}
    assert api.client.patch(f"{app_url}/state", json={"state": {"motd": "hi"}}).json() == {
        "state": {"motd": "hi"}}
    sid = api.create()["id"]  # a session sees both, with their prefixes
    state = api.client.get(f"{api.base}/sessions/{sid}").json()["state"]
    assert state == {"user:lang": "pt", "app:motd": "hi"}


def test_bad_shared_state_changes_change_nothing(api: Api) -> None:
    api.client.patch(f"{api.base}/state", json={"state": {"lang": "pt"}})
    problem(api.client.patch(f"{api.base}/state", json={"state": {"user:lang": "en"}}), 422,
            "invalid-input")
    problem(api.client.patch(f"{api.base}/state", json={"state": ["lang"]}), 422,
            "invalid-input")
    problem(api.client.patch(f"{api.base}/state", json={"lang": "en"}), 422, "invalid-input")
    assert api.client.get(f"{api.base}/state").json() == {"state": {"lang": "pt"}}


# -- the service ----------------------------------------------------------------------
def test_health_readiness_and_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}
    document = api.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/v1/apps/{app}/users/{user}/sessions/{sid}/events" in document["paths"]
    assert "security" not in document  # this app does not authenticate


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    problem(api.client.get("/nowhere"), 404, "not-found")
    wrong = api.client.put(f"{api.base}/sessions")
    problem(wrong, 405, "method-not-allowed")
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize("app", ["_sessiondb.apikeys", "_sessiondb", "_sessiondbx"])
def test_reserved_apps_are_not_served(api: Api, app: str) -> None:
    problem(api.client.get(f"/v1/apps/{app}/users/keys/sessions"), 404, "not-found")
    problem(api.client.get(f"/v1/apps/{app}/state"), 404, "not-found")


# -- bad input is never a 500 -----------------------------------------------------------
def test_bad_bodies(api: Api) -> None:
    sid = api.create()["id"]
    events = f"{api.base}/sessions/{sid}/events"
    json_headers = {"content-type": "application/json"}
    cases = [
        ("post", events, b"{bad", 400, "malformed-request"),
        ("post", events, b'{"events": [{"role": "u", "content": NaN}]}', 400,
         "malformed-request"),
        ("post", events, b"\xff\xfe{}", 400, "malformed-request"),
        ("post", events, b"[" * 100_000 + b"]" * 100_000, 413, "too-large"),
        ("post", events, b"[" * 20_000 + b"]" * 20_000, 400, "malformed-request"),
        ("post", events, b'{"events": [{"role": "u", "content": ' + b"9" * 5000 + b"}]}",
         400, "malformed-request"),
        ("post", events, b"[]", 422, "invalid-input"),
        ("post", events, b'"text"', 422, "invalid-input"),
        ("post", events, b"{}", 422, "invalid-input"),
        ("post", events, b'{"events": "hi"}', 422, "invalid-input"),
        ("post", events, b'{"events": {"role": "user"}}', 422, "invalid-input"),
        ("post", events, b'{"events": []}', 422, "invalid-input"),
        ("post", events, b'{"events": [1]}', 422, "invalid-input"),
        ("post", events, b'{"events": [{"content": "no role"}]}', 422, "invalid-input"),
        ("post", events, b'{"events": [{"role": "u", "kind": "wrong"}]}', 422,
         "invalid-input"),
        ("post", events, b'{"events": [{"role": "u"}], "state_delta": [1]}', 422,
         "invalid-input"),
        ("post", events, b'{"events": [{"role": "u"}], "extra": 1}', 422, "invalid-input"),
        ("post", events, b'{"events": [' + b'{"role": "u"},' * 100 + b'{"role": "u"}]}', 413,
         "too-large"),
        ("post", f"{api.base}/sessions", b'{"state": "x"}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"state": {"": 1}}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"idle_ttl": "1h"}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"idle_ttl": -1}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"idle_ttl": 1e300}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"id": 7}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"id": "a/b"}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions", b'{"metadata": {"k": 1}}', 422, "invalid-input"),
        ("patch", f"{api.base}/sessions/{sid}", b'{"state": null}', 422, "invalid-input"),
        ("patch", f"{api.base}/sessions/{sid}", b'{"x": {}}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions/{sid}/fork", b'{"at_seq": true}', 422,
         "invalid-input"),
        ("post", f"{api.base}/sessions/{sid}/fork", b'{"at_seq": -1}', 422, "invalid-input"),
        ("post", f"{api.base}/sessions/{sid}/fork", b'{"at_seq": 99}', 422, "invalid-input"),
    ]
    for method, url, content, status, slug in cases:
        response = api.client.request(method, url, content=content, headers=json_headers)
        assert response.status_code == status, (content[:60], response.text)
        problem(response, status, slug)
    form = api.client.post(events, content=b"a=1",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    problem(form, 415, "unsupported-media-type")
    assert api.client.get(f"{api.base}/sessions/{sid}").json()["version"] == 0


def test_bad_query_parameters_and_headers(api: Api) -> None:
    sid = api.create()["id"]
    session = f"{api.base}/sessions/{sid}"
    for params in ({"limit": "abc"}, {"limit": 0}, {"limit": 100_000}, {"after": -1},
                   {"after": 2**60}, {"before": 0}, {"limit": "1.5"}, {"cursor": "abc"},
                   {"cursor": "x" * 5000}):
        problem(api.client.get(f"{session}/events", params=params), 422, "invalid-input")
    for params in ({"updated_after": "nan"}, {"updated_after": "inf"}, {"limit": ""},
                   {"metadata": "novalue"}, {"metadata": "bad key=1"}):
        problem(api.client.get(f"{api.base}/sessions", params=params), 422, "invalid-input")
    problem(api.client.get(session, params={"last": 100_000}), 422, "invalid-input")
    body = {"events": [{"role": "user", "content": "x"}]}
    for value in ('"v1", "v2"', "v1", 'W/"v0"', '"v99999999999999999"', '"abc"'):
        response = api.client.post(f"{session}/events", json=body, headers={"If-Match": value})
        assert response.status_code in (412, 422), (value, response.text)
    problem(api.client.post(f"{session}/events", json=body,
                            headers={"Idempotency-Key": "has space"}), 422, "invalid-input")
    problem(api.client.post(f"{session}/events", json=body,
                            headers={"Idempotency-Key": "k" * 200}), 422, "invalid-input")
    problem(api.client.get(f"{api.base}/sessions/{'s' * 200}"), 422, "invalid-input")
    problem(api.client.get(f"{api.base}/sessions/bad%20id"), 422, "invalid-input")
    assert api.client.get(session).json()["version"] == 0


def test_size_limits(api: Api) -> None:
    sid = api.create()["id"]
    url = f"{api.base}/sessions/{sid}/events"
    big = {"events": [{"role": "user", "content": "x" * MAX_BODY}]}
    body = problem(api.client.post(url, json=big), 413, "too-large")
    assert body["limit"] == MAX_BODY and body["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"events": [{"role": "user", "content": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}]}'

    streamed = api.client.post(url, content=chunks(),
                               headers={"content-type": "application/json"})
    problem(streamed, 413, "too-large")
    problem(api.client.get(url, headers={"x-filler": "y" * 9000}), 431, "headers-too-large")
    assert api.client.get(f"{api.base}/sessions/{sid}").json()["version"] == 0


def test_a_client_gone_mid_body_is_no_server_error(api: Api,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A client that disconnects while sending its body (a load generator
    stopping, say) is not logged as an internal error, and stores nothing."""
    sid = api.create()["id"]
    host, port = api.client.base_url.host, api.client.base_url.port
    head = (f"POST {api.base}/sessions/{sid}/events HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    with caplog.at_level(logging.WARNING, logger="sessiondb.http"):
        with socket.create_connection((host, port)) as raw:
            raw.sendall(head.encode() + b'{"events": [')
        time.sleep(0.3)  # the server notices the disconnect
        assert api.client.get(f"{api.base}/sessions/{sid}").json()["version"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
