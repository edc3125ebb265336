"""The AutoGen adapter: agent and team state saved to and loaded from SessionDB."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("autogen_agentchat")

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)

import sessiondb
from sessiondb.adapters.autogen import (
    load_state,
    read_state,
    save_state,
    write_state,
)
from sessiondb.adapters.view import conversation


class ScriptedClient(ChatCompletionClient):
    """Replies ``reply <n>: <every text it was sent>``, so a test sees the
    context the agent kept. No network."""

    def __init__(self) -> None:
        self.calls = 0

    async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        self.calls += 1
        seen = [m.content for m in messages if isinstance(getattr(m, "content", None), str)]
        return CreateResult(finish_reason="stop", content=f"reply {self.calls}: " + " | ".join(
            s for s in seen if not s.startswith("You are")),
            usage=RequestUsage(prompt_tokens=1, completion_tokens=1), cached=False)

    async def create_stream(self, messages: Sequence[LLMMessage],
                            **kwargs: Any) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages, **kwargs)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return RequestUsage(prompt_tokens=0, completion_tokens=0)

    total_usage = actual_usage

    def count_tokens(self, messages: Sequence[LLMMessage], **kwargs: Any) -> int:
        return 0

    def remaining_tokens(self, messages: Sequence[LLMMessage], **kwargs: Any) -> int:
        return 100_000

    @property
    def capabilities(self) -> Any:
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(vision=False, function_calling=False, json_output=False,
                         family=ModelFamily.UNKNOWN, structured_output=False)


def agent(name: str = "helper") -> AssistantAgent:
    return AssistantAgent(name, model_client=ScriptedClient())


def team() -> RoundRobinGroupChat:
    return RoundRobinGroupChat([agent("a"), agent("b")],
                               termination_condition=MaxMessageTermination(3))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_agent_state_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ag.db'}"

    async def body() -> None:
        async with sessiondb.open_async_store(url) as store:
            first = agent()
            await first.run(task="hello")
            version = await save_state(store, "support", "alice", "case-1", first,
                                       idle_ttl=3600)
            assert version == 1
        async with sessiondb.open_async_store(url) as store:  # reopened: as a new process
            second = agent()
            snapshot = await load_state(store, "support", "alice", "case-1", second)
            assert snapshot is not None
            assert (snapshot.seq, snapshot.version, snapshot.type) == (1, 1, "AssistantAgent")
            assert await second.save_state() == await first.save_state()
            result = await second.run(task="again")
            assert result.messages[-1].content == "reply 1: hello | reply 1: hello | again"
            session = await store.get("support", "alice", "case-1")
            assert session.expires_at is not None
            assert session.state["autogen:default"]["seq"] == 1
            [shown] = conversation(session.events, include_state=True)
            assert shown.kind == "state" and "autogen" in shown.text

    run(body())


def test_team_state_round_trip_and_versions() -> None:
    async def body() -> None:
        store = sessiondb.open_async_store("memory://")
        one = team()
        await one.run(task="go")
        v1 = await save_state(store, "app", "u", "s", one, key="team")
        saved_first = json.loads(json.dumps(await one.save_state()))
        await one.run(task="more")
        v2 = await save_state(store, "app", "u", "s", one, key="team", expected_version=v1)
        assert v2 == v1 + 1
        two = team()
        latest = await load_state(store, "app", "u", "s", two, key="team")
        assert latest is not None and latest.seq == v2 and latest.type == "RoundRobinGroupChat"
        assert json.loads(json.dumps(await two.save_state())) == latest.state
        older = await read_state(store, "app", "u", "s", key="team", version=v1)
        assert older is not None and older.state == saved_first
        assert await read_state(store, "app", "u", "s", key="other") is None
        with pytest.raises(sessiondb.InvalidInputError):
            await read_state(store, "app", "u", "s", key="other", version=v1)

    run(body())


def test_expected_version_prevents_lost_updates() -> None:
    async def body() -> None:
        store = sessiondb.open_async_store("memory://")
        await save_state(store, "app", "u", "s", agent())
        a, b = agent(), agent()
        seen_a = await load_state(store, "app", "u", "s", a)
        seen_b = await load_state(store, "app", "u", "s", b)
        assert seen_a is not None and seen_b is not None
        await a.run(task="from a")
        await b.run(task="from b")
        await save_state(store, "app", "u", "s", a, expected_version=seen_a.version)
        with pytest.raises(sessiondb.ConflictError):
            await save_state(store, "app", "u", "s", b, expected_version=seen_b.version)
        latest = await read_state(store, "app", "u", "s")
        assert latest is not None and "from a" in json.dumps(latest.state)
        with pytest.raises(sessiondb.NotFoundError):
            await save_state(store, "app", "u", "nope", a, expected_version=3)
        # Without expected_version concurrent saves all land (last one wins).
        await asyncio.gather(*(save_state(store, "app", "u", "race", agent())
                               for _ in range(5)))
        assert (await store.get("app", "u", "race", last=0)).version == 5

    run(body())


def test_large_states_are_split_across_events() -> None:
    async def body() -> None:
        store = sessiondb.open_store("memory://", limits=sessiondb.Limits(max_event_bytes=4096))
        state = {"messages": [{"content": f"message {i} " + "é\"\\" * 200} for i in range(40)]}
        version = await write_state(store, "app", "u", "big", state)
        assert version > 2  # several parts, one atomic append
        snapshot = await read_state(store, "app", "u", "big")
        assert snapshot is not None and snapshot.state == state
        assert (await read_state(store, "app", "u", "big", version=1)).state == state
        nothing = agent()
        assert await load_state(store, "app", "u", "missing", nothing) is None

    run(body())


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sessiondb.adapters.autogen")
    monkeypatch.setitem(sys.modules, "autogen_agentchat", None)
    with pytest.raises(sessiondb.ConfigurationError, match=r"sessiondb\[autogen\]"):
        importlib.import_module("sessiondb.adapters.autogen")


def test_states_are_plain_json(tmp_path: Path) -> None:
    async def body() -> None:
        store = sessiondb.open_async_store("memory://")
        state: Mapping[str, Any] = {"when": __import__("datetime").date(2024, 1, 2), "n": 1}
        await write_state(store, "app", "u", "s", state)
        assert (await read_state(store, "app", "u", "s")).state == {"when": "2024-01-02",
                                                                   "n": 1}

    run(body())
