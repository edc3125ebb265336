"""The Redis backend, written once as async code; ``_sync`` is generated
from it by ``scripts/unasync.py``."""
