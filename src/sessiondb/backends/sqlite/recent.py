"""The last event rows of the sessions a store reads and writes, kept so
that a read window need not be read from SQLite again.

An agent reloads its last events every turn, and reading them back was over
half of a load's cost: CPython's sqlite3 builds every column value anew
(about 550 instructions each; a window is 20 rows of 7). Stored events never
change, so their rows can be kept, as long as they are still the session's:
each is kept with the session row's *incarnation*, a random number that row
gets when it is made (create, fork, import) and again when its events are
rewritten (re-sealing); every head read returns it, and rows kept under
another number are not used. A session deleted and made again, even under
the same rowid, by this process or another, is a new incarnation. Events
appended elsewhere only extend the log past what is kept, and a window
that reaches past it is read from the file.

Kept per session: the rows its last read window needed, plus ``SLACK`` for
the appends until the next read; in all, rows of about ``BUDGET`` bytes of
text (everything is dropped when that is reached). Rows are tuples of str,
bytes, float and None, shared safely; every read builds its own Event
objects from them. Dropping swaps in a new dict, so a reader or writer
still holding the old one can only write where nobody looks any more.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..._core.events import EventRow, WindowRow

#: Rows kept past the last read window, for the appends that follow it.
SLACK = 16
#: Text kept in all, in bytes (characters) of content, data and delta.
BUDGET = 4 << 20
#: What one more session's entry counts for against the budget.
_ENTRY = 256

#: A session's kept rows, by rowid: its incarnation, the seq of the first
#: row, the rows in seq order, and how many to keep.
Kept = dict[int, tuple[int, int, tuple[WindowRow, ...], int]]


def _size(rows: tuple[WindowRow, ...]) -> int:
    return _ENTRY + sum(len(r[3]) + len(r[4] or "") + len(r[5] or "") + 64 for r in rows)


class RecentRows:
    __slots__ = ("_bytes", "kept")

    def __init__(self) -> None:
        self.kept: Kept = {}
        self._bytes = 0

    def forget(self) -> None:
        self.kept = {}
        self._bytes = 0

    def drop(self, sids: Iterable[int]) -> None:
        """Sessions deleted."""
        kept = self.kept
        for sid in sids:
            kept.pop(sid, None)

    def _count(self, size: int, entry: tuple[WindowRow, ...]) -> Kept:
        """The dict to keep ``entry`` in, ``size`` bytes of it not counted
        yet; emptied first when that would pass the budget. Rows trimmed off
        an entry stay counted until then: the count errs high."""
        if self._bytes + size > BUDGET:
            self.forget()
            size = _size(entry)
        self._bytes += size
        return self.kept

    def started(self, sid: int, incarnation: int) -> None:
        """Session ``sid`` was just made: it has no events yet."""
        if incarnation:
            self._count(_ENTRY, ())[sid] = (incarnation, 1, (), SLACK)

    def window(self, sid: int, incarnation: int, first: int,
               last: int) -> tuple[WindowRow, ...] | None:
        """The rows of seqs ``first..last`` of session ``sid``, if all are kept
        for this incarnation of it."""
        found = self.kept.get(sid)
        if found is None:
            return None
        kept_incarnation, start, rows, _ = found
        if kept_incarnation != incarnation or first < start or last >= start + len(rows):
            return None
        return rows[first - start:last - start + 1]

    def keep(self, kept: Kept, sid: int, incarnation: int, first: int,
             rows: tuple[WindowRow, ...]) -> None:
        """Keep rows read from the file (seqs ``first``…), in ``kept``: the
        dict as it was before they were read (if it was dropped meanwhile,
        they are not kept)."""
        if kept is self.kept and incarnation:  # 0: made by an earlier SessionDB (schema.py)
            self._count(_size(rows), rows)[sid] = (incarnation, first, rows, len(rows) + SLACK)

    def appended(self, sid: int, incarnation: int, rows: list[EventRow]) -> None:
        """Rows just written to session ``sid`` (inside the write's
        transaction: if it fails, call :meth:`forget`)."""
        found = self.kept.get(sid)
        if found is None:
            return
        kept_incarnation, start, old, cap = found
        if kept_incarnation != incarnation or start + len(old) != rows[0][0]:
            self.kept.pop(sid, None)  # (the dict may have just been swapped)
            return
        added = tuple([(event_id, role, None if kind == "message" else kind,
                         stored.encode() if as_json else stored, data, delta, created)
                        for _, event_id, role, kind, stored, as_json, data, delta, created
                        in rows])
        new = old + added
        if len(new) > cap:
            start += len(new) - cap
            new = new[-cap:]
        self._count(_size(added), new)[sid] = (incarnation, start, new, cap)
