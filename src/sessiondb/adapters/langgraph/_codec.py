"""Channel values and writes as plain JSON data: no pickle, no class imports.

JSON values pass through as they are. Everything else is a tagged object
``{"__sdb": tag, ...}``, decoded only by the fixed table below (or, for
``model`` and ``dataclass`` tags, by looking the name up in the classes the
saver was given with ``allowed_types``: a name is never imported). LangChain
messages use their own dict form (``model_dump`` and ``messages_from_dict``,
which maps a ``type`` string to a known class), without empty default fields.

A value of any other type raises :class:`~sessiondb.InvalidInputError` naming
the channel, so nothing is ever stored in a form that cannot be read back.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from langchain_core.messages import BaseMessage, messages_from_dict
from langgraph.types import Command, Interrupt, Overwrite, Send

from ... import InvalidInputError

try:  # a beta LangGraph type: present in langgraph-checkpoint >= 4.1
    from langgraph.checkpoint.serde.types import _DeltaSnapshot
except ImportError:  # pragma: no cover - older langgraph-checkpoint
    _DeltaSnapshot = None  # type: ignore[assignment,misc]

TAG = "__sdb"
_PLAIN = (str, int, bool, type(None))


class StoredError(Exception):
    """An exception restored from a stored ``ERROR`` write whose class is not
    a builtin: the original class is never imported. ``type_name`` names it."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class Codec:
    """Encodes Python values to JSON data and back.

    ``allowed_types`` are Pydantic models or dataclasses the application
    stores in its graph state; they are encoded with their fields and
    rebuilt by name from this list only.
    """

    def __init__(self, allowed_types: Iterable[type] = ()) -> None:
        self._types: dict[str, type] = {_name(t): t for t in allowed_types}

    # -- encoding ---------------------------------------------------------
    def encode(self, value: Any, where: str = "value") -> Any:
        try:
            return self._enc(value)
        except RecursionError:
            raise InvalidInputError(f"{where} is nested too deeply", field=where) from None
        except _Refused as exc:
            raise InvalidInputError(
                f"{where} holds a {exc.args[0]}, which SessionDBSaver cannot store as "
                "JSON; use JSON data, LangChain messages, or pass the class in "
                "allowed_types", field=where) from None

    def _enc(self, v: Any) -> Any:
        kind = type(v)
        if kind in _PLAIN:
            return v
        if kind is float:
            if not math.isfinite(v):
                return {TAG: "float", "v": repr(v)}
            return v
        if kind is list:
            return [self._enc(x) for x in v]
        if kind is dict:
            if TAG not in v and all(type(k) is str for k in v):
                return {k: self._enc(x) for k, x in v.items()}
            return {TAG: "map", "v": [[self._enc(k), self._enc(x)] for k, x in v.items()]}
        if isinstance(v, BaseMessage):
            # The message's own dict form, without fields at their empty
            # defaults (a third of a short message's size).
            data = {k: x for k, x in v.model_dump().items() if k == "content" or not (
                x is None or k == "type" or (type(x) in (dict, list) and not x))}
            return {TAG: "msg", "type": v.type, "v": self._enc(data)}
        encoder = _ENCODERS.get(kind)
        if encoder is not None:
            return encoder(self, v)
        return self._enc_other(v)

    def _enc_other(self, v: Any) -> Any:
        if _DeltaSnapshot is not None and isinstance(v, _DeltaSnapshot):
            return {TAG: "delta", "v": self._enc(v.value)}
        if isinstance(v, BaseException):
            return {TAG: "error", "type": type(v).__name__, "v": str(v)}
        name = _name(type(v))
        if self._types.get(name) is type(v):
            if hasattr(v, "model_dump"):
                return {TAG: "model", "type": name, "v": self._enc(v.model_dump())}
            if dataclasses.is_dataclass(v):
                fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
                return {TAG: "dataclass", "type": name, "v": self._enc(fields)}
        if isinstance(v, str | int | float):  # str/int enums and other subclasses
            base = _base(v)
            return self._enc(str.__str__(v) if base is str else base(v))
        if isinstance(v, Mapping):
            return self._enc(dict(v))
        if isinstance(v, list):
            return [self._enc(x) for x in v]
        if isinstance(v, tuple):  # named tuples
            return {TAG: "tuple", "v": [self._enc(x) for x in v]}
        raise _Refused(type(v).__qualname__)

    # -- decoding ---------------------------------------------------------
    def decode(self, data: Any) -> Any:
        kind = type(data)
        if kind is list:
            return [self.decode(x) for x in data]
        if kind is not dict:
            return data
        tag = data.get(TAG)
        if tag is None:
            return {k: self.decode(x) for k, x in data.items()}
        decoder = _DECODERS.get(tag)
        if decoder is None:
            raise InvalidInputError(f"stored value has an unknown tag {tag!r}", field="value")
        return decoder(self, data)

    def _decode_typed(self, data: dict[str, Any]) -> Any:
        cls = self._types.get(data["type"])
        if cls is None:
            raise InvalidInputError(
                f"stored value is a {data['type']}, which is not in allowed_types",
                field="allowed_types")
        fields = self.decode(data["v"])
        if data[TAG] == "model":
            return cls.model_validate(fields)  # type: ignore[attr-defined]
        return cls(**fields)


