"""Signed session tokens: the round trip, every forgery we know of, key
rotation and revocation kept in each backend (sync and async).

The forged tokens are built for real: by hand (``alg: none``, HMAC keyed
with the public key) or with PyJWT and a key the ring does not hold.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pg_helpers import Schemas
from redis_helpers import url_factory
from servers import need_postgres

import sessiondb
from sessiondb import AuthError, ConfigurationError, FrozenClock, InvalidInputError
from sessiondb.crypto.keyring import KeyRing, new_key
from sessiondb.crypto.tokens import (
    TOKEN_TYPE,
    AsyncSessionTokens,
    SessionClaims,
    SessionTokens,
    TokenCodec,
)

ISSUER, AUDIENCE = "https://auth.example", "shop-api"
LIFETIME, LEEWAY = 900, 5


def ring_of(*kids: str) -> KeyRing:
    return KeyRing.from_string(",".join(f"{kid}:{new_key()}" for kid in kids))


@pytest.fixture
def ring() -> KeyRing:
    return ring_of("k1")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[sessiondb.SessionStore]:
    with sessiondb.open_store(f"sqlite:///{tmp_path}/tokens.db", clock=clock) as opened:
        opened.create("shop", "alice", "s1", state={"cart": ["tea"]})
        yield opened


@pytest.fixture
def tokens(store: sessiondb.SessionStore, ring: KeyRing) -> SessionTokens:
    return SessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE, lifetime=LIFETIME,
                         leeway=LEEWAY)


# -- crafting tokens by hand -------------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: object) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def payload(clock: FrozenClock, **changes: Any) -> dict[str, Any]:
    """Good claims, with ``changes`` applied (a value of ``...`` removes one)."""
    now = int(clock.now())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "app": "shop", "sid": "s1",
              "ver": 1, "iat": now, "exp": now + LIFETIME, "jti": "forged-jti"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


def signing_key(ring: KeyRing, kid: str) -> Ed25519PrivateKey:
    """The private key the ring derives for ``kid``: what a holder of the
    master key (and only they) can compute."""
    return Ed25519PrivateKey.from_private_bytes(ring.derive("token-signing", kid))


def sign(claims: dict[str, Any], key: Ed25519PrivateKey, kid: str = "k1",
         typ: str | None = TOKEN_TYPE) -> str:
    headers: dict[str, Any] = {"kid": kid, "typ": typ}
    return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)


def public_key(tokens: SessionTokens, kid: str = "k1") -> bytes:
    """The raw public key, as anyone can read it from the JWKS."""
    jwk = next(k for k in tokens.jwks()["keys"] if k["kid"] == kid)
    return base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))


def refused(tokens: SessionTokens, token: object, match: str) -> AuthError:
    """``token`` is refused with exactly AuthError, never a PyJWT error."""
    with pytest.raises(AuthError, match=match) as info:
        tokens.verify(token)
    assert type(info.value) is AuthError
    return info.value


def snapshot(store: sessiondb.SessionStore) -> list[Any]:
    return list(store.export())


# -- the round trip ----------------------------------------------------------

def test_a_token_round_trips(tokens: SessionTokens, clock: FrozenClock) -> None:
    token = tokens.issue("shop", "alice", "s1", 7)
    claims = tokens.verify(token)
    now = int(clock.now())
    assert claims == SessionClaims(
        app="shop", user_id="alice", session_id="s1", version=7, jti=claims.jti,
        issued_at=now, expires_at=now + LIFETIME, issuer=ISSUER, audience=AUDIENCE,
        key_id="k1")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": "k1", "typ": TOKEN_TYPE}
    assert len(claims.jti) >= 22 and tokens.verify(tokens.issue("shop", "alice", "s1", 7)).jti \
        != claims.jti


def test_another_service_verifies_with_the_jwks(tokens: SessionTokens) -> None:
    token = tokens.issue("shop", "alice", "s1", 1)
    jwks = tokens.jwks()
    assert [(k["kty"], k["crv"], k["alg"], k["kid"]) for k in jwks["keys"]] == [
        ("OKP", "Ed25519", "EdDSA", "k1")]
    key = jwt.PyJWKSet.from_dict(jwks)["k1"]
    # PyJWT checks exp against the wall clock; the frozen clock is in the past
    decoded = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
                         options={"verify_exp": False})
    assert (decoded["sub"], decoded["sid"], decoded["ver"]) == ("alice", "s1", 1)


def test_the_jwks_holds_no_secret(tokens: SessionTokens, ring: KeyRing) -> None:
    text = json.dumps(tokens.jwks())
    for secret in (ring.key("k1"), ring.derive("token-signing", "k1")):
        assert b64(secret) not in text
    assert set(tokens.jwks()["keys"][0]) == {"kty", "crv", "use", "alg", "kid", "x"}


# -- forgeries ---------------------------------------------------------------

@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(tokens: SessionTokens, clock: FrozenClock, alg: str) -> None:
    header = {"alg": alg, "typ": TOKEN_TYPE, "kid": "k1"}
    unsigned = f"{segment(header)}.{segment(payload(clock))}."
    refused(tokens, unsigned, "algorithm .* is refused")
    # even with the real signature of the same content pasted on
    real = tokens.issue("shop", "alice", "s1", 1)
    _head, body, sig = real.split(".")
    refused(tokens, f"{segment(header)}.{body}.{sig}", "algorithm .* is refused")


@pytest.mark.parametrize("form", ["pem", "raw", "jwk-json"])
def test_hs256_signed_with_the_public_key_is_refused(
    tokens: SessionTokens, clock: FrozenClock, form: str
) -> None:
    """The key confusion attack: the public key (which anyone has) used as
    an HMAC secret."""
    raw = public_key(tokens)
    secret = {
        "pem": Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "raw": raw,
        "jwk-json": json.dumps(tokens.jwks()["keys"][0]).encode(),
    }[form]
    signing_input = f"{segment({'alg': 'HS256', 'typ': TOKEN_TYPE, 'kid': 'k1'})}." \
                    f"{segment(payload(clock))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    refused(tokens, f"{signing_input}.{b64(mac)}", "algorithm 'HS256' is refused")
    if form == "raw":  # the same forgery, made by PyJWT itself
        forged = jwt.encode(payload(clock), raw, algorithm="HS256",
                            headers={"kid": "k1", "typ": TOKEN_TYPE})
        refused(tokens, forged, "algorithm 'HS256' is refused")


def test_an_expired_token_is_refused(tokens: SessionTokens, clock: FrozenClock) -> None:
    token = tokens.issue("shop", "alice", "s1", 1)
    clock.advance(LIFETIME + LEEWAY - 1)
    assert tokens.verify(token).version == 1  # inside the leeway
    clock.advance(1)
    refused(tokens, token, "has expired")


def test_a_token_made_expired_is_refused(
    tokens: SessionTokens, ring: KeyRing, clock: FrozenClock
) -> None:
    now = int(clock.now())
    token = sign(payload(clock, iat=now - 2000, exp=now - 1000), signing_key(ring, "k1"))
    refused(tokens, token, "has expired")


def test_a_token_from_the_future_is_refused(
    tokens: SessionTokens, ring: KeyRing, clock: FrozenClock
) -> None:
    now = int(clock.now())
    token = sign(payload(clock, iat=now + 60, exp=now + 960), signing_key(ring, "k1"))
    refused(tokens, token, "issued in the future")
    refused(tokens, sign(payload(clock, nbf=now + 60), signing_key(ring, "k1")),
            "not valid yet")


@pytest.mark.parametrize(("claim", "value", "match"), [
    ("aud", "admin-api", "Audience"),
    ("aud", [AUDIENCE, "admin-api"], "Invalid claim format|Audience"),
    ("iss", "https://evil.example", "Invalid issuer"),
])
def test_a_token_for_someone_else_is_refused(
    tokens: SessionTokens, ring: KeyRing, clock: FrozenClock, claim: str, value: object,
    match: str,
) -> None:
    error = refused(tokens, sign(payload(clock, **{claim: value}), signing_key(ring, "k1")),
                    match)
    assert isinstance(error.__cause__, jwt.PyJWTError)


def test_a_token_issued_for_another_audience_is_refused(
    store: sessiondb.SessionStore, tokens: SessionTokens, ring: KeyRing
) -> None:
    other = SessionTokens(store, ring, issuer=ISSUER, audience="admin-api")
    refused(tokens, other.issue("shop", "alice", "s1", 1), "Audience")
    refused(other, tokens.issue("shop", "alice", "s1", 1), "Audience")


def test_a_bad_signature_is_refused(tokens: SessionTokens, clock: FrozenClock) -> None:
    head, body, sig = tokens.issue("shop", "alice", "s1", 1).split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 1
    error = refused(tokens, f"{head}.{body}.{b64(bytes(raw))}", "Signature verification")
    assert isinstance(error.__cause__, jwt.InvalidSignatureError)
    refused(tokens, f"{head}.{body}.", "Signature verification|Not enough segments")
    # signed by a key of the same name in another ring
    stranger = sign(payload(clock), signing_key(ring_of("k1"), "k1"))
    refused(tokens, stranger, "Signature verification")


def test_a_tampered_payload_is_refused(tokens: SessionTokens) -> None:
    head, body, sig = tokens.issue("shop", "alice", "s1", 1).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    for change in ({"sub": "mallory"}, {"ver": 99}, {"sid": "s2"}, {"exp": claims["exp"] + 1}):
        forged = f"{head}.{segment({**claims, **change})}.{sig}"
        refused(tokens, forged, "Signature verification")


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", None, ""])
def test_a_token_of_another_type_is_refused(
    tokens: SessionTokens, ring: KeyRing, clock: FrozenClock, typ: str | None
) -> None:
    """Signed by the right key for another use (or no declared use)."""
    refused(tokens, sign(payload(clock), signing_key(ring, "k1"), typ=typ), "token type")


@pytest.mark.parametrize("claim", ["exp", "iat", "aud", "iss", "jti", "sub", "app", "sid", "ver"])
def test_a_token_missing_a_claim_is_refused(
    tokens: SessionTokens, ring: KeyRing, clock: FrozenClock, claim: str
) -> None:
    token = sign(payload(clock, **{claim: ...}), signing_key(ring, "k1"))
    refused(tokens, token, f'missing the "{claim}" claim')


@pytest.mark.parametrize("change", [
    {"ver": "1"}, {"ver": True}, {"ver": -1}, {"ver": 1.5}, {"exp": "later"}, {"iat": 1.5},
    {"sub": 5}, {"jti": 7}, {"app": "sh op"}, {"sid": ["s1"]}, {"sid": "x" * 200},
])
def test_a_claim_of_the_wrong_shape_is_refused(
    tokens: SessionTokens, ring: KeyRing, clock: FrozenClock, change: dict[str, Any]
) -> None:
    refused(tokens, sign(payload(clock, **change), signing_key(ring, "k1")),
            r"claim .*(must be|malformed)|must be a string")


def test_an_unknown_key_id_is_refused(tokens: SessionTokens, clock: FrozenClock) -> None:
    other = ring_of("k9")
    refused(tokens, sign(payload(clock), signing_key(other, "k9"), kid="k9"),
            "key 'k9', which is not in the key ring")
    no_kid = jwt.encode(payload(clock), signing_key(other, "k9"), algorithm="EdDSA",
                        headers={"typ": TOKEN_TYPE})
    refused(tokens, no_kid, "key None")


@pytest.mark.parametrize("token", [
    None, 123, b"abc", "", "abc", "a.b", "a.b.c", "....", "x" * 5000,
    f"{segment(['not', 'an', 'object'])}.{segment({})}.",
    f"{b64(b'not json')}.{segment({})}.",
])
def test_malformed_tokens_are_refused(tokens: SessionTokens, token: object) -> None:
    refused(tokens, token, "session token")


def test_failed_verifies_and_revokes_change_no_stored_data(
    store: sessiondb.SessionStore, tokens: SessionTokens, ring: KeyRing, clock: FrozenClock
) -> None:
    before = snapshot(store)
    forged = [
        f"{segment({'alg': 'none', 'typ': TOKEN_TYPE, 'kid': 'k1'})}.{segment(payload(clock))}.",
        sign(payload(clock), signing_key(ring_of("k1"), "k1")),
        sign(payload(clock, aud="admin-api"), signing_key(ring, "k1")),
        "garbage",
    ]
    for token in forged:
        refused(tokens, token, "session token")
        with pytest.raises(AuthError):
            tokens.revoke(token)  # never stores a record for a forgery
    assert snapshot(store) == before
    # and a good verify only reads
    tokens.verify(tokens.issue("shop", "alice", "s1", 1))
    assert snapshot(store) == before


# -- rotation ----------------------------------------------------------------

def test_rotation_keeps_old_tokens_valid_until_their_key_leaves(
    store: sessiondb.SessionStore, clock: FrozenClock
) -> None:
    old_ring = ring_of("k1")
    k1 = f"k1:{b64(old_ring.key('k1'))}"
    before = SessionTokens(store, old_ring, issuer=ISSUER, audience=AUDIENCE)
    old_token = before.issue("shop", "alice", "s1", 1)

    rotated = SessionTokens(store, f"k2:{new_key()},{k1}", issuer=ISSUER, audience=AUDIENCE)
    assert rotated.verify(old_token).key_id == "k1"  # nobody is logged out
    new_token = rotated.issue("shop", "alice", "s1", 2)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert rotated.verify(new_token).key_id == "k2"
    assert [k["kid"] for k in rotated.jwks()["keys"]] == ["k2", "k1"]
    # a service still on the old ring does not know k2 yet
    refused(before, new_token, "key 'k2', which is not in the key ring")

    retired = SessionTokens(store, KeyRing([("k2", rotated.codec.ring.key("k2"))]),
                            issuer=ISSUER, audience=AUDIENCE)
    assert retired.verify(new_token).key_id == "k2"
    refused(retired, old_token, "key 'k1', which is not in the key ring")


# -- revocation, on every backend, sync and async ----------------------------

@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, namespaced store URL on each backend (skipped when its
    server is unreachable)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/revoked.db"
    elif request.param == "postgres":
        schemas = Schemas(need_postgres())
        try:
            yield schemas.url()
        finally:
            schemas.drop()
    else:
        with url_factory("redis", request) as make:
            yield make()


def check_revocation(store: sessiondb.SessionStore, clock: FrozenClock, ring: KeyRing) -> None:
    tokens = SessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE, lifetime=LIFETIME,
                           leeway=LEEWAY)
    token, other = (tokens.issue("shop", "alice", "s1", 1) for _ in range(2))
    claims = tokens.verify(token)
    assert tokens.revoke(token) is True
    assert tokens.revoke(token) is False  # already revoked: fine
    before = snapshot(store)
    refused(tokens, token, "has been revoked")  # replay after revocation
    assert snapshot(store) == before
    assert tokens.verify(other).jti != claims.jti  # other tokens unaffected
    # revocation is shared by every verifier of the store, and by claims too
    again = SessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE)
    refused(again, token, "has been revoked")
    assert again.revoke(tokens.verify(other)) is True
    refused(tokens, other, "has been revoked")

    # the record lives as long as the token would, then goes
    clock.advance(LIFETIME + LEEWAY - 1)
    refused(tokens, token, "has been revoked")
    clock.advance(1)
    refused(tokens, token, "has expired")
    assert tokens.is_revoked(claims) is False
    assert store.purge_expired() == 2
    assert tokens.revoke(token) is False  # expired: nothing to store
    assert snapshot(store) == []


def test_revocation_sync(store_url: str, ring: KeyRing) -> None:
    clock = FrozenClock()
    with sessiondb.open_store(store_url, clock=clock) as store:
        check_revocation(store, clock, ring)


async def check_revocation_async(
    store: sessiondb.AsyncSessionStore, clock: FrozenClock, ring: KeyRing
) -> None:
    tokens = AsyncSessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE,
                                lifetime=LIFETIME, leeway=LEEWAY)
    token = tokens.issue("shop", "alice", "s1", 4)
    claims = await tokens.verify(token)
    assert claims.version == 4
    assert await tokens.revoke(token) is True
    assert await tokens.revoke(claims) is False
    with pytest.raises(AuthError, match="has been revoked"):
        await tokens.verify(token)
    with pytest.raises(AuthError, match="Signature verification"):
        await tokens.revoke(sign(payload(clock), signing_key(ring_of("k1"), "k1")))
    clock.advance(LIFETIME + LEEWAY)
    assert await tokens.is_revoked(claims) is False
    with pytest.raises(AuthError, match="has expired"):
        await tokens.verify(token)
    assert await store.purge_expired() == 1


def test_revocation_async(store_url: str, ring: KeyRing) -> None:
    async def main() -> None:
        clock = FrozenClock()
        async with sessiondb.open_async_store(store_url, clock=clock) as store:
            await check_revocation_async(store, clock, ring)

    asyncio.run(main())


def test_a_sync_revocation_is_seen_by_an_async_verifier(tmp_path: Path, ring: KeyRing) -> None:
    url, clock = f"sqlite:///{tmp_path}/shared.db", FrozenClock()
    with sessiondb.open_store(url, clock=clock) as store:
        tokens = SessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE)
        token = tokens.issue("shop", "alice", "s1", 1)
        tokens.revoke(token)

    async def main() -> None:
        async with sessiondb.open_async_store(url, clock=clock) as store:
            tokens = AsyncSessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE)
            with pytest.raises(AuthError, match="has been revoked"):
                await tokens.verify(token)

    asyncio.run(main())


# -- configuration -----------------------------------------------------------

def test_bad_input_to_issue_is_refused_before_signing(tokens: SessionTokens) -> None:
    for args in (("shop", "alice", "s1", -1), ("shop", "alice", "s1", True),
                 ("sh op", "alice", "s1", 1), ("shop", "", "s1", 1)):
        with pytest.raises(InvalidInputError):
            tokens.issue(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("options", [
    {"issuer": ""}, {"audience": 5}, {"lifetime": 0}, {"lifetime": 0.5}, {"leeway": -1},
])
def test_bad_options_are_refused(ring: KeyRing, options: dict[str, Any]) -> None:
    settings = {"issuer": ISSUER, "audience": AUDIENCE, **options}
    with pytest.raises((ConfigurationError, InvalidInputError)):
        TokenCodec(ring, **settings)


def test_the_key_ring_comes_from_the_environment(
    store: sessiondb.SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSIONDB_KEYS", raising=False)
    monkeypatch.delenv("SESSIONDB_KEYS_FILE", raising=False)
    with pytest.raises(ConfigurationError, match="need a key ring"):
        SessionTokens(store, issuer=ISSUER, audience=AUDIENCE)
    monkeypatch.setenv("SESSIONDB_KEYS", f"env1:{new_key()}")
    tokens = SessionTokens(store, issuer=ISSUER, audience=AUDIENCE)
    assert tokens.verify(tokens.issue("shop", "alice", "s1", 1)).key_id == "env1"


def test_zero_leeway(store: sessiondb.SessionStore, ring: KeyRing, clock: FrozenClock) -> None:
    tokens = SessionTokens(store, ring, issuer=ISSUER, audience=AUDIENCE, lifetime=60, leeway=0)
    token = tokens.issue("shop", "alice", "s1", 1)
    clock.advance(59)
    tokens.verify(token)
    clock.advance(1)
    refused(tokens, token, "has expired")


def test_without_the_extra_the_error_names_it(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'sessiondb\[crypto\]'"):
        TokenCodec(ring, issuer=ISSUER, audience=AUDIENCE)


def test_importing_the_module_imports_no_optional_dependency() -> None:
    code = ("import sys, sessiondb.crypto.tokens as t; t.SessionTokens; t.AsyncSessionTokens; "
            "print(sorted(m for m in ('jwt', 'cryptography') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def methods(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def test_the_sync_and_async_classes_are_twins() -> None:
    assert methods(SessionTokens) == methods(AsyncSessionTokens) == {
        "issue", "verify", "revoke", "is_revoked", "jwks"}
    for name in ("verify", "revoke", "is_revoked"):
        assert asyncio.iscoroutinefunction(getattr(AsyncSessionTokens, name))
        assert not asyncio.iscoroutinefunction(getattr(SessionTokens, name))
