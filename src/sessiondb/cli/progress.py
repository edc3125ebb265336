"""A progress indicator on stderr, drawn only when stderr is a terminal.

Machine output goes to stdout, so a bar on stderr never mixes with it; and
when stderr is redirected (CI logs, pipes) nothing is drawn at all.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

_WIDTH = 30
_INTERVAL = 0.1  # seconds between redraws: cheap even for millions of updates


class Progress:
    """Counts units of work; draws a bar when ``total`` is known, else a counter.

    Use as a context manager; the line is cleared on exit.
    """

    def __init__(self, label: str, *, total: int | None = None, unit: str = "",
                 enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.count = 0
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self._stream) if enabled is None else enabled
        self._drawn_at = 0.0
        self._drawn = False

    def advance(self, amount: int = 1) -> None:
        self.count += amount
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at >= _INTERVAL:
            self._drawn_at = now
            self._draw()

    def render(self) -> str:
        """The text of the progress line (without control characters)."""
        unit = f" {self.unit}" if self.unit else ""
        if not self.total:
            return f"{self.label}: {self.count:,}{unit}"
        fraction = min(1.0, self.count / self.total)
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        return f"{self.label} [{bar}] {fraction:4.0%}"

    def _draw(self) -> None:
        self._stream.write("\r" + self.render() + "\x1b[K")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False
