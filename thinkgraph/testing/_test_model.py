"""``TestModel``: a chat model that exercises every bound tool with schema-generated arguments."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import PrivateAttr

from thinkgraph.testing._messages import Turn, TurnCall
from thinkgraph.testing._schema_values import value_for_schema
from thinkgraph.testing._structured import STRUCTURED_KWARG, json_schema_of
from thinkgraph.testing._turn_model import TurnModel

__all__ = ["TestModel"]


def _tool_results(messages: Sequence[BaseMessage]) -> dict[str, str]:
    """Tool name (or call id) -> result text, for the tool messages that end the conversation."""
    results: list[ToolMessage] = []
    index = len(messages)
    while index > 0 and isinstance(messages[index - 1], ToolMessage):
        index -= 1
        results.insert(0, messages[index])  # type: ignore[arg-type]
    names: dict[str, str] = {}
    if index > 0 and isinstance(messages[index - 1], AIMessage):
        names = {str(c["id"]): c["name"] for c in messages[index - 1].tool_calls}  # type: ignore[attr-defined]
    return {r.name or names.get(r.tool_call_id, r.tool_call_id): _content_text(r.content) for r in results}


def _content_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str)


class TestModel(TurnModel):
    """A chat model that needs no script: it calls every bound tool once, then summarizes.

    * With tools bound (``bind_tools``) and no tool results pending, it answers with one call per
      tool, arguments generated deterministically from each tool's JSON schema (types, enums,
      formats, bounds, required fields).
    * When the conversation ends with tool results, it answers with a final text: a JSON object
      mapping each tool name to its result (``final_text`` overrides it).
    * Without tools it answers ``final_text`` or ``"test response"``.
    * With ``with_structured_output(schema)`` it returns an instance generated from the schema.

    Every message carries thinkgraph's metadata contract, like :class:`ScriptedModel`.

    Attributes:
        model_name: reported as ``scripted/<model_name>``.
        final_text: the text of final answers (``None``: the defaults above).
        cost_per_call: a fixed cost in USD per call; ``None`` reports the call as unpriced.
    """

    __test__ = False  # not a pytest test class

    model_name: str = "test"
    final_text: str | None = None

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "thinkgraph-test"

    @property
    def conversations(self) -> list[list[BaseMessage]]:
        """The conversation of every call received so far, in order."""
        with self._lock:
            return list(self._calls)

    def _next_turn(self, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> Turn:
        with self._lock:
            self._calls.append(list(messages))
        schema = kwargs.get(STRUCTURED_KWARG)
        if schema is not None:
            return Turn(text=json.dumps(value_for_schema(json_schema_of(schema))))
        results = _tool_results(messages)
        tools = kwargs.get("tools") or []
        if tools and not results:
            calls = []
            for tool in tools:
                function = tool.get("function", tool)
                arguments = value_for_schema(function.get("parameters") or {"type": "object"})
                calls.append(
                    TurnCall(str(function["name"]), dict(arguments), f"call_{uuid.uuid4().hex[:24]}")
                )
            return Turn(tool_calls=calls)
        if self.final_text is not None:
            return Turn(text=self.final_text)
        if results:
            return Turn(text=json.dumps(results, sort_keys=True))
        return Turn(text="test response")
