"""What every command needs from the parsed arguments: the store URL, an
open store and the output mode."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from ..backends import default_url
from ..store import SessionStore


def db_url(args: argparse.Namespace) -> str:
    """``--db`` if given, else ``$SESSIONDB_URL``, else the default SQLite file.

    Read late (not as an argparse default) so the environment at run time wins.
    """
    return getattr(args, "db", None) or default_url()


def json_mode(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


@contextmanager
def opened_store(args: argparse.Namespace) -> Iterator[SessionStore]:
    """The store ``--db`` names, closed when the command is done."""
    from .. import open_store

    store = open_store(db_url(args))
    try:
        yield store
    finally:
        store.close()
