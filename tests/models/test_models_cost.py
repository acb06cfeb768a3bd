"""Token accounting and cost: litellm's local price map, custom pricing, unknown prices."""

from __future__ import annotations

from types import ModuleType

import pytest

from thinkgraph.models import ModelSpec, Pricing
from thinkgraph.models._usage import Tokens, context_window_of, cost_of, tokens_of


def test_tokens_from_usage_object_and_dict(litellm: ModuleType) -> None:
    usage = litellm.Usage(
        prompt_tokens=1000,
        completion_tokens=500,
        total_tokens=1500,
        prompt_tokens_details={"cached_tokens": 200},
        completion_tokens_details={"reasoning_tokens": 120},
    )
    assert tokens_of(usage) == Tokens(input=1000, output=500, cached=200, reasoning=120)
    assert tokens_of({"prompt_tokens": 3, "completion_tokens": 4, "cache_read_input_tokens": 2}) == Tokens(
        3, 4, 2, 0
    )
    assert tokens_of(None) == Tokens()
    assert tokens_of({"prompt_tokens": True, "completion_tokens": "7"}) == Tokens()


def test_priced_model_from_litellm_map(litellm: ModuleType) -> None:
    # openai/gpt-4o-mini in litellm 1.106.2's local map (USD/token):
    # input 1.5e-7, output 6e-7, cache read 7.5e-8
    info = litellm.model_cost["gpt-4o-mini"]
    assert (info["input_cost_per_token"], info["output_cost_per_token"]) == (1.5e-7, 6e-7)
    assert info["cache_read_input_token_cost"] == 7.5e-8
    tokens = Tokens(input=1000, output=500, cached=200, reasoning=0)
    expected = 800 * 1.5e-7 + 200 * 7.5e-8 + 500 * 6e-7  # = 0.000435
    assert cost_of(None, "openai/gpt-4o-mini", tokens) == pytest.approx(expected)
    assert cost_of(None, "openai/gpt-4o-mini", tokens) == pytest.approx(0.000435)
    assert cost_of(None, "openai/gpt-4o-mini", Tokens()) == 0.0  # priced, just nothing used


def test_custom_pricing_wins_and_is_exact() -> None:
    pricing = Pricing(input=2e-6, output=8e-6, cached_input=5e-7, reasoning=1e-5)
    spec = ModelSpec(model="openai/gpt-4o-mini", pricing=pricing)
    tokens = Tokens(input=1000, output=600, cached=400, reasoning=100)
    expected = 600 * 2e-6 + 400 * 5e-7 + 500 * 8e-6 + 100 * 1e-5  # = 0.0064
    assert cost_of(spec, spec.model, tokens) == pytest.approx(expected)
    assert cost_of(spec, spec.model, tokens) == pytest.approx(0.0064)


def test_custom_pricing_defaults_cached_and_reasoning_prices() -> None:
    spec = ModelSpec(model="openai/my-finetune", pricing={"input": 1e-6, "output": 2e-6})  # type: ignore[arg-type]
    tokens = Tokens(input=100, output=50, cached=40, reasoning=10)
    assert cost_of(spec, spec.model, tokens) == pytest.approx(100 * 1e-6 + 50 * 2e-6)


def test_unknown_model_is_unpriced_not_free() -> None:
    assert cost_of(None, "openai/no-such-model-xyz", Tokens(10, 10)) is None
    assert cost_of(ModelSpec(model="ollama_chat/my-local"), "ollama_chat/my-local", Tokens(10, 10)) is None


def test_context_windows() -> None:
    assert context_window_of(ModelSpec(model="openai/gpt-4o-mini")) == 128000
    assert context_window_of(ModelSpec(model="openai/gpt-4o-mini", context_window=5)) == 5
    assert context_window_of(ModelSpec(model="openai/no-such-model-xyz")) is None
