"""Turning encryption on for a store being opened."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .keyring import KeyRing, resolve


def encrypting(backend: Any, keys: KeyRing | str | None, asynchronous: bool = False,
               user_keys: bool | str = False) -> Any:
    """``backend``, wrapped to encrypt when a key ring is given or set in the
    environment. The cryptography package is imported only then.

    ``user_keys``: seal each user's data by a key of their own, kept in this
    store (``True``) or in the store at another URL, and destroyed by
    ``delete_user`` (crypto-shredding).
    """
    ring = resolve(keys)
    if ring is None:
        if user_keys:
            raise ConfigurationError("user_keys needs a key ring (keys= or SESSIONDB_KEYS)")
        return backend
    from .encryption import Encryption

    encryption = Encryption(ring)
    if asynchronous:
        from ..backends import open_async_backend
        from ._async.encrypted import AsyncEncryptedBackend
        from ._async.user_keys import AsyncUserKeys

        store = (open_async_backend(user_keys) if isinstance(user_keys, str) else backend)
        return AsyncEncryptedBackend(
            backend, encryption,
            AsyncUserKeys(store, encryption.cipher) if user_keys else None)
    from ..backends import open_backend
    from ._sync.encrypted import EncryptedBackend
    from ._sync.user_keys import UserKeys

    store = open_backend(user_keys) if isinstance(user_keys, str) else backend
    return EncryptedBackend(backend, encryption,
                            UserKeys(store, encryption.cipher) if user_keys else None)
