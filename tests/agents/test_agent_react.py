"""The tool agent on a rule-driven model: tools, recovery from tool failures, step limit, traces."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agent_fakes import RuleModel, Turn
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel

from thinkgraph.agents import build_tool_agent
from thinkgraph.exceptions import ConfigError
from thinkgraph.tools import calculator, tool, tool_outcome_of


class Answer(BaseModel):
    thought: str
    value: float


@tool(timeout=0.1)
async def lookup(key: str) -> str:
    """Look a key up (slowly for 'slow', failing for 'broken').

    Args:
        key: the key.
    """
    if key == "slow":
        await asyncio.sleep(5)
    if key == "broken":
        raise ConnectionError("backend down")
    return f"value of {key}"


def config(thread: str = "t") -> Any:
    return {"configurable": {"thread_id": thread}}


def tool_results(turn: Turn) -> list[ToolMessage]:
    return [m for m in turn.messages if isinstance(m, ToolMessage)]


async def test_tool_loop_with_structured_answer_and_traces() -> None:
    def rule(turn: Turn) -> Any:
        if turn.tools == ["Answer"]:
            return {"thought": "the calculator said 42", "value": 42}
        if not tool_results(turn):
            return {"tool": "calculator", "expression": "6 * 7", "say": "I will multiply."}
        return f"The product is {tool_results(turn)[-1].content}."

    model = RuleModel(rule=rule, reasoning=None)
    graph = build_tool_agent(model, [calculator], response_format=Answer).compile(
        checkpointer=InMemorySaver()
    )
    result = await graph.ainvoke({"messages": [HumanMessage("What is 6 times 7?")]}, config())
    assert result["outcome"] == "final"
    assert result["structured_response"] == {"thought": "the calculator said 42", "value": 42.0}
    assert Answer.model_validate(result["structured_response"]).value == 42
    assert result["messages"][-1].content == "The product is 42."
    assert result["steps"] == 2
    traces = result["traces"]
    assert [t["node"] for t in traces] == ["agent", "agent", "agent:respond"]
    assert [t["reasoning"] for t in traces] == [
        "I will multiply.",
        "The product is 42.",
        "the calculator said 42",
    ]
    assert all(t["reasoning_source"] == "thought" and t["model"] == "rule-model" for t in traces)
    assert all(t["input_tokens"] == 10 and t["cost_usd"] == 0.001 for t in traces)


async def test_native_reasoning_is_preferred_in_traces() -> None:
    model = RuleModel(rule=lambda turn: "hello", reasoning="native chain of thought", provider="deepseek")
    graph = build_tool_agent(model, [], system_prompt=None).compile()
    result = await graph.ainvoke({"messages": [HumanMessage("hi")]})
    (trace,) = result["traces"]
    assert trace["reasoning"] == "native chain of thought" and trace["reasoning_source"] == "native"
    assert trace["provider"] == "deepseek" and trace["reasoning_tokens"] == 3


async def test_tool_timeout_and_exception_are_recovered_by_the_model() -> None:
    def rule(turn: Turn) -> Any:
        results = tool_results(turn)
        if not results:
            return AIMessage(
                "Looking both up.",
                tool_calls=[
                    {"name": "lookup", "args": {"key": "slow"}, "id": "a"},
                    {"name": "lookup", "args": {"key": "broken"}, "id": "b"},
                ],
            )
        if len(results) == 2:
            assert all(r.status == "error" for r in results)
            return {"tool": "lookup", "key": "fallback", "say": "Both failed; trying the fallback key."}
        return f"Recovered: {results[-1].content}"

    graph = build_tool_agent(RuleModel(rule=rule), [lookup]).compile(checkpointer=InMemorySaver())
    result = await graph.ainvoke({"messages": [HumanMessage("look up")]}, config())
    assert result["outcome"] == "final"
    assert result["messages"][-1].content == "Recovered: value of fallback"
    errors = {
        m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage) and m.status == "error"
    }
    assert "did not finish within 0.1 s" in str(errors["a"].content)
    assert "ConnectionError: backend down" in str(errors["b"].content)
    assert (tool_outcome_of(errors["a"]) or {}).get("error_class") == "ToolTimeoutError"
    assert len(result["traces"]) == 3


async def test_step_limit_is_an_outcome_not_an_exception() -> None:
    model = RuleModel(rule=lambda turn: {"tool": "calculator", "expression": "1 + 1", "say": "again"})
    graph = build_tool_agent(model, [calculator], max_steps=3).compile(checkpointer=InMemorySaver())
    result = await graph.ainvoke({"messages": [HumanMessage("loop forever")]}, config())
    assert result["outcome"] == "step_limit" and result["steps"] == 3
    assert "step limit" in result["messages"][-1].content
    # the last call was answered as not executed, so the conversation stays valid
    unanswered = result["messages"][-2]
    assert isinstance(unanswered, ToolMessage) and unanswered.status == "error"
    assert len([m for m in result["messages"] if isinstance(m, ToolMessage) and m.status == "success"]) == 2
    assert len(result["traces"]) == 3
    # a new human turn starts a fresh step count
    again = await graph.ainvoke({"messages": [HumanMessage("try again")]}, config())
    assert again["outcome"] == "step_limit" and len(again["traces"]) == 6


def test_sync_invoke_works() -> None:
    def rule(turn: Turn) -> Any:
        return "4" if tool_results(turn) else {"tool": "calculator", "expression": "2 + 2"}

    graph = build_tool_agent(RuleModel(rule=rule), [calculator]).compile(checkpointer=InMemorySaver())
    result = graph.invoke({"messages": [HumanMessage("2 + 2?")]}, config())
    assert result["outcome"] == "final" and result["messages"][-1].content == "4"


def test_configuration() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        build_tool_agent(RuleModel(rule=lambda t: "x"), [], max_steps=0)
