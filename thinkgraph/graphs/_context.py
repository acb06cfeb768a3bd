"""The per-run context: identity, overrides, budget usage, ledger and cancellation of one run.

A :class:`RunContext` travels in the run's ``RunnableConfig`` under :data:`RUN_KEY`; LangGraph and
langchain-core propagate the config to every node, subgraph and model call through context
variables, so a node's model proxy finds the run it serves without any global state. Keys that
start with ``__`` are never copied into checkpoint metadata.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.runtime import RunControl

from thinkgraph.exceptions import BudgetExceeded
from thinkgraph.graphs._policies import Budget

if TYPE_CHECKING:
    from thinkgraph.graphs._resolve import ModelChoice, Resolver

__all__ = ["RUN_ID_KEY", "RUN_KEY", "RunContext", "Usage", "current_run", "node_of_config"]

RUN_KEY = "__thinkgraph_run__"
"""Where the :class:`RunContext` sits in ``config["configurable"]``."""

RUN_ID_KEY = "thinkgraph_run_id"
"""A plain string copy of the run id in ``configurable``: LangGraph records it in checkpoint metadata."""


@dataclass
class Usage:
    """What a run has used so far (thread-safe counters)."""

    cost_usd: float = 0.0
    model_calls: int = 0
    unpriced_calls: int = 0
    wall_time_s: float = 0.0
    """Wall time carried over from earlier runs of the same piece of work."""


@dataclass
class RunContext:
    """Everything a node's model proxy needs to know about the run it serves.

    Attributes:
        run_id: the run's id (a new one for every run, resumes included).
        thread_id: the thread the run works on.
        graph: the graph's name.
        overrides: run-time model overrides by node name (``"*"`` applies to every node).
        budget: the run's limits, or ``None``.
        ledger: where model and tool calls are recorded, or ``None``.
        control: LangGraph's run control; draining it stops the run at the next step boundary.
        resolver: resolves each node's model for this run's graph.
        usage: what the run (and the runs it continues) used so far.
        events: whether the run streams events (``False`` for ``run()``/``arun()`` without
            events: nothing builds the cost and reasoning events then).
    """

    run_id: str
    thread_id: str
    graph: str
    overrides: Mapping[str, ModelChoice] = field(default_factory=dict)
    budget: Budget | None = None
    ledger: Any = None
    resolver: Resolver | None = None
    control: RunControl = field(default_factory=RunControl)
    usage: Usage = field(default_factory=Usage)
    events: bool = True
    started: float = field(default_factory=time.monotonic)
    downgraded: bool = False
    breach: tuple[str, float, float] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wall_time_s(self) -> float:
        """Seconds this run (plus carried-over runs) has taken so far."""
        return self.usage.wall_time_s + (time.monotonic() - self.started)

    def check_budget(self) -> tuple[str, float, float] | None:
        """The limit this run has reached, or ``None``; sets ``downgraded`` in downgrade mode."""
        if self.budget is None:
            return None
        with self._lock:
            hit = self.budget.breached(self.usage.cost_usd, self.usage.model_calls, self.wall_time_s())
            if hit is not None and self.budget.on_exceed == "downgrade":
                self.downgraded = True
            return hit

    def reserve_call(self) -> None:
        """Count one model call before it is made, or stop the run if a limit is reached.

        Raises:
            BudgetExceeded: the budget is in ``"stop"`` mode and a limit is reached.
        """
        hit = self.check_budget()
        with self._lock:
            if hit is not None and self.budget is not None and self.budget.on_exceed == "stop":
                self.breach = hit
                raise BudgetExceeded(hit[0], hit[1], hit[2], thread_id=self.thread_id)
            self.usage.model_calls += 1

    def add_cost(self, cost_usd: float | None) -> float:
        """Add one call's cost (``None`` = unpriced) and return the run's total."""
        with self._lock:
            if cost_usd is None:
                self.usage.unpriced_calls += 1
            else:
                self.usage.cost_usd += cost_usd
            return self.usage.cost_usd

    def config(self, base: RunnableConfig | None = None) -> RunnableConfig:
        """A LangGraph config for this run (``base`` merged in, its ``configurable`` kept)."""
        config: dict[str, Any] = dict(base or {})
        configurable = dict(config.get("configurable") or {})
        configurable.update({"thread_id": self.thread_id, RUN_KEY: self, RUN_ID_KEY: self.run_id})
        config["configurable"] = configurable
        return cast(RunnableConfig, config)


def current_run(config: RunnableConfig | None = None) -> RunContext | None:
    """The :class:`RunContext` of the run being executed (from ``config`` or the context), if any."""
    if config is None:
        config = var_child_runnable_config.get()
    if not config:
        return None
    context = (config.get("configurable") or {}).get(RUN_KEY)
    return context if isinstance(context, RunContext) else None


def node_of_config(config: RunnableConfig | None = None) -> str | None:
    """The top-level graph node being executed, read from LangGraph's checkpoint namespace.

    Inside a subgraph (an agent's own nodes) this is still the node of the outer graph that runs
    the subgraph, so a model shared by a subgraph is attributed to that node.
    """
    if config is None:
        config = var_child_runnable_config.get()
    if not config:
        return None
    metadata = config.get("metadata") or {}
    namespace = metadata.get("langgraph_checkpoint_ns") or (config.get("configurable") or {}).get(
        "checkpoint_ns"
    )
    if isinstance(namespace, str) and namespace:
        return namespace.split("|", 1)[0].split(":", 1)[0]
    node = metadata.get("langgraph_node")
    return node if isinstance(node, str) else None
