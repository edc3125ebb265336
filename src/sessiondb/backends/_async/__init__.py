"""Wrappers around any async backend; the sync twins are in ``_sync/``."""

from .observed import AsyncObservedBackend

__all__ = ["AsyncObservedBackend"]
