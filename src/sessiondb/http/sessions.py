"""``/v1/apps/{app}/users/{user}/sessions[/{sid}]``: create, list, read,
change state, delete and fork sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFoundError
from .context import changed, store
from .inputs import (
    allow_query,
    etag,
    expected_version,
    ids,
    json_body,
    member_int,
    member_seconds,
    not_modified,
    query_int,
    query_metadata,
    query_number,
    state_changes,
)
from .routing import resource
from .views import cursor_page_response, session_json, session_path, session_response

BASE = "/v1/apps/{app}/users/{user}/sessions"


async def create_session(request: Request) -> Response:
    app, user = ids(request, "app", "user")
    allow_query(request)
    body = await json_body(request, ("id", "state", "metadata", "idle_ttl", "max_lifetime"))
    session = await store(request).create(
        app, user, body.get("id"), state=body.get("state"),
        idle_ttl=member_seconds(body, "idle_ttl"),
        max_lifetime=member_seconds(body, "max_lifetime"), metadata=body.get("metadata"))
    await changed(request, app, user, session.id, session.version)
    return session_response(session, 201, location=session_path(request, app, user, session.id))


async def list_sessions(request: Request) -> Response:
    app, user = ids(request, "app", "user")
    allow_query(request, "limit", "cursor", "updated_after", "metadata")
    limits = store(request).limits
    page = await store(request).sessions(
        app, user, updated_after=query_number(request, "updated_after"),
        metadata=query_metadata(request),
        limit=query_int(request, "limit", 50, 1, limits.max_page),
        cursor=request.query_params.get("cursor"))
    return cursor_page_response(request, page, [session_json(s) for s in page.items])


async def get_session(request: Request) -> Response:
    app, user, sid = ids(request, "app", "user", "sid")
    allow_query(request, "last")
    last = query_int(request, "last", 0, 0, store(request).limits.max_window)
    session = await store(request).get(app, user, sid, last=last)
    if not_modified(request, session.version):
        return Response(status_code=304, headers={"ETag": etag(session.version)})
    return session_response(session, events=bool(last))


async def patch_session(request: Request) -> Response:
    """Change state (top-level keys; ``null`` deletes), recorded as one
    ``state`` event; ``If-Match`` makes it conditional."""
    app, user, sid = ids(request, "app", "user", "sid")
    allow_query(request)
    changes = await state_changes(request)
    version = await store(request).update_state(app, user, sid, changes,
                                                expected_version=expected_version(request))
    await changed(request, app, user, sid, version)
    return session_response(await store(request).get(app, user, sid, last=0))


async def delete_session(request: Request) -> Response:
    app, user, sid = ids(request, "app", "user", "sid")
    allow_query(request)
    if not await store(request).delete(app, user, sid):
        raise NotFoundError(f"session {sid!r} not found")
    await changed(request, app, user, sid, None)
    return Response(status_code=204)


async def fork_session(request: Request) -> Response:
    """A new session holding the events up to ``at_seq`` (and the state as
    it was then)."""
    app, user, sid = ids(request, "app", "user", "sid")
    allow_query(request)
    body = await json_body(request, ("at_seq", "id"), required=("at_seq",))
    session = await store(request).fork(app, user, sid, member_int(body, "at_seq"),
                                        body.get("id"))
    await changed(request, app, user, session.id, session.version)
    return session_response(session, 201, location=session_path(request, app, user, session.id))


routes = [
    resource(BASE, "sessions", get=list_sessions, post=create_session),
    resource(BASE + "/{sid}", "session", get=get_session, patch=patch_session,
             delete=delete_session),
    resource(BASE + "/{sid}/fork", "fork", post=fork_session),
]
