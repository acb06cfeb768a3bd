"""Reflection (critic-driven revision) and the difficulty router, on rule-driven models."""

from __future__ import annotations

from typing import Any

import pytest
from agent_fakes import RuleModel, Turn
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from thinkgraph.agents import (
    DifficultyGrade,
    build_difficulty_router,
    build_reflection_agent,
    build_tool_agent,
)
from thinkgraph.exceptions import ConfigError


def answerer() -> RuleModel:
    def rule(turn: Turn) -> Any:
        if "Reviewer's critique" in turn.text:
            return {"thought": "fix the year per the evidence", "answer": "It opened in 1889."}
        return {"thought": "I recall 1887", "answer": "It opened in 1887."}

    return RuleModel(rule=rule, name_="answerer", provider="openai")


def critic(accept_when: str) -> RuleModel:
    def rule(turn: Turn) -> Any:
        assert "Evidence:\n[1] The Eiffel Tower opened in March 1889." in turn.text
        if f"Answer: It opened in {accept_when}" in turn.last:
            return {"thought": "matches the evidence", "verdict": "accept", "critique": ""}
        return {
            "thought": "the evidence says 1889",
            "verdict": "revise",
            "critique": "The year is wrong: 1889.",
        }

    return RuleModel(rule=rule, name_="critic", provider="anthropic", reasoning="critic's native thinking")


async def test_reflection_revises_until_accepted() -> None:
    graph = build_reflection_agent(answerer(), critic("1889")).compile(checkpointer=InMemorySaver())
    result = await graph.ainvoke(
        {
            "messages": [HumanMessage("When did the Eiffel Tower open?")],
            "evidence": ["The Eiffel Tower opened in March 1889."],
        },
        {"configurable": {"thread_id": "r"}},
    )
    assert result["outcome"] == "accepted" and result["answer"] == "It opened in 1889."
    assert result["revisions"] == 1
    assert [c["verdict"] for c in result["critiques"]] == ["revise", "accept"]
    assert (
        isinstance(result["messages"][-1], AIMessage)
        and result["messages"][-1].content == "It opened in 1889."
    )
    traces = result["traces"]
    assert [(t["node"], t["label"]) for t in traces] == [
        ("answer", "draft"),
        ("critic", "review 1"),
        ("answer", "revision 1"),
        ("critic", "review 2"),
    ]
    assert traces[0]["reasoning"] == "I recall 1887" and traces[0]["provider"] == "openai"
    assert traces[1]["reasoning"] == "critic's native thinking" and traces[1]["provider"] == "anthropic"


async def test_reflection_stops_at_the_revision_limit() -> None:
    graph = build_reflection_agent(answerer(), critic("never"), max_revisions=2).compile()
    result = await graph.ainvoke(
        {"messages": [HumanMessage("When?")], "evidence": ["The Eiffel Tower opened in March 1889."]}
    )
    assert result["outcome"] == "revision_limit" and result["revisions"] == 2
    assert len(result["critiques"]) == 3 and len(result["traces"]) == 6
    with pytest.raises(ConfigError):
        build_reflection_agent(answerer(), critic("x"), max_revisions=-1)
    with pytest.raises(ConfigError, match="needs a HumanMessage"):
        await graph.ainvoke({"messages": []})


def paths() -> tuple[RuleModel, RuleModel]:
    fast = RuleModel(rule=lambda turn: f"fast: {turn.last}", name_="small-model")
    deep = RuleModel(
        rule=lambda turn: f"deep: {turn.last}", name_="reasoning-model", reasoning="long thinking"
    )
    return fast, deep


async def test_router_with_a_grading_model() -> None:
    def grade(turn: Turn) -> Any:
        hard = "prove" in turn.last
        return {"thought": "needs a proof" if hard else "a lookup", "difficulty": "hard" if hard else "easy"}

    fast, deep = paths()
    graph = build_difficulty_router(RuleModel(rule=grade, name_="grader"), fast, deep).compile()
    easy = await graph.ainvoke({"messages": [HumanMessage("capital of France?")]})
    assert easy["route"] == "fast" and easy["messages"][-1].content == "fast: capital of France?"
    assert easy["grade"] == {"thought": "a lookup", "difficulty": "easy", "by": "model"}
    assert [(t["node"], t["model"]) for t in easy["traces"]] == [
        ("grader", "grader"),
        ("fast", "small-model"),
    ]
    hard = await graph.ainvoke({"messages": [HumanMessage("prove there are infinitely many primes")]})
    assert hard["route"] == "reasoning" and hard["messages"][-1].content.startswith("deep: ")
    assert (
        hard["traces"][-1]["reasoning"] == "long thinking"
        and hard["traces"][-1]["reasoning_source"] == "native"
    )
    assert hard["traces"][0]["reasoning"] == "needs a proof"


async def test_router_with_a_rule_and_a_subgraph_path() -> None:
    async def rule(text: str) -> DifficultyGrade:
        return DifficultyGrade(thought="long means hard", difficulty="hard" if len(text) > 20 else "easy")

    fast, _ = paths()
    agent = build_tool_agent(RuleModel(rule=lambda turn: "agent answer", name_="agent-model"), []).compile()
    graph = build_difficulty_router(rule, fast, agent, fast_prompt="Be brief.").compile()
    result = await graph.ainvoke({"messages": [HumanMessage("a rather long and complicated request")]})
    assert result["route"] == "reasoning" and result["grade"]["by"] == "rule"
    assert result["messages"][-1].content == "agent answer"
    assert [t["node"] for t in result["traces"]] == ["agent"]  # the subgraph's own trace, no grader call
    short = (
        await build_difficulty_router(lambda text: "easy", fast, agent)
        .compile()
        .ainvoke({"messages": [HumanMessage("hi")]})
    )
    assert short["route"] == "fast" and short["grade"] == {"thought": "", "difficulty": "easy", "by": "rule"}
    with pytest.raises(ConfigError, match="needs a HumanMessage"):
        await graph.ainvoke({"messages": []})
