"""The MCP server through the SDK's own client, connected in memory: every
tool and resource, typed results, annotations, error mapping and the scope a
model cannot leave. Transports (stdio, HTTP) are in test_mcp_transports.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

import sessiondb
from sessiondb import AsyncSessionStore, FrozenClock, InvalidInputError, Limits
from sessiondb.errors import (
    AuthError,
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    ExpiredError,
    LimitExceededError,
    NotFoundError,
    SessionDBError,
)
from sessiondb.http.problems import problem_for
from sessiondb.mcp import create_server, describe

pytestmark = pytest.mark.anyio

TOOLS = {"session_create", "session_get", "session_list", "events_append", "events_read",
         "shared_state_get", "shared_state_update",
         "state_update", "session_fork", "session_delete"}
READ_ONLY = {"session_get", "session_list", "events_read", "shared_state_get"}
DESTRUCTIVE = {"session_delete", "shared_state_update"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[AsyncSessionStore]:
    async with sessiondb.open_async_store(f"sqlite:///{tmp_path / 'mcp.db'}", clock=clock,
                                          limits=Limits(max_events_per_append=5)) as store:
        yield store


@pytest.fixture
async def alice(store: AsyncSessionStore) -> AsyncIterator[Client]:
    async with Client(create_server(store, app="shop", user_id="alice")) as client:
        yield client


# -- helpers shared with test_mcp_transports ------------------------------------------
async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call ``tool``; its structured result, which must match its output schema
    (the client checks that too) and be mirrored as JSON text."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def failed(client: Client, tool: str, **arguments: Any) -> str:
    """Call ``tool`` expecting a tool error; the message the model reads."""
    result: CallToolResult = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is None
    return result.content[0].text  # type: ignore[union-attr]


async def read_json(client: Client, uri: str) -> dict[str, Any]:
    result = await client.read_resource(uri)
    (contents,) = result.contents
    assert contents.mime_type == "application/json"
    return json.loads(contents.text)  # type: ignore[union-attr]


# -- the tool list ---------------------------------------------------------------------
async def test_tools_are_typed_annotated_and_take_no_scope(alice: Client) -> None:
    tools = {tool.name: tool for tool in (await alice.list_tools()).tools}
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        assert tool.description and tool.title, name
        assert tool.output_schema and tool.output_schema["type"] == "object", name
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        assert not {"app", "user", "user_id", "tenant"} & set(tool.input_schema["properties"])
        hints = tool.annotations
        assert hints is not None and hints.open_world_hint is False
        assert hints.read_only_hint is (name in READ_ONLY), name
        if name not in READ_ONLY:
            # The spec's default for destructiveHint is true: every write says.
            assert hints.destructive_hint is (name in DESTRUCTIVE), name
    for name in DESTRUCTIVE:
        assert tools[name].annotations.idempotent_hint is True  # type: ignore[union-attr]
    assert set(tools["session_create"].output_schema["properties"]) >= {  # type: ignore[index]
        "session_id", "version", "state", "metadata", "expires_at"}


# -- every tool, end to end -------------------------------------------------------------
async def test_every_tool_reads_and_writes_the_store(
        alice: Client, store: AsyncSessionStore, clock: FrozenClock) -> None:
    created = await ok(alice, "session_create", state={"cart": [], "user:name": "Alice"},
                       metadata={"channel": "mcp"})
    sid = created["session_id"]
    assert created["version"] == 0 and created["state"] == {"cart": [], "user:name": "Alice"}
    assert created["metadata"] == {"channel": "mcp"} and created["expires_at"] is None

    appended = await ok(alice, "events_append", session_id=sid, events=[
        {"role": "user", "content": "two teas please"},
        {"role": "assistant", "kind": "tool_call", "content": "add", "data": {"qty": 2}},
        {"role": "tool", "kind": "tool_result", "content": {"ok": True},
         "state_delta": {"last_tool": "add"}},
    ], state_delta={"cart": ["tea", "tea"]}, idempotency_key="turn-1")
    assert appended == {"session_id": sid, "version": 3}
    again = await ok(alice, "events_append", session_id=sid, events=[
        {"role": "user", "content": "two teas please"},
        {"role": "assistant", "kind": "tool_call", "content": "add", "data": {"qty": 2}},
        {"role": "tool", "kind": "tool_result", "content": {"ok": True},
         "state_delta": {"last_tool": "add"}},
    ], state_delta={"cart": ["tea", "tea"]}, idempotency_key="turn-1")
    assert again["version"] == 3  # the retry stored nothing

    assert (await ok(alice, "state_update", session_id=sid, delta={"paid": True, "cart": None},
                     expected_version=3))["version"] == 4

    got = await ok(alice, "session_get", session_id=sid, last=2)
    assert got["version"] == 4
    assert got["state"] == {"paid": True, "last_tool": "add", "user:name": "Alice"}
    assert [e["seq"] for e in got["events"]] == [3, 4]
    assert got["events"][1]["kind"] == "state"
    assert got["events"][1]["state_delta"] == {"paid": True, "cart": None}

    first = await ok(alice, "events_read", session_id=sid, limit=2)
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["next_cursor"]
    assert first["events"][0] | {"id": "", "created_at": 0} == {
        "seq": 1, "id": "", "role": "user", "kind": "message", "content": "two teas please",
        "data": None, "state_delta": None, "created_at": 0}
    assert first["events"][1]["data"] == {"qty": 2}
    rest = await ok(alice, "events_read", session_id=sid, limit=2, cursor=first["next_cursor"])
    assert [e["seq"] for e in rest["events"]] == [3, 4] and rest["next_cursor"] is None
    assert [e["seq"] for e in (await ok(alice, "events_read", session_id=sid,
                                        after_seq=3))["events"]] == [4]

    clock.advance(1)  # sessions list in creation order
    fork = await ok(alice, "session_fork", session_id=sid, at_seq=3, new_session_id="branch")
    assert fork["session_id"] == "branch" and fork["version"] == 3
    assert fork["state"] == {"cart": ["tea", "tea"], "last_tool": "add", "user:name": "Alice"}

    listed = await ok(alice, "session_list", limit=1)
    assert [s["session_id"] for s in listed["sessions"]] == [sid]
    assert "state" not in listed["sessions"][0]
    more = await ok(alice, "session_list", cursor=listed["next_cursor"])
    assert [s["session_id"] for s in more["sessions"]] == ["branch"]
    assert more["next_cursor"] is None
    only = await ok(alice, "session_list", metadata={"channel": "mcp"})
    assert [s["session_id"] for s in only["sessions"]] == [sid, "branch"]

    # What the tools wrote is what the library reads.
    session = await store.get("shop", "alice", sid)
    assert session.version == 4 and session.state["paid"] is True
    assert [e.content for e in session.events][:1] == ["two teas please"]

    assert await ok(alice, "session_delete", session_id=sid) == {"session_id": sid,
                                                                  "deleted": True}
    assert (await ok(alice, "session_delete", session_id=sid))["deleted"] is False
    with pytest.raises(NotFoundError):
        await store.get("shop", "alice", sid)
    assert (await store.get("shop", "alice", "branch")).version == 3


# -- scope --------------------------------------------------------------------------
async def test_a_model_cannot_reach_another_users_or_apps_sessions(
        alice: Client, store: AsyncSessionStore) -> None:
    sid = (await ok(alice, "session_create", state={"secret": "alice's"}))["session_id"]
    await ok(alice, "events_append", session_id=sid, events=[{"role": "user", "content": "hi"}])
    async with Client(create_server(store, app="shop", user_id="bob")) as bob, \
            Client(create_server(store, app="other", user_id="alice")) as other_app:
        for intruder, who in ((bob, "user 'bob' in app 'shop'"),
                              (other_app, "user 'alice' in app 'other'")):
            for tool, arguments in (
                    ("session_get", {}), ("events_read", {}),
                    ("events_append", {"events": [{"role": "user", "content": "x"}]}),
                    ("state_update", {"delta": {"secret": "stolen"}}),
                    ("session_fork", {"at_seq": 1})):
                message = await failed(intruder, tool, session_id=sid, **arguments)
                assert f"not-found: no session '{sid}' for {who}" in message, message
            assert (await ok(intruder, "session_delete", session_id=sid))["deleted"] is False
            assert (await ok(intruder, "session_list"))["sessions"] == []
            with pytest.raises(MCPError):
                await intruder.read_resource(f"sessiondb://sessions/{sid}/state")
            # No tool has a scope argument: one smuggled in changes nothing.
            message = await failed(intruder, "session_get", session_id=sid, app="shop",
                                   user_id="alice")
            assert f"not-found: no session '{sid}' for {who}" in message, message
        # A session id bob creates lives in bob's scope, even when it equals alice's.
        assert (await ok(bob, "session_create", session_id=sid))["state"] == {}
    session = await store.get("shop", "alice", sid)
    assert session.version == 1 and session.state == {"secret": "alice's"}


async def test_app_state_is_read_only_unless_allowed(alice: Client,
                                                     store: AsyncSessionStore) -> None:
    await store.create("shop", "carol", "c", state={"app:currency": "EUR"})
    sid = (await ok(alice, "session_create"))["session_id"]
    assert (await ok(alice, "session_get", session_id=sid))["state"] == {"app:currency": "EUR"}
    for tool, arguments in (
            ("session_create", {"state": {"app:currency": "USD"}}),
            ("state_update", {"session_id": sid, "delta": {"app:currency": "USD"}}),
            ("events_append", {"session_id": sid, "state_delta": {"app:currency": "USD"},
                               "events": [{"role": "user"}]}),
            ("events_append", {"session_id": sid, "events": [
                {"role": "user", "state_delta": {"app:currency": "USD"}}]})):
        message = await failed(alice, tool, **arguments)
        assert "invalid-input:" in message and "app:" in message, message
    assert (await store.get("shop", "carol", "c")).state == {"app:currency": "EUR"}
    async with Client(create_server(store, app="shop", user_id="alice",
                                    allow_app_state=True)) as trusted:
        await ok(trusted, "state_update", session_id=sid, delta={"app:currency": "USD"})
    assert (await store.get("shop", "carol", "c")).state == {"app:currency": "USD"}


async def test_shared_state_without_a_session(alice: Client, store: AsyncSessionStore) -> None:
    assert await ok(alice, "shared_state_get") == {"state": {}}
    assert await ok(alice, "shared_state_update", delta={}) == {"state": {}}
    done = await ok(alice, "shared_state_update", delta={"user:name": "Alice", "user:tz": "CET"})
    assert done == {"state": {"user:name": "Alice", "user:tz": "CET"}}
    assert await store.shared_state("shop", "alice") == {"name": "Alice", "tz": "CET"}
    sid = (await ok(alice, "session_create", state={"cart": []}))["session_id"]
    assert (await ok(alice, "session_get", session_id=sid))["state"] == {
        "cart": [], "user:name": "Alice", "user:tz": "CET"}
    assert (await ok(alice, "shared_state_update", delta={"user:tz": None}))["state"] == {
        "user:name": "Alice"}
    for delta, words in (({"name": "x"}, "one scope per call"),
                         ({"user:a": 1, "app:b": 2}, "one scope per call"),
                         ({"temp:a": 1}, "one scope per call"),
                         ({"app:currency": "USD"}, "app:")):
        message = await failed(alice, "shared_state_update", delta=delta)
        assert "invalid-input:" in message and words in message, message
    assert await store.shared_state("shop") == {}
    await store.update_shared_state("shop", {"currency": "EUR"})
    async with Client(create_server(store, app="shop", user_id="bob")) as bob, \
            Client(create_server(store, app="shop", user_id="bob",
                                 allow_app_state=True)) as trusted:
        assert await ok(bob, "shared_state_get") == {"state": {"app:currency": "EUR"}}
        assert (await ok(trusted, "shared_state_update", delta={"app:currency": "USD"}))[
            "state"] == {"app:currency": "USD"}
    assert (await ok(alice, "shared_state_get"))["state"] == {
        "user:name": "Alice", "app:currency": "USD"}


async def test_the_scope_is_validated(store: AsyncSessionStore) -> None:
    with pytest.raises(InvalidInputError, match="user_id"):
        create_server(store, app="shop", user_id="bad user")
    with pytest.raises(InvalidInputError, match="app"):
        create_server(store, app="", user_id="alice")


# -- errors ---------------------------------------------------------------------------
async def test_store_errors_become_tool_errors_the_model_can_read(
        alice: Client, store: AsyncSessionStore, clock: FrozenClock) -> None:
    sid = (await ok(alice, "session_create", session_id="s1"))["session_id"]
    assert "conflict: session 's1' already exists" in await failed(
        alice, "session_create", session_id="s1")
    message = await failed(alice, "state_update", session_id=sid, delta={"a": 1},
                           expected_version=7)
    assert "version-mismatch: session 's1' is at version 0, not the expected 7" in message
    message = await failed(alice, "events_append", session_id=sid,
                           events=[{"role": "bad role!"}])
    assert "invalid-input: events[0].role" in message
    message = await failed(alice, "events_append", session_id=sid,
                           events=[{"role": "user"}] * 6)
    assert "too-large: events is 6 events; the limit is 5" in message
    assert "invalid-input" in await failed(alice, "session_get", session_id="no/slash")
    # Arguments that fail the input schema are refused before the store is asked.
    assert "kind" in await failed(alice, "events_append", session_id=sid,
                                  events=[{"role": "user", "kind": "gossip"}])
    assert "session_id" in await failed(alice, "session_get")

    await store.create("shop", "alice", "brief", idle_ttl=60)
    clock.advance(61)
    assert "expired:" in await failed(alice, "session_get", session_id="brief")
    assert (await store.get("shop", "alice", sid)).version == 0  # nothing was written


def test_error_codes_come_from_the_one_table_and_internals_stay_in_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    client_side: list[SessionDBError] = [
        NotFoundError("no session 'x'"), ExpiredError("session 'x' expired"),
        ConflictError("at version 1, not 2", expected=2, actual=1),
        ConflictError("taken"), LimitExceededError("too big", field="f", limit=1, actual=2),
        InvalidInputError("bad", field="f"), AuthError("bad token")]
    for exc in client_side:
        assert describe(exc) == f"{problem_for(exc).slug}: {exc}"
    assert [describe(exc).split(":")[0] for exc in client_side] == [
        "not-found", "expired", "version-mismatch", "conflict", "too-large", "invalid-input",
        "unauthorized"]
    server_side: list[SessionDBError] = [
        BackendUnavailableError("host db.internal:5432 refused"),
        BackendError("relation sessions_x does not exist"),
        ConfigurationError("bad option"), SessionDBError("odd")]
    for exc in server_side:
        text = describe(exc)
        assert text == f"{problem_for(exc).slug}: {problem_for(exc).title}" + (
            "; retrying may succeed" if isinstance(exc, BackendUnavailableError) else "")
        assert str(exc) in caplog.text  # the operator still sees it


# -- resources ------------------------------------------------------------------------
async def test_state_and_events_are_resources(alice: Client) -> None:
    templates = {t.name: t.uri_template for t in
                 (await alice.list_resource_templates()).resource_templates}
    assert templates == {"session_state": "sessiondb://sessions/{session_id}/state",
                         "session_events": "sessiondb://sessions/{session_id}/events{?last}"}
    sid = (await ok(alice, "session_create", state={"step": 1}))["session_id"]
    await ok(alice, "events_append", session_id=sid,
             events=[{"role": "user", "content": f"m{i}"} for i in range(5)])
    await ok(alice, "state_update", session_id=sid, delta={"step": 2})

    state = await read_json(alice, f"sessiondb://sessions/{sid}/state")
    assert state == {"session_id": sid, "version": 6, "state": {"step": 2}}
    events = await read_json(alice, f"sessiondb://sessions/{sid}/events?last=3")
    assert [e["seq"] for e in events["events"]] == [4, 5, 6] and events["version"] == 6
    everything = await read_json(alice, f"sessiondb://sessions/{sid}/events")
    assert [e["content"] for e in everything["events"][:5]] == [f"m{i}" for i in range(5)]

    with pytest.raises(MCPError) as missing:
        await alice.read_resource("sessiondb://sessions/nope/state")
    assert "not-found" in missing.value.error.message
    with pytest.raises(MCPError) as bad:
        await alice.read_resource(f"sessiondb://sessions/{sid}/events?last=100000")
    assert "too-large" in bad.value.error.message


async def test_a_handshake_era_client_works_too(store: AsyncSessionStore) -> None:
    server = create_server(store, app="shop", user_id="alice")
    async with Client(server, mode="legacy") as client:
        sid = (await ok(client, "session_create"))["session_id"]
        assert (await ok(client, "session_get", session_id=sid))["version"] == 0
        assert "not-found" in await failed(client, "events_read", session_id="x")


def test_without_the_sdk_the_error_names_the_extra() -> None:
    blocked = "import sys; sys.modules['mcp'] = None; from sessiondb.cli import main; "
    for code in (blocked + "import sessiondb.mcp",
                 blocked + "sys.exit(main(['mcp', '--db', 'memory://', '--app', 'a', "
                           "'--user', 'u']))"):
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=60)
        assert child.returncode == 1
        assert "pip install 'sessiondb[mcp]'" in child.stderr, child.stderr
