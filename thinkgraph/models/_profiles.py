"""Provider profiles: what each model family can do, as data.

Logic elsewhere asks a profile (tools? structured-output mode? how to replay reasoning?) instead of
branching on provider names. The table is ordered: the first profile whose provider prefix and
model pattern match wins, so specific model patterns come before a provider's catch-all.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import Literal
from urllib.parse import urlsplit

from thinkgraph.models._spec import ModelSpec, as_spec

__all__ = [
    "PROFILES",
    "ProviderProfile",
    "ReplayRule",
    "StructuredMode",
    "api_key_env_of",
    "is_local",
    "litellm_module",
    "model_name_of",
    "profile_for",
    "provider_of",
    "required_credentials",
]

StructuredMode = Literal["json_schema", "function_calling", "json_mode"]
"""How ``with_structured_output`` asks a model for a schema: response_format JSON schema, a
forced tool call, or JSON mode plus the schema in the prompt."""

ReplayRule = Literal["none", "signed_blocks", "reasoning_content"]
"""What reasoning a model must receive back on its own earlier assistant turns:

* ``"signed_blocks"``: the signed thinking blocks, verbatim (Anthropic extended thinking);
* ``"reasoning_content"``: the plain ``reasoning_content`` text (DeepSeek V4 thinking mode);
* ``"none"``: nothing (most providers; DeepSeek R1 rejects it).

