"""The shape every wire protocol of the fake provider has: parse a request, render a reply or fault."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from thinkgraph.testing._fake_items import Fault, Reply, estimate_tokens

__all__ = ["DEFAULT_MESSAGES", "Protocol", "RenderContext", "chunks_of", "sse"]

DEFAULT_MESSAGES: dict[str, str] = {
    "rate_limit": "Rate limit reached for requests (fake provider). Please try again later.",
    "server_error": "The server had an error while processing your request (fake provider).",
    "unavailable": "The service is temporarily unavailable or overloaded (fake provider).",
    "auth": "Incorrect API key provided (fake provider).",
    "context_window": (
        "prompt is too long: 9000 tokens > 8192 maximum; input tokens exceed the configured limit "
        "of 8192 tokens (fake provider)"
    ),
    "content_filter": (
        "Output blocked by content filtering policy: your request was rejected as a result of the "
        "safety system (content_policy_violation, fake provider)"
    ),
    "bad_request": "Invalid request: the fake provider was scripted to reject it.",
}

_PIECES = re.compile(r"\s*\S+\s*|\s+")


def chunks_of(text: str) -> list[str]:
    """Split ``text`` into word-sized stream pieces that join back to ``text``."""
    return _PIECES.findall(text)


def sse(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a rendering needs beyond the reply."""

    model: str
    seq: int
    created: int
    input_tokens: int
    include_usage: bool


class Protocol(ABC):
    """One wire protocol; subclasses render replies and errors in their provider's shape."""

    name = "base"
    stream_content_type = "text/event-stream"
    messages: ClassVar[dict[str, str]] = {}

    def default_message(self, kind: str) -> str:
        """The error message a fault of ``kind`` carries unless the fault sets its own."""
        return self.messages.get(kind) or DEFAULT_MESSAGES[kind]

    def stream_requested(self, path: str, query: Mapping[str, str], body: Any) -> bool:
        """Whether the request asks for a streamed answer."""
        return isinstance(body, dict) and bool(body.get("stream"))

    def include_usage(self, body: Any) -> bool:
        """Whether a streamed answer should end with usage (always, unless the protocol opts in)."""
        return True

    def model_of(self, path: str, body: Any) -> str:
        """The model the request names."""
        return str(body.get("model", "")) if isinstance(body, dict) else ""

    def conversation(self, body: Any) -> list[Any]:
        """The messages of the request."""
        if isinstance(body, dict) and isinstance(body.get("messages"), list):
            return list(body["messages"])
        return []

    def last_user_text(self, body: Any) -> str:
        """The text of the last user message (used by the default echo reply)."""
        for message in reversed(self.conversation(body)):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
        return ""

    def input_tokens(self, body: Any) -> int:
        """A deterministic estimate of the prompt tokens."""
        return max(1, estimate_tokens(json.dumps(self.conversation(body), sort_keys=True, default=str)))

    @abstractmethod
    def render(self, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
        """The JSON body of a non-streamed answer."""

    @abstractmethod
    def render_stream(self, reply: Reply, ctx: RenderContext) -> Iterator[bytes]:
        """The byte chunks of a streamed answer."""

    @abstractmethod
    def error(self, fault: Fault, message: str) -> dict[str, Any]:
        """The JSON body of an error answer."""

    def malformed_stream(self) -> bytes:
        """A stream event that is not valid JSON."""
        return b'data: {"choices": [{"delta": {"content": "broken\n\n'


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return ""
