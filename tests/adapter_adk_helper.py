"""A scripted Google ADK agent for the adapter tests, no network, no keys.

The model is stateless: it answers from the request alone, so a conversation
continued in another process gets the same answers. It replies
``heard: <every user text so far>`` (so the test sees what history the model
got), calls the ``remember`` tool for ``remember X``, and confirms after the
tool's response.

Run as ``python tests/adapter_adk_helper.py URL USER SESSION TEXT`` to play one
turn in a fresh process; prints one JSON line with the reply and the state.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.tools import ToolContext
from google.genai import types

import sessiondb
from sessiondb.adapters.google_adk import SessionDBSessionService

APP = "adk-test"


def user_texts(request: LlmRequest) -> list[str]:
    return [p.text for c in request.contents if c.role == "user" for p in c.parts or ()
            if p.text]


class ScriptedLlm(BaseLlm):
    """Answers from the request only (see the module docstring)."""

    model: str = "scripted"

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        last = llm_request.contents[-1]
        parts = last.parts or []
        if any(p.function_response for p in parts):
            response = next(p.function_response for p in parts if p.function_response)
            text = f"saved {response.response['item']}"
            yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))
            return
        said = [p.text for p in parts if p.text][-1]
        if said.startswith("remember "):
            call = types.FunctionCall(name="remember", args={"item": said[9:]})
            yield LlmResponse(content=types.Content(role="model",
                                                    parts=[types.Part(function_call=call)]))
            return
        text = "heard: " + " | ".join(user_texts(llm_request))
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))


def remember(item: str, tool_context: ToolContext) -> dict[str, Any]:
    """Remember the user's favourite item."""
    tool_context.state["user:favourite"] = item
    tool_context.state["app:remembered"] = tool_context.state.get("app:remembered", 0) + 1
    tool_context.state["temp:scratch"] = item  # for this invocation only
    tool_context.state["last_item"] = item
    return {"item": item, "saw_temp": tool_context.state.get("temp:scratch") == item}


def make_runner(service: SessionDBSessionService) -> Runner:
    agent = LlmAgent(name="helper", model=ScriptedLlm(), instruction="Be brief.",
                     tools=[remember], output_key="last_reply")
    return Runner(app_name=APP, agent=agent, session_service=service)


async def turn(runner: Runner, user: str, session_id: str, text: str) -> str:
    """Run one turn; the agent's final text."""
    reply = ""
    message = types.Content(role="user", parts=[types.Part(text=text)])
    async for event in runner.run_async(user_id=user, session_id=session_id,
                                        new_message=message):
        if event.content and event.content.parts and event.content.parts[0].text:
            reply = event.content.parts[0].text
    return reply


async def _main(url: str, user: str, session_id: str, text: str) -> None:
    service = SessionDBSessionService(sessiondb.open_async_store(url))
    try:
        reply = await turn(make_runner(service), user, session_id, text)
        session = await service.get_session(app_name=APP, user_id=user, session_id=session_id)
        assert session is not None
        print(json.dumps({"reply": reply, "state": session.state,
                          "events": len(session.events)}))
    finally:
        await service.store.close()


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:5]))
