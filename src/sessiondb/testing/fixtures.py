"""Fixtures shared by the suite's parts."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..clock import FrozenClock

StoreFactory = Callable[[FrozenClock], Any]


class SuiteBase:
    """Fixtures: ``clock`` (frozen), ``store`` (fresh), ``app`` (a random
    namespace), ``new_store`` (more stores on the same backend)."""

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        raise NotImplementedError("provide a make_store fixture: clock -> store")

    @pytest.fixture
    def clock(self) -> FrozenClock:
        return FrozenClock()

    @pytest.fixture
    def new_store(self, make_store: StoreFactory, clock: FrozenClock) -> Iterator[StoreFactory]:
        opened: list[Any] = []

        def open_one(at: FrozenClock = clock) -> Any:
            opened.append(make_store(at))
            return opened[-1]

        yield open_one
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, new_store: StoreFactory) -> Any:
        return new_store()

    @pytest.fixture
    def app(self) -> str:
        return "t" + secrets.token_hex(6)


def say(role: str, text: str, **extra: Any) -> dict[str, Any]:
    """A plain-dict event."""
    return {"role": role, "content": text, **extra}
