"""Store calls as data, so one plan serves the sync and the async saver.

A plan is a generator that yields :class:`Op` (a store method call) and gets
the result sent back (or the exception thrown in), and may yield
:class:`Emit` to hand an item to the caller (for ``list``). The saver's
methods run a plan with :func:`run` / :func:`arun` (or :func:`iterate` /
:func:`aiterate` for ``list``): the logic is written once.

Also here: the saver's small thread-safe caches.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Generator
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class Op(NamedTuple):
    """A call of the store method ``name``."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Emit(NamedTuple):
    """An item for the caller of an iterating plan."""

    item: Any


Plan = Generator[Op | Emit, Any, T]


def iterate(store: Any, plan: Plan[T]) -> Generator[Any, None, T]:
    """Run ``plan`` against a sync store, yielding what it emits; returns
    the plan's result."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        if isinstance(step, Emit):
            yield step.item
            continue
        try:
            value = getattr(store, step.name)(*step.args, **step.kwargs)
        except Exception as exc:  # handed to the plan, which decides
            error = exc


def run(store: Any, plan: Plan[T]) -> T:
    """Run a plan that emits nothing against a sync store; its result."""
    steps = iterate(store, plan)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def _call(store: Any, op: Op, hop: bool) -> Any:
    method = getattr(store, op.name)
    if hop:  # a sync store under the async API: one worker-thread hop per call
        return await asyncio.to_thread(method, *op.args, **op.kwargs)
    result = method(*op.args, **op.kwargs)
    return await result if inspect.isawaitable(result) else result


async def aiterate(store: Any, plan: Plan[Any], hop: bool) -> AsyncIterator[Any]:
    """Run ``plan`` against an async store (or a sync one with ``hop``)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration:
            return
        value, error = None, None
        if isinstance(step, Emit):
            yield step.item
            continue
        try:
            value = await _call(store, step, hop)
        except Exception as exc:
            error = exc


async def arun(store: Any, plan: Plan[T], hop: bool) -> T:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = await _call(store, step, hop)
        except Exception as exc:
            error = exc


class Cache:
    """The latest value of each channel of recently used threads, and the
    checkpoints recently read or written; least recently used out first.

    Keys start with the session's incarnation id (``lg.inc``), and a value
    entry remembers the ``seq`` it was stored at: an entry can only ever
    match the exact stored value it describes.
    """

    def __init__(self, size: int) -> None:
        self._size = max(size, 1)
        self._values: OrderedDict[tuple[str, str], tuple[int, bool, Any]] = OrderedDict()
        self._records: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def value(self, inc: str, channel: str, seq: int) -> tuple[bool, Any] | None:
        """``(is_list, payload)`` of ``channel`` at ``seq``: a list's
        ``ListValue`` (its items as LangGraph last saw them, for the next
        put's prefix check), or a value's encoded form."""
        with self._lock:
            entry = self._values.get((inc, channel))
            if entry is None or entry[0] != seq:
                return None
            self._values.move_to_end((inc, channel))
            return entry[1], entry[2]

    def put_value(self, inc: str, channel: str, seq: int, is_list: bool, payload: Any) -> None:
        with self._lock:
            self._values[(inc, channel)] = (seq, is_list, payload)
            self._values.move_to_end((inc, channel))
            while len(self._values) > self._size * 8:
                self._values.popitem(last=False)

    def record(self, inc: str, checkpoint_id: str) -> Any:
        with self._lock:
            return self._records.get((inc, checkpoint_id))

    def put_record(self, inc: str, record: Any) -> None:
        with self._lock:
            self._records[(inc, record.id)] = record
            self._records.move_to_end((inc, record.id))
            while len(self._records) > self._size * 4:
                self._records.popitem(last=False)
