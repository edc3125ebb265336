"""The whole error tree of SessionDB.

Every error the library raises is a :class:`SessionDBError`::

    SessionDBError
    ├── NotFoundError (also LookupError)
    ├── ConflictError            expected_version lost the race
    ├── ExpiredError
    ├── InvalidInputError (also ValueError)   names the field
    ├── LimitExceededError (also ValueError)  names the field and the limit
    ├── AuthError                bad token, bad key, tampered ciphertext
    ├── ConfigurationError       bad URL, missing extra (names the pip extra)
    └── BackendError             driver failure, original kept as __cause__
        └── BackendUnavailableError   connect/timeouts/locks: retryable

Driver exceptions are translated at the backend boundary and keep the original
exception as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BackendError",
    "BackendUnavailableError",
    "ConfigurationError",
    "ConflictError",
    "ExpiredError",
    "InvalidInputError",
    "LimitExceededError",
    "NotFoundError",
    "SessionDBError",
]


class SessionDBError(Exception):
    """Base class of every error raised by SessionDB."""


class NotFoundError(SessionDBError, LookupError):
    """The session (or other addressed record) does not exist."""


class ConflictError(SessionDBError):
    """An ``expected_version`` did not match, or an idempotency key was reused
    for a different request."""

    def __init__(
        self, message: str, *, expected: int | None = None, actual: int | None = None
    ) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class ExpiredError(SessionDBError):
    """The session exists but its idle or absolute lifetime has run out."""


class InvalidInputError(SessionDBError, ValueError):
    """Input is malformed. ``field`` names the offending argument."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class LimitExceededError(SessionDBError, ValueError):
    """Input is over a configured size or count limit.

    ``field`` names the argument, ``limit`` the bound it broke and ``actual``
    what was given.
    """

    def __init__(self, message: str, *, field: str, limit: int, actual: int) -> None:
        super().__init__(message)
        self.field = field
        self.limit = limit
        self.actual = actual


class AuthError(SessionDBError):
    """A token, key or ciphertext failed verification."""


class ConfigurationError(SessionDBError):
    """The store was configured wrongly: a bad URL, option or missing extra."""


class BackendError(SessionDBError):
    """The storage engine failed; the driver's exception is ``__cause__``."""


class BackendUnavailableError(BackendError):
    """The engine could not be reached or stayed busy; retrying may succeed."""