class _Refused(Exception):
    pass


def _base(v: Any) -> type:
    return next(t for t in (str, int, float) if isinstance(v, t))


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _restore_error(codec: Codec, data: dict[str, Any]) -> BaseException:
    # Only builtin exception classes are rebuilt by name (no import).
    cls = getattr(builtins, data["type"], None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(data["v"])
        except Exception:
            pass
    return StoredError(data["type"], data["v"])


def _send(codec: Codec, v: Send) -> Any:
    out = {TAG: "send", "node": v.node, "arg": codec._enc(v.arg)}
    if getattr(v, "timeout", None) is not None:
        out["timeout"] = codec._enc(dataclasses.asdict(v.timeout))  # type: ignore[arg-type]
    return out


def _unsend(codec: Codec, d: dict[str, Any]) -> Send:
    if "timeout" in d:
        return Send(d["node"], codec.decode(d["arg"]), timeout=codec.decode(d["timeout"]))
    return Send(d["node"], codec.decode(d["arg"]))


def _command(codec: Codec, v: Command) -> Any:
    return {TAG: "command", "graph": v.graph, "update": codec._enc(v.update),
            "resume": codec._enc(v.resume),
            "goto": codec._enc(list(v.goto) if isinstance(v.goto, tuple) else v.goto)}


def _uncommand(codec: Codec, d: dict[str, Any]) -> Command:
    goto = codec.decode(d["goto"])
    return Command(graph=d["graph"], update=codec.decode(d["update"]),
                   resume=codec.decode(d["resume"]),
                   goto=tuple(goto) if isinstance(goto, list) else goto)


def _interrupt(codec: Codec, v: Interrupt) -> Any:
    schema = v.response_schema if isinstance(v.response_schema, dict) else None
    return {TAG: "interrupt", "v": codec._enc(v.value), "id": v.id,
            "schema": codec._enc(schema)}


def _uninterrupt(codec: Codec, d: dict[str, Any]) -> Interrupt:
    return Interrupt(codec.decode(d["v"]), d["id"], response_schema=codec.decode(d["schema"]))


def _undelta(codec: Codec, d: dict[str, Any]) -> Any:
    if _DeltaSnapshot is None:  # pragma: no cover
        raise InvalidInputError("stored DeltaChannel snapshot needs a newer langgraph",
                                field="value")
    return _DeltaSnapshot(codec.decode(d["v"]))


_ENCODERS: dict[type, Callable[[Codec, Any], Any]] = {
    tuple: lambda c, v: {TAG: "tuple", "v": [c._enc(x) for x in v]},
    set: lambda c, v: {TAG: "set", "v": [c._enc(x) for x in v]},
    frozenset: lambda c, v: {TAG: "frozenset", "v": [c._enc(x) for x in v]},
    bytes: lambda c, v: {TAG: "bytes", "v": base64.b64encode(v).decode()},
    bytearray: lambda c, v: {TAG: "bytes", "v": base64.b64encode(v).decode()},
    dt.datetime: lambda c, v: {TAG: "datetime", "v": v.isoformat()},
    dt.date: lambda c, v: {TAG: "date", "v": v.isoformat()},
    dt.time: lambda c, v: {TAG: "time", "v": v.isoformat()},
    dt.timedelta: lambda c, v: {TAG: "timedelta", "v": v.total_seconds()},
    uuid.UUID: lambda c, v: {TAG: "uuid", "v": str(v)},
    Decimal: lambda c, v: {TAG: "decimal", "v": str(v)},
    Send: _send,
    Command: _command,
    Interrupt: _interrupt,
    Overwrite: lambda c, v: {TAG: "overwrite", "v": c._enc(v.value)},
}

_DECODERS: dict[str, Callable[[Codec, dict[str, Any]], Any]] = {
    "map": lambda c, d: {c.decode(k): c.decode(x) for k, x in d["v"]},
    "msg": lambda c, d: messages_from_dict([{"type": d["type"], "data": c.decode(d["v"])}])[0],
    "tuple": lambda c, d: tuple(c.decode(x) for x in d["v"]),
    "set": lambda c, d: {c.decode(x) for x in d["v"]},
    "frozenset": lambda c, d: frozenset(c.decode(x) for x in d["v"]),
    "bytes": lambda c, d: base64.b64decode(d["v"]),
    "float": lambda c, d: float(d["v"]),
    "datetime": lambda c, d: dt.datetime.fromisoformat(d["v"]),
    "date": lambda c, d: dt.date.fromisoformat(d["v"]),
    "time": lambda c, d: dt.time.fromisoformat(d["v"]),
    "timedelta": lambda c, d: dt.timedelta(seconds=d["v"]),
    "uuid": lambda c, d: uuid.UUID(d["v"]),
    "decimal": lambda c, d: Decimal(d["v"]),
    "send": _unsend,
    "command": _uncommand,
    "interrupt": _uninterrupt,
    "overwrite": lambda c, d: Overwrite(c.decode(d["v"])),
    "delta": _undelta,
    "error": _restore_error,
    "model": Codec._decode_typed,
    "dataclass": Codec._decode_typed,
}
