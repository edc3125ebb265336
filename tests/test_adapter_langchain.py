"""SessionDBChatMessageHistory with the real LangChain: a fake chat model
under RunnableWithMessageHistory over several turns, a new process
continuing, windowed reads, the async methods, and the classic memory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

import sessiondb
from sessiondb.adapters.langchain import SessionDBChatMessageHistory

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")

TURN = {"configurable": {"session_id": "chat-1"}}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "chats.db")


@pytest.fixture
def store(db: str) -> Any:
    store = sessiondb.open_store(f"sqlite:///{db}")
    yield store
    store.close()


def chat(store: Any, seen: list[list[Any]], window: int | None = None) -> Any:
    """A prompt with the history, a recorder of what the model is shown, and
    a fake model, wrapped in RunnableWithMessageHistory."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "be brief"), MessagesPlaceholder("history"), ("human", "{question}")])

    def shown(value: Any) -> Any:
        seen.append(value.to_messages())
        return value

    model = FakeListChatModel(responses=[f"answer {i}" for i in range(50)])
    return RunnableWithMessageHistory(
        prompt | RunnableLambda(shown) | model,
        lambda session_id: SessionDBChatMessageHistory(store, session_id, window=window),
        input_messages_key="question", history_messages_key="history")


def texts(messages: list[Any]) -> list[str]:
    return [m.content for m in messages]


def test_runnable_with_message_history_over_turns(store: Any) -> None:
    seen: list[list[Any]] = []
    runnable = chat(store, seen)
    for question in ("hi", "my name is Ada", "what is my name?"):
        runnable.invoke({"question": question}, TURN)
    assert texts(seen[-1]) == ["be brief", "hi", "answer 0", "my name is Ada", "answer 1",
                               "what is my name?"]
    history = SessionDBChatMessageHistory(store, "chat-1")
    assert texts(history.messages) == ["hi", "answer 0", "my name is Ada", "answer 1",
                                       "what is my name?", "answer 2"]
    events = store.get("langchain", "default", "chat-1").events
    assert [(e.role, e.kind) for e in events[:2]] == [("user", "message"),
                                                      ("assistant", "message")]


def test_a_new_process_continues(store: Any, db: str) -> None:
    seen: list[list[Any]] = []
    chat(store, seen).invoke({"question": "remember 42"}, TURN)
    code = (
        "import sys, sessiondb\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_adapter_langchain import chat\n"
        "store = sessiondb.open_store('sqlite:///' + sys.argv[1])\n"
        "seen = []\n"
        "chat(store, seen).invoke({'question': 'what number?'},\n"
        "                         {'configurable': {'session_id': 'chat-1'}})\n"
        "print('|'.join(m.content for m in seen[-1]))\n")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code, db,
                          str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "be brief|remember 42|answer 0|what number?"
    assert texts(SessionDBChatMessageHistory(store, "chat-1").messages) == [
        "remember 42", "answer 0", "what number?", "answer 0"]


def test_windowed_reads_read_only_the_window(store: Any) -> None:
    history = SessionDBChatMessageHistory(store, "w")
    history.add_messages([HumanMessage(f"m{i}") for i in range(50)])
    calls: list[dict[str, Any]] = []
    get = store.get

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return get(*args, **kwargs)

    store.get = counted
    windowed = SessionDBChatMessageHistory(store, "w", window=4)
    assert texts(windowed.messages) == ["m46", "m47", "m48", "m49"]
    assert calls == [{"last": 4, "before_seq": None}]
    seen: list[list[Any]] = []
    chat(store, seen, window=2).invoke({"question": "q"}, {"configurable": {"session_id": "w"}})
    assert texts(seen[-1]) == ["be brief", "m48", "m49", "q"]
    assert len(SessionDBChatMessageHistory(store, "w").messages) == 52


def test_windows_larger_than_a_page(db: str) -> None:
    store = sessiondb.open_store(f"sqlite:///{db}", limits=sessiondb.Limits(max_window=10))
    SessionDBChatMessageHistory(store, "p").add_messages(
        [HumanMessage(f"m{i}") for i in range(35)])
    assert texts(SessionDBChatMessageHistory(store, "p", window=25).messages) == \
        [f"m{i}" for i in range(10, 35)]
    assert len(SessionDBChatMessageHistory(store, "p", window=99).messages) == 35
    assert len(SessionDBChatMessageHistory(store, "p").messages) == 35
    store.close()


def test_round_trips_are_lossless(store: Any) -> None:
    messages = [
        SystemMessage("rules", id="s1"),
        HumanMessage([{"type": "text", "text": "look"}], name="ada", id="h1"),
        AIMessage("", id="a1", tool_calls=[{"name": "search", "args": {"q": "tea"}, "id": "c1"}],
                  usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
                  response_metadata={"model": "fake"}),
        ToolMessage("found", tool_call_id="c1", name="search", artifact={"rows": [1, 2]}),
        AIMessageChunk("partial", id="a2"),
        ChatMessage("hmm", role="critic"),
    ]
    SessionDBChatMessageHistory(store, "rt").add_messages(messages)
    back = SessionDBChatMessageHistory(store, "rt").messages
    assert back == messages and [type(m) for m in back] == [type(m) for m in messages]
    events = store.get("langchain", "default", "rt").events
    assert [(e.role, e.kind) for e in events] == [
        ("system", "message"), ("user", "message"), ("assistant", "tool_call"),
        ("tool", "tool_result"), ("assistant", "message"), ("critic", "message")]
    assert events[3].content == "found"  # the text once, as the event's content
    assert "content" not in events[3].data["data"]


