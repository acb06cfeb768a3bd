"""Typed events a run streams: one frozen dataclass per kind, each with a ``kind`` tag.

Every event names the run, the thread and (except run-level events) the top-level ``node`` it
belongs to; events from inside a subgraph (an agent's tool loop) carry the subgraph path in
``namespace`` and are attributed to the top-level node that runs the subgraph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CostUpdated",
    "CustomEvent",
    "Event",
    "NodeFinished",
    "NodeStarted",
    "ReasoningDelta",
    "RunFinished",
    "RunInterrupted",
    "TokenDelta",
    "ToolCalled",
    "ToolReturned",
]


@dataclass(frozen=True, slots=True)
class NodeStarted:
    """A node (or a node inside a subgraph) started a task.

    Attributes:
        node: the top-level node the task belongs to.
        task: the name of the task's own node (equal to ``node`` at the top level).
        task_id: LangGraph's id of the task.
        namespace: the subgraph path, empty at the top level.
    """

    run_id: str
    thread_id: str
    node: str
    task: str
    task_id: str
    namespace: tuple[str, ...] = ()
    kind: Literal["node_started"] = field(default="node_started", init=False)


@dataclass(frozen=True, slots=True)
class NodeFinished:
    """A task finished; ``update`` is what it wrote, ``error`` its error message if it failed."""

    run_id: str
    thread_id: str
    node: str
    task: str
    task_id: str
    update: dict[str, Any]
    error: str | None = None
    namespace: tuple[str, ...] = ()
    kind: Literal["node_finished"] = field(default="node_finished", init=False)


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of streamed model output text."""

    run_id: str
    thread_id: str
    node: str
    text: str
    message_id: str | None = None
    namespace: tuple[str, ...] = ()
    kind: Literal["token"] = field(default="token", init=False)


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning text a model produced (streamed piecewise, or whole when the call ends)."""

    run_id: str
    thread_id: str
    node: str
    text: str
    provider: str | None = None
    model: str | None = None
    namespace: tuple[str, ...] = ()
    kind: Literal["reasoning"] = field(default="reasoning", init=False)


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """A model asked for a tool call."""

    run_id: str
    thread_id: str
    node: str
    name: str
    args: dict[str, Any]
    call_id: str | None
    namespace: tuple[str, ...] = ()
    kind: Literal["tool_call"] = field(default="tool_call", init=False)


@dataclass(frozen=True, slots=True)
class ToolReturned:
    """A tool call returned (``is_error`` when the tool failed and the error went back to the model)."""

    run_id: str
    thread_id: str
    node: str
    name: str | None
    call_id: str | None
    content: Any
    is_error: bool = False
    namespace: tuple[str, ...] = ()
    kind: Literal["tool_result"] = field(default="tool_result", init=False)


@dataclass(frozen=True, slots=True)
class CostUpdated:
    """A model call finished; the run's running totals after it.

    Attributes:
        cost_usd: the call's cost, ``None`` when the model has no known price.
        total_cost_usd: the run's priced total so far.
        model_calls: model calls of the run so far.
        unpriced: the call's cost is unknown (not free).
        fallback: a fallback model answered.
    """

    run_id: str
    thread_id: str
    node: str
    model: str
    provider: str
    cost_usd: float | None
    total_cost_usd: float
    model_calls: int
    input_tokens: int
    output_tokens: int
    unpriced: bool
    fallback: bool
    kind: Literal["cost"] = field(default="cost", init=False)


@dataclass(frozen=True, slots=True)
class CustomEvent:
    """Data a node wrote with LangGraph's stream writer."""

    run_id: str
    thread_id: str
    node: str
    data: Any
    namespace: tuple[str, ...] = ()
    kind: Literal["custom"] = field(default="custom", init=False)


@dataclass(frozen=True, slots=True)
class RunInterrupted:
    """The run paused on ``interrupt()``; resume it with :meth:`CompiledGraph.resume`.

    Attributes:
        interrupts: ``(interrupt id, value)`` pairs, one per pending interrupt.
        output: the thread's state values at the interrupt.
    """

    run_id: str
    thread_id: str
    interrupts: tuple[tuple[str, Any], ...]
    output: dict[str, Any] = field(default_factory=dict)
    kind: Literal["run_interrupted"] = field(default="run_interrupted", init=False)


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run completed; ``output`` is the final state and :attr:`summary` its accounting."""

    run_id: str
    thread_id: str
    output: dict[str, Any]
    summarize: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    kind: Literal["run_finished"] = field(default="run_finished", init=False)

    @property
    def summary(self) -> Any:
        """The ledger's ``RunSummary`` of the run (queried when read), ``None`` without a ledger."""
        return None if self.summarize is None else self.summarize()


Event = (
    NodeStarted
    | NodeFinished
    | TokenDelta
    | ReasoningDelta
    | ToolCalled
    | ToolReturned
    | CostUpdated
    | CustomEvent
    | RunInterrupted
    | RunFinished
)
"""Any event a run streams; discriminate on ``kind``."""
