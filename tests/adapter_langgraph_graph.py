"""A LangGraph chat graph with a scripted model, for the SessionDBSaver tests.

Run as a script it is the "new process": it opens a SQLite file, continues a
thread for one turn and prints the conversation as JSON::

    python adapter_langgraph_graph.py /path/to.db thread-id "user text"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class RecallModel(BaseChatModel):
    """Answers with what it was shown: how many messages, the first user
    message and the last. So a reply proves the model saw the earlier turns
    (and its size does not grow with them)."""

    @property
    def _llm_type(self) -> str:
        return "recall"

    def _generate(self, messages: list[BaseMessage], stop: Any = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        said = [str(m.content) for m in messages if isinstance(m, HumanMessage)]
        text = f"seen {len(messages)}: {said[0]} .. {said[-1]}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


class State(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]


def one_node(node: Any, checkpointer: Any, name: str = "model") -> Any:
    """START -> ``node`` -> END over :class:`State`, compiled."""
    graph = StateGraph(State)
    graph.add_node(name, node)
    graph.add_edge(START, name)
    graph.add_edge(name, END)
    return graph.compile(checkpointer=checkpointer)


def build(checkpointer: Any, before_model: Callable[[], None] | None = None) -> Any:
    """The chat graph. ``before_model`` runs inside the model node first (the
    concurrency tests park both runs there)."""
    model = RecallModel()

    def call_model(state: State) -> dict[str, Any]:
        if before_model is not None:
            before_model()
        return {"messages": [model.invoke(state["messages"])]}

    return one_node(call_model, checkpointer)


def barrier_hook(parties: int, timeout: float = 5.0) -> Callable[[], None]:
    """A hook that waits until ``parties`` runs are inside the model node."""
    barrier = threading.Barrier(parties, timeout=timeout)

    def wait() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    return wait


def async_gate(parties: int, timeout: float = 5.0) -> Callable[[], Any]:
    """An async hook that waits until ``parties`` runs are inside the node."""
    arrived = asyncio.Event()
    count = 0

    async def park() -> None:
        nonlocal count
        count += 1
        if count == parties:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), timeout)

    return park


def async_graph(saver: Any, park: Any) -> Any:
    """The graph with an async model node that awaits ``park()`` first."""

    async def call(state: State) -> dict[str, Any]:
        await park()
        return {"messages": [await RecallModel().ainvoke(state["messages"])]}

    return one_node(call, saver)


def checkpoint(values: dict[str, Any]) -> Any:
    """A checkpoint holding ``values``, every channel at version 1."""
    made = empty_checkpoint()
    made["channel_values"] = values
    made["channel_versions"] = {k: 1 for k in values}
    return made


def stored_bytes(store: Any, thread: str = "t1") -> list[int]:
    """The encoded size of each event of a thread's root session."""
    sizes, after = [], 0
    while True:
        page = store.events("langgraph", "default", thread, after_seq=after, limit=1000)
        sizes += [len(json.dumps([e.content, e.data, e.state_delta])) for e in page.items]
        if page.next_cursor is None:
            return sizes
        after = page.items[-1].seq


def main(path: str, thread: str, text: str) -> None:
    import sessiondb
    from sessiondb.adapters.langgraph import SessionDBSaver

    store = sessiondb.open_store(f"sqlite:///{path}")
    graph = build(SessionDBSaver(store))
    out = graph.invoke({"messages": [HumanMessage(text)]},
                       {"configurable": {"thread_id": thread}})
    print(json.dumps([[type(m).__name__, m.content, m.id] for m in out["messages"]]))
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
