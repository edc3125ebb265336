"""The conformance suite: :class:`StoreConformance` gathers its parts."""

from __future__ import annotations

from .suite_basics import BasicsSuite
from .suite_lifecycle import LifecycleSuite
from .suite_reads import ReadsSuite
from .suite_safety import SafetySuite
from .suite_shared import SharedStateSuite


class StoreConformance(BasicsSuite, ReadsSuite, LifecycleSuite, SafetySuite, SharedStateSuite):
    """Every test of the contract; subclass it and provide ``make_store``."""


__all__ = ["StoreConformance"]
