"""SQLite: the embedded default backend."""

from .backend import SQLiteBackend
from .connection import SQLiteOptions

__all__ = ["SQLiteBackend", "SQLiteOptions"]
