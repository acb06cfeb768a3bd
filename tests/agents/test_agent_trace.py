"""Reasoning traces from message metadata, and the exported surface of thinkgraph.agents."""

from __future__ import annotations

from langchain_core.messages import AIMessage

import thinkgraph.agents
import thinkgraph.tools
from thinkgraph.agents import trace_step
from thinkgraph.models import CALL_KEY, REASONING_KEY


def call_info(model: str, provider: str, *, fallback: bool = False) -> dict[str, object]:
    return {
        "requested_model": "openai/primary",
        "model": model,
        "provider": provider,
        "attempts": [],
        "fallback": fallback,
        "latency_s": 0.1,
        "input_tokens": 12,
        "output_tokens": 7,
        "cached_tokens": 0,
        "reasoning_tokens": 4,
        "cost_usd": None,
        "unpriced": True,
    }


def test_fallback_model_and_anthropic_blocks_are_recorded() -> None:
    message = AIMessage(
        "answer",
        response_metadata={CALL_KEY: call_info("anthropic/claude", "anthropic", fallback=True)},
        additional_kwargs={
            REASONING_KEY: {
                "text": None,
                "blocks": [
                    {"type": "thinking", "thinking": "first", "signature": "s1"},
                    {"type": "thinking", "thinking": "second", "signature": "s2"},
                ],
                "provider": "anthropic",
                "model": "anthropic/claude",
                "tokens": 4,
            }
        },
    )
    trace = trace_step("critic", message, thought="ignored: native wins", label="review 1")
    assert trace["model"] == "anthropic/claude" and trace["requested_model"] == "openai/primary"
    assert trace["fallback"] is True and trace["provider"] == "anthropic"
    assert trace["reasoning"] == "first\nsecond" and trace["reasoning_source"] == "native"
    assert trace["cost_usd"] is None and trace["reasoning_tokens"] == 4 and trace["label"] == "review 1"


def test_redacted_blocks_and_plain_reasoning_content() -> None:
    redacted = AIMessage(
        "x",
        additional_kwargs={
            REASONING_KEY: {
                "text": None,
                "blocks": [{"type": "redacted_thinking", "data": "opaque"}],
                "provider": "anthropic",
                "model": "m",
                "tokens": None,
            }
        },
    )
    assert trace_step("n", redacted)["reasoning"] == "[redacted reasoning]"
    plain = AIMessage(
        "x",
        additional_kwargs={"reasoning_content": "langchain-style reasoning"},
        response_metadata={"model_name": "some-model"},
        usage_metadata={
            "input_tokens": 3,
            "output_tokens": 2,
            "total_tokens": 5,
            "output_token_details": {"reasoning": 1},
        },
    )
    trace = trace_step("n", plain)
    assert trace["reasoning"] == "langchain-style reasoning" and trace["model"] == "some-model"
    assert (trace["input_tokens"], trace["output_tokens"], trace["reasoning_tokens"]) == (3, 2, 1)
    assert trace["provider"] is None and trace["cost_usd"] is None


def test_no_message_and_no_reasoning() -> None:
    empty = trace_step("n", None)
    assert empty["model"] is None and empty["reasoning"] is None and empty["reasoning_source"] == "none"
    assert trace_step("n", AIMessage("x"), thought="why")["reasoning_source"] == "thought"


def test_exported_surface() -> None:
    for module in (thinkgraph.agents, thinkgraph.tools):
        for name in module.__all__:
            assert getattr(module, name) is not None
    expected = {
        "build_tool_agent",
        "build_plan_execute_agent",
        "build_reflection_agent",
        "build_difficulty_router",
    }
    assert expected | {"Plan", "ReasoningTrace"} <= set(thinkgraph.agents.__all__)
