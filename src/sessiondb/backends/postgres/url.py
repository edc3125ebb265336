"""PostgreSQL store URLs: SessionDB's own options, and the rest for libpq.

``postgresql://user:password@host:port/dbname?schema=sessiondb&sslmode=require``

SessionDB's options are taken out of the query before the URL goes to
psycopg: ``schema`` (default ``sessiondb``), ``pool_min`` / ``pool_max``
(connections kept / at most, default 1 / 10) and ``pool_timeout`` (seconds an
operation waits for a free connection, default 10). Every other query
parameter must be a libpq connection parameter (``sslmode``,
``connect_timeout``, ``application_name``, …) and passes through unchanged.
Error messages show the URL with its password masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from psycopg import pq

from ...errors import ConfigurationError

OURS = ("schema", "pool_min", "pool_max", "pool_timeout")
SCHEMA_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: Set unless the URL says otherwise: libpq would wait for a dead host forever.
DEFAULT_CONNECT_TIMEOUT = "10"


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    conninfo: str
    """The URL psycopg gets: SessionDB's options removed."""
    masked: str
    """The URL as error messages show it: the password replaced by ``***``."""
    schema: str = "sessiondb"
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 10.0

    @property
    def quoted_schema(self) -> str:
        return f'"{self.schema}"'

    @classmethod
    def from_url(cls, url: str) -> PostgresOptions:
        masked = mask(url)
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(f"not a PostgreSQL URL: {masked!r}")
        ours: dict[str, str] = {}
        passed: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in OURS:
                ours[name] = value
            elif name in libpq_parameters():
                passed.append((name, value))
            else:
                raise ConfigurationError(
                    f"unknown PostgreSQL URL option {name!r} in {masked!r}: SessionDB's are "
                    f"{', '.join(OURS)}; anything else must be a libpq connection parameter"
                )
        if not any(name == "connect_timeout" for name, _ in passed):
            passed.append(("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        if not any(name in ("application_name", "fallback_application_name")
                   for name, _ in passed):
            passed.append(("fallback_application_name", "sessiondb"))
        conninfo = urlunsplit(parts._replace(query=urlencode(passed, quote_via=quote)))
        schema = ours.get("schema", "sessiondb")
        if not SCHEMA_PATTERN.fullmatch(schema):
            raise ConfigurationError(
                f"schema must be 1-63 letters, digits or _ (not starting with a digit), "
                f"not {schema!r}"
            )
        pool_min = _integer(ours, "pool_min", 1, 0)
        pool_max = _integer(ours, "pool_max", max(10, pool_min), 1)
        if pool_max < pool_min:
            raise ConfigurationError(f"pool_max ({pool_max}) is below pool_min ({pool_min})")
        try:
            timeout = float(ours.get("pool_timeout", "10"))
        except ValueError:
            timeout = -1.0
        if not 0 < timeout < float("inf"):
            raise ConfigurationError("pool_timeout must be a positive number of seconds")
        return cls(conninfo, masked, schema, pool_min, pool_max, timeout)


def _integer(options: dict[str, str], name: str, default: int, least: int) -> int:
    text = options.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise ConfigurationError(f"{name} must be an integer >= {least}, not {text!r}")
    return value


@lru_cache(maxsize=1)
def libpq_parameters() -> frozenset[str]:
    """The connection parameters the installed libpq knows."""
    return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults())


def mask(url: str) -> str:
    """``url`` with its password (in the user info or a ``password=``
    parameter) replaced by ``***``."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = re.sub(r"(^|&)(password|sslpassword)=[^&]*", r"\1\2=***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))
