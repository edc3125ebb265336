"""Store-backed parts of :mod:`sessiondb.crypto`, async source of ``_sync``."""
