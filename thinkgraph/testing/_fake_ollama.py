"""Ollama ``/api/chat`` (``ollama_chat/``) and ``/api/generate`` (``ollama/``): JSON and NDJSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from thinkgraph.testing._fake_items import Fault, Reply, estimate_tokens
from thinkgraph.testing._fake_protocol import Protocol, RenderContext, chunks_of

__all__ = ["OllamaGenerateProtocol", "OllamaProtocol"]

_DONE_REASONS = {"stop": "stop", "tool_calls": "stop", "length": "length"}


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


def _created_at(ctx: RenderContext) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctx.created))


def _final(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    return {
        "done": True,
        "done_reason": _DONE_REASONS.get(reply.resolved_finish_reason(), "stop"),
        "total_duration": 1_000_000,
        "load_duration": 0,
        "prompt_eval_count": ctx.input_tokens,
        "prompt_eval_duration": 500_000,
        "eval_count": reply.resolved_output_tokens(),
        "eval_duration": 500_000,
    }


class OllamaProtocol(Protocol):
    """Ollama's chat API; ``stream`` defaults to true as in Ollama itself."""

    name = "ollama"
    stream_content_type = "application/x-ndjson"

    def stream_requested(self, path: str, query: Any, body: Any) -> bool:
        """Ollama streams unless ``"stream": false``."""
        return not isinstance(body, dict) or body.get("stream", True) is not False

    def _message(self, reply: Reply, *, text: str, reasoning: str | None, calls: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning:
            message["thinking"] = reasoning
        if calls and reply.tool_calls:
            message["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.arguments_dict()}} for c in reply.tool_calls
            ]
        return message

    def render(self, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
        """The single ``done`` object."""
        message = self._message(reply, text=reply.text, reasoning=reply.reasoning, calls=True)
        return {"model": ctx.model, "created_at": _created_at(ctx), "message": message, **_final(reply, ctx)}

    def render_stream(self, reply: Reply, ctx: RenderContext) -> Iterator[bytes]:
        """NDJSON: one line per piece, tool calls on their own line, then the ``done`` line."""
        head = {"model": ctx.model, "created_at": _created_at(ctx)}
        for piece in chunks_of(reply.reasoning or ""):
            message = self._message(reply, text="", reasoning=piece, calls=False)
            yield _line({**head, "message": message, "done": False})
        for piece in chunks_of(reply.text):
            message = self._message(reply, text=piece, reasoning=None, calls=False)
            yield _line({**head, "message": message, "done": False})
        if reply.tool_calls:
            message = self._message(reply, text="", reasoning=None, calls=True)
            yield _line({**head, "message": message, "done": False})
        done = self._message(reply, text="", reasoning=None, calls=False)
        yield _line({**head, "message": done, **_final(reply, ctx)})

    def error(self, fault: Fault, message: str) -> dict[str, Any]:
        """Ollama's ``{"error": "..."}`` body."""
        return {"error": message}

    def malformed_stream(self) -> bytes:
        """A line whose JSON is cut short."""
        return b'{"model": "x", "message": {"role": "assistant", "content": \n'


class OllamaGenerateProtocol(OllamaProtocol):
    """Ollama's completion API (``prompt`` in, ``response`` out)."""

    name = "ollama_generate"

    def conversation(self, body: Any) -> list[Any]:
        """The prompt, as a one-item list."""
        prompt = body.get("prompt") if isinstance(body, dict) else None
        return [prompt] if isinstance(prompt, str) else []

    def last_user_text(self, body: Any) -> str:
        """The prompt."""
        conversation = self.conversation(body)
        return str(conversation[0]) if conversation else ""

    def input_tokens(self, body: Any) -> int:
        """Estimated over the prompt text."""
        return max(1, estimate_tokens(self.last_user_text(body)))

    def render(self, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
        """The single ``done`` object."""
        result: dict[str, Any] = {"model": ctx.model, "created_at": _created_at(ctx), "response": reply.text}
        if reply.reasoning:
            result["thinking"] = reply.reasoning
        return {**result, **_final(reply, ctx)}

    def render_stream(self, reply: Reply, ctx: RenderContext) -> Iterator[bytes]:
        """NDJSON: one line per piece, then the ``done`` line."""
        head = {"model": ctx.model, "created_at": _created_at(ctx)}
        for piece in chunks_of(reply.text):
            yield _line({**head, "response": piece, "done": False})
        yield _line({**head, "response": "", **_final(reply, ctx)})
