"""schemathesis against the published OpenAPI document, over real HTTP, on
every backend: no response is a 5xx, and every response (status, headers,
media type, body) matches the document. Valid and invalid requests are both
generated; the service authenticates (an admin token), so requests without
it must be refused too."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from http_helpers import BACKENDS, running, store_urls

import sessiondb
from sessiondb.http import JWTAuth, create_app
from sessiondb.http.openapi import openapi_document

ISSUER, AUDIENCE = "https://idp.test", "sessiondb-api"
#: Examples per operation and mode; raise it for a deeper run.
EXAMPLES = int(os.environ.get("SESSIONDB_SCHEMA_EXAMPLES", "40"))

CONFIG = schemathesis.Config.from_dict({
    "generation": {"max-examples": EXAMPLES},
    "checks": {
        # A request valid by the document may still be refused for what it
        # refers to: an If-Match version the session is not at (412), a
        # cursor, which is opaque and tied to its query (422), and a state
        # value over the store's byte limits (413).
        "positive_data_acceptance": {"expected-statuses": [
            "2xx", "3xx", "401", "403", "404", "409", "412", "413", "422"]},
        # 413 and 412 are refusals too: over a size limit, an If-Match that
        # cannot match.
        "negative_data_rejection": {"expected-statuses": [
            "400", "401", "403", "404", "405", "409", "412", "413", "415", "422"]},
    },
})


def admin_token(tmp_path: Path) -> tuple[str, str]:
    """A JWKS file and an admin token it verifies."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key())),
           "kid": "k1", "alg": "RS256"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "tester",
                        "scope": "sessiondb:admin", "exp": int(time.time()) + 3600},
                       private, algorithm="RS256", headers={"kid": "k1"})
    return str(jwks), token


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, str]]:
    """One service per backend for the whole module (hypothesis runs many
    examples against one fixture)."""
    tmp_path = tmp_path_factory.mktemp("schema")
    jwks, token = admin_token(tmp_path)
    with store_urls(request.param, tmp_path, request) as make:
        store = sessiondb.open_async_store(make())
        app = create_app(store, auth=[JWTAuth(jwks, issuer=ISSUER, audience=AUDIENCE)])
        with running(app) as url:
            yield url, token


#: The document an authenticating app with the default limits serves (the
#: test below checks that it is the one served).
DOCUMENT = openapi_document(sessiondb.Limits(), secured=True)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def test_the_served_document_is_the_one_tested(served: tuple[str, str]) -> None:
    url, _ = served
    assert httpx.get(f"{url}/openapi.json").json() == DOCUMENT


@pytest.mark.slow
@schema.parametrize()
def test_every_response_matches_the_document(case: schemathesis.Case,
                                             served: tuple[str, str]) -> None:
    url, token = served
    case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {token}"})
