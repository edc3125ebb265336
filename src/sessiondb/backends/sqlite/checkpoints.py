"""WAL checkpoints, mostly on a background thread.

A checkpoint copies the write-ahead log back into the database file and
flushes both; under ``synchronous=normal`` those are the only flushes there
are, and on a virtual disk they take milliseconds (measured here: 7-15 ms
for 1,000 frames). Left to SQLite, the commit that crosses its 1,000-frame
threshold runs one inline: one W1 append in ~200 waits that long, and
checkpoints took a fifth of a plain append loop's time.

So a store's connections never checkpoint on their own. Every ``EVERY``
writes wake this thread, whose connection copies back what is committed (a
PASSIVE checkpoint: nobody waits, writers go on adding to the log). That
leaves the log whole, though: SQLite starts it over only when a write begins
with every frame copied back, and writes came in meanwhile. So the next
write, with the store's lock still held, copies back the few frames left
itself (``wrote`` says when): its flushes are small, 2-4 ms against the
whole checkpoint's 7-15, and the write after it starts the log over (an
async store's inline writes hand it to the worker thread: see ``aio``). A
catch-up that finds another checkpoint running (another process's) leaves
the log to grow until the next one, as SQLite's own checkpoints do.

Measured (``benchmarks/w1.py``, SQLite, synchronous=normal): appends 0.69x
raw sqlite3 with SQLite's own checkpoints, 0.91x with these; the longest
append of a 10,000-append loop 10-19 ms before, 2.5-3.6 ms after.

Durability is unchanged: SQLite decides what a checkpoint may copy and
flushes as it always does; a checkpoint that fails or finds the database
busy is simply run again later.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

from ...errors import BackendError
from .connection import SQLiteOptions, connect

_log = logging.getLogger("sessiondb.sqlite")

#: Writes between two checkpoints: ~1,000-1,400 log frames for W1 appends.
EVERY = 200


class Checkpointer:
    """One thread and connection checkpointing one database file, both
    started at the first checkpoint (a short-lived store never needs them)."""

    def __init__(self, options: SQLiteOptions) -> None:
        self._options = options
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._due = threading.Event()
        self._stopping = False
        self._writes = 0
        self._catch_up = False
        self._pid = os.getpid()

    def wrote(self) -> bool:
        """Count one committed write (unlocked: a count lost to a race only
        delays a checkpoint). True when the writer should now copy back the
        frames the thread's checkpoint left, or, where there is no thread,
        checkpoint itself."""
        self._writes += 1
        if self._writes >= EVERY:
            self._writes = 0
            if os.getpid() != self._pid or not self._started():
                return True  # a forked child (threads do not survive fork) or no thread
            self._due.set()
        if self._catch_up:
            self._catch_up = False
            return True
        return False

    def _started(self) -> bool:
        with self._starting:
            if self._thread is None and not self._stopping:
                try:
                    self._conn = connect(self._options)
                except BackendError:
                    _log.warning("cannot open the WAL checkpoint connection; writes "
                                 "checkpoint themselves", exc_info=True)
                    return False
                self._thread = threading.Thread(
                    target=self._run, args=(self._conn,), daemon=True,
                    name=f"sessiondb-checkpoint:{self._options.path}")
                self._thread.start()
        return self._thread is not None

    def _run(self, conn: sqlite3.Connection) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._stopping:
                break
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self._catch_up = True
            except sqlite3.Error:
                _log.warning("WAL checkpoint failed; it runs again later", exc_info=True)
        conn.close()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it is running, if any)."""
        with self._starting:
            self._stopping = True
        self._due.set()
        if self._thread is not None and os.getpid() == self._pid:
            self._thread.join()
