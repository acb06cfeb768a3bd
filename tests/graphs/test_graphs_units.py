"""Small pieces: signals, call info fallbacks, the ledger port without a ledger, policies."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage
from tg_graphs_support import PricedFake

from thinkgraph.graphs import END, START, Budget, Graph, RunFinished
from thinkgraph.graphs._accounting import Signal, call_info_for, emit
from thinkgraph.graphs._context import RunContext, current_run, node_of_config
from thinkgraph.graphs._ledger_port import LedgerPort, _tool_status
from thinkgraph.graphs._resolve import Resolved, cheapest
from thinkgraph.graphs._session import Translator, top_node
from thinkgraph.models import ModelSpec, Pricing


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def test_signal_emit_and_context_outside_a_graph() -> None:
    assert repr(Signal(1)) == "Signal(1)"
    emit("nothing happens outside a node")
    assert current_run() is None and node_of_config() is None
    assert node_of_config({"metadata": {"langgraph_node": "x"}}) == "x"
    assert node_of_config({"configurable": {"checkpoint_ns": "outer:1|inner:2"}}) == "outer"
    assert top_node((), "fallback") == "fallback"


def test_call_info_for_models_that_record_none() -> None:
    spec = ModelSpec(model="openai/gpt-4o-mini")
    message = AIMessage("hi", usage_metadata={"input_tokens": 4, "output_tokens": 2, "total_tokens": 6})
    info = call_info_for(Resolved(model=PricedFake(), chain=(spec,), source="node"), message)
    assert (info["provider"], info["model"], info["input_tokens"], info["unpriced"]) == (
        "openai",
        "openai/gpt-4o-mini",
        4,
        True,
    )
    opaque = call_info_for(Resolved(model=PricedFake(), chain=None, source="node"), AIMessage("x"))
    assert (opaque["provider"], opaque["model"]) == ("unknown", "PricedFake")


def test_cheapest_of_a_chain() -> None:
    priced = ModelSpec(model="x/a", pricing=Pricing(input=2, output=2))
    cheap = ModelSpec(model="x/b", pricing=Pricing(input=1, output=1))
    unknown = ModelSpec(model="nobody/knows-this-model")
    assert cheapest([priced, cheap, unknown]) == cheap
    assert cheapest([unknown, ModelSpec(model="nobody/other")]).model == "nobody/other"
    assert cheapest([ModelSpec(model="openai/gpt-4o"), ModelSpec(model="openai/gpt-4o-mini")]).model == (
        "openai/gpt-4o-mini"
    )


def test_ledger_port_without_a_ledger() -> None:
    port = LedgerPort(None)
    run = RunContext(run_id="r", thread_id="t", graph="g")
    translator = Translator(run)
    port.start(run, "g")
    port.tools(run, translator)
    port.finish(run, "completed", None)
    assert port.summary("r") is None and port.carried_usage("t") is None
    assert _tool_status("success", None, None) == "ok"
    assert _tool_status("error", "ToolTimeoutError", None) == "timeout"
    assert _tool_status("error", "ToolInputError", None) == "error"
    assert _tool_status("error", None, "rejected") == "denied"


async def test_async_ledger_port_without_a_ledger() -> None:
    port = LedgerPort(None)
    run = RunContext(run_id="r", thread_id="t", graph="g")
    await port.astart(run, "g")
    await port.afinish(run, "completed", None)
    assert await port.asummary("r") is None and await port.acarried_usage("t") is None


def test_budget_breaches() -> None:
    budget = Budget(max_cost_usd=1, max_model_calls=3, max_wall_time_s=5)
    assert budget.breached(0.5, 1, 1) is None
    assert budget.breached(1.0, 1, 1) == ("cost_usd", 1, 1.0)
    assert budget.breached(0.5, 3, 1) == ("model_calls", 3.0, 3.0)
    assert budget.breached(0.5, 1, 5) == ("wall_time_s", 5, 5)


async def test_stopping_the_stream_early_records_the_run_as_cancelled() -> None:
    graph = Graph(Log, name="early", model=PricedFake())

    async def step(state: Log, model: Any) -> dict[str, Any]:
        return {"log": [str((await model.ainvoke("x")).content)]}

    graph.add_node("a", step).add_node("b", step)
    graph.add_edge(START, "a").add_edge("a", "b").add_edge("b", END)
    app = graph.compile(memory=True)
    stream = app.astream({"log": []}, thread_id="early")
    async for _ in stream:
        break
    await stream.aclose()
    finished = None
    async for event in app.astream({"log": []}, thread_id="late"):
        if isinstance(event, RunFinished):
            finished = event
            break
    assert finished is not None
    statuses = {r.thread_id: r.status for r in app.ledger.ledger.runs()}
    assert statuses == {"early": "cancelled", "late": "succeeded"}
    sync_stream = app.stream({"log": []}, thread_id="sync-early")
    next(sync_stream)
    sync_stream.close()
    assert app.ledger.ledger.runs(thread_id="sync-early")[0].status == "cancelled"


def test_budget_validation() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        Budget(max_wall_time_s=0)


def test_builder_sequences_and_model_injection() -> None:
    from thinkgraph.graphs._builder import wants_model

    def with_model(state: Log, model: Any) -> dict[str, Any]:
        return {"log": [str(model.invoke("x").content)]}

    def without(state: Log) -> dict[str, Any]:
        return {"log": ["plain"]}

    assert wants_model(with_model) and not wants_model(without) and not wants_model(42)
    assert not wants_model(type)  # no inspectable signature: nothing injected
    graph = Graph(Log, name="seq", model=PricedFake(replies=["m"]))
    graph.add_sequence([("first", without), ("second", with_model)])
    graph.set_entry_point("first").set_finish_point("second")
    app = graph.compile(memory=True)
    assert app.run({"log": []}, thread_id="s").output == {"log": ["plain", "m"]}
    assert graph.model_for("second") is graph.model_for("second")
    assert graph.model_for("second", "critic").role == "critic"
