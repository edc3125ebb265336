"""SessionDBSaver with the real LangGraph: a chat graph turn by turn on
SQLite, a new process continuing the thread, LangGraph's own conformance
suite (sync and async stores), concurrency, and storage that grows with what
is new."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from adapter_langgraph_graph import (
    async_gate,
    async_graph,
    barrier_hook,
    build,
    checkpoint,
    one_node,
    stored_bytes,
)
from adapter_langgraph_sync import SyncMethodsSaver
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.conformance import checkpointer_test, validate

import sessiondb
from sessiondb.adapters.langgraph import SessionDBSaver

HERE = Path(__file__).resolve().parent


def cfg(thread: str = "t1", **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, **extra}}


def say(graph: Any, text: str, thread: str = "t1") -> list[Any]:
    return graph.invoke({"messages": [HumanMessage(text)]}, cfg(thread))["messages"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "threads.db")


@pytest.fixture
def store(db: str) -> Any:
    store = sessiondb.open_store(f"sqlite:///{db}")
    yield store
    store.close()


# -- a conversation ------------------------------------------------------------
def test_the_model_sees_earlier_turns(store: Any) -> None:
    graph = build(SessionDBSaver(store))
    say(graph, "my name is Ada")
    say(graph, "I like tea")
    messages = say(graph, "what do you know?")
    assert [type(m).__name__ for m in messages] == ["HumanMessage", "AIMessage"] * 3
    assert messages[-1].content == "seen 5: my name is Ada .. what do you know?"
    # A fresh saver on the same store reads the same thread back.
    state = build(SessionDBSaver(store)).get_state(cfg())
    assert [m.content for m in state.values["messages"]] == [m.content for m in messages]
    assert [m.id for m in state.values["messages"]] == [m.id for m in messages]


def test_a_new_process_continues_the_thread(store: Any, db: str) -> None:
    graph = build(SessionDBSaver(store))
    first = say(graph, "remember 42")
    say(graph, "and 7")
    child = subprocess.run(
        [sys.executable, str(HERE / "adapter_langgraph_graph.py"), db, "t1", "what numbers?"],
        capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(child.stdout)
    assert [c for _, c, _ in seen[:4]] == ["remember 42", first[1].content, "and 7",
                                           "seen 3: remember 42 .. and 7"]
    assert seen[-1] == ["AIMessage", "seen 5: remember 42 .. what numbers?", seen[-1][2]]
    # Back here, nothing was lost: the child's turn is there, ids and all.
    messages = say(graph, "thanks")
    assert [m.content for m in messages[:6]] == [c for _, c, _ in seen]
    assert [m.id for m in messages[:6]] == [i for _, _, i in seen]
    assert messages[-1].content.startswith("seen 7: ")


def test_storage_grows_with_what_is_new(store: Any) -> None:
    graph = build(SessionDBSaver(store))
    counts = []
    for turn in range(40):
        say(graph, f"message number {turn} " + "x" * 200)
        counts.append(len(stored_bytes(store)))
    sizes = stored_bytes(store)
    per_turn = [sum(sizes[a:b]) for a, b in zip([0, *counts], counts, strict=False)]
    # Turn 40 stores about what turn 2 stored, though it holds 20x the history.
    assert per_turn[-1] < per_turn[1] * 1.2
    assert sum(sizes) < 40 * per_turn[1] * 1.2


def test_reads_are_bounded(store: Any) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    for name in ("get", "events"):
        method = getattr(store, name)

        def counted(*args: Any, _m: Any = method, _n: str = name, **kwargs: Any) -> Any:
            calls.append((_n, kwargs))
            return _m(*args, **kwargs)
        setattr(store, name, counted)
    saver = SessionDBSaver(store)
    graph = build(saver)
    for turn in range(30):
        say(graph, f"turn {turn}")
    calls.clear()
    assert saver.get_tuple(cfg()) is not None
    assert calls == [("get", {"last": 1})]  # state + the last event: nothing else
    # A cold saver rebuilds the messages from their deltas: a few windows.
    calls.clear()
    tup = SessionDBSaver(store).get_tuple(cfg())
    assert len(tup.checkpoint["channel_values"]["messages"]) == 60
    assert 1 < len(calls) <= 3 and all(kw.get("limit", 0) <= 1000 for _, kw in calls)


# -- LangGraph's own contract tests ---------------------------------------------
@pytest.mark.parametrize("kind", ["async-store", "sync-store", "sync-methods"])
def test_langgraph_conformance(tmp_path: Path, kind: str) -> None:
    """The suite calls the async methods: on an async store, on a sync store
    (the worker-thread bridge), and through a facade onto the sync methods."""

    @checkpointer_test(name=f"SessionDBSaver-{kind}")
    async def saver() -> Any:
        path = tmp_path / f"conformance-{kind}.db"
        if kind == "async-store":
            async with sessiondb.open_async_store(f"sqlite:///{path}") as store:
                yield SessionDBSaver(store)
        else:
            store = sessiondb.open_store(f"sqlite:///{path}")
            yield (SyncMethodsSaver if kind == "sync-methods" else SessionDBSaver)(store)
            store.close()

    report = asyncio.run(validate(saver))
    failures = {k: r.failures for k, r in report.results.items() if r.failures}
    assert report.passed_all() and not failures, failures
    assert report.conformance_level() == "FULL"
    assert all(r.detected for r in report.results.values())


# -- concurrency ------------------------------------------------------------------
@pytest.mark.parametrize("fresh", [False, True], ids=["existing-thread", "new-thread"])
def test_two_runs_at_once_never_lose_a_message_silently(store: Any, fresh: bool) -> None:
    saver = SessionDBSaver(store)
    if not fresh:
        say(build(saver), "hello")
    graph = build(saver, before_model=barrier_hook(2))
    outcome: dict[str, Any] = {}

    def run(text: str) -> None:
        try:
            outcome[text] = say(graph, text)
        except sessiondb.ConflictError as exc:
            outcome[text] = exc

    threads = [threading.Thread(target=run, args=(t,)) for t in ("from A", "from B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    final = [m.content for m in build(saver).get_state(cfg()).values["messages"]]
    won = [t for t, r in outcome.items() if not isinstance(r, Exception)]
    lost = [t for t, r in outcome.items() if isinstance(r, sessiondb.ConflictError)]
    assert len(won) + len(lost) == 2
    assert lost, "both runs worked from the same checkpoint: one must be refused"
    for text in won:  # every run that returned is in the thread, reply and all
        assert text in final
        assert outcome[text][-1].content in final
    assert fresh or final[:2] == ["hello", "seen 1: hello .. hello"]


def test_two_async_runs_at_once(db: str) -> None:
    async def main() -> tuple[list[Any], list[str]]:
        async with sessiondb.open_async_store(f"sqlite:///{db}") as store:
            saver = SessionDBSaver(store)
            graph = build(saver)
            await graph.ainvoke({"messages": [HumanMessage("hi")]}, cfg())
            slow = async_graph(saver, async_gate(2))
            results = await asyncio.gather(
                *(slow.ainvoke({"messages": [HumanMessage(t)]}, cfg()) for t in "AB"),
                return_exceptions=True)
            final = (await graph.aget_state(cfg())).values["messages"]
            return list(results), [m.content for m in final]

    results, final = asyncio.run(main())
    assert any(isinstance(r, sessiondb.ConflictError) for r in results)
    for result in results:
        if not isinstance(result, BaseException):
            assert [m.content for m in result["messages"]] == final


def test_sequential_runs_from_two_savers_are_not_conflicts(store: Any) -> None:
    one, two = build(SessionDBSaver(store)), build(SessionDBSaver(store))
    for i in range(3):
        say(one, f"one {i}")
        say(two, f"two {i}")
    assert len(one.get_state(cfg()).values["messages"]) == 12


# -- LangGraph features over the saver ------------------------------------------
def test_interrupt_and_resume_in_a_new_saver(store: Any) -> None:
    from langgraph.types import Command, interrupt

    def ask(state: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt({"question": "ship it?"})
        return {"messages": [AIMessage(f"you said {answer}")]}

    def graph(saver: Any) -> Any:
        return one_node(ask, saver, "ask")

    out = graph(SessionDBSaver(store)).invoke({"messages": [HumanMessage("go")]}, cfg())
    assert out["__interrupt__"][0].value == {"question": "ship it?"}
    done = graph(SessionDBSaver(store)).invoke(Command(resume="yes"), cfg())
    assert [m.content for m in done["messages"]] == ["go", "you said yes"]


def test_time_travel_forks_without_a_conflict(store: Any) -> None:
    saver = SessionDBSaver(store)
    graph = build(saver)
    say(graph, "one")
    say(graph, "two")
    history = list(graph.get_state_history(cfg()))
    assert len(history) == 6 and history[0].values["messages"][-1].content.startswith("seen 3")
    past = next(h for h in history if len(h.values.get("messages", ())) == 2)
    out = graph.invoke({"messages": [HumanMessage("instead")]}, past.config)
    assert [m.content for m in out["messages"]][2] == "instead"
    assert build(SessionDBSaver(store)).get_state(cfg()).values["messages"][2].content == \
        "instead"


def test_subgraph_namespaces_live_and_die_with_their_thread(store: Any) -> None:
    saver = SessionDBSaver(store)
    # A subgraph compiled without a checkpointer inherits its parent's.
    graph = one_node(build(None), saver, "inner")
    out = graph.invoke({"messages": [HumanMessage("hi")]}, cfg("nested"))
    assert out["messages"][-1].content == "seen 1: hi .. hi"
    listed = list(saver.list({"configurable": {"thread_id": "nested"}}))
    assert {t.config["configurable"]["checkpoint_ns"] for t in listed} != {""}
    saver.delete_thread("nested")
    assert list(saver.list({"configurable": {"thread_id": "nested"}})) == []
    assert store.sessions("langgraph").items == ()


def test_idle_expiry_comes_from_the_store(db: str) -> None:
    clock = sessiondb.FrozenClock(1000.0)
    store = sessiondb.open_store(f"sqlite:///{db}", clock=clock)
    graph = build(SessionDBSaver(store, idle_ttl=60))
    say(graph, "hello")
    clock.advance(30)
    assert len(say(graph, "still here")) == 4  # a write slides the expiry
    clock.advance(61)
    assert graph.get_state(cfg()).values == {}  # expired: an empty thread
    assert len(say(graph, "anew")) == 2  # and a fresh one starts in its place
    clock.advance(61)
    assert store.purge_expired() == 1
    store.close()


def test_items_outlive_their_thread_while_it_is_written(db: str) -> None:
    """Messages live in an items session that idle-expires twice as late as
    the thread and is slid on while the thread is written, even when the
    messages themselves do not change."""
    clock = sessiondb.FrozenClock(0.0)
    store = sessiondb.open_store(f"sqlite:///{db}", clock=clock)
    saver = SessionDBSaver(store, idle_ttl=60)
    config = saver.put(cfg("t", checkpoint_ns=""), checkpoint(
        {"messages": [HumanMessage("kept", id="m1")], "n": 0}), {}, {})
    for n in range(1, 8):  # 350 s of writes that leave the messages alone
        clock.advance(50)
        step = checkpoint({"messages": [HumanMessage("kept", id="m1")], "n": n})
        step["channel_versions"] = {"messages": 1, "n": n + 1}
        config = saver.put(config, step, {}, {"n": n + 1})
    fresh = SessionDBSaver(store).get_tuple(cfg("t"))
    assert fresh.checkpoint["channel_values"] == {"messages": [HumanMessage("kept", id="m1")],
                                                  "n": 7}
    store.close()


def test_removed_and_edited_messages_survive_a_reload(store: Any) -> None:
    from langchain_core.messages import RemoveMessage

    graph = build(SessionDBSaver(store))
    for text in ("one", "two", "three"):
        say(graph, text)
    messages = graph.get_state(cfg()).values["messages"]
    graph.update_state(cfg(), {"messages": [RemoveMessage(id=messages[0].id),
                                            HumanMessage("TWO", id=messages[2].id)]})
    after = [m.content for m in build(SessionDBSaver(store)).get_state(cfg()).values["messages"]]
    assert after == [messages[1].content, "TWO", *[m.content for m in messages[3:]]]
    assert say(build(SessionDBSaver(store)), "four")[-1].content == "seen 6: TWO .. four"


def test_users_are_scoped_by_config(store: Any) -> None:
    graph = build(SessionDBSaver(store, user_id="anon"))
    graph.invoke({"messages": [HumanMessage("mine")]}, cfg("t", user_id="alice"))
    graph.invoke({"messages": [HumanMessage("yours")]}, cfg("t"))
    assert store.get("langgraph", "alice", "t").state["lg.head"]
    assert store.get("langgraph", "anon", "t").state["lg.head"]
    alice = graph.get_state(cfg("t", user_id="alice")).values["messages"]
    assert alice[0].content == "mine"


def test_prune_and_copy_keep_a_usable_thread(store: Any) -> None:
    saver = SessionDBSaver(store)
    graph = build(saver)
    for i in range(5):
        say(graph, f"turn {i}")
    before = graph.get_state(cfg()).values["messages"]
    saver.copy_thread("t1", "copy")
    saver.prune(["t1"])
    assert len(list(saver.list(cfg()))) == 1
    for thread in ("t1", "copy"):
        fresh = build(SessionDBSaver(store))
        assert fresh.get_state(cfg(thread)).values["messages"] == before
        assert say(fresh, "more", thread)[-1].content == "seen 11: turn 0 .. more"
    assert len(list(saver.list(cfg("copy")))) == 18


# -- what is stored ---------------------------------------------------------------
def test_values_are_plain_json_and_nothing_is_imported(store: Any) -> None:
    from pydantic import BaseModel

    class Point(BaseModel):
        x: int

    saver = SessionDBSaver(store, allowed_types=[Point])
    config = saver.put(cfg("j", checkpoint_ns=""), checkpoint(
        {"p": Point(x=1), "t": (1, b"\x00", {2: "int key"}), "nan": float("nan")}), {}, {})
    values = saver.get_tuple(config).checkpoint["channel_values"]
    assert values["p"] == Point(x=1) and values["t"] == (1, b"\x00", {2: "int key"})
    assert values["nan"] != values["nan"]
    raw = store.get("langgraph", "default", "j").events[-1].data
    assert json.loads(json.dumps(raw)) == raw
    with pytest.raises(sessiondb.InvalidInputError, match="allowed_types"):
        SessionDBSaver(store).put(cfg("k", checkpoint_ns=""), checkpoint({"p": Point(x=1)}),
                                  {}, {})
    with pytest.raises(sessiondb.InvalidInputError, match="object"):
        saver.put(cfg("k", checkpoint_ns=""), checkpoint({"o": object()}), {}, {})
    # A stored name is looked up in allowed_types only, never imported.
    store.create("langgraph", "default", "evil", metadata={"lg.thread": "evil", "lg.ns": ""})
    store.append("langgraph", "default", "evil", [{"role": "lg.checkpoint", "kind": "custom",
        "content": "c1", "data": {"p": None, "c": {"v": 1, "channel_versions": {"x": 1}},
        "m": {}, "r": {"x": 0}, "x": {"x": {"f": {"__sdb": "model", "type": "os.system",
                                                  "v": {}}}}}}],
        state_delta={"lg.head": {"id": "c1", "seq": 1}})
    with pytest.raises(sessiondb.InvalidInputError, match="not in allowed_types"):
        saver.get_tuple(cfg("evil"))


def test_large_values_and_writes_are_spilled(store: Any) -> None:
    saver = SessionDBSaver(store)
    big = "é" * 400_000  # 800 kB of UTF-8: over the event and state-value limits
    config = saver.put(cfg("big", checkpoint_ns=""), checkpoint({"doc": big, "n": 1}), {}, {})
    saver.put_writes(config, [("doc", big), ("n", 2)], "task-1")
    fresh = SessionDBSaver(store).get_tuple(cfg("big"))
    assert fresh.checkpoint["channel_values"] == {"doc": big, "n": 1}
    assert fresh.pending_writes == [("task-1", "doc", big), ("task-1", "n", 2)]
    assert [t.pending_writes for t in saver.list(cfg("big"))] == [fresh.pending_writes]
    saver.prune(["big"])
    assert SessionDBSaver(store).get_tuple(cfg("big")).pending_writes == fresh.pending_writes


# -- configuration ------------------------------------------------------------------
def test_an_async_store_refuses_sync_calls_clearly(db: str) -> None:
    async def main() -> None:
        async with sessiondb.open_async_store(f"sqlite:///{db}") as store:
            saver = SessionDBSaver(store)
            with pytest.raises(sessiondb.ConfigurationError, match="SessionStore"):
                saver.get_tuple(cfg())
            out = await build(saver).ainvoke({"messages": [HumanMessage("hi")]}, cfg())
            assert len(out["messages"]) == 2

    asyncio.run(main())
    with pytest.raises(sessiondb.ConfigurationError):
        SessionDBSaver(object())  # type: ignore[arg-type]


def test_the_adapter_imports_langgraph_only_when_asked() -> None:
    code = (
        "import sys, sessiondb, sessiondb.adapters\n"
        "assert not any(m.startswith(('langgraph', 'langchain')) for m in sys.modules)\n"
        "sys.modules['langgraph'] = None\n"
        "try:\n"
        "    import sessiondb.adapters.langgraph\n"
        "except sessiondb.ConfigurationError as e:\n"
        "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "pip install 'sessiondb[langgraph]'" in out
