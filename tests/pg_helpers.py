"""PostgreSQL test helpers: a fresh schema per store, dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
from servers import need_postgres


def schema_url(base: str, schema: str, **options: object) -> str:
    query = "&".join([f"schema={schema}", *(f"{k}={v}" for k, v in options.items())])
    return f"{base}{'&' if '?' in base else '?'}{query}"


def drop_schemas(base: str, schemas: list[str]) -> None:
    if not schemas:
        return
    with psycopg.connect(base, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


class Schemas:
    """Hands out random schema names on one server, and drops them all."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.made: list[str] = []

    def new(self) -> str:
        self.made.append(f"t_{secrets.token_hex(6)}")
        return self.made[-1]

    def url(self, **options: object) -> str:
        return schema_url(self.base, self.new(), **options)

    def drop(self) -> None:
        drop_schemas(self.base, self.made)
        self.made.clear()


def fresh_schemas() -> Iterator[Schemas]:
    """The body of a ``schemas`` fixture: skips without a server."""
    made = Schemas(need_postgres())
    yield made
    made.drop()
