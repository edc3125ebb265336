"""The OpenAPI 3.1 document of the service, served at ``/openapi.json``.

Written by hand to say exactly what the handlers accept and answer (the
test suite runs schemathesis against it): the bounds come from the store's
:class:`~sessiondb.Limits`, and security is declared only when the app
authenticates.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .._core.limits import Limits
from .inputs import MAX_INTEGER
from .problems import MEDIA_TYPE, PROBLEM_TYPE, TABLE

Schema = dict[str, Any]

_ID = r"[A-Za-z0-9_.:@+\-]{1,128}"
# "." and ".." would be rewritten by URL normalisation before they reach us.
_PATH_ID = rf"^(?!\.\.?$){_ID}$"
_STATE_KEY: Schema = {"type": "string", "minLength": 1,
                      "pattern": r"^(?!(app|user|temp):$)[^\u0000]*$"}
_ANY: Schema = {}
_INT: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER}
_TIME: Schema = {"type": "number"}
_NULLABLE_SECONDS: Schema = {"type": ["number", "null"], "exclusiveMinimum": 0,
                             "maximum": MAX_INTEGER}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], required: tuple[str, ...] = (),
         closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _schemas(limits: Limits) -> dict[str, Schema]:
    key = {**_STATE_KEY, "maxLength": limits.max_state_key_length}
    delta = {"type": "object", "propertyNames": key,
             "maxProperties": limits.max_state_keys_per_delta}
    metadata = {"type": "object", "maxProperties": limits.max_metadata_keys,
                "propertyNames": {"type": "string", "pattern": f"^{_ID}$"},
                "additionalProperties": {"type": "string",
                                         "maxLength": limits.max_metadata_value_length,
                                         "pattern": r"^[^\u0000]*$"}}
    event = _obj({
        "id": {"type": "string"}, "seq": _INT,
        "role": {"type": "string"}, "kind": {"type": "string"}, "content": _ANY,
        "data": {"type": ["object", "null"]}, "state_delta": {"type": ["object", "null"]},
        "created_at": _TIME}, ("id", "seq", "role", "kind", "content", "data",
                               "state_delta", "created_at"), closed=False)
    session = _obj({
        "app": {"type": "string"}, "user_id": {"type": "string"}, "id": {"type": "string"},
        "version": _INT, "state": {"type": "object"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "created_at": _TIME, "updated_at": _TIME, "expires_at": {"type": ["number", "null"]},
        "events": {"type": "array", "items": _ref("Event"),
                   "description": "Only with ?last=N: the newest N events."}},
        ("app", "user_id", "id", "version", "state", "metadata", "created_at",
         "updated_at", "expires_at"), closed=False)

    def page(item: str) -> Schema:
        return _obj({"items": {"type": "array", "items": _ref(item)},
                     "next_cursor": {"type": ["string", "null"]}},
                    ("items", "next_cursor"), closed=False)

    return {
        "Session": session,
        "Event": event,
        "SessionPage": page("Session"),
        "EventPage": page("Event"),
        "StateDelta": delta,
        "Metadata": metadata,
        "NewSession": _obj({
            "id": {"type": ["string", "null"], "pattern": f"^{_ID}$"},
            "state": {"oneOf": [{**delta, "additionalProperties": {"not": {"type": "null"}}},
                                {"type": "null"}]},
            "metadata": {"oneOf": [_ref("Metadata"), {"type": "null"}]},
            "idle_ttl": _NULLABLE_SECONDS, "max_lifetime": _NULLABLE_SECONDS}),
        "StatePatch": _obj({"state": _ref("StateDelta")}, ("state",)),
        "NewEvent": _obj({
            "role": {"type": "string", "pattern": r"^[A-Za-z0-9_.:\-]{1,64}$"},
            "content": _ANY,
            "kind": {"enum": ["message", "tool_call", "tool_result", "state", "custom"]},
            "data": {"type": ["object", "null"]},
            "id": {"type": ["string", "null"], "pattern": r"^[A-Za-z0-9_.:@+\-]{0,128}$"},
            "state_delta": {"oneOf": [_ref("StateDelta"), {"type": "null"}]}}, ("role",)),
        "Append": _obj({
            "events": {"type": "array", "items": _ref("NewEvent"), "minItems": 1,
                       "maxItems": limits.max_events_per_append},
            "state_delta": {"oneOf": [_ref("StateDelta"), {"type": "null"}]}}, ("events",)),
        "Appended": _obj({"version": _INT}, ("version",), closed=False),
        "Fork": _obj({"at_seq": _INT, "id": {"type": "string", "pattern": f"^{_ID}$"}},
                     ("at_seq",)),
        "SharedState": _obj({"state": {"type": "object"}}, ("state",), closed=False),
        "Status": _obj({"status": {"type": "string"}}, ("status",), closed=False),
        "Problem": _obj({
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "instance": {"type": "string"}, "field": {"type": "string"},
            "limit": {"type": "integer"}, "actual": {"type": "integer"},
            "expected": {"type": "integer"}}, ("type", "title", "status"), closed=False),
    }


def _problem_types() -> str:
    rows = {(p.status, p.slug, p.title) for _, _, p in TABLE}
    lines = [f"- `{PROBLEM_TYPE}{slug}` ({status}): {title}" for status, slug, title
             in sorted(rows)]
    return "Errors are RFC 9457 problem documents. Their `type`:\n\n" + "\n".join(lines)


def _param(name: str, where: str, schema: Schema, description: str,
           required: bool = False, **extra: Any) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description, **extra}


_APP = _param("app", "path", {"type": "string", "pattern": rf"^(?!_sessiondb){_PATH_ID[1:]}"},
              "the application (names starting with `_sessiondb` are reserved)")
_USER = _param("user", "path", {"type": "string", "pattern": _PATH_ID}, "the user id")
_SID = _param("sid", "path", {"type": "string", "pattern": _PATH_ID}, "the session id")
_IF_MATCH = _param("If-Match", "header", {"type": "string"},
                   'only if the session is at this version (its ETag, like `"v3"`): else 412')
_CURSOR = _param("cursor", "query", {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,2048}$"},
                 "the `next_cursor` of the previous page")
_ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": '`"v{version}"`'}}
_LINK_HEADER = {"Link": {"schema": {"type": "string"},
                         "description": 'the next page: `<…>; rel="next"` (absent on the last)'}}


def _json(schema: Schema, description: str, headers: dict[str, Any] | None = None) -> Schema:
    response: Schema = {"description": description,
                        "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _operation(summary: str, params: list[Schema], responses: dict[str, Schema],
               body: str | None = None, errors: tuple[int, ...] = (),
               secured: bool = True, body_required: bool = True) -> Schema:
    statuses = {400, 422, 503, *errors}
    if body is not None:
        statuses |= {413, 415}
    if secured:
        statuses |= {401, 403}
    problem = {"description": "a problem", "content": {MEDIA_TYPE: {"schema": _ref("Problem")}}}
    operation: Schema = {"summary": summary, "parameters": params,
                         "responses": {**responses, **{str(s): problem for s in sorted(statuses)}}}
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": {
            "application/json": {"schema": _ref(body)}}}
    return operation


def openapi_document(limits: Limits, secured: bool) -> dict[str, Any]:
    """The document for an app with these store ``limits``; ``secured``
    when it authenticates."""
    session_params = [_APP, _USER, _SID]

    def op(*args: Any, **kwargs: Any) -> Schema:
        return _operation(*args, secured=secured, **kwargs)

    window = {"type": "integer", "minimum": 1, "maximum": limits.max_window}
    session_ok = _json(_ref("Session"), "the session", _ETAG_HEADER)
    shared_ok = _json(_ref("SharedState"), "the state")
    created = _json(_ref("Session"), "created", {
        **_ETAG_HEADER, "Location": {"schema": {"type": "string"}, "description": "its URL"}})
    paths: dict[str, Any] = {
        "/v1/apps/{app}/users/{user}/sessions": {
            "post": op("Create a session (no body: all defaults)", [_APP, _USER],
                       {"201": created}, "NewSession", (409,), body_required=False),
            "get": op("List the user's live sessions, oldest first", [
                _APP, _USER,
                _param("limit", "query", {"type": "integer", "minimum": 1,
                                          "maximum": limits.max_page, "default": 50},
                       "page size"),
                _CURSOR,
                _param("updated_after", "query", {"type": "number", "minimum": -MAX_INTEGER,
                                                  "maximum": MAX_INTEGER},
                       "only sessions written after this Unix time"),
                _param("metadata", "query", {"type": "array", "items": {
                    "type": "string", "pattern": f"^{_ID}=.*$"}},
                       "`KEY=VALUE` metadata filters, all must match", style="form",
                       explode=True)],
                {"200": _json(_ref("SessionPage"), "a page", _LINK_HEADER)}),
        },
        "/v1/apps/{app}/users/{user}/sessions/{sid}": {
            "get": op("Read a session (state, version, metadata, expiry)", [
                *session_params,
                _param("last", "query", {**window, "minimum": 0, "default": 0},
                       "also return the newest N events"),
                _param("If-None-Match", "header", {"type": "string"}, "an ETag: 304 if current")],
                {"200": session_ok, "304": {"description": "not modified",
                                            "headers": _ETAG_HEADER}}, errors=(404,)),
            "patch": op("Change the session's state (null deletes a key)",
                        [*session_params, _IF_MATCH], {"200": session_ok}, "StatePatch",
                        (404, 409, 412)),
            "delete": op("Delete a session with its events and state", session_params,
                         {"204": {"description": "deleted"}}, errors=(404,)),
        },
        "/v1/apps/{app}/users/{user}/sessions/{sid}/events": {
            "get": op("Read events: after a seq (paged by cursor), or the newest before one", [
                *session_params,
                _param("after", "query", _INT, "events after this seq"),
                _param("before", "query", {**_INT, "minimum": 1}, "events before this seq"),
                _param("limit", "query", {**window, "default": 100}, "page size"), _CURSOR],
                {"200": _json(_ref("EventPage"), "a page", _LINK_HEADER)}, errors=(404,)),
            "post": op("Append events and a state delta atomically", [
                *session_params, _IF_MATCH,
                _param("Idempotency-Key", "header", {"type": "string", "pattern": f"^{_ID}$"},
                       "a retry with the same key stores nothing twice")],
                {"200": _json(_ref("Appended"), "the new version", _ETAG_HEADER)}, "Append",
                (404, 409, 412)),
        },
        "/v1/apps/{app}/users/{user}/sessions/{sid}/fork": {
            "post": op("Fork a session at a seq into a new session", session_params,
                       {"201": created}, "Fork", (404, 409)),
        },
        "/v1/apps/{app}/users/{user}/state": {
            "get": op("The user's shared state (its user: keys, named without the prefix)",
                      [_APP, _USER], {"200": shared_ok}),
            "patch": op("Change the user's shared state atomically (null deletes a key)",
                        [_APP, _USER], {"200": shared_ok}, "StatePatch"),
        },
        "/v1/apps/{app}/state": {
            "get": op("The app's shared state (its app: keys, named without the prefix)",
                      [_APP], {"200": shared_ok}),
            "patch": op("Change the app's shared state atomically (null deletes a key)",
                        [_APP], {"200": shared_ok}, "StatePatch"),
        },
        "/healthz": {"get": _operation("The process is up", [], {
            "200": _json(_ref("Status"), "ok")}, secured=False)},
        "/readyz": {"get": _operation("The store answers", [], {
            "200": _json(_ref("Status"), "ready")}, secured=False)},
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "SessionDB", "version": __version__,
                 "description": _problem_types()},
        "paths": paths,
        "components": {"schemas": _schemas(limits)},
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "an API key (`sdb_…`) or an OIDC access token (JWT)"}}
        document["security"] = [{"bearer": []}]
        for path in ("/healthz", "/readyz"):
            paths[path]["get"]["security"] = []
    return document
