"""``ScriptedModel``: a chat model that replays a script, for deterministic offline tests."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from thinkgraph.exceptions import ConfigError
from thinkgraph.models._metadata import CALL_KEY
from thinkgraph.testing._fake_items import Reply, ToolCall
from thinkgraph.testing._messages import Turn, TurnCall
from thinkgraph.testing._structured import STRUCTURED_KWARG
from thinkgraph.testing._turn_model import TurnModel

__all__ = ["ScriptedCall", "ScriptedModel"]

_ITEM_KEYS = frozenset(
    {
        "text",
        "content",
        "tool_calls",
        "reasoning",
        "signature",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
    }
)


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call a :class:`ScriptedModel` received.

    Attributes:
        messages: the conversation it was given.
        tools: the tools bound for the call (OpenAI tool dicts), empty when none.
        structured: the schema when called through ``with_structured_output``, else ``None``.
    """

    messages: list[BaseMessage]
    tools: list[dict[str, Any]]
    structured: Any


def _call_id() -> str:
    """A fresh tool-call id, unique across models and runs (like a provider's)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def _tool_calls(raw: Any) -> list[TurnCall]:
    calls: list[TurnCall] = []
    for call in raw or ():
        if isinstance(call, ToolCall):
            calls.append(TurnCall(call.name, call.arguments_dict(), call.id or _call_id()))
        elif isinstance(call, Mapping) and isinstance(call.get("name"), str):
            args = call.get("args", call.get("arguments", {}))
            if isinstance(args, str):
                args = json.loads(args) if args else {}
            calls.append(TurnCall(call["name"], dict(args), str(call.get("id") or _call_id())))
        else:
            raise ConfigError(
                f"cannot read tool call {call!r}: use a ToolCall or a mapping with 'name' and 'args'"
            )
    return calls


def _turn_of(item: Any, *, structured: bool = False) -> Turn:
    """Normalize one script item (see :class:`ScriptedModel`) into a :class:`Turn`."""
    if structured and isinstance(item, Mapping | list):
        return Turn(text=json.dumps(item, default=str))
    if isinstance(item, str):
        return Turn(text=item)
    if isinstance(item, Reply):
        return Turn(
            text=item.text,
            tool_calls=_tool_calls(item.tool_calls),
            reasoning=item.reasoning,
            signature=item.signature,
            input_tokens=item.input_tokens,
            output_tokens=item.output_tokens,
            reasoning_tokens=item.reasoning_tokens,
        )
    if isinstance(item, AIMessage):
        text = item.content if isinstance(item.content, str) else json.dumps(item.content)
        calls = [TurnCall(c["name"], dict(c["args"]), c.get("id") or _call_id()) for c in item.tool_calls]
        extra = {k: v for k, v in item.response_metadata.items() if k != CALL_KEY}
        return Turn(text=text, tool_calls=calls, extra_metadata=extra)
    if isinstance(item, BaseModel):
        return Turn(text=item.model_dump_json())
    if isinstance(item, Mapping):
        unknown = set(item) - _ITEM_KEYS
        if unknown:
            raise ConfigError(
                f"unknown keys {sorted(unknown)!r} in scripted item {item!r}; use {sorted(_ITEM_KEYS)!r}"
            )
        return Turn(
            text=str(item.get("text", item.get("content", ""))),
            tool_calls=_tool_calls(item.get("tool_calls")),
            reasoning=item.get("reasoning"),
            signature=item.get("signature"),
            input_tokens=item.get("input_tokens"),
            output_tokens=item.get("output_tokens"),
            reasoning_tokens=item.get("reasoning_tokens"),
        )
    raise ConfigError(
        f"cannot replay {item!r}: script a str, an AIMessage, a Reply, a dict "
        "(text, tool_calls, reasoning, ...), a pydantic instance or an exception to raise"
    )


class ScriptedModel(TurnModel):
    """A chat model that replays a script, for deterministic tests of graphs and agents.

    Each call consumes the next item of ``items``; ``function`` (given the conversation) is called
    instead when there is no script. An item is:

    * a ``str``: a text answer;
    * an ``AIMessage``: its text and tool calls;
    * a :class:`~thinkgraph.testing.Reply` or a dict with keys ``text``, ``tool_calls`` (``ToolCall``
      or ``{"name", "args", "id"}``), ``reasoning``, ``signature``, ``input_tokens``,
      ``output_tokens``, ``reasoning_tokens``;
    * a pydantic instance, dict or JSON string answering a ``with_structured_output`` call;
    * an exception instance: raised by that call (e.g. to test retries and fallbacks).

    Every message carries thinkgraph's metadata contract (``response_metadata["thinkgraph"]``,
    ``additional_kwargs["thinkgraph_reasoning"]`` when there is reasoning, ``usage_metadata``) with
    deterministic token estimates. One instance is safe to share across concurrent runs: calls take
    items atomically in arrival order.

    Attributes:
        items: the script.
        function: answers ``function(messages)`` when ``items`` is empty (returns an item).
        model_name: reported as ``scripted/<model_name>``.
        cost_per_call: a fixed cost in USD per call; ``None`` reports the call as unpriced.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    items: list[Any] = Field(default_factory=list)
    function: Callable[[list[BaseMessage]], Any] | None = None

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _cursor: int = PrivateAttr(default=0)
    _calls: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _bound_tools: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    def __init__(self, items: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(items=list(items), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "thinkgraph-scripted"

    @property
    def calls(self) -> list[ScriptedCall]:
        """Every call received so far, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    @property
    def conversations(self) -> list[list[BaseMessage]]:
        """The conversation of every call received so far, in order."""
        return [call.messages for call in self.calls]

    @property
    def bound_tools(self) -> list[dict[str, Any]]:
        """The tools of the last ``bind_tools`` call, as OpenAI tool dicts."""
        with self._lock:
            return list(self._bound_tools)

    @property
    def remaining(self) -> int:
        """How many scripted items have not been replayed yet."""
        with self._lock:
            return len(self.items) - self._cursor

    def _on_bind_tools(self, formatted: list[dict[str, Any]]) -> None:
        with self._lock:
            self._bound_tools = formatted

    # --- replay ---------------------------------------------------------------------------

    def _next_turn(self, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> Turn:
        call = ScriptedCall(list(messages), list(kwargs.get("tools") or ()), kwargs.get(STRUCTURED_KWARG))
        with self._lock:
            self._calls.append(call)
            seq = len(self._calls)
            if self._cursor < len(self.items):
                item = self.items[self._cursor]
                self._cursor += 1
            elif self.function is not None:
                item = None
            else:
                raise ConfigError(
                    f"ScriptedModel {self.model_name!r} has no item left for call {seq}: "
                    f"{len(self.items)} item(s) were scripted; add items or a function"
                )
        if item is None:
            assert self.function is not None
            item = self.function(list(messages))
        if isinstance(item, BaseException):
            raise item
        return _turn_of(item, structured=call.structured is not None)
