"""The ``sessiondb`` command line: a thin layer over :class:`SessionStore`.

    sessiondb sessions ls --app shop
    sessiondb state set shop alice SID cart '["tea"]'
    sessiondb export -o backup.jsonl && sessiondb --db sqlite:///new.db import backup.jsonl

See ``docs/cli.md``. Only the standard library is used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import ExpiredError, SessionDBError
from .context import json_mode
from .errors import CLIError
from .output import Output
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sessiondb`` with ``argv`` (default: ``sys.argv[1:]``); the exit code.

    User errors print ``error: <message>`` on stderr, never a traceback:
    exit code 1 for errors from the store, 2 for usage errors and bad input.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    out = Output(json_mode(args))
    try:
        return args.handler(args, out)
    except CLIError as exc:
        return _fail(exc.message, exc.exit_code)
    except ExpiredError as exc:
        return _fail(f"{exc} (expired sessions can no longer be read; 'sessiondb purge' "
                     "deletes them)", 1)
    except SessionDBError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (``sessiondb export | head``): not worth a traceback.
        _silence_stdout()
        return 1
    except OSError as exc:
        return _fail(str(exc), 1)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
