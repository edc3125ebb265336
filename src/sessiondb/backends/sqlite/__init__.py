"""SQLite: the embedded default backend."""

from .aio import AsyncSQLiteBackend
from .backend import SQLiteBackend
from .connection import SQLiteOptions

__all__ = ["AsyncSQLiteBackend", "SQLiteBackend", "SQLiteOptions"]
