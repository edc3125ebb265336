"""Fresh store URLs on every backend, for tests that run on all of them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Every backend; "cluster" needs the ``redis_cluster_servers`` fixture
#: imported into the test module.
ALL_BACKENDS = ["memory", "sqlite", "postgres", "redis", "cluster"]


@contextmanager
def store_urls(kind: str, tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty store URLs on one backend (skipped when its
    server is unreachable); everything made is removed afterwards."""
    if kind == "memory":
        yield lambda: "memory://"
    elif kind == "sqlite":
        count = itertools.count()
        yield lambda: f"sqlite:///{tmp_path}/store{next(count)}.db"
    elif kind == "postgres":
        from pg_helpers import Schemas
        from servers import need_postgres

        schemas = Schemas(need_postgres())
        try:
            yield schemas.url
        finally:
            schemas.drop()
    else:
        from redis_helpers import url_factory

        with url_factory(kind, request) as make:
            yield make
