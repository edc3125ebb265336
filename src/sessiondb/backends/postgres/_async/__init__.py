"""The async PostgreSQL backend; ``_sync/`` is generated from this package."""
