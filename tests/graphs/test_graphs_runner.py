"""The runner: streaming event order, interrupts and resume, cancel, budgets, fork, history, threads."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import add_messages
from langgraph.types import interrupt
from tg_graphs_support import Log, PricedFake, add, scripted

from thinkgraph.exceptions import BudgetExceeded, ConfigError, RunCancelled
from thinkgraph.graphs import (
    END,
    START,
    Budget,
    CompiledGraph,
    CostUpdated,
    Graph,
    NodeFinished,
    NodeStarted,
    ReasoningDelta,
    RunFinished,
    TokenDelta,
    ToolCalled,
    ToolReturned,
)
from thinkgraph.tools import ToolExecutor


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def tool_graph(model: Any) -> CompiledGraph:
    executor = ToolExecutor([add])

    async def agent(state: Chat, model: Any) -> dict[str, Any]:
        return {"messages": [await model.bind_tools([add]).ainvoke(state["messages"])]}

    def route(state: Chat) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = Graph(Chat, name="tools", model=model)
    graph.add_node("agent", agent).add_node("tools", executor.node())
    graph.add_edge(START, "agent").add_conditional_edges("agent", route, ["tools", END]).add_edge(
        "tools", "agent"
    )
    return graph.compile(memory=True)


def call_node(name: str) -> Any:
    async def node(state: Log, model: Any) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage(name)])
        return {"log": [f"{name}:{reply.content}"]}

    return node


def line(model: Any, *names: str, name: str = "line", budget: Budget | None = None) -> Graph:
    graph = Graph(Log, name=name, model=model, budget=budget)
    previous = START
    for node in names:
        graph.add_node(node, call_node(node))
        graph.add_edge(previous, node)
        previous = node
    graph.add_edge(previous, END)
    return graph


async def test_stream_events_come_in_order() -> None:
    model = PricedFake(
        replies=[
            AIMessage(
                content="let me add", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]
            ),
            "the sum is 3",
        ],
        reasoning="adding is easy",
    )
    app = tool_graph(model)
    events = [e async for e in app.astream({"messages": [HumanMessage("1+2?")]}, thread_id="s")]
    kinds = [(e.kind, getattr(e, "node", "")) for e in events]
    assert kinds == [
        ("node_started", "agent"),
        ("token", "agent"),
        ("token", "agent"),
        ("token", "agent"),
        ("reasoning", "agent"),
        ("cost", "agent"),
        ("tool_call", "agent"),
        ("node_finished", "agent"),
        ("node_started", "tools"),
        ("tool_result", "tools"),
        ("node_finished", "tools"),
        ("node_started", "agent"),
        ("token", "agent"),
        ("token", "agent"),
        ("token", "agent"),
        ("token", "agent"),
        ("reasoning", "agent"),
        ("cost", "agent"),
        ("node_finished", "agent"),
        ("run_finished", ""),
    ]
    assert "".join(e.text for e in events[1:4] if isinstance(e, TokenDelta)) == "let me add"
    call = next(e for e in events if isinstance(e, ToolCalled))
    assert (call.name, call.args, call.call_id) == ("add", {"a": 1, "b": 2}, "c1")
    result = next(e for e in events if isinstance(e, ToolReturned))
    assert (result.name, result.content, result.is_error) == ("add", "3", False)
    assert next(e for e in events if isinstance(e, ReasoningDelta)).text == "adding is easy"
    costs = [e for e in events if isinstance(e, CostUpdated)]
    assert [c.total_cost_usd for c in costs] == pytest.approx([0.01, 0.02])
    assert [c.model_calls for c in costs] == [1, 2]
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.output["messages"][-1].content == "the sum is 3"
    assert finished.summary.total.calls == 2
    assert finished.summary.tool_calls == 1
    tools = app.ledger.ledger.tool_calls(run_id=finished.run_id)
    assert [(t.tool, t.node, t.status) for t in tools] == [("add", "tools", "ok")]
    started = next(e for e in events if isinstance(e, NodeStarted))
    assert started.task == "agent" and started.namespace == ()
    done = next(e for e in events if isinstance(e, NodeFinished))
    assert done.error is None and "messages" in done.update


def test_sync_stream_and_run() -> None:
    app = line(PricedFake(replies=["a b", "c"]), "one", "two").compile(memory=True)
    kinds = [e.kind for e in app.stream({"log": []}, thread_id="sync")]
    assert kinds[0] == "node_started" and kinds[-1] == "run_finished"
    assert kinds.count("token") == 3 and kinds.count("cost") == 2
    result = app.run({"log": []}, thread_id="sync-2")
    assert result.status == "completed" and result.output == {"log": ["one:done", "two:done"]}
    assert result.summary.total.calls == 2


async def test_interrupt_and_resume() -> None:
    def ask(state: Log) -> dict[str, Any]:
        return {"log": [f"ask:{interrupt('proceed?')}"]}

    graph = line(scripted("x", "y"), "a", "b", name="ask")
    graph.add_node("ask", ask)
    graph.state_graph.edges.discard(("a", "b"))
    graph.add_edge("a", "ask").add_edge("ask", "b")
    app = graph.compile(memory=True)
    first = await app.arun({"log": []}, thread_id="i")
    assert first.status == "interrupted"
    assert [v for _, v in first.interrupts] == ["proceed?"]
    assert first.output == {"log": ["a:x"]}
    with pytest.raises(ConfigError, match="waiting on interrupt"):
        await app.aresume("i")
    done = await app.aresume("i", "yes")
    assert done.status == "completed" and done.output == {"log": ["a:x", "ask:yes", "b:y"]}
    runs = app.ledger.ledger.runs(thread_id="i")
    assert [r.status for r in runs] == ["succeeded", "interrupted"]
    sync_app = graph.compile(memory=True)
    assert sync_app.run({"log": []}, thread_id="j").status == "interrupted"
    assert sync_app.resume("j", "ok").output["log"][-2] == "ask:ok"


async def test_cancel_stops_at_the_next_step_and_keeps_the_checkpoint() -> None:
    started = asyncio.Event()

    async def slow(state: Log) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(0.2)
        return {"log": [f"slow{len(state['log'])}"]}

    graph = Graph(Log, name="cancel")
    graph.add_node("x", slow).add_node("y", slow).add_node("z", slow)
    graph.add_edge(START, "x").add_edge("x", "y").add_edge("y", "z").add_edge("z", END)
    app = graph.compile(memory=True)
    task = asyncio.create_task(app.arun({"log": []}, thread_id="c"))
    await started.wait()
    assert app.running() and app.cancel("c")
    with pytest.raises(RunCancelled):
        await task
    state = app.get_state("c")
    assert state.values == {"log": ["slow0"]} and state.next == ("y",)
    assert app.ledger.ledger.runs(thread_id="c")[0].status == "cancelled"
    assert not app.running() and not app.cancel("c")
    done = await app.aresume("c")
    assert done.output == {"log": ["slow0", "slow1", "slow2"]}


async def test_budget_stops_and_resumes_with_a_higher_budget() -> None:
    app = line(PricedFake(cost=0.01), "a", "b", "c", "d", name="budget").compile(memory=True)
    with pytest.raises(BudgetExceeded) as stopped:
        await app.arun({"log": []}, thread_id="b", budget=Budget(max_cost_usd=0.015))
    assert stopped.value.limit == "cost_usd" and stopped.value.thread_id == "b"
    state = app.get_state("b")
    assert state.values == {"log": ["a:done", "b:done"]} and state.next == ("c",)
    # usage carries over: 0.02 spent already, so 0.025 allows exactly one more call
    with pytest.raises(BudgetExceeded) as again:
        await app.aresume("b", budget={"max_cost_usd": 0.025})
    assert again.value.used == pytest.approx(0.03)
    assert app.get_state("b").next == ("d",)
    done = await app.aresume("b", budget=Budget(max_cost_usd=1.0, max_model_calls=10))
    assert done.output["log"] == ["a:done", "b:done", "c:done", "d:done"]
    statuses = [r.status for r in app.ledger.ledger.runs(thread_id="b")]
    assert statuses == ["succeeded", "failed", "failed"]
    # a new input starts a new piece of work with a fresh budget
    fresh = await app.arun({"log": []}, thread_id="b", budget=Budget(max_model_calls=4))
    assert fresh.status == "completed"


def test_call_and_wall_time_budgets() -> None:
    app = line(PricedFake(), "a", "b", "c").compile(memory=True, budget={"max_model_calls": 1})
    with pytest.raises(BudgetExceeded, match="model_calls"):
        app.run({"log": []}, thread_id="calls")
    assert app.get_state("calls").next == ("b",)

    def sleepy(state: Log) -> dict[str, Any]:
        import time

        time.sleep(0.05)
        return {"log": ["z"]}

    graph = Graph(Log, name="wall")
    graph.add_node("x", sleepy).add_node("y", sleepy)
    graph.add_edge(START, "x").add_edge("x", "y").add_edge("y", END)
    wall = graph.compile(memory=True)
    with pytest.raises(BudgetExceeded, match="wall_time_s"):
        wall.run({"log": []}, thread_id="w", budget=Budget(max_wall_time_s=0.01))
    assert wall.get_state("w").next == ("y",)


async def test_fork_from_a_past_checkpoint() -> None:
    app = line(scripted("p", "q", "r", "s"), "a", "b", name="fork").compile(memory=True)
    await app.arun({"log": []}, thread_id="orig")
    history = await app.ahistory("orig")
    after_a = next(h for h in history if h.nodes == ("a",))
    assert after_a.changes["log"].added == ("a:p",)
    new = await app.afork("orig", after_a.checkpoint_id, new_thread_id="branch")
    assert new == "branch"
    assert (await app.aget_state("branch")).values == {"log": ["a:p"]}
    done = await app.aresume("branch")
    assert done.output == {"log": ["a:p", "b:r"]}  # b ran again, on the fork
    assert (await app.aget_state("orig")).values == {"log": ["a:p", "b:q"]}
    edited = app.fork("orig", after_a.checkpoint_id, update={"log": ["edited"]}, as_node="a")
    assert app.get_state(edited).values == {"log": ["a:p", "edited"]}
    with pytest.raises(ConfigError, match="no checkpoint"):
        app.fork("orig", "missing")
    with pytest.raises(ConfigError, match="no checkpoint"):
        await app.afork("orig", "missing")


async def test_history_and_threads() -> None:
    app = line(PricedFake(reasoning="because", replies=["x", "y"]), "a", "b", name="hist").compile(
        memory=True
    )
    # messages carry CallInfo, so history can price each checkpoint
    chat = tool_graph(PricedFake(replies=["hello"], reasoning="why not", cost=0.5))
    result = await chat.arun({"messages": [HumanMessage("hi")]}, thread_id="h")
    entries = chat.history("h")
    assert [e.source for e in entries] == ["input", "loop", "loop"]
    assert entries[0].nodes == ("__start__",)
    last = entries[-1]
    assert last.nodes == ("agent",) and last.run_id == result.run_id
    assert last.cost_usd == pytest.approx(0.5) and last.model_calls == 1
    assert [r["text"] for r in last.reasoning] == ["why not"]
    assert last.changes["messages"].added[0].content == "hello"
    assert last.created_at is not None and last.parent_id == entries[-2].checkpoint_id
    assert [e.checkpoint_id for e in await chat.ahistory("h")] == [e.checkpoint_id for e in entries]

    await app.arun({"log": []}, thread_id="t1")
    await app.arun({"log": []}, thread_id="t2")
    # the state holds strings, not messages: the ledger prices each checkpoint
    priced = [(e.nodes, e.model_calls, round(e.cost_usd, 6)) for e in await app.ahistory("t1")]
    assert priced[-2:] == [(("a",), 1, 0.01), (("b",), 1, 0.01)]
    assert priced[0] == (("__start__",), 0, 0.0)
    threads = await app.athreads()
    assert [t.thread_id for t in threads] == ["t2", "t1"]
    assert threads[0].runs == 1 and threads[0].status == "succeeded"
    assert threads[0].cost_usd == pytest.approx(0.02)
    assert [t.thread_id for t in app.threads()] == ["t2", "t1"]


async def test_threads_without_a_ledger() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    graph = line(scripted(), "a")
    app = graph.compile(
        checkpointer=InMemorySaver(), store=False, ledger=False, database_url="sqlite:///nowhere/x.db"
    )
    assert not app.ledger.enabled
    await app.arun({"log": []}, thread_id="n1")
    app.run({"log": []}, thread_id="n2")
    assert {t.thread_id for t in app.threads()} == {"n1", "n2"}
    assert {t.thread_id for t in await app.athreads()} == {"n1", "n2"}


def test_breakpoints_pause_the_run() -> None:
    app = line(PricedFake(), "a", "b", name="breakpoints").compile(memory=True, interrupt_before=["b"])
    paused = app.run({"log": []}, thread_id="bp")
    assert paused.status == "interrupted" and paused.interrupts == () and paused.output == {"log": ["a:done"]}
    done = app.resume("bp")
    assert done.status == "completed" and done.output == {"log": ["a:done", "b:done"]}
