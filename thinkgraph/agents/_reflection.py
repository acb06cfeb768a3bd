"""Reflection: an answer checked by a critic (typically another provider) and revised, boundedly."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph, add_messages
from pydantic import BaseModel, Field

from thinkgraph.agents._calls import ModelLike, as_node, call_structured, last_human_text, resolve
from thinkgraph.agents._trace import ReasoningTrace
from thinkgraph.exceptions import ConfigError

__all__ = ["Critique", "Draft", "ReflectionState", "build_reflection_agent"]

ANSWER_PROMPT = (
    "Answer the user's question accurately, using the evidence when it is given. Write your "
    "reasoning in thought and the answer itself in answer. When a reviewer's critique is given, "
    "revise the answer to address it."
)
CRITIC_PROMPT = (
    "You are a strict reviewer. Check the answer against the question and the evidence: is it "
    "correct, supported by the evidence and complete? Write your reasoning in thought, then "
    "verdict 'accept' or 'revise', and in critique what exactly must change."
)


class Draft(BaseModel):
    """The answering model's structured reply."""

    thought: str = Field(description="your reasoning")
    answer: str = Field(description="the answer")


class Critique(BaseModel):
    """The critic's structured verdict."""

    thought: str = Field(description="your reasoning about the answer")
    verdict: Literal["accept", "revise"] = Field(description="'accept' if the answer is right and supported")
    critique: str = Field(description="what must change (empty when accepting)")


class ReflectionState(TypedDict, total=False):
    """State of the reflection agent.

    Attributes:
        messages: the conversation; the last human message is the question, the accepted (or last)
            answer is appended as an ``AIMessage``.
        evidence: optional texts the answer must be supported by.
        answer: the current answer.
        critiques: every critique, in order (``Critique.model_dump()``).
        revisions: how many times the answer was revised.
        traces: one :class:`ReasoningTrace` per model step.
        outcome: ``"accepted"`` or ``"revision_limit"``.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    evidence: list[str]
    answer: str | None
    critiques: Annotated[list[dict[str, Any]], operator.add]
    revisions: int
    traces: Annotated[list[ReasoningTrace], operator.add]
    outcome: Literal["accepted", "revision_limit"] | None


def _question(messages: Sequence[AnyMessage]) -> str:
    return last_human_text(
        messages, "the reflection agent needs a HumanMessage with the question in 'messages'"
    )


def _evidence(state: ReflectionState) -> str:
    items = state.get("evidence") or []
    return "\n".join(f"[{i + 1}] {e}" for i, e in enumerate(items)) or "(no evidence given)"


def build_reflection_agent(
    model: ModelLike,
    critic: ModelLike,
    *,
    max_revisions: int = 2,
    answer_prompt: str = ANSWER_PROMPT,
    critic_prompt: str = CRITIC_PROMPT,
) -> StateGraph[Any]:
    """An answer → critique → revise loop as an uncompiled ``StateGraph`` over :class:`ReflectionState`.

    The model drafts an answer (:class:`Draft`); the critic returns a :class:`Critique` against
    the question and ``evidence``; on ``"revise"`` the model revises with the critique, at most
    ``max_revisions`` times (then ``outcome="revision_limit"`` with the last answer).

    Args:
        model: the answering model.
        critic: the critic's model (typically another provider).
        max_revisions: the most revisions.
        answer_prompt: the answering model's system prompt.
        critic_prompt: the critic's system prompt.
    """
    if max_revisions < 0:
        raise ConfigError(f"max_revisions must be 0 or more, got {max_revisions!r}")
    answerer = resolve(model)
    reviewer = resolve(critic)

    async def answer(state: ReflectionState, config: RunnableConfig) -> dict[str, Any]:
        question = _question(state.get("messages") or [])
        critiques = state.get("critiques") or []
        revisions = state.get("revisions") or 0
        prompt = f"Question: {question}\n\nEvidence:\n{_evidence(state)}"
        if critiques and state.get("answer"):
            prompt += (
                f"\n\nYour previous answer: {state.get('answer')}\n"
                f"Reviewer's critique: {critiques[-1]['critique']}\nRevise the answer."
            )
        draft, trace = await call_structured(
            answerer,
            Draft,
            [SystemMessage(answer_prompt), HumanMessage(prompt)],
            node="answer",
            config=config,
            label=f"revision {revisions + 1}" if critiques else "draft",
        )
        return {"answer": draft.answer, "traces": [trace], "revisions": revisions + (1 if critiques else 0)}

    async def critique(state: ReflectionState, config: RunnableConfig) -> dict[str, Any]:
        question = _question(state.get("messages") or [])
        verdict, trace = await call_structured(
            reviewer,
            Critique,
            [
                SystemMessage(critic_prompt),
                HumanMessage(
                    f"Question: {question}\n\nEvidence:\n{_evidence(state)}\n\nAnswer: {state.get('answer')}"
                ),
            ],
            node="critic",
            config=config,
            label=f"review {len(state.get('critiques') or []) + 1}",
        )
        update: dict[str, Any] = {"critiques": [verdict.model_dump()], "traces": [trace]}
        final = AIMessage(state.get("answer") or "")
        if verdict.verdict == "accept":
            update.update(outcome="accepted", messages=[final])
        elif (state.get("revisions") or 0) >= max_revisions:
            update.update(outcome="revision_limit", messages=[final])
        return update

    def after_critique(state: ReflectionState) -> str:
        return END if state.get("outcome") else "answer"

    builder: StateGraph[Any] = StateGraph(ReflectionState)
    builder.add_node("answer", as_node(answer, "answer"))
    builder.add_node("critic", as_node(critique, "critic"))
    builder.add_edge(START, "answer")
    builder.add_edge("answer", "critic")
    builder.add_conditional_edges("critic", after_critique, ["answer", END])
    return builder
