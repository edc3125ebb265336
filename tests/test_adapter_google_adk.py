"""The Google ADK adapter, driven by a real ``Runner`` with a scripted model."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("google.adk")

from adapter_adk_helper import APP, make_runner, turn
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import Session
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types

import sessiondb
from sessiondb.adapters.google_adk import (
    SessionDBMemoryService,
    SessionDBSessionService,
)
from sessiondb.adapters.view import conversation

HELPER = Path(__file__).with_name("adapter_adk_helper.py")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def service(url: str = "memory://", **kwargs) -> SessionDBSessionService:  # type: ignore[no-untyped-def]
    limits = kwargs.pop("limits", None)
    return SessionDBSessionService(sessiondb.open_async_store(url, limits=limits), **kwargs)


def text_event(author: str, text: str, ts: float | None = None, **kwargs) -> Event:  # type: ignore[no-untyped-def]
    event = Event(author=author, invocation_id="inv",
                  content=types.Content(role="user" if author == "user" else "model",
                                        parts=[types.Part(text=text)]), **kwargs)
    event.id = Event.new_id()
    if ts is not None:
        event.timestamp = ts
    return event


# -- a real Runner, several turns, then a new process ----------------------------------
def test_runner_keeps_the_conversation_across_turns_and_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'adk.db'}"

    async def first_process() -> str:
        svc = service(url)
        runner = make_runner(svc)
        s = await svc.create_session(app_name=APP, user_id="ada",
                                     state={"topic": "tea", "user:name": "Ada",
                                            "app:motd": "hi", "temp:x": 1})
        assert s.state == {"topic": "tea", "user:name": "Ada", "app:motd": "hi"}
        assert await turn(runner, "ada", s.id, "hello") == "heard: hello"
        assert await turn(runner, "ada", s.id, "remember oolong") == "saved oolong"
        assert await turn(runner, "ada", s.id, "what now") == (
            "heard: hello | remember oolong | what now")
        await svc.store.close()
        return s.id

    sid = run(first_process())
    child = subprocess.run([sys.executable, str(HELPER), url, "ada", sid, "and later"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    # The new process's model saw every earlier user message: nothing was lost.
    assert result["reply"] == "heard: hello | remember oolong | what now | and later"
    assert result["state"] == {
        "topic": "tea", "user:name": "Ada", "app:motd": "hi", "user:favourite": "oolong",
        "app:remembered": 1, "last_item": "oolong", "last_reply": result["reply"]}
    # user, tool call, tool result, reply per "remember" turn; user + reply otherwise.
    assert result["events"] == 2 + 4 + 2 + 2

    async def check() -> None:
        svc = service(url)
        session = await svc.get_session(app_name=APP, user_id="ada", session_id=sid)
        assert session is not None
        tool_response = session.events[4].content.parts[0].function_response
        assert tool_response.response == {"item": "oolong", "saw_temp": True}
        messages = conversation((await svc.store.get(APP, "ada", sid, last=100)).events)
        assert [(m.role, m.kind) for m in messages[3:6]] == [
            ("assistant", "tool_call"), ("tool", "tool_result"), ("assistant", "message")]
        assert messages[-1].text == result["reply"]
        await svc.store.close()

    run(check())


# -- state scopes -------------------------------------------------------------------
def test_state_scopes_follow_adk() -> None:
    async def body() -> None:
        svc = service()
        a = await svc.create_session(app_name="app", user_id="u1", session_id=" s-a ",
                                     state={"user:lang": "en", "app:v": 1, "own": "a"})
        assert a.id == "s-a"
        b = await svc.create_session(app_name="app", user_id="u1", state={"own": "b"})
        c = await svc.create_session(app_name="app", user_id="u2")
        event = text_event("agent", "ok", actions=EventActions(state_delta={
            "user:lang": "fr", "app:v": 2, "temp:t": "scratch", "own": "a2"}))
        await svc.append_event(a, event)
        # ADK's in-memory semantics: temp: reaches the live session object only.
        assert a.state["temp:t"] == "scratch"
        assert "temp:t" not in event.actions.state_delta
        got = {s.id: await svc.get_session(app_name="app", user_id=s.user_id, session_id=s.id)
               for s in (a, b, c)}
        assert got["s-a"].state == {"own": "a2", "user:lang": "fr", "app:v": 2}
        assert got[b.id].state == {"own": "b", "user:lang": "fr", "app:v": 2}
        assert got[c.id].state == {"app:v": 2}
        stored = await svc.store.get("app", "u1", "s-a")
        assert "temp:t" not in json.dumps([e.to_dict() for e in stored.events])
        assert await svc.get_user_state(app_name="app", user_id="u1") == {"lang": "fr"}
        assert await svc.get_user_state(app_name="app", user_id="nobody") == {}

    run(body())


# -- GetSessionConfig ---------------------------------------------------------------
def test_get_session_config_windows() -> None:
    async def body() -> None:
        # A tiny max_window forces the multi-read path.
        svc = service(limits=sessiondb.Limits(max_window=4, default_window=4))
        s = await svc.create_session(app_name="app", user_id="u", session_id="s")
        for i in range(10):
            await svc.append_event(s, text_event("user" if i % 2 == 0 else "bot", f"m{i}",
                                                 ts=1000.0 + i))

        async def texts(config: GetSessionConfig | None) -> list[str]:
            got = await svc.get_session(app_name="app", user_id="u", session_id="s",
                                        config=config)
            assert got is not None
            return [e.content.parts[0].text for e in got.events]

        every = [f"m{i}" for i in range(10)]
        assert await texts(None) == every
        assert await texts(GetSessionConfig(num_recent_events=3)) == ["m7", "m8", "m9"]
        assert await texts(GetSessionConfig(num_recent_events=4)) == every[6:]
        assert await texts(GetSessionConfig(num_recent_events=50)) == every
        assert await texts(GetSessionConfig(num_recent_events=0)) == []
        assert await texts(GetSessionConfig(after_timestamp=1005.0)) == every[5:]  # inclusive
        assert await texts(GetSessionConfig(after_timestamp=1000.5)) == every[1:]
        assert await texts(GetSessionConfig(num_recent_events=2, after_timestamp=1005)) == \
            ["m8", "m9"]
        assert await texts(GetSessionConfig(num_recent_events=8, after_timestamp=1005)) == \
            every[5:]
        with pytest.raises(ValueError):
            GetSessionConfig(num_recent_events=-1)
        with pytest.raises(ValueError):
            await texts(GetSessionConfig.model_construct(num_recent_events=-1))
        windowed = SessionDBSessionService(svc.store, default_window=2)
        got = await windowed.get_session(app_name="app", user_id="u", session_id="s")
        assert [e.content.parts[0].text for e in got.events] == ["m8", "m9"]
        assert await svc.get_session(app_name="app", user_id="u", session_id="nope") is None

    run(body())


# -- listing, deleting ----------------------------------------------------------------
def test_list_sessions_pages_and_shape() -> None:
    async def body() -> None:
        svc = service(limits=sessiondb.Limits(max_page=2))
        made = []
        for user, sid in [("u1", "a"), ("u2", "b"), ("u1", "c"), ("u1", "d"), ("u3", "e")]:
            made.append(await svc.create_session(app_name="app", user_id=user,
                                                 session_id=sid, state={"k": sid}))
        await svc.append_event(made[0], text_event("user", "later"))  # a becomes newest
        listed = await svc.list_sessions(app_name="app")
        assert [s.id for s in listed.sessions] == ["b", "c", "d", "e", "a"]
        assert all(s.events == [] for s in listed.sessions)
        mine = await svc.list_sessions(app_name="app", user_id="u1")
        assert sorted(s.id for s in mine.sessions) == ["a", "c", "d"]
        assert {s.state["k"] for s in mine.sessions} == {"a", "c", "d"}
        page, cursor = await svc.list_sessions_page(app_name="app", page_size=2)
        assert [s.id for s in page] == ["a", "b"] and cursor
        assert (await svc.list_sessions(app_name="other")).sessions == []

    run(body())


def test_create_delete_and_missing_sessions() -> None:
    async def body() -> None:
        svc = service()
        s = await svc.create_session(app_name="app", user_id="u", session_id="dup")
        with pytest.raises(AlreadyExistsError):
            await svc.create_session(app_name="app", user_id="u", session_id="dup")
        await svc.delete_session(app_name="app", user_id="u", session_id="unknown")  # no-op
        await svc.delete_session(app_name="app", user_id="u", session_id="dup")
        assert await svc.get_session(app_name="app", user_id="u", session_id="dup") is None
        with pytest.raises(SessionNotFoundError):
            await svc.append_event(s, text_event("user", "hi"))
        # An expired session is gone for ADK: its id can be used again.
        clock = sessiondb.FrozenClock(100.0)
        short = SessionDBSessionService(sessiondb.open_async_store("memory://", clock=clock),
                                        idle_ttl=10)
        old = await short.create_session(app_name="app", user_id="u", session_id="x",
                                         state={"v": 1})
        clock.advance(11)
        assert await short.get_session(app_name="app", user_id="u", session_id="x") is None
        with pytest.raises(SessionNotFoundError):
            await short.append_event(old, text_event("user", "late"))
        new = await short.create_session(app_name="app", user_id="u", session_id="x")
        assert new.state == {}

    run(body())


# -- stale sessions -----------------------------------------------------------------
def test_stale_session_is_detected_by_version() -> None:
    async def body() -> None:
        svc = service()
        await svc.create_session(app_name="app", user_id="u", session_id="s")
        one = await svc.get_session(app_name="app", user_id="u", session_id="s")
        two = await svc.get_session(app_name="app", user_id="u", session_id="s")
        await svc.append_event(one, text_event("user", "first"))
        with pytest.raises(StaleSessionError) as caught:
            await svc.append_event(two, text_event("user", "lost?"))
        assert isinstance(caught.value, ValueError)
        await svc.append_event(one, text_event("bot", "second"))  # the holder goes on
        # Two appends through one session object at once are not a conflict.
        await asyncio.gather(svc.append_event(one, text_event("bot", "x")),
                             svc.append_event(one, text_event("bot", "y")))
        fresh = await svc.get_session(app_name="app", user_id="u", session_id="s")
        assert [e.content.parts[0].text for e in fresh.events] == ["first", "second", "x", "y"]
        # A session object this service did not hand out: checked by last event.
        copy = Session(id="s", app_name="app", user_id="u", events=list(fresh.events))
        await svc.append_event(copy, text_event("bot", "z"))
        behind = Session(id="s", app_name="app", user_id="u", events=list(fresh.events))
        with pytest.raises(StaleSessionError):
            await svc.append_event(behind, text_event("bot", "lost"))
        partial = text_event("bot", "partial", partial=True)
        assert await svc.append_event(fresh, partial) is partial  # skipped, not stored
        assert (await svc.store.get("app", "u", "s")).version == 5

    run(body())


# -- lossless events -----------------------------------------------------------------
def test_every_event_field_round_trips() -> None:
    async def body() -> None:
        svc = service()
        s = await svc.create_session(app_name="app", user_id="u", session_id="s")
        event = Event(
            author="helper", invocation_id="inv-1", branch="root.helper",
            content=types.Content(role="model", parts=[
                types.Part(text="thinking…", thought=True),
                types.Part(text="Here is a picture: ☕"),
                types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x00\xff\x10")),
                types.Part(function_call=types.FunctionCall(id="c1", name="find",
                                                            args={"q": None, "n": [1, 2.5]})),
            ]),
            actions=EventActions(state_delta={"k": {"nested": [1, None]}},
                                 artifact_delta={"file.txt": 2}, transfer_to_agent="other",
                                 escalate=True),
            long_running_tool_ids={"c1", "c0"}, custom_metadata={"trace": "t-1"},
            usage_metadata=types.GenerateContentResponseUsageMetadata(prompt_token_count=3),
            turn_complete=True, output={"answer": 42},
        )
        event.id = Event.new_id()
        original = event.model_copy(deep=True)
        await svc.append_event(s, event)
        got = await svc.get_session(app_name="app", user_id="u", session_id="s")
        assert got.events == [original]
        assert got.events[0].content.parts[2].inline_data.data == b"\x00\xff\x10"
        stored = (await svc.store.get("app", "u", "s")).events[0]
        assert (stored.role, stored.kind, stored.content) == (
            "assistant", "tool_call", "Here is a picture: ☕")
        [message] = conversation([stored])
        assert message.text == "Here is a picture: ☕"
        assert message.tool_calls[0].name == "find" and message.name == "helper"
        # One text part: its text is stored once, as the event's content.
        single = text_event("bot", "only ☕", custom_metadata={"a": [1]})
        empty = Event(author="bot", content=types.Content(role="model", parts=[
            types.Part(text=""), types.Part(text="x")]))
        originals = [single.model_copy(deep=True), empty.model_copy(deep=True)]
        await svc.append_event(got, single)
        await svc.append_event(got, empty)
        again = await svc.get_session(app_name="app", user_id="u", session_id="s")
        assert again.events[1:] == originals
        raw = (await svc.store.get("app", "u", "s")).events
        assert raw[1].content == "only ☕" and "only" not in json.dumps(raw[1].data)
        assert raw[2].content == "x" and '"x"' in json.dumps(raw[2].data)
        assert [m.text for m in conversation(raw[1:])] == ["only ☕", "x"]

    run(body())


def test_a_sync_store_works_too() -> None:
    async def body() -> None:
        svc = SessionDBSessionService(sessiondb.open_store("memory://"))
        s = await svc.create_session(app_name="app", user_id="u")
        await svc.append_event(s, text_event("user", "hi"))
        got = await svc.get_session(app_name="app", user_id="u", session_id=s.id)
        assert [e.content.parts[0].text for e in got.events] == ["hi"]

    run(body())


# -- memory ---------------------------------------------------------------------------
def test_memory_service_adds_once_and_searches() -> None:
    async def body() -> None:
        store = sessiondb.open_async_store("memory://")
        svc, memory = SessionDBSessionService(store), SessionDBMemoryService(store)
        s = await svc.create_session(app_name="app", user_id="u", session_id="s")
        for i, text in enumerate(["I love oolong tea", "Noted: oolong", "The sky is blue"]):
            await svc.append_event(s, text_event("user" if i != 1 else "bot", text,
                                                 ts=100.0 + i))
        await memory.add_session_to_memory(s)
        await memory.add_session_to_memory(s)  # again: nothing twice
        await svc.append_event(s, text_event("user", "more oolong please", ts=200.0))
        await memory.add_session_to_memory(s)
        found = await memory.search_memory(app_name="app", user_id="u", query="Oolong tea?")
        texts = [m.content.parts[0].text for m in found.memories]
        assert texts == ["I love oolong tea", "Noted: oolong", "more oolong please"]
        assert found.memories[1].author == "bot"
        assert (await memory.search_memory(app_name="app", user_id="x", query="tea")).memories \
            == []
        await svc.delete_session(app_name="app", user_id="u", session_id="s")
        again = await memory.search_memory(app_name="app", user_id="u", query="sky")
        assert [m.content.parts[0].text for m in again.memories] == ["The sky is blue"]

    run(body())


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.startswith("sessiondb.adapters.google_adk")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "google.adk.sessions.base_session_service", None)
    with pytest.raises(sessiondb.ConfigurationError, match=r"sessiondb\[google-adk\]"):
        importlib.import_module("sessiondb.adapters.google_adk")
