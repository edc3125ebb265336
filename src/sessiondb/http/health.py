"""``/healthz`` (the process answers) and ``/readyz`` (the store answers too)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import BackendError, BackendUnavailableError
from .context import store
from .credentials import RESERVED_PREFIX
from .routing import resource

#: A reserved app no one writes: listing it is one cheap, bounded read.
_PROBE_APP = RESERVED_PREFIX + ".health"


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """503 (``backend-unavailable``) while the store cannot be reached."""
    try:
        await store(request).sessions(_PROBE_APP, limit=1)
    except BackendError as exc:
        raise BackendUnavailableError(f"the store is not ready: {exc}") from exc
    return JSONResponse({"status": "ready"})


routes = [resource("/healthz", "healthz", get=healthz), resource("/readyz", "readyz", get=readyz)]
