"""The ``sessiondb`` command line, run in-process through ``main(argv)``
(plus real subprocesses for ``python -m sessiondb demo``)."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sessiondb
from sessiondb.cli import build_parser, commands, main
from sessiondb.cli.agent import APP as DEMO_APP
from sessiondb.cli.agent import SCRIPT, USER, check, expected_state
from sessiondb.cli.progress import Progress

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
VERDICT = "resumed in a new process: 6 turns, 24 events, nothing lost"


# -- helpers -------------------------------------------------------------------------
@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite store, also set as $SESSIONDB_URL so a forgotten --db
    can never touch the real default file."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SESSIONDB_URL", url)
    return url


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str) -> str:
        code, out, err = self(*argv)
        assert code == 0, err
        return out

    def json(self, *argv: str) -> object:
        return json.loads(self.ok("--json", *argv))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def populate(url: str) -> list[str]:
    """Shared state, three sessions with varied events; their ids."""
    with sessiondb.open_store(url) as store:
        a = store.create("shop", "alice", "s-a", state={"cart": [], "app:currency": "EUR",
                                                       "user:name": "Alice"},
                         metadata={"channel": "web"})
        store.append("shop", "alice", a.id, [
            {"role": "user", "content": "héllo ☕ — two teas"},
            {"role": "assistant", "kind": "tool_call", "content": "add_to_cart",
             "data": {"item": "tea", "qty": 2}},
            {"role": "tool", "kind": "tool_result", "content": {"ok": True, "n": 2.5}},
        ], state_delta={"cart": ["tea", "tea"]}, idempotency_key="k1")
        store.update_state("shop", "alice", a.id, {"cart": None, "paid": True})
        b = store.create("shop", "bob", "s-b", idle_ttl=3600, max_lifetime=86400,
                         metadata={"channel": "app"})
        store.append("shop", "bob", b.id, [{"role": "user", "content": None},
                                            {"role": "user", "content": [1, "x", None]}])
        c = store.create("support", "carol", "s-c", state={"open": 1})
        store.append("support", "carol", c.id, [{"role": "user", "content": "line1\nline2"}])
        return [a.id, b.id, c.id]


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = (),
            summary: str | None = None
            ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (command path, parser, its one-line help) in the argparse tree."""
    yield path, parser, summary
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name), helps.get(name))


def command_paths() -> list[tuple[str, ...]]:
    return [path for path, _, _ in parsers(build_parser()) if path]


# -- help and docs ---------------------------------------------------------------------
def test_the_tree_has_the_expected_commands() -> None:
    paths = {" ".join(p) for p in command_paths()}
    assert {"sessions ls", "sessions show", "sessions rm", "events tail", "state get",
            "state set", "purge", "export", "import", "demo"} <= paths


def test_every_command_and_option_has_help() -> None:
    for path, parser, summary in parsers(build_parser()):
        if path:
            assert summary and summary.strip(), f"{path} has no help"
        assert parser.description and parser.description.strip(), f"{path} has no description"
        assert parser.format_help().strip()
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue  # deliberately hidden (demo --phase)
            assert action.help and action.help.strip(), f"{path}: {action.dest} has no help"


def test_every_command_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for path in command_paths():
        assert f"sessiondb {' '.join(path)}" in text, f"{path} is not in docs/cli.md"


def test_help_exits_zero_and_usage_errors_exit_two(run: Run) -> None:
    code, out, _ = run("--help")
    assert code == 0 and "sessions" in out
    code, out, _ = run("state", "set", "--help")
    assert code == 0 and "--delete" in out
    assert run("bogus")[0] == 2
    assert run("sessions")[0] == 2
    assert run("sessions", "ls")[0] == 2  # --app is required
    assert run("sessions", "ls", "--app", "x", "--limit", "0")[0] == 2
    code, _, err = run("sessions", "ls", "--app", "x", "--metadata", "novalue")
    assert code == 2 and "KEY=VALUE" in err


# -- sessions --------------------------------------------------------------------------
def test_sessions_ls_table_and_json(run: Run, url: str) -> None:
    populate(url)
    out = run.ok("sessions", "ls", "--app", "shop")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "USER", "VERSION", "UPDATED", "EXPIRES"]
    assert [line.split()[0] for line in lines[1:]] == ["s-a", "s-b"]
    assert "never" in lines[1]
    listed = run.json("sessions", "ls", "--app", "shop", "--user", "bob")
    assert [(s["id"], s["user_id"], s["version"]) for s in listed] == [("s-b", "bob", 2)]
    assert "events" not in listed[0]
    web = run.json("sessions", "ls", "--app", "shop", "--metadata", "channel=web")
    assert [s["id"] for s in web] == ["s-a"]
    assert run.json("sessions", "ls", "--app", "nobody") == []


