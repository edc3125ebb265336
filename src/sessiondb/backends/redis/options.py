"""Reading a Redis store URL into options for redis-py and for us.

- ``redis://[[user]:password@]host[:port][/db][?options]`` and ``rediss://…``
  (TLS): one Redis server.
- ``redis+cluster://[[user]:password@]host:port,host:port,…[/][?options]``:
  a Redis Cluster, reached through any of the listed nodes.

Our options: ``prefix`` (default ``sessiondb``; the namespace of every key)
and ``gc_grace`` (seconds, default 3600: how long Redis keeps an expired
session's keys before its own expiry deletes them). The connection pool:
``max_connections`` (default 100; per node on a cluster) and ``timeout``
(seconds, default 20): a caller finding every connection busy waits up to
``timeout`` for one, then gets ``BackendUnavailableError``. Every other
option is a redis-py connection option (``socket_timeout``,
``socket_connect_timeout``, ``health_check_interval``, ``client_name``,
``ssl_*``, ``protocol``, …); an option neither knows is a
``ConfigurationError``. Messages never show the password.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
import redis.cluster
import redis.connection

from ..._core.ids import check_id
from ...errors import ConfigurationError, SessionDBError

OURS = ("prefix", "gc_grace", "max_connections", "timeout")
#: The pool's defaults: redis-py's own size (it fails beyond it, we wait) and wait.
MAX_CONNECTIONS = 100
POOL_TIMEOUT = 20.0
#: Options we set ourselves: our replies are decoded text, and the driver never
#: retries a command (a retried append whose reply was lost could store twice).
FIXED = ("decode_responses", "retry", "retry_on_error", "cluster_error_retry_attempts")
_BOOLEANS = {"ssl": redis.connection.to_bool}


@dataclass(frozen=True, slots=True)
class RedisOptions:
    masked: str
    """The URL with its password replaced by ``***``, for messages."""
    cluster: bool
    prefix: str = "sessiondb"
    gc_grace: float = 3600.0
    url: str = ""
    """The URL for ``Redis.from_url`` without our options (single server)."""
    nodes: tuple[tuple[str, int], ...] = ()
    """The cluster's startup nodes."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Client keyword arguments (cluster)."""
    max_connections: int = MAX_CONNECTIONS
    """The most connections the pool opens (per node on a cluster)."""
    pool_timeout: float = POOL_TIMEOUT
    """How long a caller waits for a free connection."""

    @classmethod
    def from_url(cls, url: str) -> RedisOptions:
        masked = mask(url)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in query if k in OURS}
        theirs = [(k, v) for k, v in query if k not in OURS]
        fixed = sorted({k for k, _ in theirs} & set(FIXED))
        if fixed:
            raise ConfigurationError(f"{masked}: SessionDB sets {fixed} itself")
        prefix = ours.get("prefix", "sessiondb")
        try:
            check_id(prefix, "prefix")
        except SessionDBError as exc:
            raise ConfigurationError(f"{masked}: bad prefix: {exc}") from None
        grace = _seconds(ours.get("gc_grace", "3600"), masked, "gc_grace")
        pool = {"max_connections": _size(ours.get("max_connections"), masked),
                "pool_timeout": _seconds(ours.get("timeout", str(POOL_TIMEOUT)), masked,
                                         "timeout")}
        if parts.scheme == "redis+cluster":
            nodes, kwargs = _cluster(parts.netloc, theirs, masked)
            _check_names(kwargs, _cluster_names(), masked)
            return cls(masked, True, prefix, grace, nodes=nodes, kwargs=kwargs, **pool)
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigurationError(f"not a Redis URL: {masked}")
        plain = urlunsplit(parts._replace(query=urlencode(theirs)))
        try:
            parsed = redis.connection.parse_url(plain)
        except ValueError as exc:
            raise ConfigurationError(f"{masked}: {exc}") from None
        _check_names(parsed, _connection_names(parts.scheme == "rediss"), masked)
        return cls(masked, False, prefix, grace, url=plain, **pool)


def mask(url: str) -> str:
    """``url`` with any password replaced by ``***`` (works for the
    comma-separated host lists of cluster URLs too)."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


def _seconds(text: str, masked: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigurationError(f"{masked}: {name} must be a number of seconds >= 0")
    return value


def _size(text: str | None, masked: str) -> int:
    if text is None:
        return MAX_CONNECTIONS
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise ConfigurationError(f"{masked}: max_connections must be a whole number > 0")
    return int(text)


def _cluster(netloc: str, query: list[tuple[str, str]],
             masked: str) -> tuple[tuple[tuple[str, int], ...], dict[str, Any]]:
    userinfo, _, hosts = netloc.rpartition("@")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(
                f"{masked}: a cluster URL lists host:port pairs separated by commas")
        nodes.append((host.strip("[]"), int(port)))
    try:
        kwargs = redis.connection.parse_url(f"redis://h/?{urlencode(query)}")
    except ValueError as exc:
        raise ConfigurationError(f"{masked}: {exc}") from None
    kwargs.pop("host", None)
    for name, convert in _BOOLEANS.items():
        if isinstance(kwargs.get(name), str):
            kwargs[name] = convert(kwargs[name])
    if userinfo:
        user, _, password = userinfo.partition(":")
        if user:
            kwargs["username"] = unquote(user)
        if password:
            kwargs["password"] = unquote(password)
    return tuple(nodes), kwargs


def _init_names(*classes: type) -> set[str]:
    names: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            if "__init__" in vars(klass):
                names.update(inspect.signature(klass.__init__).parameters)
    return names - {"self", "args", "kwargs"}


def _connection_names(tls: bool) -> set[str]:
    connection = redis.connection.SSLConnection if tls else redis.connection.Connection
    return _init_names(connection) | {"db"}


def _cluster_names() -> set[str]:
    import redis.asyncio.cluster

    return (_init_names(redis.asyncio.cluster.RedisCluster)
            & (_init_names(redis.cluster.RedisCluster, redis.Redis)
               | _init_names(redis.connection.SSLConnection)))


def _check_names(kwargs: dict[str, Any], known: set[str], masked: str) -> None:
    unknown = sorted(set(kwargs) - known - {"username", "password", "host", "port",
                                            "connection_class"})
    if unknown:
        raise ConfigurationError(
            f"unknown Redis URL option(s) {unknown} in {masked}; SessionDB's own are "
            f"{list(OURS)}, the others must be redis-py connection options")
