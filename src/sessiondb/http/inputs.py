"""Reading a request: path ids, query parameters, the JSON body and the
conditional headers. Everything malformed becomes a typed error (400, 415
or 422 through the problem table), never a 500."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, overload

from starlette.requests import Request

from .._core.ids import check_id
from ..errors import InvalidInputError, LimitExceededError
from .problems import MalformedRequest, PreconditionFailed, UnsupportedMediaType

#: The largest sequence number, version or time the API accepts: the
#: largest integer a JSON double holds exactly, so every client can read it.
MAX_INTEGER = 2**53 - 1
_ETAG = re.compile(r'(W/)?"v(\d{1,16})"')


def an_id(value: str, field: str) -> str:
    """``value`` if it is a well-formed id. Too long is a bad address or
    header (422), not a large body (413)."""
    try:
        return check_id(value, field)
    except LimitExceededError as exc:
        raise InvalidInputError(str(exc), field=exc.field) from None


_PATH_FIELDS = {"app": "app", "user": "user_id", "sid": "session_id"}


def ids(request: Request, *names: str) -> list[str]:
    """The path's ``app``/``user``/``sid`` ids, checked."""
    return [an_id(request.path_params[name], _PATH_FIELDS[name]) for name in names]


def allow_query(request: Request, *names: str) -> None:
    """Refuse query parameters other than ``names``: a misspelt ``limt``
    silently ignored would hand back the wrong page."""
    if not request.scope.get("query_string"):  # most requests: nothing to parse
        return
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        allowed = ", ".join(names) or "none"
        raise InvalidInputError(f"unknown query parameters {unknown}; allowed: {allowed}",
                                field=unknown[0])


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"query parameter {name} must be a number", field=name) from None
    if not -MAX_INTEGER <= value <= MAX_INTEGER:  # also refuses nan and inf
        raise InvalidInputError(f"query parameter {name} must be a finite number in "
                                f"±{MAX_INTEGER}", field=name)
    return value


@overload
def query_int(request: Request, name: str, default: int, minimum: int,
              maximum: int = MAX_INTEGER) -> int: ...
@overload
def query_int(request: Request, name: str, default: None, minimum: int,
              maximum: int = MAX_INTEGER) -> int | None: ...
def query_int(request: Request, name: str, default: int | None, minimum: int,
              maximum: int = MAX_INTEGER) -> int | None:
    """An integer query parameter within ``[minimum, maximum]``."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[+-]?\d{1,20}", text.strip()):
        raise InvalidInputError(f"query parameter {name} must be an integer", field=name)
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidInputError(f"query parameter {name} must be between {minimum} and "
                                f"{maximum}, not {value}", field=name)
    return value


def query_number(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    return None if text is None else _number(text, name)


def query_metadata(request: Request) -> dict[str, str] | None:
    """Repeated ``metadata=KEY=VALUE`` filters (all must match)."""
    pairs = request.query_params.getlist("metadata")
    if not pairs:
        return None
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInputError(f"metadata filter {pair!r} must be KEY=VALUE",
                                    field="metadata")
        found[key] = value
    return found


async def json_body(request: Request, allowed: Collection[str],
                    required: Collection[str] = ()) -> dict[str, Any]:
    """The body as a JSON object with only ``allowed`` members (an empty
    body is ``{}``). Size is bounded by the limits middleware."""
    raw = await request.body()
    if not raw.strip():
        body: Any = {}
    else:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media != "application/json" and not (
                media.startswith("application/") and media.endswith("+json")):
            raise UnsupportedMediaType(f"the body must be application/json, not {media}",
                                       field="content-type")
        body = _parse(raw)
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInputError(f"unknown members {unknown}; allowed: {sorted(allowed)}",
                                field=unknown[0])
    for name in required:
        if name not in body:
            raise InvalidInputError(f"{name} is required", field=name)
    return body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError, huge ints
        raise MalformedRequest(f"the body is not valid JSON: {exc}", field="body") from None


def member_int(body: dict[str, Any], name: str) -> int:
    """An integer member in ``[0, MAX_INTEGER]``."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
        raise InvalidInputError(f"{name} must be an integer from 0 to {MAX_INTEGER}",
                                field=name)
    return value


def member_seconds(body: dict[str, Any], name: str) -> float | None:
    """A duration in seconds: a positive number up to about 285 million years."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value <= MAX_INTEGER):
        raise InvalidInputError(f"{name} must be a positive number of seconds up to "
                                f"{MAX_INTEGER}", field=name)
    return float(value)


# -- conditional requests -------------------------------------------------------------
def etag(version: int) -> str:
    """The strong ETag of a session at ``version``."""
    return f'"v{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def expected_version(request: Request) -> int | None:
    """``If-Match`` as an expected version: ``None`` when absent or ``*``."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = _tags(header)
    if tags == ["*"]:
        return None
    if len(tags) != 1:
        raise InvalidInputError("If-Match must name exactly one version, like \"v3\"",
                                field="If-Match")
    match = _ETAG.fullmatch(tags[0])
    if match is None or match.group(1):  # weak tags never match If-Match
        raise PreconditionFailed(f"If-Match {tags[0]} is not a version of this session")
    version = int(match.group(2))
    if version > MAX_INTEGER:
        raise PreconditionFailed(f"If-Match {tags[0]} is not a version of this session")
    return version


def not_modified(request: Request, version: int) -> bool:
    """Whether ``If-None-Match`` names the current version (weak comparison)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    for tag in _tags(header):
        match = _ETAG.fullmatch(tag)
        if tag == "*" or (match is not None and int(match.group(2)) == version):
            return True
    return False


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    return None if key is None else an_id(key, "Idempotency-Key")


async def state_changes(request: Request) -> dict[str, Any]:
    """The ``state`` member of a ``PATCH`` body: the keys to set (``null``
    deletes one)."""
    body = await json_body(request, ("state",), required=("state",))
    if not isinstance(body["state"], dict):
        raise InvalidInputError("state must be an object of keys to set (null deletes)",
                                field="state")
    return body["state"]
