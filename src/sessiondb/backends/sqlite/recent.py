"""The last event rows of the sessions a store reads and writes, kept so
that a read window need not be read from SQLite again.

An agent reloads its last events every turn, and reading them back was over
half of a load's cost: CPython's sqlite3 builds every column value anew
(about 550 instructions each; a window is 20 rows of 7). Stored events never
change, so their rows can be kept, as long as nothing else changed the file:
every head read also returns SQLite's ``data_version``, which moves when any
*other* connection commits (another process, or another store in this one),
and then everything kept is dropped. The store's own writes keep what they
may: an append adds its rows; deletes, purges, imports and re-sealing drop
everything.

Kept per session: the rows its last read window needed, plus ``SLACK`` for
the appends until the next read; in all, rows of about ``BUDGET`` bytes of
text (everything is dropped when that is reached). Rows are tuples of str,
bytes, float and None, shared safely; every read builds its own Event
objects from them. Dropping swaps in a new dict, so a reader or writer
still holding the old one can only write where nobody looks any more.
"""

from __future__ import annotations

from ..._core.events import EventRow, WindowRow

#: Rows kept past the last read window, for the appends that follow it.
SLACK = 16
#: Text kept in all, in bytes (characters) of content, data and delta.
BUDGET = 4 << 20
#: What one more session's entry counts for against the budget.
_ENTRY = 256

#: A session's kept rows: the seq of the first, the rows in seq order, and
#: how many to keep.
Kept = dict[int, tuple[int, tuple[WindowRow, ...], int]]


def _size(rows: tuple[WindowRow, ...]) -> int:
    return _ENTRY + sum(len(r[3]) + len(r[4] or "") + len(r[5] or "") + 64 for r in rows)


class RecentRows:
    __slots__ = ("_bytes", "_data_version", "kept")

    def __init__(self) -> None:
        self.kept: Kept = {}
        self._data_version: int | None = None
        self._bytes = 0

    def current(self, data_version: int) -> Kept:
        """What is kept, once the file's ``data_version`` as just read says
        whether another connection wrote since the last read."""
        if data_version != self._data_version:
            self.forget()
            self._data_version = data_version
        return self.kept

    def forget(self) -> None:
        self.kept = {}
        self._bytes = 0

    def _count(self, size: int, entry: tuple[WindowRow, ...]) -> Kept:
        """The dict to keep ``entry`` in, ``size`` bytes of it not counted
        yet; emptied first when that would pass the budget. Rows trimmed off
        an entry stay counted until then: the count errs high."""
        if self._bytes + size > BUDGET:
            self.forget()
            size = _size(entry)
        self._bytes += size
        return self.kept

    def started(self, sid: int) -> None:
        """Session ``sid`` was just created: it has no events yet."""
        self._count(_ENTRY, ())[sid] = (1, (), SLACK)

    @staticmethod
    def window(kept: Kept, sid: int, first: int, last: int) -> tuple[WindowRow, ...] | None:
        """The rows of seqs ``first..last`` of session ``sid``, if all are kept."""
        found = kept.get(sid)
        if found is None:
            return None
        start, rows, _ = found
        if first < start or last >= start + len(rows):
            return None
        return rows[first - start:last - start + 1]

    def keep(self, kept: Kept, sid: int, first: int, rows: tuple[WindowRow, ...]) -> None:
        """Keep rows read from the file (seqs ``first``…), in ``kept`` as
        :meth:`current` returned it."""
        if kept is self.kept:
            self._count(_size(rows), rows)[sid] = (first, rows, len(rows) + SLACK)

    def appended(self, sid: int, rows: list[EventRow]) -> None:
        """Rows just written to session ``sid`` (inside the write's
        transaction: if it fails, call :meth:`forget`)."""
        found = self.kept.get(sid)
        if found is None:
            return
        start, old, cap = found
        if start + len(old) != rows[0][0]:
            self.kept.pop(sid, None)  # (a get may have just swapped the dict)
            return
        added = []
        size = _ENTRY
        for _, event_id, role, kind, stored, as_json, data, delta, created in rows:
            added.append((event_id, role, None if kind == "message" else kind,
                          stored.encode() if as_json else stored, data, delta, created))
            size += len(stored) + len(data or "") + len(delta or "") + 64
        new = old + tuple(added)
        if len(new) > cap:
            start += len(new) - cap
            new = new[-cap:]
        self._count(size, new)[sid] = (start, new, cap)
