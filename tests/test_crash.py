"""A writer killed with SIGKILL mid-loop loses nothing it reported and leaves
no partial append behind.

The child (``helpers_child.py crash``) appends forever; append ``n`` writes
the events ``q{n}`` and ``a{n}`` and the state delta
``{"turn": n, "user:turn": n}``, and prints the returned version after each
commit. The parent kills it at some point, reopens the file and checks it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_child import APP, USER

import sessiondb
from sessiondb._core.state import replay

HELPER = Path(__file__).with_name("helpers_child.py")
#: How many printed versions to wait for before each kill: different moments.
KILL_AFTER = (30, 1, 45)


def run_and_kill(url: str, sid: str, lines: int) -> list[int]:
    """Start the child, read ``lines`` versions, SIGKILL it; every version it
    printed (including lines still in the pipe after the kill)."""
    child = subprocess.Popen(
        [sys.executable, str(HELPER), "crash", url, sid],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    printed: list[int] = []
    assert child.stdout is not None and child.stderr is not None
    try:
        while len(printed) < lines:
            line = child.stdout.readline()
            if not line:
                break
            printed.append(int(line))
        child.kill()  # SIGKILL on POSIX: no cleanup, no atexit, no COMMIT
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=60)
    # Read what is left through the same buffered stream (communicate() would
    # bypass its buffer and drop lines already read into it).
    printed.extend(int(line) for line in child.stdout.read().split())
    err = child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    assert len(printed) >= lines, f"the child died on its own:\n{err}"
    assert child.returncode == -9
    return printed


def check_file(url: str, path: Path, sid: str) -> int:
    """Everything stored is complete appends; the version stored."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    with sessiondb.open_store(url) as store:
        session = store.get(APP, USER, sid, last=0)
        events = []
        cursor = None
        while True:
            page = store.events(APP, USER, sid, limit=37, cursor=cursor)
            events.extend(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    version = session.version
    assert len(events) == version
    assert [e.seq for e in events] == list(range(1, version + 1))
    assert version % 2 == 0, "an append was stored in part"
    turns = version // 2
    for k in range(1, turns + 1):
        q, a = events[2 * k - 2], events[2 * k - 1]
        assert (q.content, a.content) == (f"q{k}", f"a{k}")
        assert q.state_delta is None
        assert a.state_delta == {"turn": k, "user:turn": k}
    if turns:
        assert session.state["turn"] == turns
        assert session.state["user:turn"] == turns
        assert replay({}, (e.state_delta for e in events)) == {"turn": str(turns)}
    else:
        assert "turn" not in session.state
    return version


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_sigkill_mid_append_loses_nothing_reported(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}?synchronous={synchronous}"
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER, "s1").id
    version = 0
    for lines in KILL_AFTER:
        printed = run_and_kill(url, sid, lines)
        # The child resumed after what was stored and counts up by whole appends.
        assert printed == list(range(version + 2, version + 2 * len(printed) + 1, 2))
        version = check_file(url, path, sid)
        # Every reported append is there; at most one more committed unreported.
        assert printed[-1] <= version <= printed[-1] + 2


def test_store_keeps_working_after_kill(tmp_path: Path) -> None:
    """After a kill, the file accepts new writers and optimistic appends."""
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}"
    with sessiondb.open_store(url) as store:
        sid = store.create(APP, USER, "s1").id
    run_and_kill(url, sid, 10)
    version = check_file(url, path, sid)
    with sessiondb.open_store(url) as store:
        turn = version // 2 + 1
        new = store.append(
            APP, USER, sid,
            [{"role": "user", "content": f"q{turn}"},
             {"role": "assistant", "content": f"a{turn}"}],
            state_delta={"turn": turn, "user:turn": turn}, expected_version=version)
    assert new == version + 2
    assert check_file(url, path, sid) == new
