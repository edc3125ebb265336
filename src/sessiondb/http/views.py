"""Writing a response: the session and page JSON shapes, ETags and links."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..models import Page, Session
from .inputs import etag


def session_json(session: Session, events: bool = False) -> dict[str, Any]:
    """:meth:`Session.to_dict`, with its window of events only when asked for."""
    data = session.to_dict()
    if not events:
        del data["events"]
    return data


def session_path(request: Request, app: str, user: str, sid: str) -> str:
    root = request.scope.get("root_path", "")
    return (f"{root}/v1/apps/{quote(app, safe='')}/users/{quote(user, safe='')}"
            f"/sessions/{quote(sid, safe='')}")


def session_response(session: Session, status: int = 200, *, events: bool = False,
                     location: str | None = None) -> JSONResponse:
    headers = {"ETag": etag(session.version)}
    if location is not None:
        headers["Location"] = location
    return JSONResponse(session_json(session, events), status_code=status, headers=headers)


def next_link(request: Request, **changes: object) -> str:
    """This request's path and query with ``changes`` applied, as a
    ``Link: <…>; rel="next"`` header value (relative: right behind any proxy)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    kept.extend((k, str(v)) for k, v in changes.items() if v is not None)
    return f'<{request.url.path}?{urlencode(kept)}>; rel="next"'


def page_response(items: list[dict[str, Any]], next_cursor: str | None, link: str | None
                  ) -> JSONResponse:
    headers = {"Link": link} if link is not None else {}
    return JSONResponse({"items": items, "next_cursor": next_cursor}, headers=headers)


def cursor_page_response(request: Request, page: Page[Any], items: list[dict[str, Any]]
                         ) -> JSONResponse:
    """A page whose next page is the same query with ``cursor`` set."""
    link = next_link(request, cursor=page.next_cursor) if page.next_cursor else None
    return page_response(items, page.next_cursor, link)
