"""Reasoning agents as LangGraph subgraphs, each model-calling node on its own model.

Every builder returns an **uncompiled** ``StateGraph``: compile it with your checkpointer
(``.compile(checkpointer=SQLCheckpointer(...))``) or add it to a larger graph as a subgraph.
Model arguments accept a ``ChatModel``, a ``ModelSpec``, a ``"provider/name"`` string or any
langchain chat model (resolved with :func:`thinkgraph.models.resolve_model`).

* :func:`build_tool_agent`: ReAct model ↔ tools loop with a step limit and optional structured answer.
* :func:`build_plan_execute_agent`: planner → parallel steps (dependency graph) → replanner.
* :func:`build_reflection_agent`: answer → critic → revise, bounded.
* :func:`build_difficulty_router`: grade a request, route easy ones fast and hard ones to reasoning.

Every model step appends a :class:`ReasoningTrace` to the ``traces`` state field.
"""

from thinkgraph.agents._plan import Plan, PlanStep, ReplanDecision, StepReport, StepResult
from thinkgraph.agents._plan_execute import (
    PlanExecuteState,
    StepTask,
    build_plan_execute_agent,
    merge_results,
)
from thinkgraph.agents._react import ToolAgentState, build_tool_agent
from thinkgraph.agents._reflection import Critique, Draft, ReflectionState, build_reflection_agent
from thinkgraph.agents._router import DifficultyGrade, RouterState, build_difficulty_router
from thinkgraph.agents._trace import ReasoningTrace, trace_step

__all__ = [
    "Critique",
    "DifficultyGrade",
    "Draft",
    "Plan",
    "PlanExecuteState",
    "PlanStep",
    "ReasoningTrace",
    "ReflectionState",
    "ReplanDecision",
    "RouterState",
    "StepReport",
    "StepResult",
    "StepTask",
    "ToolAgentState",
    "build_difficulty_router",
    "build_plan_execute_agent",
    "build_reflection_agent",
    "build_tool_agent",
    "merge_results",
    "trace_step",
]
