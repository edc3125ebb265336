"""The key ring: named 256-bit keys, the first one primary.

New data is protected with the primary key; every key in the ring still
opens what it protected, so a key is rotated by putting a new one first and
retired (removed) once nothing uses it any more. Keys are given as
``"k2:<key>,k1:<key>"``: an id, a colon, 32 random bytes in URL-safe base64
(``sessiondb keys new`` prints one). Each use gets its own subkey, derived
with HKDF-SHA256, so one master key never serves two purposes.

This module needs only the standard library, and imports ``hashlib`` and
``hmac`` only when a key is derived: ``import sessiondb`` stays light.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from ..errors import AuthError, ConfigurationError

ENV_VAR = "SESSIONDB_KEYS"
ENV_FILE_VAR = "SESSIONDB_KEYS_FILE"
KEY_BYTES = 32
KEY_ID = re.compile(r"[A-Za-z0-9_\-]{1,32}")


def new_key() -> str:
    """A fresh random key in the ring's notation (URL-safe base64, 32 bytes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def _decode_key(kid: str, text: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"key {kid!r} is not URL-safe base64") from None
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(
            f"key {kid!r} holds {len(raw)} bytes; a key is {KEY_BYTES} random bytes "
            "(make one with `sessiondb keys new`)")
    return raw


class KeyRing:
    """Named keys; the first is primary. Immutable once built."""

    __slots__ = ("_keys", "primary_id")

    def __init__(self, keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> None:
        pairs = list(keys.items() if isinstance(keys, Mapping) else keys)
        if not pairs:
            raise ConfigurationError("a key ring needs at least one key")
        ring: dict[str, bytes] = {}
        for kid, key in pairs:
            if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
                raise ConfigurationError(
                    f"key id {kid!r} must be 1-32 letters, digits, _ or -")
            if kid in ring:
                raise ConfigurationError(f"key id {kid!r} appears twice")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ConfigurationError(f"key {kid!r} must be {KEY_BYTES} bytes")
            ring[kid] = key
        self._keys = ring
        self.primary_id: str = pairs[0][0]

    @classmethod
    def from_string(cls, text: str) -> KeyRing:
        """Parse ``"k2:<key>,k1:<key>"`` (commas or newlines between keys)."""
        pairs = []
        for item in re.split(r"[,\n]", text):
            item = item.strip()
            if not item or item.startswith("#"):
                continue
            kid, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigurationError(
                    "keys are written id:key, e.g. k1:<32 bytes in URL-safe base64>")
            pairs.append((kid.strip(), _decode_key(kid.strip(), encoded)))
        return cls(pairs)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Read a key file: one ``id:key`` per line, primary first, ``#``
        comments allowed."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ConfigurationError(f"cannot read key file {path}: {exc}") from exc
        return cls.from_string(text)

    @classmethod
    def from_env(cls) -> KeyRing | None:
        """The ring in ``$SESSIONDB_KEYS`` (or the file named by
        ``$SESSIONDB_KEYS_FILE``); None when neither is set."""
        text = os.environ.get(ENV_VAR, "").strip()
        if text:
            return cls.from_string(text)
        path = os.environ.get(ENV_FILE_VAR, "").strip()
        if path:
            return cls.from_file(path)
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        """The key ids, primary first."""
        return tuple(self._keys)

    def key(self, kid: str) -> bytes:
        """The master key ``kid``; ``AuthError`` if the ring lacks it."""
        try:
            return self._keys[kid]
        except KeyError:
            raise AuthError(f"no key {kid!r} in the key ring") from None

    def derive(self, purpose: str, kid: str | None = None) -> bytes:
        """A 32-byte subkey of key ``kid`` (the primary by default) for one
        ``purpose``, such as ``"cookie-signing"``."""
        return _hkdf(self.key(kid if kid is not None else self.primary_id), purpose)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:  # never shows key material
        return f"<KeyRing primary={self.primary_id!r} ids={list(self._keys)}>"


@lru_cache(maxsize=256)
def _hkdf(key: bytes, purpose: str, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) with an empty salt and ``purpose`` as info."""
    import hashlib
    import hmac

    prk = hmac.new(b"\x00" * 32, key, hashlib.sha256).digest()
    info = b"sessiondb " + purpose.encode()
    out, block = b"", b""
    counter = 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def resolve(keys: KeyRing | str | None) -> KeyRing | None:
    """The ring a store uses: the one given, else the environment's."""
    if isinstance(keys, KeyRing):
        return keys
    if isinstance(keys, str):
        return KeyRing.from_string(keys)
    if keys is None:
        return KeyRing.from_env()
    raise ConfigurationError("keys must be a KeyRing or an 'id:key,…' string")
