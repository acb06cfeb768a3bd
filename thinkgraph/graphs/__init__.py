"""Composing agents into graphs: a model per node, SQL persistence, runs, streams and history.

* :class:`Graph` — LangGraph's ``StateGraph`` where every node can have its own model
  (resolution: node → run override → settings by node name → graph default → settings default),
  with budgets and residency policies; :meth:`Graph.compile` persists to the settings database.
* :class:`CompiledGraph` — run / stream / resume / cancel (sync and async), threads, history
  with per-checkpoint changes, reasoning and cost, forks from past checkpoints.
* :func:`load_graph` — the same graph from a YAML file.
"""

from langgraph.graph import END, START

from thinkgraph.graphs._builder import Graph
from thinkgraph.graphs._events import (
    CostUpdated,
    CustomEvent,
    Event,
    NodeFinished,
    NodeStarted,
    ReasoningDelta,
    RunFinished,
    RunInterrupted,
    TokenDelta,
    ToolCalled,
    ToolReturned,
)
from thinkgraph.graphs._history import ChannelChange, HistoryEntry, ThreadInfo
from thinkgraph.graphs._policies import Budget, Residency
from thinkgraph.graphs._proxy import NodeModel
from thinkgraph.graphs._resolve import ModelChoice
from thinkgraph.graphs._runner import CompiledGraph, RunResult
from thinkgraph.graphs._yaml import AGENT_KINDS, GraphSpec, load_graph

__all__ = [
    "AGENT_KINDS",
    "END",
    "START",
    "Budget",
    "ChannelChange",
    "CompiledGraph",
    "CostUpdated",
    "CustomEvent",
    "Event",
    "Graph",
    "GraphSpec",
    "HistoryEntry",
    "ModelChoice",
    "NodeFinished",
    "NodeModel",
    "NodeStarted",
    "ReasoningDelta",
    "Residency",
    "RunFinished",
    "RunInterrupted",
    "RunResult",
    "ThreadInfo",
    "TokenDelta",
    "ToolCalled",
    "ToolReturned",
    "load_graph",
]
