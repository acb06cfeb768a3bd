"""Every agent end to end through litellm over HTTP against FakeProvider, a different provider per
node, checkpointed with SQLCheckpointer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import FAKE_KEY_ENV, conversation, has_tool_result, schema_name, structured
from langchain_core.messages import HumanMessage

from thinkgraph.agents import (
    build_difficulty_router,
    build_plan_execute_agent,
    build_reflection_agent,
    build_tool_agent,
)
from thinkgraph.memory import SQLCheckpointer
from thinkgraph.models import ModelSpec
from thinkgraph.testing import FakeProvider, FakeRequest, Fault, Reply, ToolCall
from thinkgraph.tools import calculator, tool

PLANNER = "deepseek/deepseek-reasoner"
EXECUTOR = "openai/gpt-4o-mini"
CRITIC = "anthropic/claude-sonnet-4-5"
GRADER = "groq/llama-3.1-8b-instant"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    from thinkgraph._litellm import load_litellm

    load_litellm()
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def provider(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    monkeypatch.setenv(FAKE_KEY_ENV, "sk-test-not-a-secret")
    fake.reset()
    return fake


def spec(fake: FakeProvider, model: str) -> ModelSpec:
    family = model.split("/", 1)[0]
    return ModelSpec(
        model=model,
        api_base=fake.api_base(family, family),
        api_key_env=FAKE_KEY_ENV,
        timeout=10,
        max_retries=0,
    )


def config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


@tool(timeout=0.2)
def unreliable(what: str) -> str:
    """Fetch something from a flaky backend.

    Args:
        what: the thing.
    """
    raise TimeoutError("backend timed out")


async def test_tool_agent_over_http(provider: FakeProvider, db_url: str) -> None:
    def openai(request: FakeRequest) -> Any:
        body = request.body
        if schema_name(body):
            return None
        text = conversation(body)
        if not has_tool_result(body):
            return Reply(
                text="I will query the backend and compute.",
                tool_calls=[
                    ToolCall("unreliable", {"what": "x"}),
                    ToolCall("calculator", {"expression": "2**10"}),
                ],
            )
        assert "TimeoutError: backend timed out" in text and "1024" in text
        return Reply(
            text="The backend failed, but 2**10 = 1024.", reasoning="the backend error is recoverable"
        )

    provider.set_default("openai", openai)
    saver = SQLCheckpointer(db_url)
    try:
        graph = build_tool_agent(spec(provider, EXECUTOR), [unreliable, calculator]).compile(
            checkpointer=saver
        )
        result = await graph.ainvoke({"messages": [HumanMessage("2**10, and fetch x")]}, config("react"))
        assert result["outcome"] == "final"
        assert result["messages"][-1].content == "The backend failed, but 2**10 = 1024."
        traces = result["traces"]
        assert [t["model"] for t in traces] == [EXECUTOR, EXECUTOR]
        assert traces[0]["reasoning_source"] == "thought" and traces[1]["reasoning_source"] == "native"
        assert all(t["input_tokens"] > 0 and t["cost_usd"] is not None for t in traces)
        state = await graph.aget_state(config("react"))
        assert state.values["outcome"] == "final" and len(state.values["messages"]) == 5
    finally:
        await saver.aclose()


def step_of(body: Any) -> str:
    match = re.search(r"Your step \((\w+)\)", conversation(body))
    return match.group(1) if match else ""


async def test_plan_execute_over_http(provider: FakeProvider, db_url: str) -> None:
    plan = {
        "goal": "sum of A and B",
        "rationale": "A and B are independent",
        "steps": [
            {"id": "a", "description": "compute A = 2 + 3"},
            {"id": "b", "description": "compute B = 4 * 5"},
            {"id": "c", "description": "add A and B", "depends_on": ["a", "b"]},
        ],
    }

    def planner(request: FakeRequest) -> Any:
        assert schema_name(request.body) == "Plan"
        return structured(request.body, plan, reasoning="I should split the work")

    expressions = {"a": "2 + 3", "b": "4 * 5", "c": "5 + 20"}

    def executor(request: FakeRequest) -> Any:
        body = request.body
        step = step_of(body)
        if schema_name(body) == "StepReport":
            value = {"a": "5", "b": "20", "c": "25"}[step]
            return structured(body, {"thought": f"{step} computed", "status": "done", "output": value})
        if not has_tool_result(body):
            return Reply(
                text=f"Computing {step}.",
                tool_calls=[ToolCall("calculator", {"expression": expressions[step]})],
                latency=0.3,
            )
        return Reply(text=f"{step} is done")

    def replanner(request: FakeRequest) -> Any:
        assert schema_name(request.body) == "ReplanDecision"
        decision = {"thought": "all steps are done", "action": "finish", "final_answer": "A + B = 25"}
        return structured(request.body, decision, reasoning="checking the results")

    provider.set_default("deepseek", planner)
    provider.set_default("openai", executor)
    provider.set_default("anthropic", replanner)
    saver = SQLCheckpointer(db_url)
    try:
        graph = build_plan_execute_agent(
            spec(provider, PLANNER), spec(provider, EXECUTOR), spec(provider, CRITIC), tools=[calculator]
        ).compile(checkpointer=saver)
        result = await graph.ainvoke({"messages": [HumanMessage("What is (2+3) + (4*5)?")]}, config("plan"))
    finally:
        await saver.aclose()
    assert result["outcome"] == "finished" and result["final_answer"] == "A + B = 25"
    a, b, c = (result["results"][k] for k in "abc")
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]  # parallel
    assert c["started_at"] >= max(a["finished_at"], b["finished_at"])
    by_node: dict[str, set[str | None]] = {}
    for t in result["traces"]:
        by_node.setdefault(t["node"], set()).add(t["model"])
    assert by_node == {
        "planner": {PLANNER},
        "step": {EXECUTOR},
        "step:respond": {EXECUTOR},
        "replanner": {CRITIC},
    }
    assert len(result["traces"]) == 1 + 3 * 3 + 1  # planner, (2 agent steps + report) per step, replanner
    planner_trace = result["traces"][0]
    assert (
        planner_trace["reasoning"] == "I should split the work"
        and planner_trace["reasoning_source"] == "native"
    )
    assert result["traces"][-1]["reasoning"] == "checking the results"


async def test_reflection_over_http(provider: FakeProvider, tmp_path: Path) -> None:
    def answer(request: FakeRequest) -> Any:
        revised = "Reviewer's critique" in conversation(request.body)
        text = "Water boils at 100 C at sea level." if revised else "Water boils at 90 C."
        return structured(request.body, {"thought": "recalling physics", "answer": text})

    def critic(request: FakeRequest) -> Any:
        ok = "Answer: Water boils at 100 C" in conversation(request.body)
        verdict = {
            "thought": "compare with evidence",
            "verdict": "accept" if ok else "revise",
            "critique": "" if ok else "Evidence says 100 C.",
        }
        return structured(request.body, verdict, reasoning="the evidence is explicit")

    provider.set_default("openai", answer)
    provider.set_default("anthropic", critic)
    saver = SQLCheckpointer(f"sqlite:///{tmp_path / 'reflect.db'}")
    try:
        graph = build_reflection_agent(spec(provider, EXECUTOR), spec(provider, CRITIC)).compile(
            checkpointer=saver
        )
        result = await graph.ainvoke(
            {
                "messages": [HumanMessage("At what temperature does water boil?")],
                "evidence": ["100 C at sea level"],
            },
            config("reflect"),
        )
    finally:
        await saver.aclose()
    assert result["outcome"] == "accepted" and result["revisions"] == 1
    assert [t["model"] for t in result["traces"]] == [EXECUTOR, CRITIC, EXECUTOR, CRITIC]
    assert result["traces"][1]["reasoning"] == "the evidence is explicit"
    assert result["traces"][0]["reasoning"] == "recalling physics"


async def test_router_over_http(provider: FakeProvider, tmp_path: Path) -> None:
    def grader(request: FakeRequest) -> Any:
        hard = "prove" in conversation(request.body)
        return structured(request.body, {"thought": "judging", "difficulty": "hard" if hard else "easy"})

    provider.set_default("groq", grader)
    provider.set_default("openai", Reply(text="Paris."))
    provider.set_default("deepseek", Reply(text="Proof: ...", reasoning="suppose finitely many primes"))
    saver = SQLCheckpointer(f"sqlite:///{tmp_path / 'route.db'}")
    try:
        graph = build_difficulty_router(
            spec(provider, GRADER), spec(provider, EXECUTOR), spec(provider, PLANNER)
        ).compile(checkpointer=saver)
        easy = await graph.ainvoke({"messages": [HumanMessage("Capital of France?")]}, config("easy"))
        hard = await graph.ainvoke({"messages": [HumanMessage("prove primes are infinite")]}, config("hard"))
    finally:
        await saver.aclose()
    assert easy["route"] == "fast" and easy["messages"][-1].content == "Paris."
    assert [t["model"] for t in easy["traces"]] == [GRADER, EXECUTOR]
    assert hard["route"] == "reasoning" and hard["grade"]["difficulty"] == "hard"
    assert hard["traces"][-1]["model"] == PLANNER
    assert hard["traces"][-1]["reasoning"] == "suppose finitely many primes"


async def test_trace_records_the_fallback_model(provider: FakeProvider, tmp_path: Path) -> None:
    """The critic's primary (Anthropic) rejects the key; its OpenAI fallback answers: the trace says so."""
    from thinkgraph.models import BreakerRegistry, ChatModel

    def critic(request: FakeRequest) -> Any:
        decision = {"thought": "fine", "verdict": "accept", "critique": ""}
        return structured(request.body, decision, reasoning="fallback's own reasoning")

    provider.set_default("anthropic", Fault.auth())
    provider.set_default("openai", critic)
    provider.set_default("deepseek", lambda r: structured(r.body, {"thought": "t", "answer": "42"}))
    chained = ChatModel(
        spec(provider, CRITIC), fallbacks=[spec(provider, EXECUTOR)], breakers=BreakerRegistry()
    )
    saver = SQLCheckpointer(f"sqlite:///{tmp_path / 'fallback.db'}")
    try:
        graph = build_reflection_agent(spec(provider, PLANNER), chained).compile(checkpointer=saver)
        result = await graph.ainvoke({"messages": [HumanMessage("6 * 7?")]}, config("fallback"))
    finally:
        await saver.aclose()
    assert result["outcome"] == "accepted"
    critic_trace = result["traces"][1]
    assert critic_trace["node"] == "critic" and critic_trace["fallback"] is True
    assert critic_trace["requested_model"] == CRITIC and critic_trace["model"] == EXECUTOR
    assert critic_trace["provider"] == "openai" and critic_trace["reasoning"] == "fallback's own reasoning"
