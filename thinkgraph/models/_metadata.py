"""Where thinkgraph keeps per-call facts on a message: the contract every layer reads.

A returned ``AIMessage`` carries:

* ``response_metadata[CALL_KEY]``: a :class:`CallInfo` (the model that answered, attempts,
  fallback, latency, tokens by kind, cost);
* ``additional_kwargs[REASONING_KEY]``: a :class:`Reasoning` when the model produced any, in a
  provider-neutral form (plain text, signed blocks kept verbatim, who produced it);
* ``usage_metadata``: langchain-core's standard token counts.

Everything here is plain JSON data, so it survives checkpoint serialization.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, cast

from langchain_core.messages import BaseMessage

__all__ = [
    "CALL_KEY",
    "REASONING_KEY",
    "AttemptInfo",
    "CallInfo",
    "Reasoning",
    "ReasoningBlock",
    "call_info_of",
    "reasoning_of",
]

CALL_KEY = "thinkgraph"
REASONING_KEY = "thinkgraph_reasoning"


class ReasoningBlock(TypedDict):
    """One Anthropic-style thinking block, kept verbatim so it can be replayed."""

    type: Literal["thinking", "redacted_thinking"]
    thinking: NotRequired[str]
    signature: NotRequired[str]
    data: NotRequired[str]


class Reasoning(TypedDict):
    """A model's reasoning for one turn, provider-neutral.

    ``provider`` and ``model`` say who produced it: replay rules send it back only where the
    producing provider's profile allows.
    """

    text: str | None
    blocks: list[ReasoningBlock]
    provider: str
    model: str
    tokens: int | None


class AttemptInfo(TypedDict):
    """One try of one model (the JSON form of :class:`thinkgraph.exceptions.Attempt`)."""

    model: str
    provider: str
    error_class: str | None
    message: str
    latency_s: float
    skipped: bool


class CallInfo(TypedDict):
    """What one model call cost and who answered it."""

    requested_model: str
    model: str
    provider: str
    attempts: list[AttemptInfo]
    fallback: bool
    latency_s: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    unpriced: bool


def call_info_of(message: BaseMessage) -> CallInfo | None:
    """The :class:`CallInfo` recorded on ``message``, if thinkgraph produced it."""
    info: Any = message.response_metadata.get(CALL_KEY)
    return cast(CallInfo, info) if isinstance(info, dict) else None


def reasoning_of(message: BaseMessage) -> Reasoning | None:
    """The :class:`Reasoning` recorded on ``message``, if any."""
    reasoning: Any = message.additional_kwargs.get(REASONING_KEY)
    return cast(Reasoning, reasoning) if isinstance(reasoning, dict) else None
