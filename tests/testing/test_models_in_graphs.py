"""The offline chat models drive a real LangGraph tool loop (ids, tool calls, streaming, metadata)."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from thinkgraph.models._metadata import call_info_of
from thinkgraph.testing import ScriptedModel, TestModel


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _graph(model: Any) -> Any:
    bound = model.bind_tools([multiply])

    async def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([multiply]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    builder.add_edge("agent", END)
    return builder.compile()


async def test_scripted_model_runs_a_tool_loop() -> None:
    model = ScriptedModel(
        [
            {
                "tool_calls": [
                    {"name": "multiply", "args": {"a": 6, "b": 7}},
                    {"name": "multiply", "args": {"a": 2, "b": 3}},
                ]
            },
            "6*7 is 42 and 2*3 is 6",
        ]
    )
    result = await _graph(model).ainvoke({"messages": [HumanMessage("compute")]})
    messages = result["messages"]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert [m.content for m in messages if isinstance(m, ToolMessage)] == ["42", "6"]
    assert messages[-1].content == "6*7 is 42 and 2*3 is 6"
    assert all(call_info_of(m) is not None for m in messages if isinstance(m, AIMessage))
    assert len({m.id for m in messages}) == len(messages)
    assert isinstance(model.conversations[1][-1], ToolMessage)


async def test_test_model_runs_a_tool_loop_and_streams_tokens() -> None:
    graph = _graph(TestModel())
    result = await graph.ainvoke({"messages": [HumanMessage("go")]})
    assert json.loads(result["messages"][-1].content) == {"multiply": "0"}
    pieces: list[str] = []
    async for chunk, meta in graph.astream({"messages": [HumanMessage("go")]}, stream_mode="messages"):
        if meta["langgraph_node"] == "agent" and isinstance(chunk.content, str):
            pieces.append(chunk.content)
    assert "".join(pieces) == '{"multiply": "0"}'
    assert len([p for p in pieces if p]) > 1  # streamed in several pieces
