"""``sessiondb serve`` (the HTTP service) and ``sessiondb apikeys`` (its keys).

The service needs the ``server`` extra, imported only when ``serve`` runs;
the key commands need nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..errors import NotFoundError
from .context import db_url, opened_store
from .errors import UsageError
from .output import Output, when
from .parser import _subcommands, count, positive_int

Command = Callable[..., argparse.ArgumentParser]

_PORT = 8700


def add_commands(top: argparse._SubParsersAction, command: Command) -> None:
    """Add ``serve`` and ``apikeys`` to the ``sessiondb`` command tree."""
    serve_ = command(
        top, "serve", "run the HTTP API service", serve,
        "Serve the store over HTTP (JSON API, OpenAPI at /openapi.json) until SIGTERM or "
        "Ctrl-C, which end the live event streams and finish the requests in flight "
        "first. Requests under /v1 need an "
        "API key ('sessiondb apikeys create') or, with --jwks, an OIDC token.")
    serve_.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1)")
    serve_.add_argument("--port", type=_port, default=_PORT,
                        help=f"the port to listen on, 0 for any free one (default: {_PORT})")
    serve_.add_argument("--no-auth", action="store_true",
                        help="serve without authentication (refused unless --host is a "
                             "loopback address)")
    serve_.add_argument("--jwks", metavar="FILE_OR_URL",
                        help="also accept OIDC bearer tokens (JWTs) signed by a key of this "
                             "JWKS; needs --issuer and --audience")
    serve_.add_argument("--issuer", help="the iss tokens must carry")
    serve_.add_argument("--audience", help="the aud tokens must carry")
    serve_.add_argument("--admin-scope", default="sessiondb:admin",
                        help="the token scope that may act for any user (default: "
                             "sessiondb:admin)")
    serve_.add_argument("--max-body", metavar="BYTES", type=positive_int,
                        default=4 * 1024 * 1024,
                        help="the largest request body accepted (default: 4194304)")
    serve_.add_argument("--shutdown-timeout", metavar="SECONDS", type=positive_int,
                        default=30,
                        help="how long to wait for requests in flight at shutdown "
                             "(default: 30)")
    serve_.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn's log level (default: info)")
    serve_.add_argument("--access-log", action="store_true",
                        help="log a line per request (at log level info; off by default: "
                             "it costs throughput)")

    keys = command(top, "apikeys", "create, list and revoke API keys of the HTTP service",
                   None)
    keys_sub = _subcommands(keys)
    create = command(keys_sub, "create", "create an API key for one app", apikeys_create,
                     "Create an API key that may act on every user of one app, and print "
                     "it. The key is shown only this once: only its hash is stored.")
    create.add_argument("--app", required=True, help="the application the key is for")
    create.add_argument("--name", default="", help="a label to recognise the key by")
    ls = command(keys_sub, "ls", "list the API keys (never their secrets)", apikeys_ls)
    ls.add_argument("--app", help="only this application's keys")
    revoke = command(keys_sub, "revoke", "revoke (delete) an API key", apikeys_revoke,
                     "Delete an API key. Running services stop accepting it within "
                     "seconds (they remember a checked key for 5 seconds).")
    revoke.add_argument("key_id", metavar="ID", help="the key's id (from 'apikeys ls')")


def _port(text: str) -> int:
    port = count(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, not {port}")
    return port


def serve(args: argparse.Namespace, out: Output) -> int:
    from .. import open_async_store
    from ..http.apikeys import ApiKeyAuth
    from ..http.limits import HttpLimits
    from ..http.server import is_loopback
    from ..http.server import serve as run

    if args.no_auth and not is_loopback(args.host):
        raise UsageError(f"refusing to serve without authentication on {args.host}: "
                         "drop --no-auth, or listen on 127.0.0.1")
    if args.jwks and not (args.issuer and args.audience):
        raise UsageError("--jwks needs --issuer and --audience")
    from ..http.metrics import PrometheusObserver
    from ..http.service import create_service

    url = db_url(args)
    store = open_async_store(url, observer=PrometheusObserver())
    auth = None
    if not args.no_auth:
        auth = [ApiKeyAuth(store)]
        if args.jwks:
            from ..http.oidc import JWTAuth

            auth.append(JWTAuth(args.jwks, issuer=args.issuer, audience=args.audience,
                                admin_scope=args.admin_scope))
    app = create_service(store, url, auth=auth, limits=HttpLimits(max_body_bytes=args.max_body))
    modes = "off" if auth is None else "API keys" + (", OIDC tokens" if args.jwks else "")

    def listening(url: str) -> None:
        out.line(f"sessiondb serving {store.url} on {url} (authentication: {modes})")
        out.stdout.flush()
        if auth is None:
            out.note("authentication is off: anyone on this machine can read and write "
                     "every session")

    run(app, args.host, args.port, on_listening=listening,
        shutdown_timeout=args.shutdown_timeout, log_level=args.log_level,
        access_log=args.access_log)
    return 0


def apikeys_create(args: argparse.Namespace, out: Output) -> int:
    from ..http.apikeys import create_key

    with opened_store(args) as store:
        key, token = create_key(store, args.app, args.name)
    if out.json_mode:
        out.json({**key.to_dict(), "key": token})
        return 0
    out.line(token)
    out.note(f"API key {key.id} for app {key.app!r}: shown only now, store it safely. "
             f"Send it as 'Authorization: Bearer <key>'.")
    return 0


def apikeys_ls(args: argparse.Namespace, out: Output) -> int:
    from ..http.apikeys import list_keys

    with opened_store(args) as store:
        keys = list(list_keys(store, args.app))
    if out.json_mode:
        out.json([k.to_dict() for k in keys])
    elif not keys:
        out.note("no API keys" + (f" for app {args.app!r}" if args.app else ""))
    else:
        out.table(("id", "app", "created", "name"),
                  [[k.id, k.app, when(k.created_at), k.name] for k in keys])
    return 0


def apikeys_revoke(args: argparse.Namespace, out: Output) -> int:
    from ..http.apikeys import revoke_key

    with opened_store(args) as store:
        if not revoke_key(store, args.key_id):
            raise NotFoundError(f"no API key {args.key_id!r}")
    if out.json_mode:
        out.json({"revoked": args.key_id})
    else:
        out.line(f"revoked {args.key_id}")
    return 0
