"""Every agent end to end on thinkgraph.testing.ScriptedModel (scripts replayed in order)."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from thinkgraph.agents import (
    Critique,
    DifficultyGrade,
    Draft,
    Plan,
    PlanStep,
    ReplanDecision,
    StepReport,
    build_difficulty_router,
    build_plan_execute_agent,
    build_reflection_agent,
    build_tool_agent,
)
from thinkgraph.testing import Reply, ScriptedModel, ToolCall
from thinkgraph.tools import calculator


async def test_tool_agent_on_scripted_model() -> None:
    model = ScriptedModel(
        [
            Reply(text="I will multiply.", tool_calls=[ToolCall("calculator", {"expression": "6 * 7"})]),
            Reply(text="It is 42.", reasoning="the calculator returned 42"),
        ],
        model_name="react",
    )
    graph = build_tool_agent(model, [calculator]).compile(checkpointer=InMemorySaver())
    result = await graph.ainvoke({"messages": [HumanMessage("6 * 7?")]}, {"configurable": {"thread_id": "s"}})
    assert result["outcome"] == "final" and result["messages"][-1].content == "It is 42."
    assert isinstance(result["messages"][2], ToolMessage) and result["messages"][2].content == "42"
    assert [t["model"] for t in result["traces"]] == ["scripted/react"] * 2
    assert [t["reasoning_source"] for t in result["traces"]] == ["thought", "native"]
    assert model.remaining == 0 and model.calls[0].tools[0]["function"]["name"] == "calculator"


async def test_plan_execute_on_scripted_models() -> None:
    plan = Plan(
        goal="double 21",
        rationale="one step suffices",
        steps=[PlanStep(id="s1", description="compute 21 * 2")],
    )
    planner = ScriptedModel(
        [plan, ReplanDecision(thought="done", action="finish", final_answer="42")], model_name="planner"
    )
    executor = ScriptedModel(
        [
            Reply(tool_calls=[ToolCall("calculator", {"expression": "21 * 2"})]),
            "The result is 42.",
            StepReport(thought="the calculator agrees", status="done", output="42"),
        ],
        model_name="executor",
    )
    graph = build_plan_execute_agent(planner, executor, tools=[calculator]).compile()
    result = await graph.ainvoke({"messages": [HumanMessage("What is 21 doubled?")]})
    assert result["outcome"] == "finished" and result["final_answer"] == "42"
    assert result["results"]["s1"]["output"] == "42"
    assert [(t["node"], t["model"]) for t in result["traces"]] == [
        ("planner", "scripted/planner"),
        ("step", "scripted/executor"),
        ("step", "scripted/executor"),
        ("step:respond", "scripted/executor"),
        ("replanner", "scripted/planner"),
    ]
    assert result["traces"][0]["reasoning"] == "one step suffices"
    assert planner.remaining == 0 and executor.remaining == 0


async def test_reflection_on_scripted_models() -> None:
    model = ScriptedModel(
        [Draft(thought="guess", answer="Sydney"), Draft(thought="use the evidence", answer="Canberra")],
        model_name="writer",
    )
    critic = ScriptedModel(
        [
            Critique(thought="contradicts evidence", verdict="revise", critique="The capital is Canberra."),
            Critique(thought="matches", verdict="accept", critique=""),
        ],
        model_name="critic",
    )
    result = (
        await build_reflection_agent(model, critic)
        .compile()
        .ainvoke(
            {"messages": [HumanMessage("Capital of Australia?")], "evidence": ["Canberra is the capital."]}
        )
    )
    assert result["outcome"] == "accepted" and result["messages"][-1].content == "Canberra"
    assert [t["reasoning"] for t in result["traces"]] == [
        "guess",
        "contradicts evidence",
        "use the evidence",
        "matches",
    ]
    assert "The capital is Canberra." in str(model.calls[1].messages[-1].content)


async def test_router_on_scripted_models() -> None:
    grader = ScriptedModel([DifficultyGrade(thought="multi-step", difficulty="hard")], model_name="grader")
    fast = ScriptedModel(["quick"], model_name="fast")
    deep = ScriptedModel([Reply(text="careful answer", reasoning="step by step")], model_name="deep")
    result = (
        await build_difficulty_router(grader, fast, deep)
        .compile()
        .ainvoke({"messages": [HumanMessage("Plan a trip")]})
    )
    assert result["route"] == "reasoning" and result["messages"][-1].content == "careful answer"
    assert [(t["node"], t["model"], t["reasoning"]) for t in result["traces"]] == [
        ("grader", "scripted/grader", "multi-step"),
        ("reasoning", "scripted/deep", "step by step"),
    ]
    assert fast.remaining == 1
