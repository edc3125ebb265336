"""The OpenAI Agents SDK adapter, driven by ``Runner.run`` with a scripted model."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents")

from adapter_openai_helper import make_agent
from agents import Runner
from agents.memory import Session, SessionSettings

import sessiondb
from sessiondb.adapters.openai_agents import SessionDBSession
from sessiondb.adapters.view import conversation

HELPER = Path(__file__).with_name("adapter_openai_helper.py")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def msg(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text}


class Recorder:
    """A store that records the windows ``get`` and ``events`` were asked for."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.reads: list[int] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if name == "get":
            return lambda *a, **kw: self.reads.append(kw.get("last", 0)) or attr(*a, **kw)
        if name == "events":
            return lambda *a, **kw: self.reads.append(kw["limit"]) or attr(*a, **kw)
        return attr


# -- Runner.run over several turns, then a new process ----------------------------------
def test_runner_keeps_the_conversation_across_turns_and_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"

    async def first_process() -> None:
        session = SessionDBSession.from_url("chat-1", url, user_id="alice",
                                            metadata={"channel": "web"})
        assert isinstance(session, Session)  # the SDK's runtime-checkable protocol
        agent, model = make_agent()
        assert (await Runner.run(agent, "hello", session=session)).final_output == \
            "heard: hello"
        assert (await Runner.run(agent, "add 2 3", session=session)).final_output == \
            "the sum is 5"
        assert (await Runner.run(agent, "what now", session=session)).final_output == \
            "heard: hello | add 2 3 | what now"
        # The model saw the earlier turns, tool call and output included.
        seen = model.last_call.input
        assert [i.get("type") for i in seen].count("function_call_output") == 1
        info = await session.info()
        assert info is not None and info.metadata == {"channel": "web"}
        await session.close()

    run(first_process())
    child = subprocess.run([sys.executable, str(HELPER), url, "alice", "chat-1", "and later"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["reply"] == "heard: hello | add 2 3 | what now | and later"
    # user+reply, user+call+output+reply, user+reply, user+reply
    assert len(result["items"]) == 2 + 4 + 2 + 2

    async def check() -> None:
        session = SessionDBSession.from_url("chat-1", url, user_id="alice")
        assert await session.get_items() == result["items"]  # lossless, in order
        stored = await session.store.get("openai-agents", "alice", "chat-1", last=100)
        roles = [(m.role, m.kind) for m in conversation(stored.events)]
        assert roles[2:6] == [("user", "message"), ("assistant", "tool_call"),
                              ("tool", "tool_result"), ("assistant", "message")]
        await session.close()

    run(check())


# -- bounded reads, pop ---------------------------------------------------------------
def test_get_items_reads_a_bounded_window() -> None:
    async def body() -> None:
        store = Recorder(sessiondb.open_async_store(
            "memory://", limits=sessiondb.Limits(max_window=16)))
        session = SessionDBSession("s", store)
        assert await session.get_items() == []
        items = [msg(f"m{i}", "user" if i % 2 else "assistant") for i in range(50)]
        await session.add_items(items[:30])
        await session.add_items(items[30:])
        store.reads.clear()
        assert await session.get_items(5) == items[-5:]
        assert store.reads and max(store.reads) <= 9  # 5 asked + a little slack
        assert await session.get_items() == items  # all, in windows of 16
        assert max(store.reads) <= 16
        assert await session.get_items(0) == []
        assert await session.get_items(500) == items
        limited = SessionDBSession("s", store, session_settings=SessionSettings(limit=3))
        assert await limited.get_items() == items[-3:]
        assert await limited.get_items(4) == items[-4:]

    run(body())


def test_pop_item_removes_the_newest_item() -> None:
    async def body() -> None:
        session = SessionDBSession("s", sessiondb.open_async_store("memory://"))
        assert await session.pop_item() is None
        a, b, c, d = (msg(x) for x in "abcd")
        await session.add_items([a, b, c])
        assert await session.pop_item() == c
        assert await session.pop_item() == b
        await session.add_items([d])
        assert await session.get_items() == [a, d]
        assert await session.get_items(1) == [d]
        await session.update_state({"note": "not an item"})  # other events are ignored
        assert await session.pop_item() == d
        assert await session.get_items() == [a]
        stored = await session.store.get("openai-agents", "default", "s", last=100)
        assert [m.text for m in conversation(stored.events)] == ["a"]
        assert await session.pop_item() == a
        assert await session.pop_item() is None
        assert await session.get_items() == []

    run(body())


# -- concurrency ------------------------------------------------------------------------
def test_concurrent_runs_lose_no_message(tmp_path: Path) -> None:
    async def body() -> None:
        store = sessiondb.open_async_store(f"sqlite:///{tmp_path / 'c.db'}")
        session = SessionDBSession("shared", store)
        (one, _), (two, _) = make_agent(), make_agent()
        results = await asyncio.gather(Runner.run(one, "from one", session=session),
                                       Runner.run(two, "from two", session=session))
        assert all(r.final_output.startswith("heard:") for r in results)
        # And many writers at once, with pops racing them.
        await asyncio.gather(*(session.add_items([msg(f"w{i}")]) for i in range(20)))
        items = await session.get_items()
        texts = [i["content"] if isinstance(i["content"], str) else i["content"][0]["text"]
                 for i in items]
        assert "from one" in texts and "from two" in texts
        assert len(items) == 4 + 20
        assert sorted(t for t in texts if t.startswith("w")) == sorted(
            f"w{i}" for i in range(20))
        popped = await asyncio.gather(*(session.pop_item() for _ in range(5)))
        assert len({json.dumps(p, sort_keys=True) for p in popped}) == 5  # 5 distinct items
        assert len(await session.get_items()) == 19
        await store.close()

    run(body())


# -- state, listing, expiry ----------------------------------------------------------------
def test_state_listing_and_expiry() -> None:
    async def body() -> None:
        clock = sessiondb.FrozenClock(1000.0)
        store = sessiondb.open_async_store("memory://", clock=clock)
        session = SessionDBSession("t1", store, user_id="bob", idle_ttl=60)
        assert await session.state() == {} and await session.info() is None
        version = await session.update_state({"plan": "pro", "user:lang": "en",
                                              "temp:x": 1})
        assert await session.state() == {"plan": "pro", "user:lang": "en"}
        other = SessionDBSession("t2", store, user_id="bob")
        await other.add_items([msg("hi")])
        assert await other.state() == {"user:lang": "en"}  # user: is shared
        with pytest.raises(sessiondb.ConflictError):
            await session.update_state({"plan": "free"}, expected_version=version - 1)
        page = await SessionDBSession.list_sessions(store, "bob")
        assert [s.id for s in page] == ["t1", "t2"]
        info = await session.info()
        assert info is not None and info.expires_at == 1060.0
        clock.advance(30)
        assert await session.touch() == 1090.0
        clock.advance(61)  # expired: reads see nothing, a write starts afresh
        assert await session.get_items() == [] and await session.state() == {}
        await session.add_items([msg("new start")])
        assert await session.get_items() == [msg("new start")]
        assert await session.state() == {"user:lang": "en"}
        await session.clear_session()
        assert await session.get_items() == [] and await session.info() is None
        await session.clear_session()  # clearing nothing is fine
        await session.add_items([msg("again")])
        assert await session.get_items() == [msg("again")]

    run(body())


def test_a_sync_store_works_too() -> None:
    async def body() -> None:
        session = SessionDBSession("s", sessiondb.open_store("memory://"))
        await session.add_items([msg("a"), msg("b")])
        assert await session.pop_item() == msg("b")
        assert await session.get_items() == [msg("a")]

    run(body())


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sessiondb.adapters.openai_agents")
    monkeypatch.setitem(sys.modules, "agents.memory.session_settings", None)
    with pytest.raises(sessiondb.ConfigurationError, match=r"sessiondb\[openai-agents\]"):
        importlib.import_module("sessiondb.adapters.openai_agents")
