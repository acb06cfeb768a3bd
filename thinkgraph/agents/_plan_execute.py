"""Plan and execute with replanning: planner → steps as a dependency graph (parallel) → replanner."""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.types import Send, interrupt
from pydantic import ValidationError

from thinkgraph.agents._calls import ModelLike, as_node, call_structured, last_human_text, resolve
from thinkgraph.agents._plan import Plan, PlanStep, ReplanDecision, StepReport, StepResult
from thinkgraph.agents._react import build_tool_agent
from thinkgraph.agents._trace import ReasoningTrace
from thinkgraph.exceptions import ConfigError

__all__ = ["PlanExecuteState", "StepTask", "build_plan_execute_agent", "merge_results"]

PLANNER_PROMPT = (
    "You plan before acting. Break the user's request into a short plan of concrete steps. Give each "
    "step a unique id, a self-contained description, the ids of the steps whose results it needs "
    "(depends_on) and the output it should produce. Steps that do not depend on each other run in "
    "parallel. Explain your reasoning in the rationale."
)
STEP_PROMPT = (
    "You carry out one step of a larger plan, using tools when they help. When a tool fails, read "
    "the error and adapt. Be concise and factual."
)
REPLANNER_PROMPT = (
    "You review the progress of a plan. Given the goal, the plan and the results so far, choose: "
    "'finish' with the final answer when the goal is met; 'continue' when the remaining steps are "
    "still right; or 'revise' with new remaining steps (they replace every step not yet done; reuse "
    "done steps' ids in depends_on) when a step failed or the plan needs to change. Explain your "
    "reasoning in thought."
)

Outcome = Literal["finished", "replan_limit", "rejected"]