Reasoning is only ever replayed to a model of the same ``reasoning_family`` as its producer.
"""


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """What one family of models supports.

    Attributes:
        name: the profile's name (``"anthropic"``, ``"deepseek-reasoner"``...).
        providers: litellm provider prefixes this profile covers.
        model_pattern: a regular expression searched in the model name (after the prefix);
            ``None`` matches every model of the providers.
        tools: supports tool (function) calling.
        parallel_tools: accepts ``parallel_tool_calls`` / returns several calls in one turn.
        structured_output: default mode of ``with_structured_output``.
        reasoning_effort: accepts the ``reasoning_effort`` parameter (litellm maps it).
        replay: what reasoning goes back to this model on its own earlier turns.
        reasoning_family: who may receive this model's reasoning: models whose profile has the
            same family (signatures and reasoning text are only meaningful there).
        api_key_env: default environment variable of the API key; ``None`` when none is needed.
        local: runs on the user's machine; needs no credentials.
    """

    name: str
    providers: tuple[str, ...]
    model_pattern: str | None = None
    tools: bool = True
    parallel_tools: bool = True
    structured_output: StructuredMode = "json_schema"
    reasoning_effort: bool = False
    replay: ReplayRule = "none"
    reasoning_family: str = ""
    api_key_env: str | None = None
    local: bool = False
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.model_pattern is not None:
            object.__setattr__(self, "_pattern", re.compile(self.model_pattern, re.IGNORECASE))
        if not self.reasoning_family:
            object.__setattr__(self, "reasoning_family", self.name)

    def matches(self, provider: str, name: str) -> bool:
        """True when this profile covers ``name`` served by ``provider``."""
        if provider not in self.providers:
            return False
        return self._pattern is None or self._pattern.search(name) is not None


PROFILES: tuple[ProviderProfile, ...] = (
    ProviderProfile(
        name="openai-reasoning",
        providers=("openai",),
        model_pattern=r"^(o\d|gpt-5)",
        reasoning_effort=True,
        reasoning_family="openai",
        api_key_env="OPENAI_API_KEY",
    ),
    ProviderProfile(
        name="openai", providers=("openai", "text-completion-openai"), api_key_env="OPENAI_API_KEY"
    ),
    ProviderProfile(
        name="azure",
        providers=("azure", "azure_ai"),
        reasoning_effort=True,
        reasoning_family="openai",
        api_key_env="AZURE_API_KEY",
    ),
    ProviderProfile(
        name="anthropic",
        providers=("anthropic",),
        structured_output="function_calling",
        reasoning_effort=True,
        replay="signed_blocks",
        api_key_env="ANTHROPIC_API_KEY",
    ),
    ProviderProfile(
        name="gemini", providers=("gemini",), reasoning_effort=True, api_key_env="GEMINI_API_KEY"
    ),
    ProviderProfile(name="xai", providers=("xai",), reasoning_effort=True, api_key_env="XAI_API_KEY"),
    ProviderProfile(
        name="deepseek-reasoner",
        providers=("deepseek",),
        model_pattern=r"reasoner|(^|[-/])r1([-/.]|$)",
        parallel_tools=False,
        structured_output="function_calling",
        replay="none",
        reasoning_family="deepseek",
        api_key_env="DEEPSEEK_API_KEY",
    ),
    ProviderProfile(
        name="deepseek",
        providers=("deepseek",),
        structured_output="function_calling",
        reasoning_effort=True,
        replay="reasoning_content",
        api_key_env="DEEPSEEK_API_KEY",
    ),
    ProviderProfile(
        name="mistral",
        providers=("mistral",),
        structured_output="function_calling",
        api_key_env="MISTRAL_API_KEY",
    ),
    ProviderProfile(
        name="together_ai",
        providers=("together_ai",),
        structured_output="function_calling",
        api_key_env="TOGETHERAI_API_KEY",
    ),
    ProviderProfile(
        name="groq", providers=("groq",), structured_output="function_calling", api_key_env="GROQ_API_KEY"
    ),
    ProviderProfile(
        name="fireworks_ai",
        providers=("fireworks_ai",),
        structured_output="function_calling",
        api_key_env="FIREWORKS_AI_API_KEY",
    ),
    ProviderProfile(
        name="openrouter",
        providers=("openrouter",),
        structured_output="function_calling",
        api_key_env="OPENROUTER_API_KEY",
    ),
    ProviderProfile(
        name="dashscope",
        providers=("dashscope",),
        structured_output="function_calling",
        reasoning_effort=True,
        api_key_env="DASHSCOPE_API_KEY",
    ),
    ProviderProfile(
        name="nvidia_nim",
        providers=("nvidia_nim",),
        structured_output="function_calling",
        api_key_env="NVIDIA_NIM_API_KEY",
    ),
    ProviderProfile(
        name="ollama",
        providers=("ollama", "ollama_chat"),
        parallel_tools=False,
        reasoning_effort=True,
        local=True,
    ),
    ProviderProfile(
        name="openai-compatible-local",
        providers=("hosted_vllm", "lm_studio", "llamafile", "vllm"),
        structured_output="json_schema",
        reasoning_effort=True,
        local=True,
    ),
)

_DEFAULT_PROFILE = ProviderProfile(
    name="generic",
    providers=(),
    structured_output="function_calling",
    parallel_tools=False,
    reasoning_effort=True,
)
"""Used for providers the table does not know: conservative (tools, no parallel calls, no replay);
``reasoning_effort`` is forwarded as set, for litellm to map or pass through."""

_KNOWN_PROVIDERS = frozenset(p for profile in PROFILES for p in profile.providers) | {
    "vertex_ai",
    "bedrock",
    "cohere",
    "huggingface",
    "perplexity",
    "cerebras",
    "sambanova",
    "deepinfra",
    "anyscale",
    "custom_openai",
}


def litellm_module() -> ModuleType:
    """litellm, loaded on first use (cheap once loaded: a ``sys.modules`` lookup)."""
    module = sys.modules.get("litellm")
    if module is not None and hasattr(module, "acompletion"):
        return module
    from thinkgraph._litellm import load_litellm

    return load_litellm()


@lru_cache(maxsize=1024)
def provider_of(model: str) -> str:
    """The litellm provider of a model string (``"anthropic/claude-sonnet-4-5"`` -> ``"anthropic"``).

    A string without a known prefix (``"gpt-4o"``) is resolved through litellm's model map; if that
    fails, the text before the first ``/`` (or ``"unknown"``) is returned.
    """
    prefix, slash, _ = model.partition("/")
    if slash and prefix in _KNOWN_PROVIDERS:
        return prefix
    known = litellm_module().model_cost.get(model)
    if isinstance(known, dict) and known.get("litellm_provider"):
        return str(known["litellm_provider"])
    return prefix if slash else "unknown"


def model_name_of(model: str) -> str:
    """The model name without its provider prefix."""
    provider = provider_of(model)
    prefix, slash, rest = model.partition("/")
    return rest if slash and prefix == provider else model


def profile_for(model: str | ModelSpec) -> ProviderProfile:
    """The :class:`ProviderProfile` of a model string or spec (a generic one when unknown)."""
    name = model.model if isinstance(model, ModelSpec) else model
    provider = provider_of(name)
    bare = model_name_of(name)
    for profile in PROFILES:
        if profile.matches(provider, bare):
            return profile
    return _DEFAULT_PROFILE


def _is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    host = urlsplit(url if "//" in url else f"//{url}").hostname
    if host is None:
        return False
    if host in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local(spec: ModelSpec) -> bool:
    """True when the spec points at a server on this machine.

    That is a loopback ``api_base``, or a local profile (Ollama, vLLM, LM Studio) with no
    ``api_base`` (its default is on this machine). A local server reached on another host is not local.
    """
    if spec.api_base:
        return _is_loopback_url(spec.api_base)
    return profile_for(spec).local


def api_key_env_of(spec: ModelSpec) -> str | None:
    """The environment variable holding the spec's key: its own ``api_key_env`` or the profile default."""
    return spec.api_key_env or profile_for(spec).api_key_env


def required_credentials(spec: ModelSpec | str) -> list[str]:
    """Names of the environment variables ``spec`` needs; empty for local servers.

    A spec with an explicit ``api_key_env`` always needs it.
    """
    spec = as_spec(spec)
    if spec.api_key_env:
        return [spec.api_key_env]
    if is_local(spec):
        return []
    env = profile_for(spec).api_key_env
    return [env] if env else []
