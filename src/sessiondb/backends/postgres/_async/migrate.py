"""Applying the schema's migrations (see :mod:`..schema`).

The sync twin in ``_sync/`` is generated from this file by
``scripts/unasync.py``: edit here, then run it.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from ....errors import ConfigurationError
from ..schema import MIGRATIONS, render


async def _scalar(conn: AsyncConnection[Any], query: str, params: tuple = ()) -> Any:
    cursor = await conn.execute(query, params)  # type: ignore[arg-type]
    row = await cursor.fetchone()
    return None if row is None else row[0]


async def schema_version(conn: AsyncConnection[Any], quoted_schema: str) -> int:
    """How many migrations the schema has had (0 if it does not exist)."""
    table = f"{quoted_schema}.schema_version"
    if await _scalar(conn, "SELECT to_regclass(%s)", (table,)) is None:
        return 0
    return int(await _scalar(conn, f"SELECT coalesce(max(version), 0) FROM {table}"))


async def migrate(conn: AsyncConnection[Any], schema: str,
                  migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring ``schema`` up to date on ``conn`` (an autocommit connection);
    the number of migrations applied. Needs the right to create the schema
    only when it does not exist, and none at all when it is up to date."""
    quoted = f'"{schema}"'
    if await schema_version(conn, quoted) == len(migrations):
        return 0
    async with conn.transaction():
        # Whoever takes the lock first migrates; the others then find the
        # schema up to date. The lock ends with the transaction.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                           (f"sessiondb.migrate:{schema}",))
        if await _scalar(conn, "SELECT 1 FROM pg_namespace WHERE nspname = %s",
                         (schema,)) is None:
            await conn.execute(f"CREATE SCHEMA {quoted}")  # type: ignore[arg-type]
        await conn.execute(  # type: ignore[arg-type]
            f"CREATE TABLE IF NOT EXISTS {quoted}.schema_version (version integer NOT NULL)")
        current = await schema_version(conn, quoted)
        if current > len(migrations):
            raise ConfigurationError(
                f"the PostgreSQL schema {schema!r} has version {current}, newer than this "
                f"SessionDB knows ({len(migrations)}): upgrade sessiondb"
            )
        for number in range(current, len(migrations)):
            await conn.execute(render(migrations[number], quoted))  # type: ignore[arg-type]
        await conn.execute(f"DELETE FROM {quoted}.schema_version")  # type: ignore[arg-type]
        await conn.execute(  # type: ignore[arg-type]
            f"INSERT INTO {quoted}.schema_version (version) VALUES (%s)", (len(migrations),))
    return len(migrations) - current
