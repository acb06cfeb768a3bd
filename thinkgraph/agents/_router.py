"""A difficulty router: grade a request (cheap model or rule), send it down a fast or a reasoning path."""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypedDict, cast

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.pregel import Pregel
from pydantic import BaseModel, Field

from thinkgraph.agents._calls import ModelLike, as_node, call_structured, last_human_text, resolve
from thinkgraph.agents._trace import ReasoningTrace, trace_step

__all__ = ["DifficultyGrade", "RouterState", "build_difficulty_router"]

GRADER_PROMPT = (
    "Grade how hard the user's request is. 'easy': a fact, a lookup, small talk or a one-step "
    "answer. 'hard': multi-step reasoning, math, planning, code or anything needing care. Write "
    "your reasoning in thought."
)

Difficulty = Literal["easy", "hard"]
Rule = Callable[[str], "DifficultyGrade | str"]


class DifficultyGrade(BaseModel):
    """The grader's verdict."""

    thought: str = Field(default="", description="your reasoning")
    difficulty: Difficulty = Field(description="'easy' or 'hard'")


class RouterState(TypedDict, total=False):
    """State of the difficulty router.

    Attributes:
        messages: the conversation; the answer of the chosen path is appended.
        grade: the grade (``DifficultyGrade.model_dump()`` plus ``"by"``: ``"model"`` or ``"rule"``).
        route: ``"fast"`` or ``"reasoning"``.
        traces: one :class:`ReasoningTrace` per model step.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    grade: dict[str, Any] | None
    route: Literal["fast", "reasoning"] | None
    traces: Annotated[list[ReasoningTrace], operator.add]


def _request(messages: Sequence[AnyMessage]) -> str:
    return last_human_text(messages, "the router needs a HumanMessage with the request in 'messages'")


def _is_rule(grader: Any) -> bool:
    return callable(grader) and not isinstance(grader, str) and not hasattr(grader, "invoke")


def build_difficulty_router(
    grader: ModelLike | Rule,
    fast: ModelLike | Pregel[Any, Any, Any, Any],
    reasoning: ModelLike | Pregel[Any, Any, Any, Any],
    *,
    grader_prompt: str = GRADER_PROMPT,
    fast_prompt: str | None = None,
    reasoning_prompt: str | None = None,
) -> StateGraph[Any]:
    """A router as an uncompiled ``StateGraph`` over :class:`RouterState`.

    ``grader`` (a cheap model answering :class:`DifficultyGrade`, or a rule ``text -> "easy" |
    "hard" | DifficultyGrade``) grades the last human message; easy requests go to ``fast``, hard
    ones to ``reasoning``. Each path is a model (called on the conversation) or a compiled graph
    over a ``messages`` state (embedded as a subgraph). Grade and route are kept in state.

    Args:
        grader: the grading model or rule.
        fast: the fast path.
        reasoning: the reasoning path.
        grader_prompt: the grading model's system prompt.
        fast_prompt: a system prompt for a fast-path model.
        reasoning_prompt: a system prompt for a reasoning-path model.
    """
    rule: Rule | None = cast(Rule, grader) if _is_rule(grader) else None
    grading_model = None if rule is not None else resolve(grader)  # type: ignore[arg-type]

    async def grade(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        request = _request(state.get("messages") or [])
        traces: list[ReasoningTrace] = []
        if rule is not None:
            verdict: Any = rule(request)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            result = verdict if isinstance(verdict, DifficultyGrade) else DifficultyGrade(difficulty=verdict)
            by = "rule"
        else:
            assert grading_model is not None
            result, trace = await call_structured(
                grading_model,
                DifficultyGrade,
                [SystemMessage(grader_prompt), HumanMessage(request)],
                node="grader",
                config=config,
            )
            traces.append(trace)
            by = "model"
        route = "fast" if result.difficulty == "easy" else "reasoning"
        return {"grade": {**result.model_dump(), "by": by}, "route": route, "traces": traces}

    def path_node(path: ModelLike | Pregel[Any, Any, Any, Any], name: str, prompt: str | None) -> Any:
        if isinstance(path, Pregel):
            return path
        chat = resolve(path)
        prefix = [SystemMessage(prompt)] if prompt else []

        async def respond(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
            reply = await chat.ainvoke([*prefix, *(state.get("messages") or [])], config)
            return {"messages": [reply], "traces": [trace_step(name, reply)]}

        return as_node(respond, name)

    builder: StateGraph[Any] = StateGraph(RouterState)
    builder.add_node("grade", as_node(grade, "grade"))
    builder.add_node("fast", path_node(fast, "fast", fast_prompt))
    builder.add_node("reasoning", path_node(reasoning, "reasoning", reasoning_prompt))
    builder.add_edge(START, "grade")
    builder.add_conditional_edges("grade", lambda s: s["route"], ["fast", "reasoning"])
    builder.add_edge("fast", END)
    builder.add_edge("reasoning", END)
    return builder