def test_async_methods_on_both_kinds_of_store(db: str) -> None:
    async def main() -> None:
        async with sessiondb.open_async_store(f"sqlite:///{db}") as astore:
            history = SessionDBChatMessageHistory(astore, "a", window=2)
            await history.aadd_messages([HumanMessage("one"), AIMessage("two")])
            await history.aadd_messages([HumanMessage("three")])
            assert texts(await history.aget_messages()) == ["two", "three"]
            with pytest.raises(sessiondb.ConfigurationError, match="SessionStore"):
                _ = history.messages
            seen: list[list[Any]] = []
            await chat(astore, seen).ainvoke({"question": "q"},
                                             {"configurable": {"session_id": "a"}})
            assert texts(seen[-1]) == ["be brief", "one", "two", "three", "q"]
            await history.aclear()
            assert await history.aget_messages() == []
        store = sessiondb.open_store(f"sqlite:///{db}")
        history = SessionDBChatMessageHistory(store, "b")
        await history.aadd_messages([HumanMessage("sync store, async API")])
        assert texts(await history.aget_messages()) == ["sync store, async API"]
        await history.aclear()
        assert history.messages == []
        store.close()

    asyncio.run(main())


def test_classic_memory(store: Any) -> None:
    memory_module = pytest.importorskip("langchain_classic.memory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = memory_module.ConversationBufferMemory(
            chat_memory=SessionDBChatMessageHistory(store, "classic"), return_messages=True)
        memory.save_context({"input": "hi"}, {"output": "hello!"})
        memory.save_context({"input": "who am I?"}, {"output": "Ada"})
        again = memory_module.ConversationBufferMemory(
            chat_memory=SessionDBChatMessageHistory(store, "classic"), return_messages=True)
        loaded = again.load_memory_variables({})["history"]
        assert texts(loaded) == ["hi", "hello!", "who am I?", "Ada"]
        window = memory_module.ConversationBufferMemory(
            chat_memory=SessionDBChatMessageHistory(store, "classic", window=2))
        assert window.load_memory_variables({})["history"] == "Human: who am I?\nAI: Ada"
        again.clear()
    assert SessionDBChatMessageHistory(store, "classic").messages == []


def test_sessions_expire_and_ids_are_mapped(db: str) -> None:
    clock = sessiondb.FrozenClock(100.0)
    store = sessiondb.open_store(f"sqlite:///{db}", clock=clock)
    history = SessionDBChatMessageHistory(store, "user 42 / chat", idle_ttl=10)
    history.add_messages([HumanMessage("hi")])
    assert store.sessions("langchain").items[0].metadata == {"lc.session": "user 42 / chat"}
    clock.advance(11)
    assert history.messages == []
    history.add_messages([HumanMessage("again")])  # an expired history starts over
    assert texts(history.messages) == ["again"]
    store.close()


def test_events_written_by_others_read_as_messages(store: Any) -> None:
    store.create("langchain", "default", "mixed")
    store.append("langchain", "default", "mixed", [
        {"role": "user", "content": "plain"}, {"role": "assistant", "content": {"a": 1}},
        {"role": "tool", "kind": "tool_result", "content": "r", "data": {"tool_call_id": "c"}},
        {"role": "system", "kind": "custom", "content": "bookkeeping"}])
    store.update_state("langchain", "default", "mixed", {"k": 1})
    got = SessionDBChatMessageHistory(store, "mixed").messages
    assert [(type(m).__name__, m.content) for m in got] == [
        ("HumanMessage", "plain"), ("AIMessage", '{"a": 1}'), ("ToolMessage", "r")]


def test_the_adapter_imports_langchain_only_when_asked() -> None:
    code = (
        "import sys, sessiondb, sessiondb.adapters\n"
        "assert 'langchain_core' not in sys.modules\n"
        "sys.modules['langchain_core'] = None\n"
        "try:\n"
        "    import sessiondb.adapters.langchain\n"
        "except sessiondb.ConfigurationError as e:\n"
        "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "pip install 'sessiondb[langchain]'" in out
    with pytest.raises(sessiondb.ConfigurationError):
        SessionDBChatMessageHistory(object(), "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("doc", ["langchain.md", "langgraph.md"])
def test_the_integration_docs_examples_run(doc: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The Python blocks of docs/integrations/<doc> run as written, in order."""
    import re
    import types

    text = (Path(__file__).resolve().parent.parent / "docs" / "integrations" / doc).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("integration_doc")  # a real module: TypedDicts resolve
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks:
        exec(compile(block, doc, "exec"), module.__dict__)
    out = capsys.readouterr().out
    expected = {"langchain.md": "You are Ada.",
                "langgraph.md": "['hello', 'you said hello', 'again', 'you said again']"}
    assert expected[doc] in out
