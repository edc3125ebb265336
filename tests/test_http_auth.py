"""Authentication of the HTTP service: API keys (made with the CLI, stored
hashed in the store, on every backend) and OIDC JWTs checked against a JWKS
generated here; the guard covers routes added to the app later."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from http_helpers import BACKENDS, running, store_urls
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

import sessiondb
from sessiondb.cli import main
from sessiondb.http import ApiKeyAuth, JWTAuth, create_app
from sessiondb.http.apikeys import KEYS_APP

ISSUER, AUDIENCE = "https://idp.test", "sessiondb-api"


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unauthorized(response: httpx.Response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    slug = "unauthorized" if status == 401 else "forbidden"
    assert response.json()["type"] == f"urn:sessiondb:problem:{slug}"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


# -- API keys ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_api_keys_from_the_cli(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                               capsys: pytest.CaptureFixture[str]) -> None:
    with store_urls(backend, tmp_path, request) as make:
        url = make()
        shop = cli_json(capsys, "--db", url, "apikeys", "create", "--app", "shop",
                        "--name", "web")
        cli_json(capsys, "--db", url, "apikeys", "create", "--app", "blog")
        assert shop["key"].startswith("sdb_") and shop["app"] == "shop"
        listed = cli_json(capsys, "--db", url, "apikeys", "ls")
        assert {k["app"] for k in listed} == {"shop", "blog"}
        assert all("key" not in k for k in listed)
        assert [k["id"] for k in cli_json(capsys, "--db", url, "apikeys", "ls", "--app",
                                          "shop")] == [shop["id"]]

        with sessiondb.open_store(url) as raw:  # only the hash is stored
            record = raw.get(KEYS_APP, "keys", shop["id"], last=0)
            assert shop["key"] not in json.dumps(record.to_dict())
            assert len(record.metadata["sha256"]) == 64

        store = sessiondb.open_async_store(url)
        app = create_app(store, auth=[ApiKeyAuth(store, cache_seconds=0)])
        with running(app) as base, httpx.Client(base_url=base) as client:
            sessions = "/v1/apps/shop/users/alice/sessions"
            created = client.post(sessions, json={}, headers=bearer(shop["key"]))
            assert created.status_code == 201
            assert client.get(sessions, headers=bearer(shop["key"])).status_code == 200
            assert client.get("/v1/apps/shop/state",
                              headers=bearer(shop["key"])).status_code == 200
            unauthorized(client.get(sessions))
            unauthorized(client.get(sessions, headers={"Authorization": "Basic eDp5"}))
            tampered = shop["key"][:-1] + ("B" if shop["key"][-1] != "B" else "C")
            unauthorized(client.get(sessions, headers=bearer(tampered)))
            unauthorized(client.get(sessions, headers=bearer("sdb_short")))
            unauthorized(client.get(sessions, headers=bearer("opaque-token")))
            unauthorized(client.get("/v1/apps/blog/users/alice/sessions",
                                    headers=bearer(shop["key"])), 403)
            forbidden = client.get(f"/v1/apps/{KEYS_APP}/users/keys/sessions",
                                   headers=bearer(shop["key"]))
            assert forbidden.status_code == 404  # reserved: never served, to anyone
            assert client.get("/healthz").status_code == 200  # outside /v1: open
            assert client.get("/openapi.json").json()["security"] == [{"bearer": []}]

            capsys.readouterr()
            assert main(["--db", url, "apikeys", "revoke", shop["id"]]) == 0
            unauthorized(client.get(sessions, headers=bearer(shop["key"])))
            assert main(["--db", url, "apikeys", "revoke", shop["id"]]) == 1
            assert "no API key" in capsys.readouterr().err


def test_apikeys_refuse_reserved_and_bad_apps(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/keys.db"
    assert main(["--db", url, "apikeys", "create", "--app", "_sessiondb.x"]) == 1
    assert main(["--db", url, "apikeys", "create", "--app", "bad app"]) == 1
    capsys.readouterr()
    assert main(["--db", url, "apikeys", "create", "--app", "shop"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("sdb_") and "shown only now" in captured.err
    assert main(["--db", url, "apikeys", "ls"]) == 0
    assert "shop" in capsys.readouterr().out


def test_a_verified_key_is_cached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/keys.db"
    key = cli_json(capsys, "--db", url, "apikeys", "create", "--app", "shop")
    store = sessiondb.open_async_store(url)
    app = create_app(store, auth=[ApiKeyAuth(store, cache_seconds=60)])
    with running(app) as base, httpx.Client(base_url=base) as client:
        sessions = "/v1/apps/shop/users/u/sessions"
        assert client.get(sessions, headers=bearer(key["key"])).status_code == 200
        assert main(["--db", url, "apikeys", "revoke", key["id"]]) == 0
        # Within the cache period the service still knows the key...
        assert client.get(sessions, headers=bearer(key["key"])).status_code == 200
        # ...but a wrong secret for that id is refused all the same.
        unauthorized(client.get(sessions, headers=bearer(key["key"][:-2] + "xx")))


# -- OIDC tokens ------------------------------------------------------------------------
class Issuer:
    """A signing key pair and its JWKS, as an identity provider has."""

    def __init__(self, kid: str = "k1", algorithm: str = "RS256") -> None:
        self.kid, self.algorithm = kid, algorithm
        self.private = (ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256"
                        else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        cls = jwt.algorithms.ECAlgorithm if algorithm == "ES256" else jwt.algorithms.RSAAlgorithm
        self.jwk = {**json.loads(cls.to_jwk(self.private.public_key())), "kid": kid,
                    "alg": algorithm, "use": "sig"}

    def token(self, sub: str = "alice", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300,
                **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm=self.algorithm,
                          headers={"kid": self.kid})


def write_jwks(path: Path, *issuers: Issuer) -> str:
    path.write_text(json.dumps({"keys": [i.jwk for i in issuers]}))
    return str(path)


@pytest.fixture
def oidc(tmp_path: Path) -> Iterator[tuple[httpx.Client, Issuer, Path]]:
    idp = Issuer()
    jwks = tmp_path / "jwks.json"
    store = sessiondb.open_async_store(f"sqlite:///{tmp_path}/s.db")
    auth = [ApiKeyAuth(store), JWTAuth(write_jwks(jwks, idp), issuer=ISSUER,
                                       audience=AUDIENCE)]
    with running(create_app(store, auth=auth)) as base, httpx.Client(base_url=base) as client:
        yield client, idp, jwks


def test_user_tokens_reach_only_their_own_user(oidc: tuple[httpx.Client, Issuer, Path]
                                               ) -> None:
    client, idp, _ = oidc
    alice = bearer(idp.token("alice"))
    assert client.post("/v1/apps/shop/users/alice/sessions", headers=alice).status_code == 201
    assert client.get("/v1/apps/other/users/alice/sessions", headers=alice).status_code == 200
    unauthorized(client.get("/v1/apps/shop/users/bob/sessions", headers=alice), 403)
    unauthorized(client.get("/v1/apps/shop/state", headers=alice), 403)
    unauthorized(client.patch("/v1/apps/shop/state", headers=alice,
                              json={"state": {"motd": "mine"}}), 403)
    unauthorized(client.patch("/v1/apps/shop/users/bob/state", headers=alice,
                              json={"state": {"lang": "xx"}}), 403)
    assert client.patch("/v1/apps/shop/users/alice/state", headers=alice,
                        json={"state": {"lang": "pt"}}).status_code == 200

    admin = bearer(idp.token("ops", scope="read sessiondb:admin"))
    assert client.get("/v1/apps/shop/users/bob/sessions", headers=admin).status_code == 200
    assert client.get("/v1/apps/shop/state", headers=admin).status_code == 200
    scp = bearer(idp.token("ops", scp=["sessiondb:admin"]))
    assert client.get("/v1/apps/shop/users/bob/sessions", headers=scp).status_code == 200
    reserved = client.get(f"/v1/apps/{KEYS_APP}/users/keys/sessions", headers=admin)
    assert reserved.status_code == 404


def test_bad_tokens_are_refused(oidc: tuple[httpx.Client, Issuer, Path]) -> None:
    client, idp, _ = oidc
    url = "/v1/apps/shop/users/alice/sessions"
    impostor = Issuer(kid=idp.kid)  # same kid, another key
    public_pem = idp.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header, payload, _ = idp.token().split(".")
    bad = {
        "wrong issuer": idp.token(iss="https://evil.test"),
        "wrong audience": idp.token(aud="another-api"),
        "expired": idp.token(exp=int(time.time()) - 3600),
        "no exp": idp.token(exp=None),
        "no sub": idp.token(sub=None),
        "unknown kid": Issuer(kid="k9").token(),
        "wrong key": impostor.token(),
        "alg none": jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE,
                                "exp": int(time.time()) + 60}, None, algorithm="none",
                               headers={"kid": idp.kid}),
        "HS256 with the public key": _hs256_with(public_pem, idp.kid),
        "tampered payload": f"{header}.{payload[:-2]}xx.sig",
        "garbage": "a.b.c",
    }
    for name, token in bad.items():
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        unauthorized(response)


def _hs256_with(secret: bytes, kid: str) -> str:
    """The algorithm-confusion attack: HMAC signed with the public key."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE,
                           "exp": int(time.time()) + 60}).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def test_a_rotated_jwks_file_is_read_again(oidc: tuple[httpx.Client, Issuer, Path]) -> None:
    client, idp, jwks = oidc
    new = Issuer(kid="k2", algorithm="ES256")
    url = "/v1/apps/shop/users/alice/sessions"
    unauthorized(client.get(url, headers=bearer(new.token())))
    write_jwks(jwks, idp, new)
    assert client.get(url, headers=bearer(new.token())).status_code == 200


