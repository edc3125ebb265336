"""The reporting hook: how a store tells you what it did, and how long it took.

Pass an :class:`Observer` to :func:`sessiondb.open_store` /
:func:`sessiondb.open_async_store` (``observer=``) and the store's backend is
wrapped (:func:`observing`) in an ``ObservedBackend`` that times every
operation and reports it. Without an observer nothing is wrapped: an unused
hook costs nothing.

An observer is any object with these two methods; they run on the calling
thread right after the operation, so keep them fast (increment counters,
never do I/O). An exception an observer raises is logged and swallowed: a
write that succeeded must not look failed because reporting failed.
:class:`sessiondb.http.metrics.PrometheusObserver` is the observer behind the
service's ``/metrics``.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["OPERATIONS", "Observer", "backend_label", "observing", "report", "report_purged"]

#: The operations reported, named as the backend protocol names them
#: (``append`` also covers ``update_state``). ``dump`` (export) and ``close``
#: are passed through untimed.
OPERATIONS = ("create", "get", "append", "events", "sessions", "fork", "delete",
              "delete_user", "touch", "purge_expired", "restore", "shared", "update_shared",
              # used by encryption at rest (fork, key rotation)
              "bundle", "replace_session", "replace_shared")



def _log() -> Any:
    # logging is imported only when an observer fails: it costs ~7 ms of
    # every ``import sessiondb``.
    import logging

    return logging.getLogger("sessiondb.observe")

#: URL scheme -> backend label; aliases share one label.
_LABELS = {"postgres": "postgresql", "rediss": "redis"}


class Observer(Protocol):
    def operation(self, backend: str, operation: str, seconds: float,
                  error: BaseException | None) -> None:
        """One backend operation finished: ``backend`` is the
        :func:`backend_label`, ``operation`` one of :data:`OPERATIONS`,
        ``error`` what it raised (``None`` on success). A ``get`` is a
        resume attempt: ``NotFoundError`` / ``ExpiredError`` say how it
        missed."""
        ...

    def purged(self, backend: str, count: int) -> None:
        """``purge_expired`` deleted ``count`` expired sessions."""
        ...


def backend_label(url: str) -> str:
    """A store URL's backend, for labels: ``memory``, ``sqlite``,
    ``postgresql``, ``redis`` or ``redis+cluster`` (``unknown`` if none).
    Only the scheme is used, so no host, path or secret leaks into a label."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    return _LABELS.get(scheme, scheme) or "unknown"


def observing(backend: Any, observer: Observer | None, url: str,
              asynchronous: bool = False) -> Any:
    """``backend``, wrapped to report to ``observer`` (labelled with
    :func:`backend_label` of ``url``); ``backend`` itself when there is no
    observer. Wrap the backend first, before encryption, so that timings are
    the storage's own."""
    if observer is None:
        return backend
    if asynchronous:
        from .backends._async.observed import AsyncObservedBackend

        return AsyncObservedBackend(backend, observer, backend_label(url))
    from .backends._sync.observed import ObservedBackend

    return ObservedBackend(backend, observer, backend_label(url))


def report(observer: Observer, backend: str, operation: str, seconds: float,
           error: BaseException | None) -> None:
    """Call ``observer.operation``, never letting its failure escape."""
    try:
        observer.operation(backend, operation, seconds, error)
    except Exception:
        _log().exception("sessiondb observer %r failed on %s", observer, operation)


def report_purged(observer: Observer, backend: str, count: int) -> None:
    """Call ``observer.purged``, never letting its failure escape."""
    try:
        observer.purged(backend, count)
    except Exception:
        _log().exception("sessiondb observer %r failed on purged", observer)
