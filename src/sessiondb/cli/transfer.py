"""``export`` and ``import``: the store as JSON Lines, one record per line.

The format is :mod:`sessiondb._core.records`. Both directions stream: an
export never holds the store in memory, and an import stops at the first bad
line, so nothing from that line on is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, Any

from ..errors import ConflictError, InvalidInputError
from .context import opened_store
from .errors import BadInputError, CLIError
from .output import Output
from .progress import Progress


def encode_record(record: dict[str, Any]) -> str:
    """One export line. Compact and in the record's own key order, so the
    same store always exports to the same bytes."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def export(args: argparse.Namespace, out: Output) -> int:
    to_stdout = args.output in (None, "-")
    records = sessions = 0
    with ExitStack() as stack:
        store = stack.enter_context(opened_store(args))
        if to_stdout:
            target: IO[str] = out.stdout
        else:
            try:
                target = stack.enter_context(open(args.output, "w", encoding="utf-8",
                                                  newline="\n"))
            except OSError as exc:
                raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        # A bar on a terminal that also shows the exported lines would garble both.
        shown = not out.json_mode and not (to_stdout and _is_tty(out.stdout))
        bar = stack.enter_context(Progress("exporting", unit="records",
                                           enabled=None if shown else False))
        for record in store.export(args.app):
            target.write(encode_record(record) + "\n")
            records += 1
            sessions += record.get("type") == "session"
            bar.advance()
        target.flush()
    if not to_stdout:
        if out.json_mode:
            out.json({"file": args.output, "records": records, "sessions": sessions})
        else:
            out.line(f"exported {sessions} session{'s' if sessions != 1 else ''} "
                     f"({records} records) to {args.output}")
    return 0


class _Position:
    """The line the reader is at, shared with the error handler."""

    line = 0


def _read_lines(stream: IO[bytes], name: str, position: _Position,
                bar: Progress) -> Iterator[dict[str, Any]]:
    """Parse JSON Lines lazily, so a bad line stops the import right there."""
    for number, raw in enumerate(stream, 1):
        position.line = number
        bar.advance(len(raw))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInputError(f"{name} line {number}: not UTF-8 text") from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise BadInputError(f"{name} line {number}: not valid JSON ({detail})") from None
        if not isinstance(record, dict):
            raise BadInputError(f"{name} line {number}: expected a JSON object, "
                                f"found {type(record).__name__}")
        yield record


_RECORD_PREFIX = re.compile(r"^record \d+: ")


def import_(args: argparse.Namespace, out: Output) -> int:
    from_stdin = args.file == "-"
    name = "<stdin>" if from_stdin else args.file
    position = _Position()
    with ExitStack() as stack:
        if from_stdin:
            stream: IO[bytes] = sys.stdin.buffer
        else:
            try:
                stream = stack.enter_context(open(args.file, "rb"))
            except OSError as exc:
                raise BadInputError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        store = stack.enter_context(opened_store(args))
        bar = stack.enter_context(Progress(
            "importing", total=_size(stream), unit="bytes",
            enabled=False if out.json_mode else None))
        try:
            count = store.import_records(_read_lines(stream, name, position, bar))
        except InvalidInputError as exc:
            # The library numbers records; people look for lines.
            detail = _RECORD_PREFIX.sub("", str(exc))
            if isinstance(exc.__context__, KeyError) and exc.__context__.args:
                detail = f"missing field {exc.__context__.args[0]!r}"
            raise BadInputError(f"{name} line {position.line}: invalid record: {detail} "
                                "(nothing from this line on was imported)") from None
        except ConflictError as exc:
            raise CLIError(f"{exc}: import into a store that does not hold these sessions "
                           "yet (the sessions before it were imported)") from None
        except BadInputError as exc:
            raise BadInputError(f"{exc.message} (nothing from this line on was "
                                "imported)") from None
    if out.json_mode:
        out.json({"sessions": count})
    else:
        out.line(f"imported {count} session{'s' if count != 1 else ''} from {name}")
    return 0


def _size(stream: IO[bytes]) -> int | None:
    """The byte size of a regular file (for a bar), else None (a pipe)."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) and info.st_size else None


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
