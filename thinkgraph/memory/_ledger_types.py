"""What the run ledger returns: typed, immutable records and cost rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "CostGroup",
    "CostRow",
    "ModelCallRecord",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "ToolCallRecord",
    "ToolStatus",
]

RunStatus = Literal["running", "succeeded", "failed", "interrupted", "cancelled"]
ToolStatus = Literal["ok", "error", "timeout", "denied"]
CostGroup = Literal["thread", "node", "provider", "model", "run"]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of a graph.

    Attributes:
        run_id: the run's id.
        thread_id: the thread (conversation) it ran on.
        graph: the graph's name.
        status: ``running``, ``succeeded``, ``failed``, ``interrupted`` or ``cancelled``.
        started_at: when it started (UTC).
        ended_at: when it finished (UTC), ``None`` while running.
        error: the error that ended it, as ``"ErrorClass: message"``.
    """

    run_id: str
    thread_id: str | None
    graph: str | None
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None
    error: str | None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, ``None`` while running."""
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        """Build from a ``tg_runs`` row."""
        return cls(row.run_id, row.thread_id, row.graph, row.status, row.started_at, row.ended_at, row.error)


@dataclass(frozen=True, slots=True)
class ModelCallRecord:
    """One model call (after its retries and fallbacks).

    Attributes:
        id: the row id (increasing in recording order).
        run_id: the run it belongs to.
        thread_id: the thread it belongs to.
        node: the graph node that made it.
        provider: the provider that answered (or was last tried).
        requested_model: the model the node asked for.
        model: the model that answered.
        attempts: how many tries were made, fallbacks included (circuit-breaker skips are not).
        fallback: whether a model other than the requested one answered.
        input_tokens: prompt tokens.
        output_tokens: completion tokens.
        cached_tokens: prompt tokens served from the provider's cache.
        reasoning_tokens: tokens spent on reasoning.
        cost_usd: the cost, ``None`` when the model is unpriced (unknown, not free).
        unpriced: whether the cost is unknown.
        latency_s: seconds the call took, retries included.
        error_class: the error that made the call fail, ``None`` on success.
        created_at: when it was recorded (UTC).
    """

    id: int
    run_id: str | None
    thread_id: str | None
    node: str | None
    provider: str
    requested_model: str
    model: str
    attempts: int
    fallback: bool
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    unpriced: bool
    latency_s: float
    error_class: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ModelCallRecord:
        """Build from a ``tg_model_calls`` row."""
        return cls(
            int(row.id),
            row.run_id,
            row.thread_id,
            row.node,
            row.provider,
            row.requested_model,
            row.model,
            int(row.attempts),
            bool(row.fallback),
            int(row.input_tokens),
            int(row.output_tokens),
            int(row.cached_tokens),
            int(row.reasoning_tokens),
            None if row.cost_usd is None else float(row.cost_usd),
            bool(row.unpriced),
            float(row.latency_s),
            row.error_class,
            row.created_at,
        )


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call.

    Attributes:
        id: the row id (increasing in recording order).
        run_id: the run it belongs to.
        thread_id: the thread it belongs to.
        node: the graph node that ran it.
        tool: the tool's name.
        status: ``ok``, ``error``, ``timeout`` or ``denied``.
        latency_s: seconds it took.
        error_class: the error it raised, ``None`` on success.
        created_at: when it was recorded (UTC).
    """

    id: int
    run_id: str | None
    thread_id: str | None
    node: str | None
    tool: str
    status: ToolStatus
    latency_s: float
    error_class: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ToolCallRecord:
        """Build from a ``tg_tool_calls`` row."""
        return cls(
            int(row.id),
            row.run_id,
            row.thread_id,
            row.node,
            row.tool,
            row.status,
            float(row.latency_s),
            row.error_class,
            row.created_at,
        )


@dataclass(frozen=True, slots=True)
class CostRow:
    """Totals of the model calls of one group (the grouping fields are set, the others ``None``).

    Attributes:
        thread_id: the thread, when grouped by ``"thread"``.
        node: the node, when grouped by ``"node"``.
        provider: the provider, when grouped by ``"provider"``.
        model: the model that answered, when grouped by ``"model"``.
        run_id: the run, when grouped by ``"run"``.
        calls: number of model calls.
        errors: calls that failed.
        input_tokens: prompt tokens.
        output_tokens: completion tokens.
        cached_tokens: cached prompt tokens.
        reasoning_tokens: reasoning tokens.
        cost_usd: cost summed over the priced calls only.
        unpriced_calls: calls whose cost is unknown; when not zero, ``cost_usd`` is a lower bound.
    """

    thread_id: str | None = None
    node: str | None = None
    provider: str | None = None
    model: str | None = None
    run_id: str | None = None
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @property
    def unpriced(self) -> bool:
        """Whether some calls have an unknown cost (so ``cost_usd`` is a lower bound)."""
        return self.unpriced_calls > 0


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything the ledger knows about one run, totalled.

    Attributes:
        run_id: the run.
        run: its record, ``None`` if only calls were recorded for it.
        total: totals over all its model calls.
        by_node: totals per node.
        by_provider: totals per provider.
        tool_calls: number of tool calls.
        tool_errors: tool calls whose status is not ``ok``.
    """

    run_id: str
    run: RunRecord | None
    total: CostRow
    by_node: list[CostRow] = field(default_factory=list)
    by_provider: list[CostRow] = field(default_factory=list)
    tool_calls: int = 0
    tool_errors: int = 0

    @property
    def unpriced(self) -> bool:
        """Whether some model calls of the run have an unknown cost."""
        return self.total.unpriced
