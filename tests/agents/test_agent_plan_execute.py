"""Plan and execute: parallel independent steps, replanning after a failure, review, limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from agent_fakes import RuleModel, Turn
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import ValidationError

from thinkgraph.agents import Plan, PlanStep, build_plan_execute_agent, merge_results
from thinkgraph.exceptions import ConfigError, MalformedResponseError
from thinkgraph.tools import tool

THREE_STEPS = {
    "goal": "report the sum of A and B",
    "rationale": "A and B are independent; the sum needs both",
    "steps": [
        {"id": "a", "description": "find A", "expected_output": "a number"},
        {"id": "b", "description": "find B", "expected_output": "a number"},
        {"id": "sum", "description": "add A and B", "depends_on": ["a", "b"]},
    ],
}


@tool
def fetch(name: str) -> str:
    """Fetch a value by name.

    Args:
        name: which value.
    """
    if name == "B":
        raise LookupError("B is not in the primary source")
    return {"A": "2", "B2": "3"}.get(name, "?")


def step_id(turn: Turn) -> str:
    match = re.search(r"Your step \((\w+)\)", turn.text)
    return match.group(1) if match else ""


def config(thread: str = "t") -> Any:
    return {"configurable": {"thread_id": thread}}


def planner(plan: dict[str, Any], *decisions: dict[str, Any]) -> RuleModel:
    queue = list(decisions)

    def rule(turn: Turn) -> Any:
        if turn.tools == ["Plan"]:
            return dict(plan)
        assert turn.tools == ["ReplanDecision"]
        return queue.pop(0)

    return RuleModel(rule=rule, name_="planner", reasoning="planner thinks natively")


def simple_executor(turn: Turn) -> Any:
    step = step_id(turn)
    if turn.tools == ["StepReport"]:
        return {"thought": f"{step} went fine", "status": "done", "output": f"out-{step}"}
    return f"working on {step}"


async def test_independent_steps_run_in_parallel() -> None:
    executor = RuleModel(rule=simple_executor, latency=0.2, name_="executor")
    finish = {"thought": "all there", "action": "finish", "final_answer": "A+B=5"}
    graph = build_plan_execute_agent(planner(THREE_STEPS, finish), executor).compile(
        checkpointer=InMemorySaver()
    )
    result = await graph.ainvoke({"messages": [HumanMessage("What is A + B?")]}, config())
    assert result["outcome"] == "finished" and result["final_answer"] == "A+B=5"
    assert result["messages"][-1].content == "A+B=5"
    results = result["results"]
    assert {k: v["status"] for k, v in results.items()} == {"a": "done", "b": "done", "sum": "done"}
    a, b, total = results["a"], results["b"], results["sum"]
    # a and b overlap in time; sum starts after both finished
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]
    assert total["started_at"] >= max(a["finished_at"], b["finished_at"])
    # the sum step saw its dependencies' results
    assert any("result of a: out-a" in call[2] for call in executor.calls)
    # a trace for every model step: planner, 2 per step, replanner
    nodes = [(t["node"], t["label"]) for t in result["traces"]]
    assert nodes[0] == ("planner", "plan v0") and nodes[-1] == ("replanner", "after plan v0")
    assert sorted(n for n in nodes if n[0].startswith("step")) == sorted(
        [("step", s) for s in ("a", "b", "sum")] + [("step:respond", s) for s in ("a", "b", "sum")]
    )
    assert len(executor.calls) == 6 and len(result["traces"]) == 8
    planner_trace = result["traces"][0]
    assert planner_trace["reasoning"] == "planner thinks natively" and planner_trace["model"] == "planner"
    step_trace = next(t for t in result["traces"] if t["node"] == "step:respond")
    assert step_trace["reasoning_source"] == "thought" and step_trace["reasoning"].endswith("went fine")


async def test_replanning_after_a_failing_step() -> None:
    plan = {
        "goal": "A + B",
        "rationale": "fetch both",
        "steps": [
            {"id": "a", "description": "fetch A"},
            {"id": "b", "description": "fetch B"},
            {"id": "sum", "description": "add", "depends_on": ["a", "b"]},
        ],
    }
    revise = {
        "thought": "B is not in the primary source; use B2",
        "action": "revise",
        "steps": [
            {"id": "b2", "description": "fetch B2"},
            {"id": "sum", "description": "add A and B2", "depends_on": ["a", "b2"]},
        ],
    }
    finish = {"thought": "done", "action": "finish", "final_answer": "5"}

    def executor(turn: Turn) -> Any:
        step = step_id(turn)
        results = [m for m in turn.messages if isinstance(m, ToolMessage)]
        if turn.tools == ["StepReport"]:
            if step == "b":
                return {"thought": "the tool failed", "status": "failed", "output": str(results[-1].content)}
            return {"thought": "ok", "status": "done", "output": str(results[-1].content) if results else "5"}
        if step in ("a", "b", "b2") and not results:
            return {"tool": "fetch", "name": {"a": "A", "b": "B", "b2": "B2"}[step]}
        return "finished"

    graph = build_plan_execute_agent(planner(plan, revise, finish), RuleModel(rule=executor), tools=[fetch])
    result = await graph.compile(checkpointer=InMemorySaver()).ainvoke(
        {"messages": [HumanMessage("A+B?")]}, config()
    )
    assert result["outcome"] == "finished" and result["final_answer"] == "5"
    assert result["replans"] == 1 and result["plan_version"] == 1
    assert [s["id"] for s in result["plan"]["steps"]] == ["a", "b2", "sum"]
    results = result["results"]
    assert results["a"]["output"] == "2" and results["b2"]["output"] == "3"
    assert results["b"]["status"] == "failed" and "LookupError" in results["b"]["output"]
    assert results["sum"]["plan_version"] == 1  # run only under the revised plan
    assert results["a"]["plan_version"] == 0  # the done step was kept, not re-run
    assert [t["node"] for t in result["traces"]].count("replanner") == 2


async def test_replan_limit_ends_with_partial_results() -> None:
    plan = {"goal": "g", "rationale": "r", "steps": [{"id": "x", "description": "impossible"}]}
    retry = {"thought": "try again", "action": "continue"}

    def executor(turn: Turn) -> Any:
        if turn.tools == ["StepReport"]:
            return {"thought": "no", "status": "failed", "output": "cannot"}
        return "trying"

    graph = build_plan_execute_agent(
        planner(plan, retry, retry, retry), RuleModel(rule=executor), max_replans=1
    )
    result = await graph.compile().ainvoke({"messages": [HumanMessage("do the impossible")]})
    assert result["outcome"] == "replan_limit" and result["replans"] == 1
    assert "within 1 replan(s)" in result["final_answer"] and "x (failed): cannot" in result["final_answer"]


async def test_step_agent_limit_and_crash_count_as_failed_steps() -> None:
    plan = {
        "goal": "g",
        "rationale": "r",
        "steps": [{"id": "loop", "description": "loops"}, {"id": "crash", "description": "crashes"}],
    }
    finish = {"thought": "report what happened", "action": "finish"}

    def executor(turn: Turn) -> Any:
        if step_id(turn) == "crash":
            raise RuntimeError("model exploded")
        return {"tool": "fetch", "name": "A"}

    graph = build_plan_execute_agent(
        planner(plan, finish), RuleModel(rule=executor), tools=[fetch], max_step_iterations=2
    )
    result = await graph.compile().ainvoke({"messages": [HumanMessage("go")]})
    results = result["results"]
    assert results["loop"]["status"] == "failed" and "step limit" in (results["loop"]["error"] or "")
    assert results["crash"]["status"] == "failed" and "RuntimeError: model exploded" in (
        results["crash"]["error"] or ""
    )
    assert result["outcome"] == "finished"
    assert "loop (failed)" in result["final_answer"]  # no final answer given: the summary is used


async def test_invalid_revision_is_retried_then_given_up() -> None:
    plan = {"goal": "g", "rationale": "r", "steps": [{"id": "x", "description": "fails"}]}
    bad = {
        "thought": "t",
        "action": "revise",
        "steps": [{"id": "y", "description": "d", "depends_on": ["nope"]}],
    }
    good = {"thought": "t", "action": "revise", "steps": [{"id": "y", "description": "works"}]}
    finish = {"thought": "t", "action": "finish", "final_answer": "ok"}

    def executor(turn: Turn) -> Any:
        if turn.tools == ["StepReport"]:
            status = "done" if step_id(turn) == "y" else "failed"
            return {"thought": "t", "status": status, "output": step_id(turn)}
        return "..."

    graph = build_plan_execute_agent(planner(plan, bad, good, finish), RuleModel(rule=executor)).compile()
    result = await graph.ainvoke({"messages": [HumanMessage("go")]})
    assert result["outcome"] == "finished" and result["results"]["y"]["status"] == "done"

    graph = build_plan_execute_agent(planner(plan, bad, bad), RuleModel(rule=executor)).compile()
    result = await graph.ainvoke({"messages": [HumanMessage("go")]})
    assert result["outcome"] == "replan_limit" and "invalid twice" in result["final_answer"]


async def test_human_reviews_and_edits_the_plan() -> None:
    finish = {"thought": "ok", "action": "finish", "final_answer": "edited plan ran"}
    executor = RuleModel(rule=simple_executor)
    graph = build_plan_execute_agent(planner(THREE_STEPS, finish), executor, review_plan=True).compile(
        checkpointer=InMemorySaver()
    )
    paused = await graph.ainvoke({"messages": [HumanMessage("What is A + B?")]}, config())
    (pending,) = paused["__interrupt__"]
    assert pending.value["type"] == "plan_review" and len(pending.value["plan"]["steps"]) == 3
    assert not paused.get("results")  # nothing ran before the review
    edited = {**THREE_STEPS, "steps": [{"id": "only", "description": "just one step"}]}
    result = await graph.ainvoke(Command(resume={"action": "edit", "plan": edited}), config())
    assert list(result["results"]) == ["only"] and result["final_answer"] == "edited plan ran"

    rejected = await graph.ainvoke({"messages": [HumanMessage("again")]}, config("r"))
    assert rejected["__interrupt__"]
    result = await graph.ainvoke(Command(resume={"action": "reject", "reason": "too costly"}), config("r"))
    assert result["outcome"] == "rejected" and result["final_answer"] == "The plan was rejected: too costly"

    approved = await graph.ainvoke({"messages": [HumanMessage("again")]}, config("a"))
    assert approved["__interrupt__"]
    with pytest.raises(ConfigError, match="cannot read the plan review"):
        await graph.ainvoke(Command(resume=42), config("a"))


def test_plan_validation() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Plan(
            goal="g",
            rationale="r",
            steps=[PlanStep(id="a", description="x"), PlanStep(id="a", description="y")],
        )
    with pytest.raises(ValidationError, match="unknown step"):
        Plan(goal="g", rationale="r", steps=[PlanStep(id="a", description="x", depends_on=["z"])])
    with pytest.raises(ValidationError, match="itself"):
        Plan(goal="g", rationale="r", steps=[PlanStep(id="a", description="x", depends_on=["a"])])
    with pytest.raises(ValidationError, match="cycle"):
        Plan(
            goal="g",
            rationale="r",
            steps=[
                PlanStep(id="a", description="x", depends_on=["b"]),
                PlanStep(id="b", description="y", depends_on=["a"]),
            ],
        )
    plan = Plan.model_validate(THREE_STEPS)
    assert plan.topological_order() == ["a", "b", "sum"] and plan.step("sum").depends_on == ["a", "b"]
    with pytest.raises(KeyError):
        plan.step("zzz")


def test_merge_results_deletes_on_none() -> None:
    entry: Any = {"status": "done"}
    assert merge_results({"a": entry, "b": entry}, {"b": None, "c": entry}) == {"a": entry, "c": entry}
    assert merge_results(None, None) == {}


async def test_malformed_plan_is_reported() -> None:
    model = RuleModel(rule=lambda turn: {"goal": "missing the rest"})
    graph = build_plan_execute_agent(model, model).compile()
    with pytest.raises(MalformedResponseError, match="no valid Plan after a repair attempt"):
        await graph.ainvoke({"messages": [HumanMessage("go")]})
    with pytest.raises(ConfigError, match="needs a HumanMessage"):
        await graph.ainvoke({"messages": []})
    with pytest.raises(ConfigError, match="max_replans"):
        build_plan_execute_agent(model, model, max_replans=-1)


async def test_plan_review_accepts_simple_answers() -> None:
    finish = {"thought": "ok", "action": "finish", "final_answer": "done"}
    for n, answer in enumerate(
        [True, "approve", {"action": "approve"}, Plan.model_validate(THREE_STEPS), False]
    ):
        graph = build_plan_execute_agent(
            planner(THREE_STEPS, finish), RuleModel(rule=simple_executor), review_plan=True
        ).compile(checkpointer=InMemorySaver())
        await graph.ainvoke({"messages": [HumanMessage("A + B?")]}, config(str(n)))
        result = await graph.ainvoke(Command(resume=answer), config(str(n)))
        if answer is False:
            assert result["outcome"] == "rejected" and result["final_answer"] == "The plan was rejected."
        else:
            assert result["outcome"] == "finished" and len(result["results"]) == 3


async def test_structured_output_is_repaired_once() -> None:
    attempts: list[int] = []

    def rule(turn: Turn) -> Any:
        if turn.tools == ["Plan"]:
            attempts.append(1)
            if len(attempts) == 1:
                return {"goal": "incomplete"}
            assert "did not match the required Plan format" in turn.last
            return {"goal": "g", "rationale": "second try", "steps": [{"id": "s", "description": "d"}]}
        if turn.tools == ["ReplanDecision"]:
            return {"thought": "t", "action": "finish", "final_answer": "fixed"}
        return simple_executor(turn)

    model = RuleModel(rule=rule)
    result = (
        await build_plan_execute_agent(model, model).compile().ainvoke({"messages": [HumanMessage("go")]})
    )
    assert result["final_answer"] == "fixed" and len(attempts) == 2
    assert result["traces"][0]["reasoning"] == "second try"
