"""The argparse tree of ``sessiondb``: every command, its help and its handler.

``--db`` and ``--json`` are accepted at every level (``sessiondb --json
sessions ls`` and ``sessiondb sessions ls --json`` both work). They default
to ``SUPPRESS`` so a subcommand that does not repeat them keeps the value
given before it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import __version__
from . import commands, demo, keys, transfer

Handler = Callable[..., int]

_DB_HELP = ("store URL: sqlite:///path/to/file.db or memory:// (default: $SESSIONDB_URL, "
            "else ~/.local/share/sessiondb/sessions.db)")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help=_DB_HELP)
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print machine-readable JSON on stdout instead of tables")
    return common


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def count(text: str) -> int:
    return _whole_number(text, 0)


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _subcommands(group: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True,
                                title="subcommands", help="the subcommand to run")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="sessiondb", parents=[common],
        description="Inspect and manage a SessionDB store: sessions, their events and "
                    "state, expiry, export and import.",
        epilog="Run 'sessiondb COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"sessiondb {__version__}",
                        help="print the version and exit")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                title="commands", help="the command to run")

    def command(group: argparse._SubParsersAction, name: str, summary: str,
                handler: Handler | None, description: str = "") -> argparse.ArgumentParser:
        sub = group.add_parser(name, parents=[common], help=summary,
                               description=description or summary)
        if handler is not None:
            sub.set_defaults(handler=handler)
        return sub

    def session_address(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("app", metavar="APP", help="the application name")
        sub.add_argument("user", metavar="USER", help="the user id")
        sub.add_argument("session_id", metavar="SID", help="the session id")

    # sessions
    sessions = command(top, "sessions", "list, show and delete sessions", None)
    sessions_sub = _subcommands(sessions)
    ls = command(sessions_sub, "ls", "list the live sessions of an app", commands.sessions_ls,
                 "List the live (unexpired) sessions of an app, oldest first, paging "
                 "through the store with a cursor.")
    ls.add_argument("--app", required=True, help="the application whose sessions to list")
    ls.add_argument("--user", metavar="U", help="only this user's sessions")
    ls.add_argument("--limit", metavar="N", type=positive_int, default=100,
                    help="show at most N sessions (default: 100)")
    ls.add_argument("--metadata", metavar="KEY=VALUE", type=key_value, action="append",
                    help="only sessions whose metadata has KEY=VALUE (repeatable; all "
                         "must match)")
    show = command(sessions_sub, "show", "show a session's state and last events",
                   commands.sessions_show)
    session_address(show)
    show.add_argument("--last", metavar="N", type=count, default=10,
                      help="how many of the newest events to show (default: 10)")
    rm = command(sessions_sub, "rm", "delete a session with its events and state",
                 commands.sessions_rm)
    session_address(rm)

    # events
    events = command(top, "events", "read a session's event log", None)
    events_sub = _subcommands(events)
    tail = command(events_sub, "tail", "print the last events of a session",
                   commands.events_tail,
                   "Print the last N events of a session; with --follow keep printing "
                   "new events as they are appended, until Ctrl-C. With --json: a JSON "
                   "array, or with --follow one JSON object per line.")
    session_address(tail)
    tail.add_argument("-n", "--lines", metavar="N", type=count, default=10,
                      help="how many of the newest events to print first (default: 10)")
    tail.add_argument("-f", "--follow", action="store_true",
                      help="poll every 0.5 s for new events until Ctrl-C")

    # state
    state = command(top, "state", "read and change a session's state", None)
    state_sub = _subcommands(state)
    get = command(state_sub, "get", "print a session's state, or one key of it",
                  commands.state_get,
                  "Print a session's merged state (its own keys plus app: and user: "
                  "keys), or the value of one KEY.")
    session_address(get)
    get.add_argument("key", metavar="KEY", nargs="?", help="print only this key's value")
    set_ = command(state_sub, "set", "set or delete one state key", commands.state_set,
                   "Set KEY to VALUE in a session's state (recorded as a state event). "
                   "VALUE is parsed as JSON, falling back to a plain string: 42 is a "
                   "number, '\"42\"' a string, Lisbon a string. app: and user: keys "
                   "are shared by the app or user.")
    session_address(set_)
    set_.add_argument("key", metavar="KEY", help="the state key")
    set_.add_argument("value", metavar="VALUE", nargs="?",
                      help="the new value: JSON, or else a plain string")
    set_.add_argument("--delete", action="store_true", help="delete KEY instead of setting it")

    # purge, export, import, demo
    purge = command(top, "purge", "delete expired sessions", commands.purge,
                    "Delete every expired session, in batches, and print how many.")
    purge.add_argument("--batch", metavar="N", type=positive_int, default=1000,
                       help="sessions deleted per transaction (default: 1000)")
    export = command(top, "export", "write the store as JSON Lines", transfer.export,
                     "Write every record of the store (or of one app) as JSON Lines: "
                     "one record per line, in a form 'sessiondb import' reads back "
                     "exactly.")
    export.add_argument("--app", help="only this application's sessions and state")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="write to FILE instead of stdout")
    import_ = command(top, "import", "load a JSON Lines export", transfer.import_,
                      "Load records written by 'sessiondb export'. Stops at the first "
                      "bad line (exit code 2), naming it; nothing from that line on is "
                      "imported.")
    import_.add_argument("file", metavar="FILE", help="the export file, or - for stdin")
    demo_ = command(top, "demo", "watch an agent conversation survive a killed process",
                    demo.run,
                    "Run a scripted travel-booking agent for three turns in a child "
                    "process that is then killed, resume it in a new process for three "
                    "more, and check that nothing was lost.")
    demo_.add_argument("--phase", type=int, choices=(1, 2), help=argparse.SUPPRESS)
    demo_.add_argument("--session", metavar="SID",
                       help="the session id to use (default: a new random one)")
    from . import mcp  # mcp (the command) imports the MCP SDK only when it runs
    mcp.register(top, command)
    keys.register(top, command)
    from . import serve  # serve imports the server extra only when it runs
    serve.add_commands(top, command)
    return parser
