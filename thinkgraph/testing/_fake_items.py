"""What a :class:`~thinkgraph.testing.FakeProvider` deployment can be scripted to do.

A script item is a :class:`Reply` (text, tool calls, reasoning, usage, latency), a :class:`Fault`
(an HTTP error, a hang, a dropped connection, malformed JSON), a plain ``str`` (a text reply), or a
callable taking the :class:`FakeRequest` and returning one of those (``None`` for the default reply).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "FakeRequest",
    "Fault",
    "FaultKind",
    "Reply",
    "ScriptItem",
    "ToolCall",
    "estimate_tokens",
]

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "unavailable",
    "auth",
    "context_window",
    "content_filter",
    "bad_request",
    "hang",
    "drop",
    "malformed",
]

FAULT_STATUS: dict[str, int] = {
    "rate_limit": 429,
    "server_error": 500,
    "unavailable": 503,
    "auth": 401,
    "context_window": 400,
    "content_filter": 400,
    "bad_request": 400,
    "malformed": 200,
}


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: one token per started group of four characters."""
    return (len(text) + 3) // 4


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call in a scripted reply.

    Attributes:
        name: the tool's name.
        arguments: the arguments, as a mapping (sent as JSON) or a raw JSON string sent verbatim.
        id: the call id; generated (``call_<n>_<i>``, ``toolu_<n>_<i>``) when ``None``.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The arguments as a JSON string."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"), sort_keys=True)

    def arguments_dict(self) -> dict[str, Any]:
        """The arguments as a dict (a raw string that is not a JSON object gives ``{}``)."""
        if isinstance(self.arguments, str):
            try:
                value = json.loads(self.arguments)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        return dict(self.arguments)


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer.

    Attributes:
        text: the answer text (may be empty when there are tool calls).
        tool_calls: tool calls to make; several are sent as parallel calls.
        reasoning: reasoning text: ``reasoning_content`` (OpenAI-compatible), a ``thinking`` block
            (Anthropic), a thought part (Gemini), ``thinking`` (Ollama).
        signature: the Anthropic thinking block's signature (a default one is made when ``None``).
        input_tokens: prompt tokens to report; estimated from the request when ``None``.
        output_tokens: completion tokens to report; estimated from the answer when ``None``.
        reasoning_tokens: reasoning tokens to report; estimated from ``reasoning`` when ``None``.
        cached_tokens: cached prompt tokens to report.
        latency: seconds to wait before answering (added to the provider's global latency).
        finish_reason: override the OpenAI-style finish reason (``stop``/``tool_calls``/``length``).
    """

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    reasoning: str | None = None
    signature: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int = 0
    latency: float = 0.0
    finish_reason: str | None = None

    def resolved_output_tokens(self) -> int:
        """Completion tokens: the scripted number, or an estimate over text, calls and reasoning."""
        if self.output_tokens is not None:
            return self.output_tokens
        calls = sum(estimate_tokens(c.name + c.arguments_json()) for c in self.tool_calls)
        return max(1, estimate_tokens(self.text) + calls + self.resolved_reasoning_tokens())

    def resolved_reasoning_tokens(self) -> int:
        """Reasoning tokens: the scripted number, or an estimate over ``reasoning``."""
        if self.reasoning_tokens is not None:
            return self.reasoning_tokens
        return estimate_tokens(self.reasoning or "")

    def resolved_finish_reason(self) -> str:
        """The OpenAI-style finish reason."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure instead of an answer.

    Build them with the class methods (``Fault.rate_limit(retry_after=2)``, ``Fault.hang()``...).

    Attributes:
        kind: what goes wrong (see :data:`FaultKind`).
        message: the error message; each kind has a default that litellm classifies correctly.
        retry_after: the ``Retry-After`` header (seconds) of a ``rate_limit`` fault.
        latency: seconds to wait before failing.
        after_chunks: for a ``drop`` of a streamed request: stream this many chunks of a text
            answer, then cut the connection mid-stream (``None``: drop before answering).
    """

    kind: FaultKind
    message: str | None = None
    retry_after: float | None = None
    latency: float = 0.0
    after_chunks: int | None = None

    @property
    def status(self) -> int | None:
        """The HTTP status sent, or ``None`` for a hang or a dropped connection."""
        return FAULT_STATUS.get(self.kind)

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0, *, message: str | None = None) -> Fault:
        """HTTP 429 with a ``Retry-After`` header."""
        return cls("rate_limit", message=message, retry_after=retry_after)

    @classmethod
    def server_error(cls, *, message: str | None = None) -> Fault:
        """HTTP 500."""
        return cls("server_error", message=message)

    @classmethod
    def unavailable(cls, *, message: str | None = None) -> Fault:
        """HTTP 503."""
        return cls("unavailable", message=message)

    @classmethod
    def auth(cls, *, message: str | None = None) -> Fault:
        """HTTP 401: invalid API key."""
        return cls("auth", message=message)

    @classmethod
    def context_window(cls, *, message: str | None = None) -> Fault:
        """HTTP 400 worded so litellm raises ``ContextWindowExceededError``."""
        return cls("context_window", message=message)

    @classmethod
    def content_filter(cls, *, message: str | None = None) -> Fault:
        """HTTP 400 worded so litellm raises ``ContentPolicyViolationError``."""
        return cls("content_filter", message=message)

    @classmethod
    def bad_request(cls, *, message: str | None = None) -> Fault:
        """A plain HTTP 400."""
        return cls("bad_request", message=message)

    @classmethod
    def hang(cls) -> Fault:
        """Never answer; the client's timeout must give up (released when the server stops)."""
        return cls("hang")

    @classmethod
    def drop(cls, *, latency: float = 0.0, after_chunks: int | None = None) -> Fault:
        """Close the connection without answering, or after ``after_chunks`` stream chunks."""
        return cls("drop", latency=latency, after_chunks=after_chunks)

    @classmethod
    def malformed(cls) -> Fault:
        """HTTP 200 whose body is not valid JSON (or a stream with a broken event)."""
        return cls("malformed")


@dataclass(slots=True)
class FakeRequest:
    """One request the fake provider received.

    Attributes:
        deployment: the deployment name (from ``/d/<name>/`` in the path; ``"default"`` otherwise).
        protocol: ``openai``, ``anthropic``, ``gemini``, ``ollama`` or ``ollama_generate``.
        method: the HTTP method.
        path: the path with the query string.
        headers: request headers, API keys redacted to ``"***"``.
        body: the parsed JSON body (``None`` if it was not JSON).
        model: the model named by the request (body, Azure deployment or Gemini path).
        stream: whether a streamed answer was asked for.
        received_at: ``time.time()`` when it arrived.
        status: the HTTP status answered (``None`` while pending, after a hang or a drop).
        outcome: ``"reply"``, ``"default"`` or the fault kind.
    """

    deployment: str
    protocol: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    model: str
    stream: bool
    received_at: float
    status: int | None = None
    outcome: str = ""

    @property
    def messages(self) -> list[Any]:
        """The conversation sent, in the protocol's own shape (``messages``/``contents``/``prompt``)."""
        if not isinstance(self.body, dict):
            return []
        for key in ("messages", "contents"):
            value = self.body.get(key)
            if isinstance(value, list):
                return value
        prompt = self.body.get("prompt")
        return [prompt] if isinstance(prompt, str) else []


ScriptItem: TypeAlias = (
    Reply
    | Fault
    | str
    | Callable[[FakeRequest], "Reply | Fault | str | Awaitable[Reply | Fault | str | None] | None"]
)
