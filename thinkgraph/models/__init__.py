"""Per-node model access: specs, a fallback-aware chat model over litellm, provider profiles.

Importing this package does not import litellm; it loads on the first call.
"""

from thinkgraph.models._chat import ChatModel
from thinkgraph.models._metadata import (
    CALL_KEY,
    REASONING_KEY,
    AttemptInfo,
    CallInfo,
    Reasoning,
    ReasoningBlock,
    call_info_of,
    reasoning_of,
)
from thinkgraph.models._profiles import (
    PROFILES,
    ProviderProfile,
    ReplayRule,
    StructuredMode,
    is_local,
    profile_for,
    provider_of,
    required_credentials,
)
from thinkgraph.models._resilience import BreakerRegistry, BreakerState, RetryPolicy
from thinkgraph.models._resolve import resolve_model
from thinkgraph.models._spec import ModelSpec, Pricing, as_spec

__all__ = [
    "CALL_KEY",
    "PROFILES",
    "REASONING_KEY",
    "AttemptInfo",
    "BreakerRegistry",
    "BreakerState",
    "CallInfo",
    "ChatModel",
    "ModelSpec",
    "Pricing",
    "ProviderProfile",
    "Reasoning",
    "ReasoningBlock",
    "ReplayRule",
    "RetryPolicy",
    "StructuredMode",
    "as_spec",
    "call_info_of",
    "is_local",
    "profile_for",
    "provider_of",
    "reasoning_of",
    "required_credentials",
    "resolve_model",
]
