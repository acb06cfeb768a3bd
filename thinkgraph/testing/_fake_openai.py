"""OpenAI chat completions (also Azure, DeepSeek, xAI, Mistral, Groq, Together, vLLM): JSON and SSE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from thinkgraph.testing._fake_items import Fault, Reply
from thinkgraph.testing._fake_protocol import Protocol, RenderContext, chunks_of, sse

__all__ = ["OpenAIProtocol"]

_ERROR_TYPES = {
    "rate_limit": ("rate_limit_exceeded", "rate_limit_exceeded"),
    "server_error": ("server_error", None),
    "unavailable": ("server_error", "service_unavailable"),
    "auth": ("invalid_request_error", "invalid_api_key"),
    "context_window": ("invalid_request_error", "context_length_exceeded"),
    "content_filter": ("invalid_request_error", "content_policy_violation"),
    "bad_request": ("invalid_request_error", None),
}


def _usage(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    output = reply.resolved_output_tokens()
    return {
        "prompt_tokens": ctx.input_tokens,
        "completion_tokens": output,
        "total_tokens": ctx.input_tokens + output,
        "completion_tokens_details": {"reasoning_tokens": reply.resolved_reasoning_tokens()},
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def _call_id(reply: Reply, ctx: RenderContext, index: int) -> str:
    given = reply.tool_calls[index].id
    return given if given is not None else f"call_{ctx.seq}_{index}"


class OpenAIProtocol(Protocol):
    """``POST .../chat/completions`` in OpenAI's shape, with DeepSeek-style ``reasoning_content``."""

    name = "openai"
    messages: ClassVar[dict[str, str]] = {
        # Azure's mapping looks for this exact OpenAI sentence; the generic one for the last part.
        "context_window": (
            "This model's maximum context length is 8192 tokens. However, your messages resulted in "
            "9000 tokens: input tokens exceed the configured limit (fake provider)."
        ),
    }

    def include_usage(self, body: Any) -> bool:
        """Streams carry usage only when ``stream_options.include_usage`` is true."""
        options = body.get("stream_options") if isinstance(body, dict) else None
        return isinstance(options, dict) and bool(options.get("include_usage"))

    def model_of(self, path: str, body: Any) -> str:
        """The body's model, or the Azure deployment named in the path."""
        marker = "/openai/deployments/"
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[0]
        return super().model_of(path, body)

    def render(self, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
        """A ``chat.completion`` object."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": _call_id(reply, ctx, i),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for i, call in enumerate(reply.tool_calls)
            ]
        return {
            "id": f"chatcmpl-fake-{ctx.seq}",
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": [{"index": 0, "message": message, "finish_reason": reply.resolved_finish_reason()}],
            "usage": _usage(reply, ctx),
        }

    def render_stream(self, reply: Reply, ctx: RenderContext) -> Iterator[bytes]:
        """``chat.completion.chunk`` events: role, reasoning, content, tool-call deltas, usage, DONE."""
        head = {
            "id": f"chatcmpl-fake-{ctx.seq}",
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        yield chunk({"role": "assistant", "content": ""})
        for piece in chunks_of(reply.reasoning or ""):
            yield chunk({"reasoning_content": piece})
        for piece in chunks_of(reply.text):
            yield chunk({"content": piece})
        for i, call in enumerate(reply.tool_calls):
            opening = {"index": i, "id": _call_id(reply, ctx, i), "type": "function"}
            yield chunk({"tool_calls": [{**opening, "function": {"name": call.name, "arguments": ""}}]})
            arguments = call.arguments_json()
            for start in range(0, len(arguments), 8):
                fragment = arguments[start : start + 8]
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
        yield chunk({}, reply.resolved_finish_reason())
        if ctx.include_usage:
            yield sse({**head, "choices": [], "usage": _usage(reply, ctx)})
        yield sse("[DONE]")

    def error(self, fault: Fault, message: str) -> dict[str, Any]:
        """OpenAI's ``{"error": {...}}`` body."""
        kind, code = _ERROR_TYPES.get(fault.kind, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}
