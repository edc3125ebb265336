"""Pure decisions of SessionDB: validation, state scoping, versions, expiry,
cursors. No I/O, no threads, no asyncio: every backend calls these, so the
rules live in one place.

Its records are plain ``slots`` dataclasses, not frozen ones: they are made
several times per operation, a frozen one costs about 1 µs more to build,
and nothing here mutates them after construction.
"""