def test_sessions_ls_pages_with_the_cursor(run: Run, url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with sessiondb.open_store(url) as store:
        ids = [store.create("many", "u", f"s{i:02d}").id for i in range(7)]
    monkeypatch.setattr(commands, "_PAGE", 2)
    assert [s["id"] for s in run.json("sessions", "ls", "--app", "many")] == ids
    code, out, err = run("sessions", "ls", "--app", "many", "--limit", "5")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ids[:5]
    assert "more" in err


def test_sessions_show(run: Run, url: str) -> None:
    populate(url)
    out = run.ok("sessions", "show", "shop", "alice", "s-a", "--last", "2")
    assert "app:currency" in out and "user:name" in out and '"EUR"' in out
    assert "events: last 2 of 4" in out
    assert "add_to_cart" not in out  # seq 2 is outside the window
    assert "tool_result" in out and "state" in out
    shown = run.json("sessions", "show", "shop", "alice", "s-a")
    assert shown["version"] == 4
    assert [e["seq"] for e in shown["events"]] == [1, 2, 3, 4]
    assert shown["state"] == {"paid": True, "app:currency": "EUR", "user:name": "Alice"}


def test_sessions_rm(run: Run, url: str) -> None:
    populate(url)
    assert "deleted session s-b" in run.ok("sessions", "rm", "shop", "bob", "s-b")
    assert [s["id"] for s in run.json("sessions", "ls", "--app", "shop")] == ["s-a"]
    code, _, err = run("sessions", "show", "shop", "bob", "s-b")
    assert code == 1 and err.startswith("error: no session 's-b'")
    code, _, err = run("sessions", "rm", "shop", "bob", "s-b")
    assert code == 1 and "nothing deleted" in err
    assert run.json("sessions", "rm", "shop", "alice", "s-a")["deleted"] is True


# -- events ----------------------------------------------------------------------------
def test_events_tail(run: Run, url: str) -> None:
    populate(url)
    out = run.ok("events", "tail", "shop", "alice", "s-a", "-n", "2")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["3", "4"]
    assert "tool_result" in lines[0]
    events = run.json("events", "tail", "shop", "alice", "s-a")
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[0]["content"] == "héllo ☕ — two teas"


def test_events_tail_follow_polls_until_ctrl_c(run: Run, url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    populate(url)
    polls: list[float] = []

    def fake_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            with sessiondb.open_store(url) as store:
                store.append("shop", "bob", "s-b", [{"role": "user", "content": "new one"},
                                                    {"role": "assistant", "content": "ok"}])
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(commands, "sleep", fake_sleep)
    code, out, _ = run("--json", "events", "tail", "shop", "bob", "s-b", "-n", "1",
                       "--follow")
    assert code == 0
    seen = [json.loads(line) for line in out.splitlines()]
    assert [(e["seq"], e["content"]) for e in seen] == [
        (2, [1, "x", None]), (3, "new one"), (4, "ok")]
    assert polls == [commands.FOLLOW_INTERVAL] * 2


# -- state -----------------------------------------------------------------------------
def test_state_set_and_get_round_trip(run: Run, url: str) -> None:
    populate(url)
    address = ("shop", "bob", "s-b")
    assert "version 3" in run.ok("state", "set", *address, "seat", '{"row": 12, "side": "aisle"}')
    run.ok("state", "set", *address, "count", "42")
    run.ok("state", "set", *address, "city", "Lisbon")
    run.ok("state", "set", *address, "quoted", '"42"')
    run.ok("state", "set", *address, "user:tier", "gold")
    assert run.json("state", "get", *address) == {
        "seat": {"row": 12, "side": "aisle"}, "count": 42, "city": "Lisbon",
        "quoted": "42", "user:tier": "gold", "app:currency": "EUR"}
    assert run.ok("state", "get", *address, "city") == "Lisbon\n"
    assert run.ok("state", "get", *address, "seat") == '{"row":12,"side":"aisle"}\n'
    assert run.json("state", "get", *address, "count") == 42
    table = run.ok("state", "get", *address)
    assert table.splitlines()[0].split() == ["KEY", "VALUE"]
    result = run.json("state", "set", *address, "city", "--delete")
    assert result["deleted"] is True and result["version"] == 8
    code, _, err = run("state", "get", *address, "city")
    assert code == 1 and "no key 'city'" in err
    # Every change went through update_state: one state event each.
    with sessiondb.open_store(url) as store:
        kinds = [e.kind for e in store.get(*address).events]
    assert kinds == ["message", "message"] + ["state"] * 6


def test_state_set_refuses_bad_usage(run: Run, url: str) -> None:
    populate(url)
    address = ("shop", "bob", "s-b")
    for argv in (("k",), ("k", "1", "--delete"), ("k", "null"), ("temp:k", "1")):
        code, _, err = run("state", "set", *address, *argv)
        assert code == 2 and err.startswith("error: "), argv
    with sessiondb.open_store(url) as store:
        assert store.get(*address).version == 2  # nothing was written


# -- purge -----------------------------------------------------------------------------
def test_purge_deletes_expired_sessions(run: Run, url: str) -> None:
    with sessiondb.open_store(url) as store:
        for i in range(5):
            store.create("tmp", "u", f"short{i}", idle_ttl=0.01)
        store.create("tmp", "u", "long", idle_ttl=3600)
        store.create("tmp", "u", "forever")
    time.sleep(0.05)
    code, _, err = run("sessions", "show", "tmp", "u", "short0")
    assert code == 1 and "expired" in err and "purge" in err
    assert run.json("purge", "--batch", "2") == {"purged": 5}
    assert run.ok("purge") == "purged 0 expired sessions\n"
    assert {s["id"] for s in run.json("sessions", "ls", "--app", "tmp")} == {"long", "forever"}
    code, _, err = run("sessions", "show", "tmp", "u", "short0")
    assert code == 1 and "no session" in err


# -- export and import -------------------------------------------------------------------
def test_export_import_round_trip_is_byte_identical(run: Run, url: str,
                                                    tmp_path: Path) -> None:
    populate(url)
    first = tmp_path / "first.jsonl"
    assert "3 sessions" in run.ok("export", "-o", str(first))
    data = first.read_bytes()
    assert data.endswith(b"\n") and "☕".encode() in data
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert [r["type"] for r in records][:3] == ["app_state", "user_state", "session"]
    assert sum(r["type"] == "session" for r in records) == 3
    assert run.ok("export") == data.decode()  # stdout gives the same bytes

    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run.json("--db", other, "import", str(first)) == {"sessions": 3}
    second = tmp_path / "second.jsonl"
    run.ok("export", "--db", other, "-o", str(second))
    assert second.read_bytes() == data
    assert run.json("--db", other, "state", "get", "shop", "alice", "s-a") == {
        "paid": True, "app:currency": "EUR", "user:name": "Alice"}

    only_support = run.ok("export", "--app", "support")
    assert {json.loads(line)["app"] for line in only_support.splitlines()
            if json.loads(line)["type"] == "session"} == {"support"}


def test_import_from_stdin(run: Run, url: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    populate(url)
    data = run.ok("export").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert "imported 3 sessions from <stdin>" in run.ok("--db", other, "import", "-")
    assert run.ok("--db", other, "export").encode() == data


def test_import_stops_at_a_malformed_line(run: Run, url: str, tmp_path: Path) -> None:
    populate(url)
    lines = run.ok("export").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "session"]
    bad_index = starts[1] + 1  # inside the second session, after its session record
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(lines[:bad_index]) + '{"type": "event", oops\n'
                      + "".join(lines[bad_index + 1:]), encoding="utf-8")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, out, err = run("--db", other, "import", str(broken))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {broken} line {bad_index + 1}: not valid JSON")
    assert "Traceback" not in err
    with sessiondb.open_store(other) as store:
        assert [s.id for s in store.sessions("shop")] == ["s-a"]  # before the line
        assert list(store.sessions("support")) == []  # after it: nothing
        with pytest.raises(sessiondb.NotFoundError):
            store.get("shop", "bob", "s-b")


@pytest.mark.parametrize(("line", "message"), [
    ("[1, 2]", "expected a JSON object"),
    ('{"type": "wat"}', "invalid record: unknown record type 'wat'"),
    ('{"type": "session", "app": "x"}', "invalid record: missing field"),
])
def test_import_names_the_bad_line(run: Run, url: str, tmp_path: Path,
                                   line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "app_state", "app": "a", "state": {"k": 1}}\n\n' + line + "\n")
    code, _, err = run("import", str(path))
    assert code == 2
    assert f"line 3: {message}" in err


def test_import_errors(run: Run, url: str, tmp_path: Path) -> None:
    code, _, err = run("import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err
    populate(url)
    dump = tmp_path / "dump.jsonl"
    run.ok("export", "-o", str(dump))
    code, _, err = run("import", str(dump))  # into the same store: sessions exist
    assert code == 1 and "already exists" in err


# -- output and errors ---------------------------------------------------------------------
def test_json_output_parses(run: Run, url: str,
                                                      tmp_path: Path) -> None:
    populate(url)
    for argv in (("sessions", "ls", "--app", "shop"), ("sessions", "show", "shop", "bob", "s-b"),
                 ("events", "tail", "shop", "bob", "s-b"), ("state", "get", "shop", "bob", "s-b"),
                 ("state", "set", "shop", "bob", "s-b", "k", "v"), ("purge",),
                 ("export", "-o", str(tmp_path / "e.jsonl"))):
        run.json(*argv)
        code, out, _ = run(*argv[:1], "--json", *argv[1:])  # --json after the command
        assert code == 0
        json.loads(out)


def test_library_errors_are_one_line(run: Run, url: str) -> None:
    code, out, err = run("sessions", "show", "shop", "nobody", "nothing")
    assert (code, out) == (1, "")
    assert err == "error: no session 'nothing' for user 'nobody' in app 'shop'\n"
    code, _, err = run("--db", "redis://127.0.0.1:1", "purge")  # nothing listens on port 1
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1 and "unavailable" in err
    code, _, err = run("sessions", "ls", "--app", "bad app!")
    assert code == 1 and err.startswith("error: app ")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_stderr(run: Run, url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    populate(url)
    path = tmp_path / "e.jsonl"
    _, _, err = run("export", "-o", str(path))
    assert err == ""  # stderr is not a terminal here: no bar
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr("sessiondb.cli.progress._INTERVAL", 0.0)
    out = run.ok("export", "-o", str(path))
    assert "exporting: " in terminal.getvalue() and "exporting" not in out
    terminal.seek(0)
    terminal.truncate()
    run.ok("--json", "purge")
    assert terminal.getvalue() == ""  # never in --json mode


def test_progress_bar_rendering() -> None:
    stream = FakeTerminal()
    with Progress("importing", total=200, stream=stream) as bar:
        bar.advance(50)
        assert bar.render() == "importing [" + "#" * 7 + "." * 23 + "]  25%"
    assert stream.getvalue().startswith("\rimporting [")
    assert stream.getvalue().endswith("\r\x1b[K")  # the line is cleared at the end
    assert Progress("purging", unit="sessions", enabled=False).render() == "purging: 0 sessions"


# -- demo --------------------------------------------------------------------------------
def test_demo_checker_finds_what_is_missing() -> None:
    events = [
        sessiondb.Event(seq=turn.first_seq + i, **e,
                        state_delta=turn.state_delta if i == 3 else None)
        for turn in SCRIPT for i, e in enumerate(turn.events())
    ]
    good = sessiondb.Session(DEMO_APP, USER, "s", expected_state(), 24)
    assert check(good, events) == []
    problems = check(good, events[:13] + events[14:])
    assert any("gap-free" in p for p in problems)
    assert any("turn 4: event 14 is missing" in p for p in problems)
    stale = sessiondb.Session(DEMO_APP, USER, "s", expected_state(3), 24)
    assert any("does not match" in p for p in check(stale, events))


def test_demo_refuses_a_per_process_store(run: Run) -> None:
    code, _, err = run("demo", "--db", "memory://")
    assert code == 2 and "other processes" in err


def test_demo_in_process(run: Run, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    out = run.ok("demo", "--db", db, "--session", "trip-1")
    assert VERDICT in out.splitlines()
    assert "exit status -9" in out or os.name != "posix"
    result = run.json("demo", "--db", db, "--session", "trip-2")
    assert result["ok"] is True and result["events"] == 24 and result["turns"] == 6
    assert result["state"] == expected_state()
    first, second = result["phases"]
    assert first["pid"] != second["pid"]
    assert second["returncode"] == 0 and first["returncode"] != 0


@pytest.mark.slow
def test_demo_subprocess(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("SESSIONDB_URL", None)
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")  # a fresh machine, if --db were ignored
    proc = subprocess.run(
        [sys.executable, "-m", "sessiondb", "demo", "--db", f"sqlite:///{tmp_path}/demo.db"],
        capture_output=True, text=True, encoding="utf-8", timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert VERDICT in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (tmp_path / "demo.db").exists() and not (tmp_path / "xdg").exists()


@pytest.mark.slow
def test_demo_with_the_default_store_on_a_fresh_machine(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "fresh" / "data"))
    env.pop("SESSIONDB_URL", None)
    proc = subprocess.run([sys.executable, "-m", "sessiondb", "demo"], capture_output=True,
                          text=True, encoding="utf-8", timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert VERDICT in proc.stdout
    assert (tmp_path / "fresh" / "data" / "sessiondb" / "sessions.db").exists()
