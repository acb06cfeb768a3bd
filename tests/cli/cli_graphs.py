"""Small graphs the CLI tests run (loaded by path, like any user file)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph.message import add_messages

from thinkgraph.graphs import END, START, Graph
from thinkgraph.models import ModelSpec
from thinkgraph.testing import Fault, Reply, ToolCall
from thinkgraph.tools import ToolExecutor, tool


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def draft(state: State, model: Any) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


async def review(state: State, model: Any) -> dict[str, Any]:
    return {"messages": [await model.ainvoke([*state["messages"], HumanMessage("Review the draft.")])]}


def build_graph() -> Graph:
    """draft (gpt-4o-mini, falling back to Claude) then review (DeepSeek)."""
    graph = Graph(State, name="two_step")
    graph.add_node(
        "draft",
        draft,
        model=ModelSpec(model="openai/gpt-4o-mini", max_retries=0),  # no retry: fall over at once
        fallbacks=["anthropic/claude-haiku-4-5"],
    )
    graph.add_node("review", review, model="deepseek/deepseek-chat")
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    return graph


OFFLINE_SCRIPT = {
    "draft": [Fault.unavailable()],
    "draft[1]": [Reply(text="A first draft.")],
    "review": [Reply(text="The draft is fine.", reasoning="I compared the draft with the request.")],
}


@tool(requires_approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund an order.

    Args:
        order_id: the order to refund.
        amount: how much to refund, in EUR.
    """
    return f"refunded {amount:.2f} EUR on {order_id}"


def approval_graph() -> Graph:
    """An agent whose refund tool needs a human's approval."""
    executor = ToolExecutor([refund])

    async def agent(state: State, model: Any) -> dict[str, Any]:
        return {"messages": [await model.bind_tools([refund]).ainvoke(state["messages"])]}

    def route(state: State) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = Graph(State, name="approvals", model="openai/gpt-4o-mini")
    graph.add_node("agent", agent)
    graph.add_node("tools", executor.node())
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph


APPROVAL_SCRIPT = {
    "agent": [
        Reply(tool_calls=[ToolCall("refund", {"order_id": "A-1", "amount": 12.5})]),
        Reply(text="Done: the refund went through."),
    ]
}
