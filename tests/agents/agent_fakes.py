"""A rule-driven chat model for agent tests: answers by a function of the conversation.

Unlike a script replayed in order, a rule answers correctly whatever order parallel calls arrive
in. It records CallInfo/Reasoning like thinkgraph's ChatModel so traces can be checked.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from thinkgraph.models import CALL_KEY, REASONING_KEY

Rule = Callable[["Turn"], AIMessage | str | dict[str, Any]]
_ids = itertools.count()


class Turn:
    """What a rule sees: the messages, the bound tool names, the last message's text."""

    def __init__(self, messages: Sequence[BaseMessage], tools: Sequence[str]) -> None:
        self.messages = list(messages)
        self.tools = list(tools)
        self.last = str(messages[-1].content) if messages else ""
        self.text = "\n".join(str(m.content) for m in messages)


def call(tool_name: str, /, **args: Any) -> dict[str, Any]:
    return {"name": tool_name, "args": args, "id": f"call_{next(_ids)}", "type": "tool_call"}


class RuleModel(BaseChatModel):
    """Answers with ``rule(turn)``: an AIMessage, a text, or ``{"tool": name, **args}`` for a call.

    When a structured-output schema is bound (``tool_choice`` forced), a dict return is sent as
    that schema's tool call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    rule: Any
    name_: str = "rule-model"
    provider: str = "fake"
    latency: float = 0.0
    reasoning: str | None = None
    bound_tools: tuple[str, ...] = ()
    forced: str | None = None
    _log: list[tuple[float, float, str]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "rule"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        names = [
            t.name if isinstance(t, BaseTool) else convert_to_openai_tool(t)["function"]["name"]
            for t in tools
        ]
        forced = names[0] if tool_choice not in (None, "auto", "none") and len(names) == 1 else None
        copy = self.model_copy(update={"bound_tools": tuple(names), "forced": forced})
        copy._log = self._log
        return copy

    @property
    def calls(self) -> list[tuple[float, float, str]]:
        return self._log

    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        out = self.rule(Turn(messages, self.bound_tools))
        if isinstance(out, str):
            message = AIMessage(out)
        elif isinstance(out, dict):
            if self.forced:
                message = AIMessage("", tool_calls=[{**call(self.forced, **out)}])
            else:
                tool = out.pop("tool")
                message = AIMessage(out.pop("say", ""), tool_calls=[call(tool, **out)])
        else:
            message = out
        message.response_metadata[CALL_KEY] = {
            "requested_model": self.name_,
            "model": self.name_,
            "provider": self.provider,
            "attempts": [],
            "fallback": False,
            "latency_s": self.latency,
            "input_tokens": 10,
            "output_tokens": 5,
            "cached_tokens": 0,
            "reasoning_tokens": 3 if self.reasoning else 0,
            "cost_usd": 0.001,
            "unpriced": False,
        }
        if self.reasoning:
            message.additional_kwargs[REASONING_KEY] = {
                "text": self.reasoning,
                "blocks": [],
                "provider": self.provider,
                "model": self.name_,
                "tokens": 3,
            }
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        start = time.time()
        time.sleep(self.latency)
        message = self._answer(messages)
        self._log.append((start, time.time(), str(messages[-1].content)))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        start = time.time()
        await asyncio.sleep(self.latency)
        message = self._answer(messages)
        self._log.append((start, time.time(), str(messages[-1].content)))
        return ChatResult(generations=[ChatGeneration(message=message)])


# --- helpers for FakeProvider scripts ---------------------------------------------------------

FAKE_KEY_ENV = "THINKGRAPH_TEST_AGENTS_FAKE_KEY"


def forced_tool(body: Any) -> str | None:
    """The tool a request forces (structured output by function calling), if any."""
    choice = body.get("tool_choice") if isinstance(body, dict) else None
    if isinstance(choice, dict):
        return choice.get("name") or (choice.get("function") or {}).get("name")
    return None


def tool_names(body: Any) -> list[str]:
    """Names of the tools a request offers (OpenAI or Anthropic shape)."""
    names = []
    for t in (body or {}).get("tools") or []:
        names.append(t.get("name") or (t.get("function") or {}).get("name"))
    return names


def conversation(body: Any) -> str:
    """Every message of a request as one JSON string, for substring checks."""
    import json

    return json.dumps((body or {}).get("messages") or [], default=str) + json.dumps(
        (body or {}).get("system") or ""
    )


def has_tool_result(body: Any) -> bool:
    """Whether the request carries a tool result (OpenAI role=tool or Anthropic tool_result)."""
    text = conversation(body)
    return '"role": "tool"' in text or '"tool_result"' in text


def schema_name(body: Any) -> str | None:
    """The structured-output schema a request asks for (forced tool or json_schema), if any."""
    forced = forced_tool(body)
    if forced:
        return forced
    response_format = (body or {}).get("response_format") or {}
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        name = (response_format.get("json_schema") or {}).get("name")
        return name if isinstance(name, str) else None
    return None


def structured(body: Any, fields: dict[str, Any], **reply: Any) -> Any:
    """A FakeProvider Reply giving ``fields`` the way the request asked (tool call or JSON text)."""
    import json

    from thinkgraph.testing import Reply, ToolCall

    forced = forced_tool(body)
    if forced:
        return Reply(tool_calls=[ToolCall(forced, fields)], **reply)
    return Reply(text=json.dumps(fields), **reply)
