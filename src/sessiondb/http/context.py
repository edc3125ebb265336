"""What a handler gets from the app: the store, and the change hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from .._async_store import AsyncSessionStore

#: Called after every write the service makes: ``(app, user, session_id,
#: version)``, version ``None`` when the session was deleted. The live
#: stream's :meth:`Feed.publish` has this shape.
ChangeHook = Callable[[str, str, str, int | None], Awaitable[None]]


def store(request: Request) -> AsyncSessionStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def changed(request: Request, app: str, user: str, sid: str,
                  version: int | None) -> None:
    hook: ChangeHook | None = request.app.state.on_change
    if hook is not None:
        await hook(app, user, sid, version)
