"""Building the messages the offline chat models return, with thinkgraph's metadata contract."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk

from thinkgraph.models._metadata import CALL_KEY, REASONING_KEY, AttemptInfo, CallInfo, Reasoning
from thinkgraph.testing._fake_items import estimate_tokens
from thinkgraph.testing._fake_protocol import chunks_of

__all__ = ["Turn", "TurnCall", "estimate_input_tokens", "stream_chunks", "turn_message"]


@dataclass(frozen=True, slots=True)
class TurnCall:
    """One tool call a model turn makes."""

    name: str
    args: dict[str, Any]
    id: str


@dataclass(frozen=True, slots=True)
class Turn:
    """What an offline model answers in one call, before it becomes a message."""

    text: str = ""
    tool_calls: Sequence[TurnCall] = ()
    reasoning: str | None = None
    signature: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content, sort_keys=True, default=str)


def estimate_input_tokens(messages: Sequence[BaseMessage]) -> int:
    """A deterministic estimate of the prompt tokens of ``messages``."""
    total = 0
    for message in messages:
        total += 1 + estimate_tokens(_content_text(message.content))
        for call in getattr(message, "tool_calls", None) or ():
            total += estimate_tokens(call["name"] + json.dumps(call["args"], sort_keys=True, default=str))
    return total


def _counts(turn: Turn, messages: Sequence[BaseMessage]) -> tuple[int, int, int]:
    reasoning = turn.reasoning_tokens
    if reasoning is None:
        reasoning = estimate_tokens(turn.reasoning or "")
    output = turn.output_tokens
    if output is None:
        calls = sum(estimate_tokens(c.name + json.dumps(c.args, sort_keys=True)) for c in turn.tool_calls)
        output = max(1, estimate_tokens(turn.text) + calls + reasoning)
    prompt = turn.input_tokens if turn.input_tokens is not None else estimate_input_tokens(messages)
    return prompt, output, reasoning


def _metadata(
    turn: Turn, messages: Sequence[BaseMessage], *, model: str, cost_usd: float | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(response_metadata, additional_kwargs, usage_metadata)`` for a turn."""
    prompt, output, reasoning_tokens = _counts(turn, messages)
    attempt: AttemptInfo = {
        "model": model,
        "provider": "scripted",
        "error_class": None,
        "message": "",
        "latency_s": 0.0,
        "skipped": False,
    }
    info: CallInfo = {
        "requested_model": model,
        "model": model,
        "provider": "scripted",
        "attempts": [attempt],
        "fallback": False,
        "latency_s": 0.0,
        "input_tokens": prompt,
        "output_tokens": output,
        "cached_tokens": 0,
        "reasoning_tokens": reasoning_tokens,
        "cost_usd": cost_usd,
        "unpriced": cost_usd is None,
    }
    response_metadata: dict[str, Any] = {
        **turn.extra_metadata,
        CALL_KEY: info,
        "model_name": model,
        "model_provider": "scripted",
        "finish_reason": "tool_calls" if turn.tool_calls else "stop",
    }
    additional_kwargs: dict[str, Any] = {}
    if turn.reasoning is not None:
        reasoning: Reasoning = {
            "text": turn.reasoning,
            "blocks": [],
            "provider": "scripted",
            "model": model,
            "tokens": reasoning_tokens,
        }
        if turn.signature is not None:
            reasoning["blocks"] = [
                {"type": "thinking", "thinking": turn.reasoning, "signature": turn.signature}
            ]
        additional_kwargs[REASONING_KEY] = reasoning
    usage = {
        "input_tokens": prompt,
        "output_tokens": output,
        "total_tokens": prompt + output,
        "input_token_details": {"cache_read": 0},
        "output_token_details": {"reasoning": reasoning_tokens},
    }
    return response_metadata, additional_kwargs, usage


def turn_message(
    turn: Turn, messages: Sequence[BaseMessage], *, model: str, cost_usd: float | None, message_id: str | None
) -> AIMessage:
    """The complete ``AIMessage`` for ``turn``."""
    response_metadata, additional_kwargs, usage = _metadata(turn, messages, model=model, cost_usd=cost_usd)
    return AIMessage(
        content=turn.text,
        tool_calls=[
            {"name": c.name, "args": c.args, "id": c.id, "type": "tool_call"} for c in turn.tool_calls
        ],
        response_metadata=response_metadata,
        additional_kwargs=additional_kwargs,
        usage_metadata=usage,
        id=message_id,
    )


def stream_chunks(
    turn: Turn, messages: Sequence[BaseMessage], *, model: str, cost_usd: float | None, message_id: str | None
) -> Iterator[ChatGenerationChunk]:
    """The chunks of ``turn``: word-sized text pieces, then one chunk with calls and metadata.

    Metadata travels on the last chunk only, so merging the chunks reproduces :func:`turn_message`.
    """
    for piece in chunks_of(turn.text):
        yield ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message_id))
    response_metadata, additional_kwargs, usage = _metadata(turn, messages, model=model, cost_usd=cost_usd)
    calls = [
        tool_call_chunk(name=c.name, args=json.dumps(c.args, sort_keys=True), id=c.id, index=i)
        for i, c in enumerate(turn.tool_calls)
    ]
    yield ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            id=message_id,
            tool_call_chunks=calls,
            response_metadata=response_metadata,
            additional_kwargs=additional_kwargs,
            usage_metadata=usage,
            chunk_position="last",
        )
    )
