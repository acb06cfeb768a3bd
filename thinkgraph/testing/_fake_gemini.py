"""Gemini ``models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from thinkgraph.testing._fake_items import Fault, Reply
from thinkgraph.testing._fake_protocol import Protocol, RenderContext, chunks_of, sse

__all__ = ["GeminiProtocol"]

_MODEL = re.compile(r"/models/([^/:]+):")
_STATUSES = {
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "server_error": (500, "INTERNAL"),
    "unavailable": (503, "UNAVAILABLE"),
    "auth": (401, "UNAUTHENTICATED"),
    "context_window": (400, "INVALID_ARGUMENT"),
    "content_filter": (400, "INVALID_ARGUMENT"),
    "bad_request": (400, "INVALID_ARGUMENT"),
}
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"}


def _usage(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    thoughts = reply.resolved_reasoning_tokens()
    candidates = max(0, reply.resolved_output_tokens() - thoughts)
    usage: dict[str, Any] = {
        "promptTokenCount": ctx.input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": ctx.input_tokens + candidates + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    return usage


def _candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _call_parts(reply: Reply) -> list[dict[str, Any]]:
    return [{"functionCall": {"name": c.name, "args": c.arguments_dict()}} for c in reply.tool_calls]


class GeminiProtocol(Protocol):
    """Google AI Studio's Gemini API (``gemini/`` models in litellm)."""

    name = "gemini"

    def stream_requested(self, path: str, query: Mapping[str, str], body: Any) -> bool:
        """Streaming is chosen by the method name in the path."""
        return path.endswith(":streamGenerateContent")

    def model_of(self, path: str, body: Any) -> str:
        """The model named in the path."""
        match = _MODEL.search(path)
        return match.group(1) if match else ""

    def conversation(self, body: Any) -> list[Any]:
        """The ``contents`` list."""
        if isinstance(body, dict) and isinstance(body.get("contents"), list):
            return list(body["contents"])
        return []

    def last_user_text(self, body: Any) -> str:
        """The text parts of the last ``user`` content."""
        for content in reversed(self.conversation(body)):
            if isinstance(content, dict) and content.get("role", "user") == "user":
                parts = content.get("parts") or []
                texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
                if texts:
                    return "".join(texts)
        return ""

    def render(self, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
        """A ``GenerateContentResponse``."""
        parts: list[dict[str, Any]] = []
        if reply.reasoning is not None:
            parts.append({"text": reply.reasoning, "thought": True})
        if reply.text or not reply.tool_calls:
            parts.append({"text": reply.text})
        parts.extend(_call_parts(reply))
        return {
            "candidates": [_candidate(parts, _FINISH.get(reply.resolved_finish_reason(), "STOP"))],
            "usageMetadata": _usage(reply, ctx),
            "modelVersion": ctx.model,
            "responseId": f"fake-{ctx.seq}",
        }

    def render_stream(self, reply: Reply, ctx: RenderContext) -> Iterator[bytes]:
        """One response per piece; the last carries the finish reason and the usage."""
        head = {"modelVersion": ctx.model, "responseId": f"fake-{ctx.seq}"}
        for piece in chunks_of(reply.reasoning or ""):
            yield sse({**head, "candidates": [_candidate([{"text": piece, "thought": True}], None)]})
        for piece in chunks_of(reply.text):
            yield sse({**head, "candidates": [_candidate([{"text": piece}], None)]})
        final = _call_parts(reply) or [{"text": ""}]
        finish = _FINISH.get(reply.resolved_finish_reason(), "STOP")
        yield sse({**head, "candidates": [_candidate(final, finish)], "usageMetadata": _usage(reply, ctx)})

    def error(self, fault: Fault, message: str) -> dict[str, Any]:
        """Google's ``{"error": {"code", "message", "status"}}`` body."""
        code, status = _STATUSES.get(fault.kind, (500, "INTERNAL"))
        return {"error": {"code": code, "message": message, "status": status}}

    def malformed_stream(self) -> bytes:
        """A response event whose JSON is cut short."""
        return b'data: {"candidates": [{"content": \n\n'
