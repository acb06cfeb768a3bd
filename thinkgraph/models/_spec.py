"""``ModelSpec``: how to reach one model, as plain serializable data (never a secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from thinkgraph.exceptions import ConfigError

__all__ = ["ModelSpec", "Pricing", "as_spec"]

# Keys that would carry a secret: a spec names the variable holding the key, never the key.
_SECRET_KEYS = frozenset({"api_key", "api_token", "token", "secret", "password", "aws_secret_access_key"})


class Pricing(BaseModel):
    """Custom prices in USD per token; thinkgraph computes the cost itself.

    Attributes:
        input: price of one input (prompt) token that was not served from cache.
        output: price of one output token.
        cached_input: price of one input token served from the provider's cache; defaults to ``input``.
        reasoning: price of one reasoning token; defaults to ``output``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    reasoning: float | None = Field(default=None, ge=0)


class ModelSpec(BaseModel):
    """One model and how to call it; loadable from settings or YAML mappings.

    A plain string such as ``"openai/gpt-4o-mini"`` is accepted anywhere a spec is.

    Attributes:
        model: the litellm model string, ``"provider/name"``.
        api_base: base URL of the endpoint (local servers, proxies, Azure deployments).
        api_key_env: NAME of the environment variable holding the API key; read at call time.
            Defaults to the provider profile's variable (``OPENAI_API_KEY`` ...).
        timeout: seconds one attempt may take before it is abandoned.
        max_retries: retries of this model on retryable errors before falling over.
        temperature: sampling temperature, when set.
        max_tokens: cap on output tokens, when set.
        reasoning_effort: ``"low"``/``"medium"``/``"high"`` ..., mapped by litellm per provider.
        params: extra provider parameters passed through to litellm as they are.
        pricing: custom per-token prices; overrides litellm's price map.
        context_window: input token limit, overriding litellm's model map.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key_env: str | None = None
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    reasoning_effort: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    pricing: Pricing | None = None
    context_window: int | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _refuse_secrets(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"model": data}
        if isinstance(data, Mapping):
            found = sorted(k for k in data if str(k).lower() in _SECRET_KEYS)
            params = data.get("params")
            if isinstance(params, Mapping):
                found += sorted(f"params.{k}" for k in params if str(k).lower() in _SECRET_KEYS)
            if found:
                raise ValueError(
                    f"a model spec must not contain secrets ({', '.join(found)}); "
                    "put the key in an environment variable and name it with api_key_env"
                )
        return data

    @field_validator("model")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value or value.endswith("/"):
            raise ValueError(f"model must look like 'provider/name', got {value!r}")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.replace("_", "").isalnum()):
            raise ValueError(
                "api_key_env must be the NAME of an environment variable (e.g. 'OPENAI_API_KEY'), "
                f"got {value!r}"
            )
        return value

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the endpoint for circuit breaking: (provider, model, api_base)."""
        from thinkgraph.models._profiles import provider_of

        return (provider_of(self.model), self.model, self.api_base or "")


def as_spec(value: ModelSpec | str | Mapping[str, Any]) -> ModelSpec:
    """Coerce a spec, a model string or a mapping (from settings or YAML) into a :class:`ModelSpec`.

    Raises:
        ConfigError: the value is not a valid spec; the message names the problem.
    """
    if isinstance(value, ModelSpec):
        return value
    if not isinstance(value, str | Mapping):
        raise ConfigError(
            f"expected a model string, a ModelSpec or a mapping, got {type(value).__name__} {value!r}"
        )
    try:
        return ModelSpec.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}" for err in exc.errors()
        )
        # Name the model, never echo the mapping: it might hold a secret that was refused.
        name = value if isinstance(value, str) else value.get("model")
        raise ConfigError(f"invalid model spec for model {name!r}: {problems}") from None
