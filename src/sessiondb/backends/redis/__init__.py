"""Redis and Redis Cluster: ``redis://…``, ``rediss://…`` and
``redis+cluster://host:port,host:port,…`` (``pip install 'sessiondb[redis]'``).

Written once as async code in ``_async/``; ``_sync/`` is generated from it.
URL options: :mod:`.options`; key layout: :mod:`.codec`; scripts:
:mod:`.scripts`. See docs/storage.md for the guarantees.
"""

from __future__ import annotations

# The driver, first: if it is missing, this ImportError is what
# sessiondb.backends turns into the "pip install 'sessiondb[redis]'" hint.
import redis  # noqa: F401  (absolute: this package's own name does not shadow it)

from ._async.backend import AsyncRedisBackend
from ._sync.backend import RedisBackend
from .options import RedisOptions

__all__ = [
    "AsyncRedisBackend",
    "RedisBackend",
    "RedisOptions",
    "open_async_backend",
    "open_backend",
]


def open_backend(url: str) -> RedisBackend:
    return RedisBackend(RedisOptions.from_url(url))


def open_async_backend(url: str) -> AsyncRedisBackend:
    return AsyncRedisBackend(RedisOptions.from_url(url))
