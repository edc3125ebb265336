"""The public surface: twin stores, a curated ``__all__``, the error tree, no
third-party imports, and a generated sync store that is up to date."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sessiondb
from sessiondb import AsyncSessionStore, SessionStore

ROOT = Path(__file__).resolve().parent.parent

#: Dunder methods that have a differently named twin.
TWINS = {"__enter__": "__aenter__", "__exit__": "__aexit__"}


def public_methods(cls: type) -> dict[str, object]:
    return {
        name: member for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_stores_have_the_same_public_methods() -> None:
    assert set(public_methods(SessionStore)) == set(public_methods(AsyncSessionStore))
    assert public_methods(SessionStore), "no public methods found"
    for sync_name, async_name in TWINS.items():
        assert hasattr(SessionStore, sync_name)
        assert hasattr(AsyncSessionStore, async_name)


def parameters(function: object) -> list[tuple[str, object, object, object]]:
    return [(p.name, p.kind, p.default, p.annotation)
            for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(public_methods(SessionStore)) + sorted(TWINS))
def test_twin_methods_have_identical_signatures(name: str) -> None:
    sync = getattr(SessionStore, name)
    twin = getattr(AsyncSessionStore, TWINS.get(name, name))
    assert parameters(sync) == parameters(twin)


@pytest.mark.parametrize("name", sorted(public_methods(AsyncSessionStore)))
def test_async_methods_are_coroutines_and_sync_ones_are_not(name: str) -> None:
    twin = getattr(AsyncSessionStore, name)
    sync = getattr(SessionStore, name)
    if name == "export":
        assert inspect.isasyncgenfunction(twin)
        assert inspect.isgeneratorfunction(sync)
    else:
        assert inspect.iscoroutinefunction(twin), name
        assert not inspect.iscoroutinefunction(sync), name
        assert not inspect.isasyncgenfunction(sync), name


def test_async_context_manager_methods_are_coroutines() -> None:
    for name in TWINS.values():
        assert inspect.iscoroutinefunction(getattr(AsyncSessionStore, name))
    for name in TWINS:
        assert not inspect.iscoroutinefunction(getattr(SessionStore, name))


def test_all_is_sorted_and_every_name_exists() -> None:
    names = sessiondb.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(sessiondb, name), name
    assert "SessionStore" in names and "AsyncSessionStore" in names


def test_every_error_is_a_sessiondb_error() -> None:
    errors = [getattr(sessiondb, n) for n in sessiondb.__all__
              if isinstance(getattr(sessiondb, n), type)
              and issubclass(getattr(sessiondb, n), BaseException)]
    assert len(errors) >= 10
    for error in errors:
        assert issubclass(error, sessiondb.SessionDBError), error
    from sessiondb import errors as errors_module

    for name in errors_module.__all__:
        assert issubclass(getattr(errors_module, name), sessiondb.SessionDBError), name
        assert getattr(sessiondb, name) is getattr(errors_module, name)


def test_errors_also_subclass_the_stdlib_type() -> None:
    assert issubclass(sessiondb.NotFoundError, LookupError)
    assert issubclass(sessiondb.InvalidInputError, ValueError)
    assert issubclass(sessiondb.LimitExceededError, ValueError)
    assert issubclass(sessiondb.BackendUnavailableError, sessiondb.BackendError)


IMPORT_PROBE = """
import json, sys
before = set(sys.modules)
import sessiondb
store = sessiondb.open_store("memory://")
store.close()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_import_pulls_in_no_third_party_module() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True,
                          text=True, check=True)
    new = json.loads(done.stdout)
    assert "sessiondb" in new
    allowed = set(sys.stdlib_module_names) | {"sessiondb"}
    foreign = sorted(m for m in new if m.split(".")[0] not in allowed)
    assert foreign == []


def test_opening_sqlite_pulls_in_no_third_party_module(tmp_path: Path) -> None:
    probe = IMPORT_PROBE.replace('"memory://"', repr(f"sqlite:///{tmp_path / 'x.db'}"))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    allowed = set(sys.stdlib_module_names) | {"sessiondb"}
    foreign = sorted(m for m in json.loads(done.stdout) if m.split(".")[0] not in allowed)
    assert foreign == []


def test_generated_sync_store_is_up_to_date() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
