"""Token counts, cost in USD and context windows, from litellm's local model map or a spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thinkgraph.models._profiles import litellm_module, model_name_of, provider_of
from thinkgraph.models._spec import ModelSpec, Pricing

__all__ = ["Tokens", "context_window_of", "cost_of", "tokens_of"]


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts of one call. ``input`` includes ``cached``; ``output`` includes ``reasoning``."""

    input: int = 0
    output: int = 0
    cached: int = 0
    reasoning: int = 0


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def tokens_of(usage: Any) -> Tokens:
    """Read a litellm ``Usage`` (object or dict) into :class:`Tokens`."""
    if usage is None:
        return Tokens()
    cached = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens")) or _int(
        _get(usage, "cache_read_input_tokens")
    )
    reasoning = _int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    return Tokens(
        input=_int(_get(usage, "prompt_tokens")),
        output=_int(_get(usage, "completion_tokens")),
        cached=cached,
        reasoning=reasoning,
    )


# Providers whose entries litellm's map files under another provider name.
_MAP_ALIASES = {"ollama_chat": "ollama", "text-completion-openai": "openai"}


def _model_info(model: str) -> dict[str, Any] | None:
    """The entry of ``model`` in litellm's local map (a plain lookup: no network, no invented prices).

    ``litellm.get_model_info`` is avoided on purpose: for some providers (Ollama) it queries the
    local server and fabricates zero prices for models it does not know.
    """
    table: dict[str, Any] = litellm_module().model_cost
    provider = provider_of(model)
    name = model_name_of(model)
    mapped = _MAP_ALIASES.get(provider, provider)
    for key in (model, f"{mapped}/{name}"):
        entry = table.get(key)
        if isinstance(entry, dict):
            return entry
    entry = table.get(name)
    if isinstance(entry, dict) and entry.get("litellm_provider") in (provider, mapped):
        return entry
    return None


def _custom_cost(pricing: Pricing, tokens: Tokens) -> float:
    cached = min(tokens.cached, tokens.input)
    reasoning = min(tokens.reasoning, tokens.output)
    cached_price = pricing.cached_input if pricing.cached_input is not None else pricing.input
    reasoning_price = pricing.reasoning if pricing.reasoning is not None else pricing.output
    return (
        (tokens.input - cached) * pricing.input
        + cached * cached_price
        + (tokens.output - reasoning) * pricing.output
        + reasoning * reasoning_price
    )


def _map_pricing(info: dict[str, Any]) -> Pricing | None:
    input_price = info.get("input_cost_per_token")
    output_price = info.get("output_cost_per_token")
    if input_price is None and output_price is None:
        return None
    return Pricing(
        input=float(input_price or 0.0),
        output=float(output_price or 0.0),
        cached_input=info.get("cache_read_input_token_cost"),
        reasoning=info.get("output_cost_per_reasoning_token"),
    )


def cost_of(spec: ModelSpec | None, model: str, tokens: Tokens) -> float | None:
    """Cost in USD of one call to ``model``; ``None`` when the price is unknown (never a made-up 0.0).

    The spec's custom pricing wins; otherwise the prices in litellm's local model map are applied
    by thinkgraph (input minus cached at the input price, cached at the cache-read price, output
    minus reasoning at the output price, reasoning at the reasoning price when listed).
    """
    if spec is not None and spec.pricing is not None:
        return _custom_cost(spec.pricing, tokens)
    info = _model_info(model)
    pricing = _map_pricing(info) if info else None
    if pricing is None:
        return None
    return _custom_cost(pricing, tokens)


def context_window_of(spec: ModelSpec) -> int | None:
    """Input token limit of ``spec``: its override, else litellm's model map, else ``None``."""
    if spec.context_window is not None:
        return spec.context_window
    info = _model_info(spec.model)
    if not info:
        return None
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if isinstance(window, int | float) else None
