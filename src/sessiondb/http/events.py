"""``/v1/apps/{app}/users/{user}/sessions/{sid}/events``: read the log in
bounded pages; append events with a state delta atomically."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import InvalidInputError
from .context import changed, store
from .inputs import allow_query, etag, expected_version, idempotency_key, ids, json_body, query_int
from .routing import resource
from .sessions import BASE
from .views import cursor_page_response, next_link, page_response


async def read_events(request: Request) -> Response:
    """Without ``before``: the events after ``after``, oldest first, paged
    with ``cursor``. With ``before``: the newest ``limit`` events before it
    (after ``after``, if given, and then oldest first from there); the next
    link pages on towards older events."""
    app, user, sid = ids(request, "app", "user", "sid")
    allow_query(request, "after", "before", "limit", "cursor")
    limit = query_int(request, "limit", 100, 1, store(request).limits.max_window)
    after = query_int(request, "after", None, 0)
    before = query_int(request, "before", None, 1)
    cursor = request.query_params.get("cursor")
    if before is None:
        page = await store(request).events(app, user, sid, after_seq=after or 0, limit=limit,
                                           cursor=cursor)
        return cursor_page_response(request, page, [e.to_dict() for e in page.items])
    if cursor is not None:
        raise InvalidInputError("cursor pages forward: give it without before",
                                field="cursor")
    session = await store(request).get(app, user, sid, last=limit, after_seq=after,
                                       before_seq=before)
    events = list(session.events)
    link = None
    if events and len(events) == limit:
        if after is None and events[0].seq > 1:
            link = next_link(request, before=events[0].seq)
        elif after is not None and events[-1].seq < before - 1:
            link = next_link(request, after=events[-1].seq)
    return page_response([e.to_dict() for e in events], None, link)


async def append_events(request: Request) -> Response:
    """Events and a state delta in one atomic write. ``If-Match`` makes it
    conditional; a retry with the same ``Idempotency-Key`` stores nothing
    again and answers the first call's version."""
    app, user, sid = ids(request, "app", "user", "sid")
    allow_query(request)
    body = await json_body(request, ("events", "state_delta"), required=("events",))
    if not isinstance(body["events"], list):
        raise InvalidInputError("events must be a list of events", field="events")
    version = await store(request).append(
        app, user, sid, body["events"], state_delta=body.get("state_delta"),
        expected_version=expected_version(request), idempotency_key=idempotency_key(request))
    await changed(request, app, user, sid, version)
    return JSONResponse({"version": version}, headers={"ETag": etag(version)})


routes = [resource(BASE + "/{sid}/events", "events", get=read_events, post=append_events)]
