"""Turning encryption on for a store being opened."""

from __future__ import annotations

from typing import Any

from .keyring import KeyRing, resolve


def encrypting(backend: Any, keys: KeyRing | str | None, asynchronous: bool = False) -> Any:
    """``backend``, wrapped to encrypt when a key ring is given or set in the
    environment. The cryptography package is imported only then."""
    ring = resolve(keys)
    if ring is None:
        return backend
    from .encryption import Encryption

    if asynchronous:
        from ._async.encrypted import AsyncEncryptedBackend

        return AsyncEncryptedBackend(backend, Encryption(ring))
    from ._sync.encrypted import EncryptedBackend

    return EncryptedBackend(backend, Encryption(ring))
