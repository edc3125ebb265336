"""Child-process workloads for the concurrency, crash and migration tests.

Run as ``python tests/helpers_child.py MODE ARGS...``. Workers that must run
at the same time touch a *ready* file and wait for a *go* file, so the parent
can start them together. A worker prints one JSON line with its results on
stdout and exits 0; any exception (a ``BackendUnavailableError`` included)
makes it exit non-zero with the traceback on stderr.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import sessiondb
from sessiondb.backends.sqlite.schema import migrate

APP, USER = "app", "user"


def all_events(store: sessiondb.SessionStore, sid: str,
               page: int = 97) -> list[sessiondb.Event]:
    """The whole history of ``sid``, read page by page through cursors."""
    found: list[sessiondb.Event] = []
    cursor = None
    while True:
        result = store.events(APP, USER, sid, limit=page, cursor=cursor)
        found.extend(result.items)
        if result.next_cursor is None:
            return found
        cursor = result.next_cursor
BARRIER_TIMEOUT = 60.0


def wait_for_go(ready: str, go: str) -> None:
    Path(ready).touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the parent never said go")
        time.sleep(0.002)


def append_events(worker: str, i: int) -> list[dict]:
    """The two events of append ``i`` of ``worker``; content names both."""
    return [
        {"role": "user", "content": f"{worker}:{i}:0"},
        {"role": "assistant", "content": f"{worker}:{i}:1"},
    ]


def plain(url: str, sid: str, worker: str, count: int, ready: str, go: str) -> dict:
    """``count`` appends of two events without ``expected_version``."""
    store = sessiondb.open_store(url)
    try:
        wait_for_go(ready, go)
        versions = [store.append(APP, USER, sid, append_events(worker, i)) for i in range(count)]
    finally:
        store.close()
    return {"versions": versions}


def cas(url: str, sid: str, worker: str, successes: int, ready: str, go: str) -> dict:
    """Optimistic appends: read the version, append expecting it, until
    ``successes`` appends went through; conflicts are recorded."""
    store = sessiondb.open_store(url)
    won: list[list] = []  # [attempt, version]
    lost: list[list] = []  # [attempt, passed, expected, actual]
    try:
        wait_for_go(ready, go)
        attempt = 0
        while len(won) < successes:
            if attempt > 100_000:
                raise SystemExit("no progress")
            v = store.get(APP, USER, sid, last=0).version
            try:
                new = store.append(APP, USER, sid, append_events(worker, attempt),
                                   expected_version=v)
            except sessiondb.ConflictError as e:
                lost.append([attempt, v, e.expected, e.actual])
            else:
                won.append([attempt, new])
            attempt += 1
    finally:
        store.close()
    return {"won": won, "lost": lost}


def crash(url: str, sid: str) -> None:
    """Append forever (until killed), printing each returned version.

    Append ``n`` writes ``q{n}`` and ``a{n}`` with the delta
    ``{"turn": n, "user:turn": n}``; it resumes after what is stored.
    """
    store = sessiondb.open_store(url)
    n = store.get(APP, USER, sid, last=0).version // 2
    while True:
        n += 1
        version = store.append(
            APP, USER, sid,
            [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}],
            state_delta={"turn": n, "user:turn": n},
        )
        print(version, flush=True)


def raw_migrate(path: str, ready: str, go: str) -> dict:
    """Apply the schema with :func:`migrate` on a plain connection."""
    wait_for_go(ready, go)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        applied = migrate(conn)
    finally:
        conn.close()
    return {"applied": applied}


def open_new(url: str, worker: str, ready: str, go: str) -> dict:
    """Open a store on a (new) file at the same time as others, then write."""
    wait_for_go(ready, go)
    store = sessiondb.open_store(url)
    try:
        session = store.create(APP, USER, f"s-{worker}", state={"worker": worker})
        version = store.append(APP, USER, session.id, append_events(worker, 0))
    finally:
        store.close()
    return {"version": version}


def run_together(workdir: Path, argvs: list[list[str]], timeout: float = 120.0) -> list[dict]:
    """Parent side: start one child per ``argvs`` entry (each given its ready
    and go files as its last two arguments), release them together once all
    are ready, and return their JSON results; fails on any child error."""
    go = workdir / "go"
    go.unlink(missing_ok=True)
    readies = [workdir / f"ready-{i}" for i in range(len(argvs))]
    procs = []
    try:
        for argv, ready in zip(argvs, readies, strict=True):
            ready.unlink(missing_ok=True)
            procs.append(subprocess.Popen(
                [sys.executable, __file__, *argv, str(ready), str(go)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + timeout
        while not all(r.exists() for r in readies):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed:
                break
            if time.monotonic() > deadline:
                raise AssertionError("children never became ready")
            time.sleep(0.005)
        go.touch()
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, f"child failed ({p.returncode}):\n{err}"
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "plain":
        url, sid, worker, count, ready, go = args
        result = plain(url, sid, worker, int(count), ready, go)
    elif mode == "cas":
        url, sid, worker, successes, ready, go = args
        result = cas(url, sid, worker, int(successes), ready, go)
    elif mode == "crash":
        crash(*args)
        return
    elif mode == "migrate":
        result = raw_migrate(*args)
    elif mode == "open":
        result = open_new(*args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
