"""``keys new`` and ``keys rotate``: making keys and moving data to a new one."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..crypto.keyring import new_key
from .context import opened_store
from .output import Output
from .progress import Progress


def new(args: argparse.Namespace, out: Output) -> int:
    kid = args.id or time.strftime("k%Y%m%d")
    line = f"{kid}:{new_key()}"
    if out.json_mode:
        out.json({"id": kid, "key": line.partition(":")[2], "entry": line})
    else:
        out.line(line)
    return 0


def rotate(args: argparse.Namespace, out: Output) -> int:
    from ..crypto.rotation import rotate as rotate_store

    with opened_store(args) as store, Progress(
            "re-sealing", unit="sessions", enabled=False if out.json_mode else None) as bar:
        def total(n: int) -> None:
            bar.total = n

        done = rotate_store(store, args.app, bar.advance, total)
    primary = store._backend.encryption.cipher.primary_id
    if out.json_mode:
        out.json({"primary_key": primary, "sessions": done.sessions,
                  "shared_scopes": done.shared_scopes,
                  "shared_keys_resealed": done.shared_keys_resealed,
                  "user_keys_rewrapped": done.user_keys_rewrapped})
    else:
        out.line(f"every value of {done.sessions} session{'s' if done.sessions != 1 else ''} "
                 f"and {done.shared_scopes} shared scope"
                 f"{'s' if done.shared_scopes != 1 else ''} is now sealed by key "
                 f"{primary!r}; keys after it in the ring can be retired")
    return 0


def register(top: Any, command: Any) -> None:
    keys = command(top, "keys", "make encryption keys and rotate to a new one", None)
    sub = keys.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True,
                              title="subcommands", help="the subcommand to run")
    made = command(sub, "new", "print a fresh random key as id:key", new,
                   "Print a new 256-bit key in the key ring's notation (id:key). Put it "
                   "first in SESSIONDB_KEYS to make it the primary key.")
    made.add_argument("--id", help="the key id (default: k<today's date>)")
    rot = command(sub, "rotate", "re-encrypt everything with the primary key", rotate,
                  "Re-seal every stored value with the primary (first) key of "
                  "SESSIONDB_KEYS, one session at a time. Resumable: run it again after "
                  "an interruption. Afterwards the other keys can be removed from the "
                  "ring.")
    rot.add_argument("--app", help="only this application's sessions and state")
