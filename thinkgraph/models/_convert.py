"""Messages both ways: langchain -> litellm (OpenAI-format dicts, with reasoning replay) and back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)

from thinkgraph.models._metadata import Reasoning, ReasoningBlock, reasoning_of
from thinkgraph.models._profiles import ProviderProfile

__all__ = [
    "ReasoningAccumulator",
    "parse_tool_calls",
    "reasoning_from_message",
    "to_litellm_messages",
]


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _text_of(content: Any) -> str:
    """Plain text of a langchain content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _user_content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    blocks: list[Any] = []
    for block in content:
        if isinstance(block, str):
            blocks.append({"type": "text", "text": block})
        elif isinstance(block, dict) and block.get("type") in ("text", "image_url", "input_audio", "file"):
            blocks.append({k: v for k, v in block.items() if k != "id"})
        elif isinstance(block, dict):
            from langchain_core.messages import convert_to_openai_messages

            converted = convert_to_openai_messages([HumanMessage(content=[block])])
            blocks.extend(converted[0]["content"])
    return blocks


def _replay_fields(message: AIMessage, target: ProviderProfile) -> dict[str, Any]:
    """The reasoning to send back on ``message`` to a model of profile ``target`` (per its rule)."""
    reasoning = reasoning_of(message)
    if reasoning is None or target.replay == "none":
        return {}
    from thinkgraph.models._profiles import profile_for

    producer = profile_for(reasoning["model"]) if reasoning.get("model") else None
    if producer is None or producer.reasoning_family != target.reasoning_family:
        return {}
    if target.replay == "signed_blocks" and reasoning.get("blocks"):
        return {"thinking_blocks": [dict(block) for block in reasoning["blocks"]]}
    if target.replay == "reasoning_content" and reasoning.get("text"):
        return {"reasoning_content": reasoning["text"]}
    return {}


def _assistant(message: AIMessage, target: ProviderProfile) -> dict[str, Any]:
    text = _text_of(message.content)
    out: dict[str, Any] = {"role": "assistant", "content": text or None}
    calls = [
        {
            "id": call.get("id") or f"call_{index}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("args", {}))},
        }
        for index, call in enumerate(message.tool_calls)
    ]
    if calls:
        out["tool_calls"] = calls
    elif out["content"] is None:
        out["content"] = ""
    out.update(_replay_fields(message, target))
    return out


def to_litellm_messages(messages: Sequence[BaseMessage], target: ProviderProfile) -> list[dict[str, Any]]:
    """Convert langchain messages to OpenAI-format dicts for a model of profile ``target``.

    Reasoning recorded on earlier assistant turns goes back only where ``target``'s replay rule
    asks for it and only if the same reasoning family produced it; foreign reasoning is dropped.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": _text_of(message.content)})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": _user_content(message.content)})
        elif isinstance(message, AIMessage):
            out.append(_assistant(message, target))
        elif isinstance(message, ToolMessage):
            content = message.content if isinstance(message.content, str) else _text_of(message.content)
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": content})
        elif isinstance(message, FunctionMessage):
            out.append({"role": "function", "name": message.name, "content": _text_of(message.content)})
        elif isinstance(message, ChatMessage):
            out.append({"role": message.role, "content": _text_of(message.content)})
        else:
            raise TypeError(f"cannot send a {type(message).__name__} to a model; use a standard message type")
    return out


def parse_tool_calls(raw_calls: Any) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Split a litellm message's ``tool_calls`` into parsed and unparseable calls."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in raw_calls or []:
        function = _get(raw, "function")
        name = _get(function, "name") or ""
        arguments = _get(function, "arguments")
        call_id = _get(raw, "id")
        try:
            args = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
            if arguments is not None and not isinstance(arguments, str):
                args = dict(arguments)
            if not isinstance(args, dict):
                raise ValueError("arguments are not a JSON object")
        except (ValueError, TypeError) as exc:
            invalid.append(
                InvalidToolCall(
                    name=name, args=str(arguments), id=call_id, error=str(exc), type="invalid_tool_call"
                )
            )
            continue
        calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
    return calls, invalid


def _blocks_of(raw_blocks: Any) -> list[ReasoningBlock]:
    blocks: list[ReasoningBlock] = []
    for raw in raw_blocks or []:
        kind = _get(raw, "type")
        if kind == "thinking":
            block = ReasoningBlock(type="thinking", thinking=str(_get(raw, "thinking") or ""))
            if _get(raw, "signature"):
                block["signature"] = str(_get(raw, "signature"))
            blocks.append(block)
        elif kind == "redacted_thinking":
            blocks.append(ReasoningBlock(type="redacted_thinking", data=str(_get(raw, "data") or "")))
    return blocks


def reasoning_from_message(
    message: Any, *, provider: str, model: str, reasoning_tokens: int | None
) -> Reasoning | None:
    """The :class:`Reasoning` of a litellm response message, or ``None`` when it has none."""
    text = _get(message, "reasoning_content")
    blocks = _blocks_of(_get(message, "thinking_blocks"))
    if not text and not blocks:
        return None
    if not text and blocks:
        text = "".join(b.get("thinking", "") for b in blocks) or None
    return Reasoning(
        text=str(text) if text else None,
        blocks=blocks,
        provider=provider,
        model=model,
        tokens=reasoning_tokens or None,
    )


class ReasoningAccumulator:
    """Collects reasoning deltas of one stream (text and Anthropic thinking blocks)."""

    def __init__(self) -> None:
        self.text_parts: list[str] = []
        self.blocks: list[ReasoningBlock] = []

    def add(self, delta: Any) -> str:
        """Take one stream delta; return its new reasoning text ('' if none)."""
        new_text = str(_get(delta, "reasoning_content") or "")
        if new_text:
            self.text_parts.append(new_text)
        for raw in _get(delta, "thinking_blocks") or []:
            kind = _get(raw, "type")
            if kind == "redacted_thinking":
                self.blocks.append(
                    ReasoningBlock(type="redacted_thinking", data=str(_get(raw, "data") or ""))
                )
                continue
            if kind != "thinking":
                continue
            last = self.blocks[-1] if self.blocks else None
            if last is None or last["type"] != "thinking" or "signature" in last:
                last = ReasoningBlock(type="thinking", thinking="")
                self.blocks.append(last)
            last["thinking"] = last.get("thinking", "") + str(_get(raw, "thinking") or "")
            if _get(raw, "signature"):
                last["signature"] = str(_get(raw, "signature"))
        return new_text

    def result(self, *, provider: str, model: str, reasoning_tokens: int | None) -> Reasoning | None:
        """The accumulated :class:`Reasoning`, or ``None`` when the stream had none."""
        text = "".join(self.text_parts)
        if not text and not self.blocks:
            return None
        return reasoning_from_message(
            {"reasoning_content": text or None, "thinking_blocks": self.blocks},
            provider=provider,
            model=model,
            reasoning_tokens=reasoning_tokens,
        )
