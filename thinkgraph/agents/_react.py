"""The tool agent: a model ↔ tools loop with a step limit and an optional structured final answer."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.types import Send
from pydantic import BaseModel

from thinkgraph.agents._calls import ModelLike, as_node, call_structured, resolve
from thinkgraph.agents._trace import ReasoningTrace, trace_step
from thinkgraph.exceptions import ConfigError
from thinkgraph.tools import ToolExecutor

__all__ = ["DEFAULT_REACT_PROMPT", "ToolAgentState", "build_tool_agent"]

DEFAULT_REACT_PROMPT = (
    "You are a careful assistant that can call tools. Before calling tools, state briefly what you "
    "are going to do and why. When a tool returns an error, read it and correct your call or change "
    "your approach. When you have the answer, reply without calling tools."
)

Outcome = Literal["final", "step_limit"]


class ToolAgentState(TypedDict, total=False):
    """State of the tool agent.

    Attributes:
        messages: the conversation (input: at least one ``HumanMessage``).
        traces: one :class:`ReasoningTrace` per model step.
        steps: model steps taken since the last human message.
        outcome: ``"final"`` when the model answered, ``"step_limit"`` when it ran out of steps.
        structured_response: the final answer in the shape of ``response_format`` (when one was
            given), as plain data: ``MySchema.model_validate(state["structured_response"])``.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    traces: Annotated[list[ReasoningTrace], operator.add]
    steps: int
    outcome: Outcome | None
    structured_response: dict[str, Any] | None


def _steps_since_human(messages: Sequence[AnyMessage]) -> int:
    count = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage):
            count += 1
    return count


def build_tool_agent(
    model: ModelLike,
    tools: Sequence[BaseTool],
    *,
    system_prompt: str | None = DEFAULT_REACT_PROMPT,
    max_steps: int = 10,
    response_format: type[BaseModel] | None = None,
    max_concurrency: int = 8,
    tool_timeout: float | None = None,
    node_name: str = "agent",
) -> StateGraph[Any]:
    """A ReAct tool agent as an uncompiled LangGraph ``StateGraph`` over :class:`ToolAgentState`.

    The model is called with the tools bound; its tool calls run through a
    :class:`~thinkgraph.tools.ToolExecutor` (one task per call: concurrent, timed out, errors fed
    back, approvals by interrupt, never re-run after a crash); the loop ends when the model answers
    without tools (``outcome="final"``) or after ``max_steps`` model steps (``outcome="step_limit"``
    with a final message saying so; pending calls are answered as not executed). Every model step
    appends a :class:`ReasoningTrace`.

    Compile it yourself (``.compile(checkpointer=...)``) or embed it as a subgraph. Run it with
    ``ainvoke``/``astream`` (``invoke`` works too).

    Args:
        model: the model for the agent node (``ChatModel``, ``ModelSpec``, string or any chat model).
        tools: the tools it may call.
        system_prompt: prepended to the conversation on each call (``None``: none).
        max_steps: the most model steps per human turn.
        response_format: a pydantic class: after the loop the model gives its final answer in this
            shape, kept (as a dict) in ``structured_response``.
        max_concurrency: the most tool calls running at once.
        tool_timeout: seconds for tools without a timeout of their own.
        node_name: the name of the model node (and of its traces).
    """
    if max_steps < 1:
        raise ConfigError(f"max_steps must be at least 1, got {max_steps!r}")
    chat = resolve(model)
    bound = chat.bind_tools(list(tools)) if tools else chat
    executor = ToolExecutor(tools, max_concurrency=max_concurrency, default_timeout=tool_timeout)
    prefix = [SystemMessage(system_prompt)] if system_prompt else []

    async def agent(state: ToolAgentState, config: RunnableConfig) -> dict[str, Any]:
        messages = state.get("messages") or []
        reply = await bound.ainvoke([*prefix, *messages], config)
        steps = _steps_since_human(messages) + 1
        text = reply.text.strip() if isinstance(reply.text, str) else ""
        update: dict[str, Any] = {
            "messages": [reply],
            "traces": [trace_step(node_name, reply, thought=text or None, label=f"turn {steps}")],
            "steps": steps,
            "outcome": None,
        }
        if not reply.tool_calls and response_format is None:
            update["outcome"] = "final"
        return update

    def route(state: ToolAgentState) -> list[Send] | str:
        pending = executor.pending_calls(state)
        if pending:
            if (state.get("steps") or 0) >= max_steps:
                return "step_limit"
            return [Send("tools", {"tool_call": call}) for call in pending]
        return "respond" if response_format is not None else END

    async def step_limit(state: ToolAgentState, config: RunnableConfig) -> dict[str, Any]:
        pending = executor.pending_calls(state)
        skipped = [
            ToolMessage(
                content="Not executed: the agent reached its step limit.",
                tool_call_id=call.get("id") or "",
                name=call["name"],
                status="error",
            )
            for call in pending
        ]
        note = AIMessage(
            f"I stopped after {max_steps} model steps without reaching a final answer "
            "(step limit). Raise max_steps or simplify the task."
        )
        return {"messages": [*skipped, note], "outcome": "step_limit"}

    async def respond(state: ToolAgentState, config: RunnableConfig) -> dict[str, Any]:
        assert response_format is not None
        ask = HumanMessage("Give your final answer now, in the required format.")
        parsed, trace = await call_structured(
            chat,
            response_format,
            [*prefix, *(state.get("messages") or []), ask],
            node=f"{node_name}:respond",
            config=config,
        )
        # kept as plain data so any checkpointer serializes it without allow-listing the class
        return {"structured_response": parsed.model_dump(mode="json"), "traces": [trace], "outcome": "final"}

    builder: StateGraph[Any] = StateGraph(ToolAgentState)
    builder.add_node(node_name, as_node(agent, node_name))
    builder.add_node("tools", executor.task_node())
    builder.add_node("step_limit", as_node(step_limit, "step_limit"))
    builder.add_edge(START, node_name)
    targets = ["tools", "step_limit", "respond" if response_format is not None else END]
    builder.add_conditional_edges(node_name, route, targets)
    builder.add_edge("tools", node_name)
    builder.add_edge("step_limit", END)
    if response_format is not None:
        builder.add_node("respond", as_node(respond, "respond"))
        builder.add_edge("respond", END)
    return builder
