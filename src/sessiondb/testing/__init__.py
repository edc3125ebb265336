"""The conformance suite every SessionDB backend passes, shipped for
third-party backends too (plain pytest; needs ``pip install sessiondb[test]``).

Subclass :class:`StoreConformance` in a test module and provide a
``make_store`` fixture returning a factory: called with a
:class:`~sessiondb.FrozenClock`, it returns a fresh, empty store (a
:class:`~sessiondb.SessionStore`, or an :class:`~sessiondb.AsyncSessionStore`
wrapped in :class:`BlockingStore`) on the backend under test::

    import pytest
    from sessiondb.testing import StoreConformance

    class TestMyBackend(StoreConformance):
        @pytest.fixture
        def make_store(self):
            return lambda clock: open_my_store(clock=clock)

Every test works in its own random app namespace, so one server can serve
all tests at once. Tests never look at a backend's type or private state.
"""

from .conformance import StoreConformance
from .portal import BlockingStore
from .threads import run_threads

__all__ = ["BlockingStore", "StoreConformance", "run_threads"]
