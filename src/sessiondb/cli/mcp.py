"""``sessiondb mcp``: serve one user's sessions of one app to an MCP client
over stdio. The MCP SDK is imported only when the command runs."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable

from .context import db_url
from .errors import UsageError
from .output import Output

APP_ENV = "SESSIONDB_MCP_APP"
USER_ENV = "SESSIONDB_MCP_USER"

SUMMARY = "serve one user's sessions to an MCP client over stdio"
DESCRIPTION = (
    "Run an MCP server on stdin/stdout with tools to create, read, append to, fork and "
    "delete sessions, and the sessions' state and events as resources. Every tool acts "
    "on the sessions of --app and --user only: the model cannot choose another app or "
    "user. Configure it as a command in an MCP client (see docs/mcp.md).")


def register(top: argparse._SubParsersAction, command: Callable[..., argparse.ArgumentParser]
             ) -> None:
    """Add ``sessiondb mcp`` to the command tree, through the parser's own helper."""
    sub = command(top, "mcp", SUMMARY, run, DESCRIPTION)
    sub.add_argument("--app", help=f"the application whose sessions to serve "
                                   f"(default: ${APP_ENV})")
    sub.add_argument("--user", help=f"the user whose sessions to serve (default: ${USER_ENV})")
    sub.add_argument("--allow-app-state", action="store_true",
                     help="let the model write app: state keys, which every user of the "
                          "app shares (default: refused)")


def _required(value: str | None, option: str, env: str) -> str:
    value = value or os.environ.get(env)
    if not value:
        raise UsageError(f"{option} is required (or set ${env})")
    return value


def run(args: argparse.Namespace, out: Output) -> int:
    app = _required(args.app, "--app", APP_ENV)
    user = _required(args.user, "--user", USER_ENV)
    asyncio.run(_serve(db_url(args), app, user, args.allow_app_state))
    return 0


async def _serve(url: str, app: str, user: str, allow_app_state: bool) -> None:
    from .. import open_async_store
    from ..mcp import create_server

    async with open_async_store(url) as store:
        server = create_server(store, app=app, user_id=user, allow_app_state=allow_app_state)
        await server.run_stdio_async()
