"""Run the shop: ``python -m examples.cart [--store URL] [--port 8000]``."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.cart", description=__doc__)
    parser.add_argument("--store", help="store URL (default: $SESSIONDB_URL or the "
                        "default SQLite file); memory:// keeps nothing")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--insecure-cookies", action="store_true",
                        help="drop the Secure flag, for clients such as curl over plain "
                        "http (browsers accept Secure cookies from http://localhost)")
    args = parser.parse_args()
    app = create_app(args.store, secure=not args.insecure_cookies)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
