"""Driver exceptions translated to the SessionDB error tree, at the boundary."""

from __future__ import annotations

from redis import exceptions as driver

from ...errors import BackendError, BackendUnavailableError, ConfigurationError

#: Worth retrying: the server (or a cluster node) is unreachable, loading,
#: failing over or resharding.
_UNAVAILABLE = (
    driver.ConnectionError, driver.TimeoutError, driver.ClusterDownError,
    driver.TryAgainError, driver.ReadOnlyError, driver.BusyLoadingError,
    driver.RedisClusterException, OSError,
)
#: Not worth retrying without a change of configuration.
_DENIED = (driver.AuthenticationError, driver.AuthorizationError, driver.NoPermissionError)
_DRIVER = (driver.RedisError, driver.RedisClusterException, OSError)


def translate(exc: BaseException, where: str) -> BackendError:
    """The SessionDB error for a driver error (raise it ``from exc``)."""
    if isinstance(exc, _DENIED):
        return BackendError(f"Redis at {where} refused access: {exc}")
    if isinstance(exc, _UNAVAILABLE):
        return BackendUnavailableError(f"Redis at {where} is unavailable: {exc}")
    return BackendError(f"Redis at {where}: {type(exc).__name__}: {exc}")


class translated:
    """``with translated(url):`` translates driver errors raised inside.

    A class rather than a generator-based context manager (it wraps every
    call, and this is cheaper), named like the function it stands for.
    """

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None and isinstance(exc, _DRIVER):
            raise translate(exc, self.where) from exc


class opening(translated):
    """Like :class:`translated`, for building a client: a bad argument is
    the URL's fault (``ConfigurationError``)."""

    __slots__ = ()

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, TypeError | ValueError) and not isinstance(exc, _DRIVER):
            raise ConfigurationError(f"cannot use {self.where}: {exc}") from exc
        super().__exit__(kind, exc, tb)
