"""Anthropic messages (``POST .../v1/messages``): thinking, text and tool_use blocks; JSON and SSE."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from thinkgraph.testing._fake_items import Fault, Reply
from thinkgraph.testing._fake_protocol import Protocol, RenderContext, chunks_of, sse

__all__ = ["AnthropicProtocol", "default_signature"]

_ERROR_TYPES = {
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "unavailable": "overloaded_error",
    "auth": "authentication_error",
    "context_window": "invalid_request_error",
    "content_filter": "invalid_request_error",
    "bad_request": "invalid_request_error",
}
_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def default_signature(thinking: str) -> str:
    """A deterministic fake signature for a thinking block."""
    return "fakesig-" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def _blocks(reply: Reply, ctx: RenderContext) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        signature = reply.signature if reply.signature is not None else default_signature(reply.reasoning)
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": signature})
    if reply.text or not reply.tool_calls:
        blocks.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        call_id = call.id if call.id is not None else f"toolu_{ctx.seq}_{i}"
        blocks.append({"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments_dict()})
    return blocks


def _usage(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    return {
        "input_tokens": ctx.input_tokens,
        "output_tokens": reply.resolved_output_tokens(),
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


class AnthropicProtocol(Protocol):
    """Anthropic's Messages API."""

    name = "anthropic"

    def render(self, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
        """A ``message`` object."""
        return {
            "id": f"msg_fake_{ctx.seq}",
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": _blocks(reply, ctx),
            "stop_reason": _STOP_REASONS.get(reply.resolved_finish_reason(), "end_turn"),
            "stop_sequence": None,
            "usage": _usage(reply, ctx),
        }

    def render_stream(self, reply: Reply, ctx: RenderContext) -> Iterator[bytes]:
        """``message_start``, block start/delta/stop events, ``message_delta``, ``message_stop``."""
        usage = _usage(reply, ctx)
        start: dict[str, Any] = {
            "id": f"msg_fake_{ctx.seq}",
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        yield sse({"type": "message_start", "message": start}, "message_start")
        for index, block in enumerate(_blocks(reply, ctx)):
            yield from _stream_block(index, block)
        delta = {
            "type": "message_delta",
            "delta": {
                "stop_reason": _STOP_REASONS.get(reply.resolved_finish_reason(), "end_turn"),
                "stop_sequence": None,
            },
            "usage": {"output_tokens": usage["output_tokens"]},
        }
        yield sse(delta, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")

    def error(self, fault: Fault, message: str) -> dict[str, Any]:
        """Anthropic's ``{"type": "error", "error": {...}}`` body."""
        return {
            "type": "error",
            "error": {"type": _ERROR_TYPES.get(fault.kind, "api_error"), "message": message},
        }

    def malformed_stream(self) -> bytes:
        """A ``message_start`` event whose JSON is cut short."""
        return b'event: message_start\ndata: {"type": "message_start", "message": {\n\n'


def _stream_block(index: int, block: dict[str, Any]) -> Iterator[bytes]:
    def delta(payload: dict[str, Any]) -> bytes:
        return sse({"type": "content_block_delta", "index": index, "delta": payload}, "content_block_delta")

    kind = block["type"]
    if kind == "thinking":
        opening: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
    elif kind == "text":
        opening = {"type": "text", "text": ""}
    else:
        opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
    yield sse(
        {"type": "content_block_start", "index": index, "content_block": opening}, "content_block_start"
    )
    if kind == "thinking":
        for piece in chunks_of(block["thinking"]):
            yield delta({"type": "thinking_delta", "thinking": piece})
        yield delta({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        for piece in chunks_of(block["text"]):
            yield delta({"type": "text_delta", "text": piece})
    else:
        arguments = json.dumps(block["input"], separators=(",", ":"), sort_keys=True)
        for start in range(0, len(arguments), 8):
            yield delta({"type": "input_json_delta", "partial_json": arguments[start : start + 8]})
    yield sse({"type": "content_block_stop", "index": index}, "content_block_stop")
