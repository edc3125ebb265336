"""A scripted OpenAI Agents SDK agent for the adapter tests, no network, no keys.

The model (``agents.testing.ScriptedModel`` with responder steps) answers
from the input alone: ``heard: <every user text so far>``, or a call of the
``add`` tool for ``add A B``. A conversation continued in another process
gets the same answers.

Run as ``python tests/adapter_openai_helper.py URL USER SESSION TEXT`` to play
one turn in a fresh process; prints one JSON line with the reply and items.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.testing.model import ModelCall

from sessiondb.adapters.openai_agents import SessionDBSession

set_tracing_disabled(True)


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def user_texts(items: Any) -> list[str]:
    if isinstance(items, str):
        return [items]
    return [i["content"] for i in items if i.get("role") == "user"
            and isinstance(i.get("content"), str)]


def respond(call: ModelCall) -> list[Any]:
    items = call.input if isinstance(call.input, list) else [
        {"role": "user", "content": call.input}]
    last = items[-1]
    if last.get("type") == "function_call_output":
        return [assistant_message(f"the sum is {last['output']}")]
    said = user_texts(items)
    if said[-1].startswith("add "):
        _, a, b = said[-1].split()
        return [function_call("add", {"a": int(a), "b": int(b)}, call_id=f"call-{len(items)}")]
    return [assistant_message("heard: " + " | ".join(said))]


def make_agent(steps: int = 8) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel([ModelStep.respond(respond) for _ in range(steps)])
    return Agent(name="helper", model=model, tools=[add]), model


async def _main(url: str, user: str, session_id: str, text: str) -> None:
    session = SessionDBSession.from_url(session_id, url, user_id=user)
    try:
        agent, _ = make_agent()
        result = await Runner.run(agent, text, session=session)
        print(json.dumps({"reply": result.final_output, "items": await session.get_items()}))
    finally:
        await session.close()


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:5]))
