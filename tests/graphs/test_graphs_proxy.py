"""The node model proxy on every path (sync/async, streaming or not, tools, structured output),
and persistence on every database dialect."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel
from tg_graphs_support import PricedFake, spec

from thinkgraph.exceptions import BudgetExceeded, ConfigError, ResidencyViolation
from thinkgraph.graphs import END, START, Budget, Graph, TokenDelta
from thinkgraph.testing import FakeProvider, Reply


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


class GenerateOnly(BaseChatModel):
    """Answers with a tool call; implements neither streaming method."""

    bind_mode: str = "binding"

    @property
    def _llm_type(self) -> str:
        return "generate-only"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        tools = kw.get("tools") or []
        message = AIMessage(
            content=f"tools={len(tools)}",
            tool_calls=[{"name": "t", "args": {"x": 1}, "id": "t1"}],
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        if self.bind_mode == "self":
            return self
        if self.bind_mode == "odd":
            return RunnableLambda(lambda x: x)
        return self.bind(tools=list(tools), **{k: v for k, v in kwargs.items() if v is not None})


def sync_ask(state: Log, model: Any) -> dict[str, Any]:
    reply = model.bind_tools(["t"]).invoke([HumanMessage("hi")])
    return {"log": [f"{reply.content}:{len(reply.tool_calls)}"]}


async def async_ask(state: Log, model: Any) -> dict[str, Any]:
    reply = await model.bind_tools(["t"]).ainvoke([HumanMessage("hi")])
    return {"log": [f"{reply.content}:{len(reply.tool_calls)}"]}


def one_node(node: Any, model: Any, **graph_options: Any) -> Graph:
    graph = Graph(Log, name="one", model=model, **graph_options)
    graph.add_node("n", node)
    graph.add_edge(START, "n").add_edge("n", END)
    return graph


@pytest.mark.parametrize("bind_mode", ["binding", "self"])
def test_models_without_streaming_still_stream_one_chunk(bind_mode: str) -> None:
    model = GenerateOnly(bind_mode=bind_mode)
    expected = "tools=1:1" if bind_mode == "binding" else "tools=0:1"
    for node in (sync_ask, async_ask):
        app = one_node(node, model).compile(memory=True)
        events = list(app.stream({"log": []}, thread_id=f"{node.__name__}-{bind_mode}"))
        tokens = [e.text for e in events if isinstance(e, TokenDelta)]
        assert tokens == [expected.split(":")[0]]
        assert events[-1].output["log"] == [expected]
        assert app.run({"log": []}, thread_id=f"r-{node.__name__}-{bind_mode}").output["log"] == [expected]


async def test_async_stream_of_a_generate_only_model() -> None:
    app = one_node(async_ask, GenerateOnly()).compile(memory=True)
    events = [e async for e in app.astream({"log": []}, thread_id="a")]
    assert [e.text for e in events if isinstance(e, TokenDelta)] == ["tools=1"]
    summary = events[-1].summary
    assert summary.total.calls == 1 and summary.unpriced  # no CallInfo: the cost is unknown, not zero
    assert summary.by_provider[0].provider == "unknown"


def test_a_chat_model_whose_bind_tools_is_not_a_binding_is_refused() -> None:
    app = one_node(sync_ask, GenerateOnly(bind_mode="odd")).compile(memory=True)
    with pytest.raises(ConfigError, match="bind_tools returned RunnableLambda"):
        app.run({"log": []}, thread_id="odd")


def test_sync_nodes_budget_and_residency() -> None:
    priced = one_node(sync_ask, PricedFake(), budget={"max_model_calls": 0}).compile(memory=True)
    with pytest.raises(BudgetExceeded):
        priced.run({"log": []}, thread_id="b")
    local = one_node(sync_ask, "ollama_chat/llama3.1", residency={"providers": ["ollama_chat"]}).compile(
        memory=True
    )
    with pytest.raises(ResidencyViolation):
        local.run({"log": []}, thread_id="r", models={"n": "openai/gpt-4o"})
    with pytest.raises(ResidencyViolation):
        list(local.stream({"log": []}, thread_id="r2", models={"n": "openai/gpt-4o"}))
    calls = local.ledger.ledger.model_calls()
    assert [c.error_class for c in calls] == ["ResidencyViolation", "ResidencyViolation"]


class Answer(BaseModel):
    answer: str


def test_sync_structured_output_and_parse_errors(fake: FakeProvider) -> None:
    fake.reset()
    fake.script("so-sync", Reply(text='{"answer": "yes"}'), Reply(text="not json"), Reply(text="still not"))

    def extract(state: Log, model: Any) -> dict[str, Any]:
        good = model.with_structured_output(Answer).invoke([HumanMessage("q")])
        raw = model.with_structured_output(Answer, include_raw=True).invoke([HumanMessage("q")])
        assert raw["parsed"] is None and raw["parsing_error"] is not None
        try:
            model.with_structured_output(Answer).invoke([HumanMessage("q")])
        except Exception as exc:  # the parse error surfaces without include_raw
            return {"log": [good.answer, type(exc).__name__]}
        return {"log": [good.answer, "no error"]}

    app = one_node(extract, spec(fake.url, "openai/gpt-4o-mini", "so-sync")).compile(memory=True)
    result = app.run({"log": []}, thread_id="so")
    assert result.output["log"][0] == "yes" and result.output["log"][1] != "no error"
    assert result.summary.total.calls == 3
    refused = one_node(extract, "ollama_chat/llama3.1", residency={"providers": ["ollama_chat"]})
    with pytest.raises(ResidencyViolation):
        refused.compile(memory=True).run({"log": []}, thread_id="so2", models={"n": "openai/gpt-4o"})


async def test_persistence_on_every_dialect(db_url: str) -> None:
    """Runs, a budget stop, resume, history and a fork on SQLCheckpointer + Ledger of each dialect."""
    graph = Graph(Log, name="dialects", model=PricedFake(cost=0.01))
    for node in ("a", "b", "c"):
        graph.add_node(node, async_ask if node != "b" else sync_ask)
    graph.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    app = graph.compile(database_url=db_url)
    try:
        with pytest.raises(BudgetExceeded):
            await app.arun({"log": []}, thread_id="t", budget=Budget(max_model_calls=2))
        assert (await app.aget_state("t")).next == ("c",)
        done = await app.aresume("t", budget=Budget(max_model_calls=3))
        assert len(done.output["log"]) == 3
        history = await app.ahistory("t")
        assert [e.nodes for e in history][-3:] == [("a",), ("b",), ("c",)]
        after_b = history[-2]
        fork = await app.afork("t", after_b.checkpoint_id)
        resumed = await app.aresume(fork)
        assert resumed.output["log"][:2] == done.output["log"][:2] and len(resumed.output["log"]) == 3
        summary = await app.asummary(done.run_id)
        assert summary.total.calls == 1 and summary.total.cost_usd == pytest.approx(0.01)
        threads = await app.athreads()
        assert {t.thread_id for t in threads} == {"t", fork}
        # LangGraph gets the checkpointer wrapped: queued ledger records are written before checkpoints
        assert app.store is not None and app.checkpointer is app.graph.checkpointer.inner
    finally:
        await app.aclose()


def test_compile_uses_the_settings_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'settings.db'}"
    monkeypatch.setenv("THINKGRAPH_DATABASE_URL", url)
    app = one_node(sync_ask, PricedFake()).compile()
    try:
        result = app.run({"log": []}, thread_id="s")
        assert app.summary(result.run_id).total.calls == 1
        assert app.get_graph().draw_mermaid().count("-->") == 2
    finally:
        app.close()
        app.close()  # idempotent
    reopened = one_node(sync_ask, PricedFake()).compile()
    try:
        assert [t.thread_id for t in reopened.threads()] == ["s"]
        assert reopened.get_state("s").values == {"log": ["done:0"]}
    finally:
        reopened.close()


async def test_a_hundred_concurrent_runs_share_one_graph(shared_db_url: str) -> None:
    """One compiled graph (one model, one checkpointer, one ledger) serves concurrent runs safely."""
    import asyncio

    model = PricedFake(cost=0.001)
    graph = Graph(Log, name="many", model=model)
    for node in ("a", "b", "c"):
        graph.add_node(node, async_ask)
    graph.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    app = graph.compile(database_url=shared_db_url)
    try:
        results = await asyncio.gather(*(app.arun({"log": []}, thread_id=f"m{i}") for i in range(100)))
        assert all(r.status == "completed" and len(r.output["log"]) == 3 for r in results)
        assert len({r.run_id for r in results}) == 100
        calls = await app.persistence.ledger.amodel_calls()
        assert len(calls) == 300 and {c.thread_id for c in calls} == {f"m{i}" for i in range(100)}
        assert all(sum(1 for c in calls if c.run_id == r.run_id) == 3 for r in results[:10])
        states = [await app.aget_state(f"m{i}") for i in (0, 50, 99)]
        assert all(s.values["log"] == ["done:0"] * 3 and s.next == () for s in states)
    finally:
        await app.aclose()