def merge_results(
    left: Mapping[str, StepResult] | None, right: Mapping[str, StepResult | None] | None
) -> dict[str, StepResult]:
    """Reducer for ``results``: merge by step id; a ``None`` value deletes the entry."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class PlanExecuteState(TypedDict, total=False):
    """State of the plan-and-execute agent.

    Attributes:
        messages: the conversation; the last human message is the request, the final answer is
            appended as an ``AIMessage``.
        traces: one :class:`ReasoningTrace` per model step (planner, every step's agent, replanner).
        plan: the current :class:`Plan` as plain data (``Plan.model_validate(state["plan"])``).
        plan_version: 0 for the first plan, +1 per revision.
        results: :class:`StepResult` by step id.
        replans: how many times the replanner revised or retried the plan.
        final_answer: the answer, when finished.
        outcome: ``"finished"``, ``"replan_limit"`` or ``"rejected"`` (a human rejected the plan).
    """

    messages: Annotated[list[AnyMessage], add_messages]
    traces: Annotated[list[ReasoningTrace], operator.add]
    plan: dict[str, Any] | None
    plan_version: int
    results: Annotated[dict[str, StepResult], merge_results]
    replans: int
    final_answer: str | None
    outcome: Outcome | None


class StepTask(TypedDict):
    """What the executor node receives for one step (sent with ``Send``)."""

    step: dict[str, Any]
    goal: str
    context: dict[str, str]
    plan_version: int


def _request(messages: Sequence[AnyMessage]) -> str:
    return last_human_text(
        messages, "the plan-and-execute agent needs a HumanMessage with the request in 'messages'"
    )


def _status(results: Mapping[str, StepResult], step_id: str) -> str | None:
    result = results.get(step_id)
    return result["status"] if result is not None else None


def _summary(plan: Plan, results: Mapping[str, StepResult]) -> str:
    lines = []
    for step in plan.steps:
        result = results.get(step.id)
        status = result["status"] if result else "not run"
        output = result["output"] if result else ""
        lines.append(f"- {step.id} ({status}): {output}")
    return "\n".join(lines)


def _review(value: Any, plan: Plan) -> tuple[Literal["approve", "edit", "reject"], Plan | None, str]:
    if value is True or (isinstance(value, str) and value.lower() in ("approve", "approved", "yes", "ok")):
        return "approve", plan, ""
    if value is False or (isinstance(value, str) and value.lower() in ("reject", "rejected", "no")):
        return "reject", None, ""
    if isinstance(value, Plan):
        return "edit", value, ""
    if isinstance(value, dict):
        action = str(value.get("action", "")).lower()
        if action in ("approve", "approved"):
            return "approve", plan, ""
        if action in ("reject", "rejected"):
            return "reject", None, str(value.get("reason") or "")
        if action == "edit" and "plan" in value:
            edited = value["plan"]
            return "edit", edited if isinstance(edited, Plan) else Plan.model_validate(edited), ""
    raise ConfigError(
        f"cannot read the plan review {value!r}: resume with True, 'approve', False, 'reject', "
        "{'action': 'edit', 'plan': ...} or {'action': 'reject', 'reason': ...}"
    )


def build_plan_execute_agent(
    planner: ModelLike,
    executor: ModelLike,
    replanner: ModelLike | None = None,
    *,
    tools: Sequence[BaseTool] = (),
    max_replans: int = 2,
    max_step_iterations: int = 6,
    review_plan: bool = False,
    planner_prompt: str = PLANNER_PROMPT,
    step_prompt: str = STEP_PROMPT,
    replanner_prompt: str = REPLANNER_PROMPT,
) -> StateGraph[Any]:
    """A plan → execute → replan agent as an uncompiled ``StateGraph`` over :class:`PlanExecuteState`.

    The planner writes a :class:`Plan` (structured output). Steps run as a dependency graph: every
    step whose dependencies are done is sent at once with ``Send``, so independent steps run in
    parallel, each by its own tool agent (:func:`build_tool_agent`) that ends with a
    :class:`StepReport`. When a step fails, or when no step is left, the replanner reads the
    results and finishes, continues or revises the remaining steps; at most ``max_replans``
    revisions (then ``outcome="replan_limit"`` with the results so far as the answer).

    With ``review_plan=True`` the run pauses after planning with ``interrupt({"type":
    "plan_review", "plan": ...})``; resume with ``Command(resume=True)``, ``"reject"`` or
    ``{"action": "edit", "plan": {...}}``.

    Compile it yourself (``.compile(checkpointer=...)``) or embed it as a subgraph; run it with
    ``ainvoke``/``astream`` (``invoke`` works too).

    Args:
        planner: the planner's model (also the replanner's unless ``replanner`` is given).
        executor: the model of every step's tool agent.
        replanner: the replanner's model.
        tools: the tools the steps may use.
        max_replans: the most plan revisions.
        max_step_iterations: the most model steps of one step's tool agent.
        review_plan: pause for a human to approve, edit or reject the plan.
        planner_prompt: the planner's system prompt.
        step_prompt: the system prompt of the step agents.
        replanner_prompt: the replanner's system prompt.
    """
    if max_replans < 0:
        raise ConfigError(f"max_replans must be 0 or more, got {max_replans!r}")
    plan_model = resolve(planner)
    replan_model = resolve(replanner) if replanner is not None else plan_model
    step_agent = build_tool_agent(
        executor,
        tools,
        system_prompt=step_prompt,
        max_steps=max_step_iterations,
        response_format=StepReport,
        node_name="step",
    ).compile()

    async def plan(state: PlanExecuteState, config: RunnableConfig) -> dict[str, Any]:
        messages = state.get("messages") or []
        _request(messages)
        made, trace = await call_structured(
            plan_model,
            Plan,
            [SystemMessage(planner_prompt), *messages],
            node="planner",
            config=config,
            label="plan v0",
            thought_field="rationale",
        )
        return {
            "plan": made.model_dump(),
            "plan_version": 0,
            "replans": 0,
            "traces": [trace],
            "outcome": None,
            "final_answer": None,
        }

    async def review(state: PlanExecuteState, config: RunnableConfig) -> dict[str, Any]:
        current = Plan.model_validate(state["plan"])
        decision, edited, reason = _review(
            interrupt({"type": "plan_review", "plan": current.model_dump()}), current
        )
        if decision == "reject":
            text = "The plan was rejected" + (f": {reason}" if reason else ".")
            return {"outcome": "rejected", "final_answer": text, "messages": [AIMessage(text)]}
        assert edited is not None
        return {"plan": edited.model_dump()}

    def after_review(state: PlanExecuteState) -> str:
        return END if state.get("outcome") == "rejected" else "schedule"

    async def schedule(state: PlanExecuteState, config: RunnableConfig) -> dict[str, Any]:
        return {}

    def dispatch(state: PlanExecuteState) -> list[Send] | str:
        current = Plan.model_validate(state["plan"])
        results = state.get("results") or {}
        if any(_status(results, s.id) == "failed" for s in current.steps):
            return "replanner"
        done = {s.id for s in current.steps if _status(results, s.id) == "done"}
        ready = [s for s in current.steps if s.id not in done and set(s.depends_on) <= done]
        if not ready:
            return "replanner"
        goal = current.goal
        return [
            Send(
                "execute_step",
                StepTask(
                    step=s.model_dump(),
                    goal=goal,
                    context={d: results[d]["output"] for d in s.depends_on},
                    plan_version=state.get("plan_version") or 0,
                ),
            )
            for s in ready
        ]

    async def execute_step(task: StepTask, config: RunnableConfig) -> dict[str, Any]:
        step = PlanStep.model_validate(task["step"])
        context = "\n".join(f"- result of {k}: {v}" for k, v in task["context"].items()) or "(none)"
        prompt = (
            f"Overall goal: {task['goal']}\n\nYour step ({step.id}): {step.description}\n"
            f"Expected output: {step.expected_output or 'a short factual result'}\n\n"
            f"Results of the steps it depends on:\n{context}"
        )
        started = time.time()
        traces: list[ReasoningTrace] = []
        error: str | None
        try:
            out = await step_agent.ainvoke({"messages": [HumanMessage(prompt)]}, config)
            traces = [{**t, "label": step.id} for t in out.get("traces", [])]  # type: ignore[typeddict-item]
            raw_report = out.get("structured_response")
            report = StepReport.model_validate(raw_report) if raw_report is not None else None
            if out.get("outcome") == "step_limit" or report is None:
                status, output, error = "failed", "", "the step's agent hit its step limit"
            else:
                status, output = report.status, report.output
                error = None if report.status == "done" else report.output
        except GraphBubbleUp:
            raise
        except Exception as exc:
            status, output, error = "failed", "", f"{type(exc).__name__}: {exc}"
        result = StepResult(
            step_id=step.id,
            status=status,  # type: ignore[typeddict-item]
            output=output,
            error=error,
            started_at=started,
            finished_at=time.time(),
            plan_version=task["plan_version"],
        )
        return {"results": {step.id: result}, "traces": traces}

    async def replan(state: PlanExecuteState, config: RunnableConfig) -> dict[str, Any]:
        current = Plan.model_validate(state["plan"])
        results = state.get("results") or {}
        replans = state.get("replans") or 0
        version = state.get("plan_version") or 0
        ids = {s.id for s in current.steps}
        progress = {
            "goal": current.goal,
            "plan": current.model_dump(),
            "results": {
                k: {"status": v["status"], "output": v["output"], "error": v["error"]}
                for k, v in results.items()
                if k in ids
            },
            "replans_left": max_replans - replans,
        }
        conversation: list[AnyMessage] = [
            SystemMessage(replanner_prompt),
            *(state.get("messages") or []),
            HumanMessage("Progress so far:\n" + json.dumps(progress, indent=1, default=str)),
        ]
        done = [s for s in current.steps if _status(results, s.id) == "done"]
        failed = [s.id for s in current.steps if _status(results, s.id) == "failed"]
        remaining = [s for s in current.steps if s not in done]
        traces: list[ReasoningTrace] = []

        def finish(answer: str, outcome: Outcome) -> dict[str, Any]:
            return {
                "traces": traces,
                "final_answer": answer,
                "outcome": outcome,
                "messages": [AIMessage(answer)],
            }

        for attempt in range(2):
            decision, trace = await call_structured(
                replan_model,
                ReplanDecision,
                conversation,
                node="replanner",
                config=config,
                label=f"after plan v{version}" + (f" (retry {attempt})" if attempt else ""),
            )
            traces.append(trace)
            if decision.action == "finish" or (decision.action == "continue" and not remaining):
                return finish(decision.final_answer or _summary(current, results), "finished")
            if replans >= max_replans and (decision.action == "revise" or failed):
                return finish(
                    f"I could not complete the plan within {max_replans} replan(s). Results so far:\n"
                    + _summary(current, results),
                    "replan_limit",
                )
            if decision.action == "continue":  # retry the failed steps as they are
                return {"traces": traces, "replans": replans + 1, "results": dict.fromkeys(failed)}
            try:
                revised = Plan(goal=current.goal, rationale=decision.thought, steps=[*done, *decision.steps])
            except ValidationError as exc:
                conversation.append(
                    HumanMessage(f"Those revised steps are invalid ({exc.errors()[0]['msg']}); revise again.")
                )
                continue
            stale = {s.id for s in revised.steps} & set(failed)
            return {
                "traces": traces,
                "plan": revised.model_dump(),
                "plan_version": version + 1,
                "replans": replans + 1,
                "results": dict.fromkeys(stale),
            }
        return finish(
            "The revised plan was invalid twice. Results so far:\n" + _summary(current, results),
            "replan_limit",
        )

    def after_replan(state: PlanExecuteState) -> str:
        return END if state.get("outcome") else "schedule"

    builder: StateGraph[Any] = StateGraph(PlanExecuteState)
    builder.add_node("planner", as_node(plan, "planner"))
    builder.add_node("schedule", as_node(schedule, "schedule"))
    builder.add_node("execute_step", as_node(execute_step, "execute_step"))
    builder.add_node("replanner", as_node(replan, "replanner"))
    builder.add_edge(START, "planner")
    if review_plan:
        builder.add_node("review_plan", as_node(review, "review_plan"))
        builder.add_edge("planner", "review_plan")
        builder.add_conditional_edges("review_plan", after_review, ["schedule", END])
    else:
        builder.add_edge("planner", "schedule")
    builder.add_conditional_edges("schedule", dispatch, ["execute_step", "replanner"])
    builder.add_edge("execute_step", "schedule")
    builder.add_conditional_edges("replanner", after_replan, ["schedule", END])
    return builder
