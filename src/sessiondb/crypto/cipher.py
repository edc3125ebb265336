"""AES-256-GCM sealing of single values, each bound to its place.

A sealed value is the text ``sdb1.<kid>.<base64(nonce | ciphertext | tag)>``:
the key id in the clear, a fresh random 96-bit nonce per value, and the
GCM tag authenticating both the ciphertext and the *associated data* (the
value's place, see :mod:`.places`). Opening checks all three, so a value that
was tampered with, sealed by a key the ring lacks, copied to another place or
never sealed at all raises :class:`~sessiondb.AuthError` — never plaintext.

Metadata values, which listings filter by equality, are sealed
deterministically with AES-SIV (``sdb1d.<kid>.…``): equal values in the same
app and key give equal tokens (that equality is what a filter needs, and all
it reveals).

Each master key of the ring is used through HKDF subkeys, one per purpose.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import AuthError, ConfigurationError

if TYPE_CHECKING:
    from .keyring import KeyRing

PREFIX = "sdb1."
#: The key id in tokens sealed by a user's own data key (see :mod:`.user_keys`);
#: not a valid ring key id, so the two never collide.
USER_KEY_ID = "@user"
DETERMINISTIC_PREFIX = "sdb1d."
NONCE_BYTES = 12
_b64 = binascii.b2a_base64
_unb64 = binascii.a2b_base64


def fresh_nonces(count: int) -> Iterator[bytes]:
    """``count`` random nonces from one draw of the OS's generator: a value
    sealed costs about as much as the system call, so an append draws once
    for all its values. Drawn per call and never kept: nothing is shared
    between threads, nor with a forked child."""
    pool = os.urandom(NONCE_BYTES * count)
    return iter([pool[i:i + NONCE_BYTES] for i in range(0, len(pool), NONCE_BYTES)])


def _aead_classes():  # type: ignore[no-untyped-def]
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "encryption needs the cryptography package: pip install 'sessiondb[crypto]'"
        ) from exc
    return AESGCM, AESSIV


class Cipher:
    """Seals and opens values with a key ring (new values: the primary key)."""

    __slots__ = ("_aesgcm", "_det", "_gcm", "_prefix", "primary_gcm", "ring")

    def __init__(self, ring: KeyRing) -> None:
        aesgcm, aessiv = _aead_classes()
        self._aesgcm = aesgcm
        self.ring = ring
        self._gcm = {kid: aesgcm(ring.derive("value-encryption", kid)) for kid in ring.ids}
        self._det = {kid: aessiv(ring.derive("metadata-encryption", kid)
                                 + ring.derive("metadata-encryption-mac", kid))
                     for kid in ring.ids}
        self.primary_gcm = self._gcm[ring.primary_id]
        self._prefix = f"{PREFIX}{ring.primary_id}."

    @property
    def primary_id(self) -> str:
        return self.ring.primary_id

    def seal(self, plaintext: bytes, ad: bytes, user_key: Any = None,
             nonce: bytes | None = None) -> str:
        """A token of ``plaintext`` bound to ``ad``: sealed by the ring's
        primary key, or by ``user_key`` (an AESGCM) when given. ``nonce``:
        one of :func:`fresh_nonces`, else one is drawn."""
        if nonce is None:
            nonce = os.urandom(NONCE_BYTES)
        if user_key is not None:
            return (f"{PREFIX}{USER_KEY_ID}."
                    + _b64(nonce + user_key.encrypt(nonce, plaintext, ad),
                           newline=False).decode("ascii"))
        sealed = self.primary_gcm.encrypt(nonce, plaintext, ad)
        return self._prefix + _b64(nonce + sealed, newline=False).decode("ascii")

    def new_user_key(self) -> bytes:
        return os.urandom(32)

    def user_key(self, raw: bytes) -> Any:
        return self._aesgcm(raw)

    def open(self, token: object, ad: bytes, what: str, user_key: Any = None) -> bytes:
        """The plaintext of ``token``; ``AuthError`` naming ``what`` if it is
        not a value sealed for this place by a key of the ring (or by the
        user's data key ``user_key``)."""
        if type(token) is not str or not token.startswith(PREFIX):
            raise AuthError(f"{what} is not encrypted: refusing to read plaintext "
                            "under an encrypting store")
        kid, _, body = token[5:].partition(".")
        gcm = self._gcm.get(kid)
        if gcm is None:
            if kid != USER_KEY_ID:
                raise AuthError(f"{what} was encrypted with key {kid!r}, "
                                "which is not in the key ring")
            if user_key is None:
                raise AuthError(f"{what} was encrypted with its user's data key, which "
                                "does not exist: the user was deleted (crypto-shredded), "
                                "or this store was opened without user_keys")
            gcm = user_key
        try:
            raw = _unb64(body)
            return gcm.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], ad)
        except Exception as exc:  # InvalidTag, binascii.Error, short input
            raise AuthError(f"{what} failed authentication: tampered with, "
                            "or moved from another place") from exc

    def key_id(self, token: str) -> str | None:
        """The id of the key that sealed ``token`` (None if not a token)."""
        for prefix in (PREFIX, DETERMINISTIC_PREFIX):
            if token.startswith(prefix):
                return token[len(prefix):].partition(".")[0]
        return None

    def seal_deterministic(self, plaintext: bytes, ad: bytes) -> str:
        sealed = self._det[self.ring.primary_id].encrypt(plaintext, [ad])
        return (f"{DETERMINISTIC_PREFIX}{self.ring.primary_id}."
                + _b64(sealed, newline=False).decode("ascii"))

    def open_deterministic(self, token: object, ad: bytes, what: str) -> bytes:
        if type(token) is not str or not token.startswith(DETERMINISTIC_PREFIX):
            raise AuthError(f"{what} is not encrypted: refusing to read plaintext "
                            "under an encrypting store")
        kid, _, body = token[len(DETERMINISTIC_PREFIX):].partition(".")
        siv = self._det.get(kid)
        if siv is None:
            raise AuthError(f"{what} was encrypted with key {kid!r}, "
                            "which is not in the key ring")
        try:
            return siv.decrypt(_unb64(body), [ad])
        except Exception as exc:
            raise AuthError(f"{what} failed authentication: tampered with, "
                            "or moved from another place") from exc
