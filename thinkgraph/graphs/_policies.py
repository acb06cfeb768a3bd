"""Run policies: budgets (cost, calls, wall time) and data residency (where calls may go)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Budget", "Residency"]


class Budget(BaseModel):
    """Limits of one run.

    A run that reaches a limit stops with :class:`~thinkgraph.exceptions.BudgetExceeded` before
    its next model call (or at the next step boundary for wall time); its last checkpoint is kept,
    so resuming the thread with a higher budget continues where it stopped. Usage carries over
    when a stopped or interrupted run is resumed, so the limits apply to the whole piece of work.

    With ``on_exceed="downgrade"`` a run that reaches a limit is not stopped: each later model
    call goes to the cheapest model of its node's chain instead (by known price; the last model
    of the chain when no price is known).

    Attributes:
        max_cost_usd: maximum priced cost in USD (unpriced calls count as 0 and are flagged).
        max_model_calls: maximum number of model calls.
        max_wall_time_s: maximum seconds of wall time.
        on_exceed: ``"stop"`` (default) or ``"downgrade"``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_cost_usd: float | None = Field(default=None, ge=0)
    max_model_calls: int | None = Field(default=None, ge=0)
    max_wall_time_s: float | None = Field(default=None, gt=0)
    on_exceed: Literal["stop", "downgrade"] = "stop"

    def breached(
        self, cost_usd: float, model_calls: int, wall_time_s: float
    ) -> tuple[str, float, float] | None:
        """The first limit reached by this usage as ``(limit, maximum, used)``, or ``None``."""
        if self.max_cost_usd is not None and cost_usd >= self.max_cost_usd:
            return ("cost_usd", self.max_cost_usd, cost_usd)
        if self.max_model_calls is not None and model_calls >= self.max_model_calls:
            return ("model_calls", float(self.max_model_calls), float(model_calls))
        if self.max_wall_time_s is not None and wall_time_s >= self.max_wall_time_s:
            return ("wall_time_s", self.max_wall_time_s, wall_time_s)
        return None


class Residency(BaseModel):
    """Where a node's (or a whole graph's) model calls may go.

    A model is allowed when its provider is in ``providers`` (when given) and, with
    ``local_only``, when it runs on this machine (provider profile data marks local providers
    such as Ollama and vLLM; a loopback ``api_base`` also counts as local). A fallback chain is
    checked model by model: it may never leave the allowed set.

    Attributes:
        providers: allowed litellm providers (``{"ollama", "anthropic"}``); ``None`` for any.
        local_only: only models served on this machine.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: frozenset[str] | None = None
    local_only: bool = False

    @field_validator("providers", mode="before")
    @classmethod
    def _as_set(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset({value})
        if isinstance(value, Iterable) and not isinstance(value, frozenset):
            return frozenset(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Residency:
        if self.providers is not None and not self.providers:
            raise ValueError("providers must name at least one provider (or be left out to allow any)")
        return self

    def describe(self) -> str:
        """A short human description, used in error messages."""
        parts = []
        if self.providers is not None:
            parts.append("providers " + ", ".join(sorted(self.providers)))
        if self.local_only:
            parts.append("local models only")
        return " and ".join(parts) or "any provider"

    def allows(self, provider: str, *, local: bool) -> bool:
        """True when a model of ``provider`` (running locally when ``local``) may be called."""
        if self.providers is not None and provider not in self.providers:
            return False
        return local or not self.local_only
