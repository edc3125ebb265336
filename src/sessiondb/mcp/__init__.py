"""SessionDB as an MCP server: session tools and resources for a model.

    from sessiondb import open_async_store
    from sessiondb.mcp import create_server

    server = create_server(open_async_store(), app="shop", user_id="alice")
    server.run()  # stdio; or serve streamable_http_app(...) over HTTP

The app and user come from the server's configuration (stdio) or from each
HTTP request's credential, never from a tool argument. See ``docs/mcp.md``.
Needs the ``mcp`` extra: ``pip install 'sessiondb[mcp]'``.
"""

from __future__ import annotations

from ..errors import ConfigurationError

try:
    import mcp.server.mcpserver  # noqa: F401  (the official MCP SDK, v2)
except ImportError as exc:
    raise ConfigurationError(
        "the MCP server needs the MCP SDK (mcp>=2): pip install 'sessiondb[mcp]'") from exc

from ._errors import describe
from ._http import MCPHttpApp, streamable_http_app
from ._resources import EVENTS_URI, STATE_URI
from ._scope import Scope, ScopeResolver
from ._server import create_http_server, create_server

__all__ = [
    "EVENTS_URI",
    "MCPHttpApp",
    "STATE_URI",
    "Scope",
    "ScopeResolver",
    "create_http_server",
    "create_server",
    "describe",
    "streamable_http_app",
]
