"""Running the app with uvicorn: say where it listens, stop cleanly.

On SIGTERM or Ctrl-C (SIGINT) the app's live feed (``app.state.feed``, if
any) first ends every open event stream cleanly (a client reconnects
elsewhere with ``Last-Event-ID``); then uvicorn stops accepting connections,
lets the requests in flight finish (up to ``shutdown_timeout`` seconds; their
appends are still announced to other processes), and runs the app's
lifespan shutdown, which sends the feed's last notices and closes the
store. :func:`serve` then returns normally, so the process exits with
status 0; a second Ctrl-C forces the exit. Without the first step a
stream, which never finishes by itself, would hold the shutdown for the
whole ``shutdown_timeout``.

Once listening, the server calls ``gc.freeze()``: the objects alive after
startup (modules, the app, the store) leave the collector's generations, so
the full collections that many open connections trigger scan far less (they
showed as 100-200 ms pauses in the delivery latency of live streams).
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ConfigurationError

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigurationError("the HTTP service needs uvicorn: "
                             "pip install 'sessiondb[server]'") from exc

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_listening: Callable[[str], None],
                 freeze_gc: bool) -> None:
        super().__init__(config)
        self._on_listening = on_listening
        self._freeze_gc = freeze_gc

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            if self._freeze_gc:
                gc.freeze()
            self._on_listening(self.url())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the live streams, then uvicorn's graceful shutdown."""
        feed = getattr(getattr(self.config.app, "state", None), "feed", None)
        if feed is not None:
            try:
                await feed.end_streams()
            except Exception:  # the shutdown goes on: the lifespan closes the feed
                logging.getLogger("sessiondb.http").exception("ending the live streams failed")
        await super().shutdown(sockets)

    def url(self) -> str:
        """The address actually bound (the real port when asked for port 0)."""
        name = self.servers[0].sockets[0].getsockname()
        host = f"[{name[0]}]" if ":" in name[0] else name[0]
        return f"http://{host}:{name[1]}"

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's own handlers, minus re-raising the signal after the
        graceful shutdown (which would end the process as if killed)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only: its owner stops us
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: Any, host: str = "127.0.0.1", port: int = 8700, *,
          on_listening: Callable[[str], None] = print, shutdown_timeout: float = 30.0,
          log_level: str = "info", access_log: bool = False, freeze_gc: bool = True,
          **options: Any) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C; ``on_listening(url)`` once bound.
    ``access_log``: a line per request (off by default: it costs
    throughput); ``options``: more ``uvicorn.Config`` settings (``loop``,
    ``http``, ``backlog``, …)."""
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", log_level=log_level, access_log=access_log,
        timeout_graceful_shutdown=int(shutdown_timeout), server_header=False, **options)
    server = _Server(config, on_listening, freeze_gc)
    server.run()
    if not server.started:
        raise ConfigurationError(f"could not start the server on {host}:{port}")
