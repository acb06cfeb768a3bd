"""Chain-of-thought on record: one :class:`ReasoningTrace` per model step, appended to state."""

from __future__ import annotations

import time
from typing import Any, Literal, TypedDict

from langchain_core.messages import BaseMessage

from thinkgraph.models import call_info_of, reasoning_of

__all__ = ["ReasoningTrace", "trace_step"]


class ReasoningTrace(TypedDict):
    """What one model step thought and cost.

    ``model``/``provider`` name whichever model actually answered (after any fallback), from the
    message's ``CallInfo``. ``reasoning`` is the model's native reasoning when it produced some
    (``reasoning_source="native"``), else the explicit thought it was asked to write
    (``"thought"``), else ``None`` (``"none"``).
    """

    node: str
    label: str | None
    model: str | None
    provider: str | None
    requested_model: str | None
    fallback: bool
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    reasoning: str | None
    reasoning_source: Literal["native", "thought", "none"]
    at: float


def _native_reasoning(message: BaseMessage) -> str | None:
    reasoning = reasoning_of(message)
    if reasoning is not None:
        if reasoning.get("text"):
            return reasoning["text"]
        thinking = [b.get("thinking", "") for b in reasoning.get("blocks", []) if b.get("thinking")]
        if thinking:
            return "\n".join(thinking)
        if reasoning.get("blocks"):
            return "[redacted reasoning]"
    plain: Any = message.additional_kwargs.get("reasoning_content")
    return plain if isinstance(plain, str) and plain else None


def trace_step(
    node: str, message: BaseMessage | None, *, thought: str | None = None, label: str | None = None
) -> ReasoningTrace:
    """The trace of one model step from the message it returned (``None`` if none came back).

    Args:
        node: the graph node that called the model.
        message: the model's ``AIMessage`` (its raw message for structured output).
        thought: the explicit thought the model wrote, used when it has no native reasoning.
        label: an optional finer location (a plan step id, a revision number).
    """
    info = call_info_of(message) if message is not None else None
    usage: Any = getattr(message, "usage_metadata", None) or {}
    native = _native_reasoning(message) if message is not None else None
    meta: Any = message.response_metadata if message is not None else {}
    if native is not None:
        reasoning, source = native, "native"
    elif thought:
        reasoning, source = thought, "thought"
    else:
        reasoning, source = None, "none"
    details = usage.get("output_token_details") or {}
    return ReasoningTrace(
        node=node,
        label=label,
        model=info["model"] if info else meta.get("model_name") or meta.get("model"),
        provider=info["provider"] if info else None,
        requested_model=info["requested_model"] if info else None,
        fallback=bool(info["fallback"]) if info else False,
        input_tokens=info["input_tokens"] if info else int(usage.get("input_tokens", 0)),
        output_tokens=info["output_tokens"] if info else int(usage.get("output_tokens", 0)),
        reasoning_tokens=info["reasoning_tokens"] if info else int(details.get("reasoning", 0)),
        cost_usd=info["cost_usd"] if info else None,
        reasoning=reasoning,
        reasoning_source=source,  # type: ignore[typeddict-item]
        at=time.time(),
    )