def test_a_jwks_url(tmp_path: Path) -> None:
    idp = Issuer()
    document = json.dumps({"keys": [idp.jwk]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    jwks_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=jwks_server.serve_forever, daemon=True).start()
    try:
        jwks_url = f"http://127.0.0.1:{jwks_server.server_port}/jwks.json"
        store = sessiondb.open_async_store(f"sqlite:///{tmp_path}/s.db")
        app = create_app(store, auth=[JWTAuth(jwks_url, issuer=ISSUER, audience=AUDIENCE)])
        with running(app) as base, httpx.Client(base_url=base) as client:
            url = "/v1/apps/shop/users/alice/sessions"
            assert client.get(url, headers=bearer(idp.token())).status_code == 200
            unauthorized(client.get(url, headers=bearer(Issuer().token())))
            # An API key is not a JWT: with no ApiKeyAuth here it is unrecognised.
            unauthorized(client.get(url, headers=bearer("sdb_" + "0" * 16 + "_" + "a" * 43)))
    finally:
        jwks_server.shutdown()


# -- the guard covers routes added later ---------------------------------------------------
def test_routes_added_to_the_app_are_guarded(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    key = cli_json(capsys, "--db", url, "apikeys", "create", "--app", "shop")["key"]

    async def stream(request: Request) -> JSONResponse:
        principal = request.state.principal
        return JSONResponse({"kind": principal.kind, "app": principal.app})

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.principal.kind)
        await websocket.close()

    extra = [Route("/v1/apps/{app}/users/{user}/sessions/{sid}/events/stream", stream),
             WebSocketRoute("/v1/apps/{app}/users/{user}/socket", socket)]
    store = sessiondb.open_async_store(url)
    app = create_app(store, auth=[ApiKeyAuth(store)], routes=extra)
    with running(app) as base, httpx.Client(base_url=base) as client:
        path = "/v1/apps/{}/users/u/sessions/s/events/stream"
        unauthorized(client.get(path.format("shop")))
        unauthorized(client.get(path.format("blog"), headers=bearer(key)), 403)
        assert client.get(path.format("shop"), headers=bearer(key)).json() == {
            "kind": "api-key", "app": "shop"}

        ws = base.replace("http://", "ws://") + "/v1/apps/{}/users/u/socket"
        for app_name, headers in (("shop", {}), ("blog", bearer(key))):
            with pytest.raises(websockets.exceptions.InvalidStatus):
                connect(ws.format(app_name), additional_headers=headers).close()
        with connect(ws.format("shop"), additional_headers=bearer(key)) as conn:
            assert conn.recv() == "api-key"


# -- the command refuses unsafe setups -----------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--no-auth", "--host", "0.0.0.0"], "refusing to serve without authentication"),
    (["--no-auth", "--host", "192.168.1.10"], "refusing to serve without authentication"),
    (["--jwks", "keys.json"], "--jwks needs --issuer and --audience"),
])
def test_serve_refuses(argv: list[str], message: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", f"sqlite:///{tmp_path}/s.db", "serve", *argv]) == 2
    assert message in capsys.readouterr().err


def test_loopback_addresses() -> None:
    from sessiondb.http.server import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))
