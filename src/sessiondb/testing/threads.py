"""Running one piece of work on many threads at once, for concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_threads(count: int, body: Callable[[int], Any]) -> list[Any]:
    """Run ``body(i)`` for ``i`` in ``range(count)``, each on its own thread,
    released together (a barrier); their results in order. Re-raises the
    first error any of them hit, after all have finished."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = body(i)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
