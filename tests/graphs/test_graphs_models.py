"""Per-node models: resolution order, option cascade, residency, downgrade, agents and subgraphs."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph, add_messages
from pydantic import BaseModel
from tg_graphs_support import PricedFake, spec

from thinkgraph import load_settings
from thinkgraph.agents import build_tool_agent
from thinkgraph.exceptions import AllProvidersFailed, BudgetExceeded, ConfigError, ResidencyViolation
from thinkgraph.graphs import END, START, Budget, Graph, ModelChoice, NodeModel, Residency, ToolCalled
from thinkgraph.models import ChatModel, ModelSpec
from thinkgraph.testing import FakeProvider, Fault, Reply, ToolCall
from thinkgraph.tools import tool


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def ask(state: Log, model: Any) -> dict[str, Any]:
    reply = await model.ainvoke([HumanMessage(f"step {len(state['log'])}")])
    return {"log": [str(reply.content)]}


def chain_of(graph: Graph, node: str, settings: Any = None, **kwargs: Any) -> list[str]:
    resolved = graph.resolver(settings or load_settings()).resolve(node, **kwargs)
    assert resolved.chain is not None
    return [s.model for s in resolved.chain]


def test_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKGRAPH_MODELS__tuned", "openai/from-env")
    monkeypatch.setenv("THINKGRAPH_DEFAULT_MODEL", "openai/settings-default")
    graph = Graph(Log, model="openai/graph-default")
    graph.add_node("pinned", ask, model="openai/on-node")
    graph.add_node("tuned", ask).add_node("plain", ask)
    run = {"pinned": ModelChoice.of("openai/run"), "plain": ModelChoice.of("openai/run")}
    assert chain_of(graph, "pinned", overrides=run) == ["openai/on-node"]  # the node's own wins
    assert chain_of(graph, "plain", overrides=run) == ["openai/run"]  # then the run's override
    assert chain_of(graph, "tuned", overrides={"*": ModelChoice.of("openai/star")}) == ["openai/star"]
    assert chain_of(graph, "tuned") == ["openai/from-env"]  # then settings by node name
    assert chain_of(graph, "plain") == ["openai/graph-default"]  # then the graph default
    bare = Graph(Log)
    bare.add_node("plain", ask)
    assert chain_of(bare, "plain") == ["openai/settings-default"]  # then the settings default
    monkeypatch.delenv("THINKGRAPH_DEFAULT_MODEL")
    with pytest.raises(ConfigError, match="node 'plain' of graph 'graph' has no model"):
        chain_of(bare, "plain")


def test_options_cascade_level_by_level() -> None:
    graph = Graph(
        Log, model="openai/default", fallbacks=["anthropic/claude-3-5-haiku-20241022"], model_timeout=7
    )
    graph.add_node("a", ask, model=ModelSpec(model="openai/a", timeout=3), reasoning_effort="low")
    graph.add_node("b", ask, model={"model": "openai/b", "fallbacks": ["gemini/gemini-2.0-flash"]})
    settings = load_settings(models={"b": {"timeout": 11}})
    resolver = graph.resolver(settings)
    a = resolver.resolve("a", {"a": ModelChoice.of(None, reasoning_effort="high", timeout=99)})
    assert a.chain is not None
    assert [(s.model, s.timeout, s.reasoning_effort) for s in a.chain] == [
        ("openai/a", 3.0, "low"),  # the spec's own timeout and the node's effort win
        (
            "anthropic/claude-3-5-haiku-20241022",
            99.0,
            "low",
        ),  # fallbacks from the graph, timeout from the run
    ]
    b = resolver.resolve("b")
    assert b.chain is not None
    assert [(s.model, s.timeout) for s in b.chain] == [("openai/b", 11.0), ("gemini/gemini-2.0-flash", 11.0)]
    assert resolver.resolve("b").model is b.model  # one chat model per chain, shared by every run
    assert isinstance(b.model, ChatModel)
    assert ModelChoice.of(["openai/x", "openai/y"]).fallbacks == (ModelSpec(model="openai/y"),)
    with pytest.raises(ConfigError, match="expected a model"):
        ModelChoice.of(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="timeout"):
        ModelChoice.of("openai/x", timeout=0)


async def test_run_override_reaches_an_agent_built_with_the_node_model() -> None:
    first, second = PricedFake(name_="fake/one"), PricedFake(name_="fake/two")
    graph = Graph(Log, model=first)
    graph.add_node("a", ask).set_entry_point("a")
    app = graph.compile(memory=True)
    await app.arun({"log": []}, thread_id="o1")
    result = await app.arun({"log": []}, thread_id="o2", models={"a": second})
    assert (first.calls, second.calls) == (1, 1)
    assert result.summary.by_node[0].node == "a"


def test_residency_is_checked_at_compile_time() -> None:
    graph = Graph(Log, residency={"providers": ["ollama_chat"]})
    graph.add_node("n", ask, model="openai/gpt-4o-mini").set_entry_point("n")
    with pytest.raises(
        ConfigError, match=r"node 'n' may only call providers ollama_chat.*'openai/gpt-4o-mini'"
    ):
        graph.compile(memory=True)
    local = Graph(Log)
    local.add_node(
        "n",
        ask,
        model="ollama_chat/llama3.1",
        fallbacks=["anthropic/claude-3-5-haiku-20241022"],
        residency=Residency(local_only=True),
    ).set_entry_point("n")
    with pytest.raises(ConfigError, match="claude"):  # a fallback may not leave the set either
        local.compile(memory=True)
    opaque = Graph(Log, residency={"local_only": True})
    opaque.add_node("n", ask, model=PricedFake()).set_entry_point("n")
    with pytest.raises(ConfigError, match="does not say which provider"):
        opaque.compile(memory=True)
    ok = Graph(Log, residency={"local_only": True})
    ok.add_node("n", ask, model="ollama_chat/llama3.1", fallbacks=["openai/x"], residency={"providers": "x"})
    ok.set_entry_point("n")
    ok.set_model(
        "n", "ollama_chat/llama3.1", fallbacks=[{"model": "openai/x", "api_base": "http://127.0.0.1:1"}]
    )
    ok.compile(memory=True)  # a loopback server counts as local; no node policy left
    assert Residency(providers=["a", "b"]).describe() == "providers a, b"
    with pytest.raises(ValueError, match="at least one"):
        Residency(providers=[])


async def test_residency_refuses_at_run_time_and_records_it() -> None:
    graph = Graph(Log, model="ollama_chat/llama3.1", residency={"providers": ["ollama_chat"]})
    graph.add_node("n", ask).set_entry_point("n")
    app = graph.compile(memory=True)
    with pytest.raises(ResidencyViolation, match="'openai/gpt-4o'"):
        await app.arun({"log": []}, thread_id="r", models={"n": "openai/gpt-4o"})
    [call] = app.ledger.ledger.model_calls(thread_id="r")
    assert (call.node, call.provider, call.error_class, call.attempts) == (
        "n",
        "openai",
        "ResidencyViolation",
        0,
    )
    assert app.ledger.ledger.runs(thread_id="r")[0].status == "failed"
    with pytest.raises(ResidencyViolation):
        app.run({"log": []}, thread_id="r2", models={"*": "anthropic/claude-3-5-haiku-20241022"})
    assert app.ledger.ledger.model_calls(thread_id="r2")[0].error_class == "ResidencyViolation"


async def test_downgrade_switches_to_the_cheapest_model_of_the_chain(fake: FakeProvider) -> None:
    fake.reset()
    expensive = spec(fake.url, "openai/gpt-4o", "expensive") | {"pricing": {"input": 1e-3, "output": 1e-3}}
    cheap = spec(fake.url, "openai/gpt-4o-mini", "cheap") | {"pricing": {"input": 1e-9, "output": 1e-9}}
    graph = Graph(Log, name="down", model=expensive, fallbacks=[cheap])
    for node in ("a", "b", "c"):
        graph.add_node(node, ask)
    graph.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    app = graph.compile(memory=True, budget=Budget(max_cost_usd=1e-6, on_exceed="downgrade"))
    result = await app.arun({"log": []}, thread_id="d")
    assert result.status == "completed"
    assert (len(fake.requests_for("expensive")), len(fake.requests_for("cheap"))) == (1, 2)
    calls = app.ledger.ledger.model_calls(run_id=result.run_id)
    assert [(c.node, c.model) for c in calls] == [
        ("a", "openai/gpt-4o"),
        ("b", "openai/gpt-4o-mini"),
        ("c", "openai/gpt-4o-mini"),
    ]
    # the same with a ChatModel instance on the node
    fake.reset()
    instance = Graph(Log, name="down2")
    instance.add_node("a", ask, model=ChatModel(expensive, fallbacks=[cheap])).add_node("b", ask)
    instance.set_model("b", ChatModel(expensive, fallbacks=[cheap]))
    instance.add_edge(START, "a").add_edge("a", "b").add_edge("b", END)
    app2 = instance.compile(memory=True)
    await app2.arun({"log": []}, thread_id="d2", budget={"max_model_calls": 1, "on_exceed": "downgrade"})
    assert (len(fake.requests_for("expensive")), len(fake.requests_for("cheap"))) == (1, 1)
    with pytest.raises(BudgetExceeded):
        await app2.arun({"log": []}, thread_id="d3", budget={"max_model_calls": 1})


class Answer(BaseModel):
    answer: str


async def test_structured_output_and_tools_through_the_node_model(fake: FakeProvider) -> None:
    fake.reset()
    fake.script("structured", Reply(text='{"answer": "42"}'), Reply(text='{"answer": "43"}'))

    async def extract(state: Log, model: Any) -> dict[str, Any]:
        parsed = await model.with_structured_output(Answer).ainvoke([HumanMessage("answer?")])
        raw = await model.with_structured_output(Answer, include_raw=True).ainvoke([HumanMessage("again")])
        return {"log": [parsed.answer, raw["parsed"].answer]}

    graph = Graph(Log, name="structured")
    graph.add_node("x", extract, model=spec(fake.url, "openai/gpt-4o-mini", "structured"))
    graph.add_edge(START, "x").add_edge("x", END)
    app = graph.compile(memory=True)
    result = await app.arun({"log": []}, thread_id="so")
    assert result.output["log"] == ["42", "43"]
    assert result.summary.total.calls == 2
    request = fake.requests_for("structured")[0]
    assert "response_format" in request.body


@tool
def lookup(city: str) -> str:
    """Look up a city.

    Args:
        city: the city.
    """
    return f"{city}: sunny"


async def test_agent_and_subgraph_nodes_use_their_node_model(fake: FakeProvider) -> None:
    fake.reset()
    fake.script(
        "agent",
        Reply(text="", tool_calls=[ToolCall(name="lookup", arguments={"city": "Oslo"}, id="call-1")]),
        Reply(text="Oslo is sunny."),
    )
    fake.script("inner", Reply(text="from the subgraph"))

    async def inner(state: Chat, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await graph.model.ainvoke(state["messages"], config)]}

    sub = StateGraph(Chat)
    sub.add_node("inner", inner)
    sub.add_edge(START, "inner").add_edge("inner", END)

    graph = Graph(Chat, name="agents")
    graph.add_agent(
        "weather",
        build_tool_agent,
        tools=[lookup],
        system_prompt="Be brief.",
        model=spec(fake.url, "openai/gpt-4o-mini", "agent"),
    )
    graph.add_node(
        "summary", sub.compile(), model=spec(fake.url, "anthropic/claude-3-5-haiku-20241022", "inner")
    )
    graph.add_edge(START, "weather").add_edge("weather", "summary").add_edge("summary", END)
    app = graph.compile(memory=True)
    events = [e async for e in app.astream({"messages": [HumanMessage("Weather in Oslo?")]}, thread_id="ag")]
    calls = [e for e in events if isinstance(e, ToolCalled)]
    assert [(c.node, c.name, c.args) for c in calls] == [("weather", "lookup", {"city": "Oslo"})]
    assert calls[0].namespace and calls[0].namespace[0].startswith("weather:")
    final = events[-1]
    assert final.kind == "run_finished"
    assert [m.content for m in final.output["messages"] if isinstance(m, AIMessage)][
        -1
    ] == "from the subgraph"
    summary = final.summary
    assert {(row.node, row.calls) for row in summary.by_node} == {("weather", 2), ("summary", 1)}
    tools = app.ledger.ledger.tool_calls(run_id=final.run_id)
    assert [(t.tool, t.node, t.status) for t in tools] == [("lookup", "weather", "ok")]
    assert {c.provider for c in app.ledger.ledger.model_calls(run_id=final.run_id)} == {"openai", "anthropic"}


def test_roles_of_multi_model_agents() -> None:
    seen: dict[str, Any] = {}

    def factory(model: Any, critic: Any) -> Any:
        seen.update(model=model, critic=critic)

        def node(state: Log) -> dict[str, Any]:
            return {"log": []}

        return node

    graph = Graph(Log, model="openai/main")
    graph.add_agent("r", factory, roles=("model", "critic"), role_models={"critic": "anthropic/critic"})
    assert isinstance(seen["critic"], NodeModel) and (seen["critic"].node, seen["critic"].role) == (
        "r",
        "critic",
    )
    assert seen["model"] is graph.model_for("r")
    assert chain_of(graph, "r") == ["openai/main"]
    assert chain_of(graph, "r", role="critic") == ["anthropic/critic"]
    overrides = {"r.critic": ModelChoice.of("gemini/run-critic")}
    assert chain_of(graph, "r", role="critic", overrides=overrides) == ["anthropic/critic"]  # node level wins
    graph2 = Graph(Log)
    graph2.add_agent("r", factory, roles=("model", "critic"))
    assert chain_of(graph2, "r", role="critic", overrides=overrides) == ["gemini/run-critic"]
    with pytest.raises(ConfigError, match="role 'critic' of node 'r'"):
        chain_of(graph2, "r", role="critic")
    graph3 = Graph(Log, residency={"providers": ["openai"]}, model="openai/main")
    graph3.add_agent("r", factory, roles=("model", "critic"), role_models={"critic": "anthropic/critic"})
    graph3.set_entry_point("r")
    with pytest.raises(ConfigError, match="anthropic/critic"):
        graph3.compile(memory=True)


def test_node_models_outside_a_run() -> None:
    graph = Graph(Log, model=PricedFake(replies=["direct"]))
    graph.add_node("a", ask).set_entry_point("a")
    with pytest.raises(ConfigError, match="before its graph was compiled"):
        graph.model_for("a").invoke("hi")
    with pytest.raises(ConfigError, match="outside a graph node"):
        graph.model.invoke("hi")
    app = graph.compile(memory=True)
    assert graph.model_for("a").invoke("hi").content == "direct"
    # the LangGraph graph itself runs too (no accounting, but the node model resolves)
    assert app.graph.invoke({"log": []}, {"configurable": {"thread_id": "raw"}}) == {"log": ["done"]}
    with pytest.raises(ConfigError, match="already has a node"):
        graph.add_node("a", ask)


async def test_failed_calls_are_recorded(fake: FakeProvider) -> None:
    fake.reset()
    fake.script("down-a", Fault.server_error(), Fault.server_error())
    fake.script("down-b", Fault.auth(), Fault.auth())
    graph = Graph(
        Log,
        name="failing",
        model=spec(fake.url, "openai/gpt-4o-mini", "down-a"),
        fallbacks=[spec(fake.url, "anthropic/claude-3-5-haiku-20241022", "down-b")],
    )
    graph.add_node("n", ask).set_entry_point("n")
    app = graph.compile(memory=True)
    with pytest.raises(AllProvidersFailed):
        await app.arun({"log": []}, thread_id="f")
    with pytest.raises(AllProvidersFailed):
        [e async for e in app.astream({"log": []}, thread_id="f2")]
    for thread in ("f", "f2"):
        [call] = app.ledger.ledger.model_calls(thread_id=thread)
        assert (call.error_class, call.attempts, call.provider) == ("AllProvidersFailed", 2, "anthropic")
        assert call.requested_model == "openai/gpt-4o-mini" and call.cost_usd == 0.0
        assert app.ledger.ledger.runs(thread_id=thread)[0].status == "failed"
