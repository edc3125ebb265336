"""Pure decisions of SessionDB: validation, state scoping, versions, expiry,
cursors. No I/O, no threads, no asyncio: every backend calls these, so the
rules live in one place."""
