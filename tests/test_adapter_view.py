"""The neutral view: events written by any adapter read as role, text, tool calls."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import sessiondb
from sessiondb.adapters.view import Message, ToolCall, conversation


def stored(events: list[dict[str, Any]]) -> tuple[sessiondb.Event, ...]:
    store = sessiondb.open_store("memory://")
    store.create("app", "u", "s")
    store.append("app", "u", "s", events)
    store.update_state("app", "u", "s", {"k": 1})
    return store.get("app", "u", "s", last=100).events


def brief(messages: list[Message]) -> list[tuple[Any, ...]]:
    return [(m.role, m.kind, m.text, [(c.name, c.arguments) for c in m.tool_calls])
            for m in messages]


def test_plain_sessiondb_events() -> None:
    events = stored([
        {"role": "user", "content": "Find me a flight"},
        {"role": "assistant", "kind": "tool_call",
         "data": {"name": "search", "args": {"to": "LIS"}, "id": "c1"}},
        {"role": "assistant", "kind": "tool_call", "content": "add_to_cart",
         "data": {"item": "tea"}},
        {"role": "tool", "kind": "tool_result", "content": {"ok": True},
         "data": {"tool_call_id": "c1"}},
        {"role": "assistant", "content": ["a", 1], "data": {"extra": True}},
        {"role": "system", "kind": "custom"},
    ])
    messages = conversation(events)
    assert brief(messages) == [
        ("user", "message", "Find me a flight", []),
        ("assistant", "tool_call", "", [("search", {"to": "LIS"})]),
        ("assistant", "tool_call", "", [("add_to_cart", {"item": "tea"})]),
        ("tool", "tool_result", '{"ok":true}', []),
        ("assistant", "message", '["a",1] {"extra":true}', []),
        ("system", "custom", "", []),
    ]
    assert messages[1].tool_calls[0].id == "c1" and messages[3].tool_call_id == "c1"
    assert [m.seq for m in messages] == [1, 2, 3, 4, 5, 6]
    with_state = conversation(events, include_state=True)
    assert with_state[-1].kind == "state" and with_state[-1].text == '{"k":1}'
    assert with_state[-1].state_delta == {"k": 1}
    # The dict form (Event.to_dict(), JSON exports) reads the same.
    assert conversation([e.to_dict() for e in events]) == messages


def test_adk_events() -> None:
    dump = {
        "author": "helper", "invocationId": "i",
        "content": {"role": "model", "parts": [
            {"text": "hidden", "thought": True}, {"text": "Let me check."},
            {"functionCall": {"id": "c1", "name": "find", "args": {"q": "tea"}}}]},
        "actions": {"stateDelta": {}},
    }
    result = {"author": "helper", "content": {"role": "user", "parts": [
        {"functionResponse": {"id": "c1", "name": "find", "response": {"hits": 2}}}]}}
    state_only = {"author": "helper", "actions": {"stateDelta": {"x": 1}}}
    user = {"author": "user", "content": {"role": "user", "parts": [{"text": "hi"}]}}
    events = stored([{"role": "user", "data": {"adk_event": user}},
                     {"role": "assistant", "kind": "tool_call", "data": {"adk_event": dump}},
                     {"role": "tool", "kind": "tool_result", "data": {"adk_event": result}},
                     {"role": "assistant", "kind": "state", "data": {"adk_event": state_only}},
                     {"role": "user", "content": "remembered", "data": {"adk_memory": {
                         "author": "user", "content": user["content"]}}}])
    messages = conversation(events)
    assert brief(messages) == [
        ("user", "message", "hi", []),
        ("assistant", "tool_call", "Let me check.", [("find", {"q": "tea"})]),
        ("tool", "tool_result", '{"hits":2}', []),
        ("user", "message", "hi", []),
    ]
    assert messages[1].name == "helper" and messages[2].tool_call_id == "c1"
    assert messages[2].name == "find" and messages[0].source == "adk"
    states = [m for m in conversation(events, include_state=True) if m.kind == "state"]
    assert states[0].text == '{"x":1}'
    bookkeeping = stored([{"role": "assistant", "kind": "custom", "data": {"adk_event": {
        "author": "helper", "actions": {"endOfAgent": True}}}}])
    assert [(m.kind, m.name) for m in conversation(bookkeeping)] == [("custom", "helper")]


def test_openai_items_and_pops() -> None:
    items = [
        {"role": "user", "content": "what is 1+2"},
        {"type": "function_call", "name": "add", "arguments": '{"a":1,"b":2}', "call_id": "c1"},
        {"type": "function_call_output", "call_id": "c1", "output": "3"},
        {"type": "reasoning", "id": "r", "summary": []},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "It is 3"}, {"type": "refusal", "refusal": "no"}]},
        {"type": "web_search_call", "id": "ws1", "status": "completed"},
        {"role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
        {"type": "function_call", "name": "bad", "arguments": "not json", "call_id": "c2"},
    ]
    events = stored([{"role": "assistant", "kind": "custom", "data": {"openai_item": i}}
                     for i in items] + [{"role": "system", "kind": "custom",
                                         "data": {"openai_pop": 8}}])
    assert brief(conversation(events)) == [
        ("user", "message", "what is 1+2", []),
        ("assistant", "tool_call", "", [("add", {"a": 1, "b": 2})]),
        ("tool", "tool_result", "3", []),
        ("assistant", "custom", "", []),
        ("assistant", "message", "It is 3\nno", []),
        ("assistant", "tool_call", "", [("web_search_call", {"id": "ws1",
                                                             "status": "completed"})]),
        ("user", "message", "thanks", []),
    ]


def test_langchain_messages_in_both_dict_forms() -> None:
    human = {"type": "human", "data": {"content": "hello", "type": "human"}}
    ai = {"type": "ai", "data": {"content": [{"type": "text", "text": "calling"}, "more"],
                                 "tool_calls": [{"name": "f", "args": {"a": 1}, "id": "c1"}]}}
    tool = {"lc": 1, "type": "constructor",
            "id": ["langchain", "schema", "messages", "ToolMessage"],
            "kwargs": {"content": "42", "tool_call_id": "c1", "name": "f"}}
    system = {"lc": 1, "type": "constructor",
              "id": ["langchain_core", "messages", "SystemMessageChunk"],
              "kwargs": {"content": "be brief"}}
    chat = {"type": "chat", "data": {"content": "hm", "role": "critic"}}
    chunk = {"type": "AIMessageChunk", "data": {"content": "partial"}}
    events = stored([
        {"role": "user", "data": human},
        {"role": "assistant", "data": {"message": ai}},
        {"role": "tool", "data": {"__sdb": "msg", "v": tool}},
        {"role": "system", "data": {"m": {"v": system}}},
        {"role": "critic", "data": chat},
        {"role": "assistant", "data": chunk},
        {"role": "user", "data": {"type": "nonsense", "data": {"content": "x"}}},
    ])
    messages = conversation(events)
    assert brief(messages) == [
        ("user", "message", "hello", []),
        ("assistant", "tool_call", "calling\nmore", [("f", {"a": 1})]),
        ("tool", "tool_result", "42", []),
        ("system", "message", "be brief", []),
        ("critic", "message", "hm", []),
        ("assistant", "message", "partial", []),
        ("user", "message", '{"type":"nonsense","data":{"content":"x"}}', []),
    ]
    assert messages[2].tool_call_id == "c1" and messages[0].source == "langchain"


def test_real_langchain_dicts() -> None:
    messages_module = pytest.importorskip("langchain_core.messages")
    load = pytest.importorskip("langchain_core.load")
    ai = messages_module.AIMessage(content="sure",
                                   tool_calls=[{"name": "g", "args": {}, "id": "t"}])
    events = stored([
        {"role": "user", "data": messages_module.message_to_dict(
            messages_module.HumanMessage(content="hi"))},
        {"role": "assistant", "data": {"m": load.dumpd(ai)}},
    ])
    assert brief(conversation(events)) == [("user", "message", "hi", []),
                                           ("assistant", "tool_call", "sure", [("g", {})])]


def test_autogen_snapshots_are_state() -> None:
    events = stored([{"role": "system", "kind": "custom",
                      "data": {"autogen_state": {"key": "team", "state": {}}}}])
    assert conversation(events) == []
    [shown, _] = conversation(events, include_state=True)
    assert shown.text == "autogen state 'team' saved" and shown.source == "autogen"


def test_the_view_imports_no_framework() -> None:
    code = ("import sys, sessiondb.adapters.view, sessiondb.cli.commands; "
            "bad = [m for m in ('google', 'agents', 'autogen_agentchat', 'langchain_core', "
            "'pydantic') if m in sys.modules]; print(bad); assert not bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_tool_call_is_a_value() -> None:
    assert ToolCall("f") == ToolCall("f", None, None)


def test_sessions_show_prints_the_view(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from sessiondb.cli import main

    url = f"sqlite:///{tmp_path / 'show.db'}"
    with sessiondb.open_store(url) as store:
        store.create("app", "u", "s")
        store.append("app", "u", "s", [
            {"role": "user", "content": "hi", "data": {"adk_event": {
                "author": "user", "content": {"role": "user", "parts": [{"text": "hi"}]}}}},
            {"role": "assistant", "kind": "tool_call", "data": {"adk_event": {
                "author": "helper", "content": {"role": "model", "parts": [
                    {"functionCall": {"name": "find", "args": {"q": "tea"}}}]}}}},
            {"role": "assistant", "kind": "custom", "data": {"openai_item": {
                "type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Found 2 teas"}]}}},
        ])
    assert main(["--db", url, "sessions", "show", "app", "u", "s"]) == 0
    out = capsys.readouterr().out
    assert "assistant:helper  tool_call  → find({\"q\":\"tea\"})" in out
    assert "Found 2 teas" in out and "adk_event" not in out and "output_text" not in out
    assert main(["--db", url, "--json", "sessions", "show", "app", "u", "s"]) == 0
    assert "adk_event" in capsys.readouterr().out  # --json keeps the raw events


def test_view_reads_the_langchain_history_and_langgraph_items(tmp_path) -> None:
    """Sessions written by the LangChain history and the LangGraph saver read
    as their messages, whatever layout each adapter chose."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import START, MessagesState, StateGraph

    import sessiondb
    from sessiondb.adapters.langchain import SessionDBChatMessageHistory
    from sessiondb.adapters.langgraph import SessionDBSaver
    from sessiondb.adapters.view import conversation

    store = sessiondb.open_store(f"sqlite:///{tmp_path}/v.db")
    history = SessionDBChatMessageHistory(store, session_id="chat1", user_id="u")
    history.add_messages([HumanMessage("hello"), AIMessage("hi there")])
    stored = store.get("langchain", "u", "chat1").events
    assert [(m.role, m.text) for m in conversation(stored)] == [
        ("user", "hello"), ("assistant", "hi there")]

    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage(f"echo {state['messages'][-1].content}")]}

    graph = StateGraph(MessagesState)
    graph.add_node("reply", reply)
    graph.add_edge(START, "reply")
    app = graph.compile(checkpointer=SessionDBSaver(store, user_id="u"))
    app.invoke({"messages": [HumanMessage("ping")]}, {"configurable": {"thread_id": "t1"}})
    texts = []
    for listed in store.sessions("langgraph", "u").items:
        texts += [m.text for m in conversation(store.get("langgraph", "u", listed.id).events)]
    assert texts == ["ping", "echo ping"]
