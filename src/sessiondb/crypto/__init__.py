"""Keys and cryptography: the key ring (stdlib only), encryption at rest and
signed session tokens (both need ``pip install 'sessiondb[crypto]'``).

Everything but the key ring is imported on first use, so ``import
sessiondb`` stays light.
"""

from __future__ import annotations

from typing import Any

from .keyring import KeyRing, new_key

__all__ = ["AsyncSessionTokens", "KeyRing", "SessionClaims", "SessionTokens", "TokenCodec",
           "new_key", "rotate"]

_LAZY = {
    "AsyncSessionTokens": "._async.session_tokens",
    "SessionTokens": "._sync.session_tokens",
    "SessionClaims": ".tokens",
    "TokenCodec": ".tokens",
    "rotate": ".rotation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
