"""Errors the command line raises itself, each with its exit code.

Library errors (:class:`sessiondb.SessionDBError`) exit with 1; these add
the usage and bad-input cases, which exit with 2 like argparse's own errors.
"""

from __future__ import annotations


class CLIError(Exception):
    """A failure to report as ``error: <message>`` without a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CLIError):
    """The command line itself is wrong (a bad option value, a missing argument)."""

    exit_code = 2


class BadInputError(CLIError):
    """An input file is unreadable or malformed."""

    exit_code = 2
