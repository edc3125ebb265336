"""The async persistence of web sessions; ``_sync/`` is its generated twin."""
