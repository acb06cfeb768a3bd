"""Runs without events (``run``/``arun``) and the ledger queue written before each checkpoint.

A run without events asks LangGraph for less (node updates and state values, no subgraph stream
unless a node may run a subgraph), yet returns the same output and books the same model and tool
calls as a streamed run. Model calls are queued in the ledger and written before each checkpoint:
a process killed with SIGKILL keeps every call made before its last saved checkpoint.
"""

from __future__ import annotations

import operator
import signal
import subprocess
import sys
import textwrap
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import add_messages
from tg_graphs_support import Log, PricedFake, add

from thinkgraph.agents import build_tool_agent
from thinkgraph.graphs import END, START, CompiledGraph, Graph, RunFinished
from thinkgraph.graphs._ledger_saver import LedgerFlushingSaver
from thinkgraph.memory import Ledger, SQLCheckpointer


class Chat(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    traces: Annotated[list[Any], operator.add]
    steps: int
    outcome: Any
    structured_response: Any


def agent_app() -> CompiledGraph:
    model = PricedFake(
        replies=[
            AIMessage(content="", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]),
            "the sum is 3",
        ]
    )
    graph = Graph(Chat, name="lean-agent")
    graph.add_agent("act", build_tool_agent, tools=[add], system_prompt=None, model=model)
    graph.add_edge(START, "act").add_edge("act", END)
    return graph.compile(memory=True)  # type: ignore[no-any-return]


async def test_a_run_without_events_books_what_a_streamed_run_books() -> None:
    streamed_app, lean_app = agent_app(), agent_app()
    question = {"messages": [HumanMessage("1+2?")]}
    streamed = await streamed_app.arun(question, thread_id="s", events=True)
    lean = await lean_app.arun(question, thread_id="l")
    assert lean_app._nested  # an agent is a subgraph: its updates are streamed too
    assert len(streamed.events) > 1 and [type(e) for e in lean.events] == [RunFinished]
    contents = [m.content for m in lean.output["messages"]]
    assert contents == [m.content for m in streamed.output["messages"]] and contents[-1] == "the sum is 3"
    for app, result in ((streamed_app, streamed), (lean_app, lean)):
        summary = result.summary
        assert (summary.total.calls, summary.tool_calls, summary.tool_errors) == (2, 1, 0)
        tools = app.ledger.ledger.tool_calls(run_id=result.run_id)
        assert [(t.tool, t.node, t.status) for t in tools] == [("add", "act", "ok")]
        assert [c.node for c in app.ledger.ledger.model_calls(run_id=result.run_id)] == ["act", "act"]
    assert lean.output == dict((await lean_app.aget_state("l")).values)


def line_app(*, events_model: PricedFake | None = None) -> CompiledGraph:
    async def step(state: Log, model: Any) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage("go")])
        return {"log": [str(reply.content)]}

    graph = Graph(Log, name="lean-line", model=events_model or PricedFake(replies=["a", "b", "c"]))
    graph.add_sequence([("a", step), ("b", step), ("c", step)])
    graph.add_edge(START, "a").add_edge("c", END)
    return graph.compile(memory=True)  # type: ignore[no-any-return]


async def test_a_flat_graph_streams_no_subgraphs_and_returns_its_state() -> None:
    app = line_app()
    assert not app._nested and app.ledger.deferred
    result = await app.arun({"log": []}, thread_id="f")
    assert result.output == {"log": ["a", "b", "c"]} == dict(app.get_state("f").values)
    assert [type(e) for e in result.events] == [RunFinished]
    assert result.summary.total.calls == 3 and result.summary.total.cost_usd == pytest.approx(0.03)
    sync = line_app().run({"log": []}, thread_id="g", events=True)
    assert sync.output == result.output and len(sync.events) > 1


def test_the_sync_api_runs_async_nodes_inside_a_running_event_loop() -> None:
    async def inside() -> Any:
        return line_app().run({"log": []}, thread_id="loop")

    import asyncio

    assert asyncio.run(inside()).output == {"log": ["a", "b", "c"]}


async def test_the_saver_writes_queued_records_before_checkpoint_writes(tmp_path: Any) -> None:
    info = {"requested_model": "m", "provider": "p", "cost_usd": 0.5}
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "1"}}
    with Ledger("sqlite://") as ledger:
        ledger.setup()
        saver = LedgerFlushingSaver(InMemorySaver(), ledger)
        assert saver.with_allowlist(set()).ledger is ledger
        ledger.defer_model_call(info, run_id="r", node="a")
        assert ledger.model_calls(run_id="r") == []
        saver.put_writes(config, [("log", ["a"])], "task-1")  # type: ignore[arg-type]
        assert [c.node for c in ledger.model_calls(run_id="r")] == ["a"]
        ledger.defer_model_call(info, run_id="r", node="b")
        await saver.aput_writes(config, [("log", ["b"])], "task-2")  # type: ignore[arg-type]
        assert [c.node for c in ledger.model_calls(run_id="r")] == ["a", "b"]
    # on SQLite the flush and the checkpointer's write share one worker-thread hop
    url = f"sqlite:///{tmp_path}/one-hop.db"
    with Ledger(url) as ledger, SQLCheckpointer(url) as checkpointer:
        ledger.setup()
        checkpointer.setup()
        saver = LedgerFlushingSaver(checkpointer, ledger)
        assert saver._one_hop and saver.setup == checkpointer.setup
        ledger.defer_model_call(info, run_id="r", node="c")
        await saver.aput_writes(config, [("log", ["c"])], "task-3")  # type: ignore[arg-type]
        assert [c.node for c in ledger.model_calls(run_id="r")] == ["c"]


KILLED_CHILD = textwrap.dedent(
    """
    import asyncio, operator, os, signal, sys
    from typing import Annotated, Any, TypedDict
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from thinkgraph.graphs import END, START, Graph

    class Log(TypedDict):
        log: Annotated[list[str], operator.add]

    def node(name):
        async def run(state: Log, model: Any) -> dict:
            await model.ainvoke("go")
            if name == "c":
                await asyncio.sleep(0.5)  # the checkpoint after b is written meanwhile
                os.kill(os.getpid(), signal.SIGKILL)
            return {"log": [name]}
        return run

    model = GenericFakeChatModel(messages=iter([AIMessage(content=str(i)) for i in range(9)]))
    graph = Graph(Log, name="killed", model=model)
    for name in "abc":
        graph.add_node(name, node(name))
    graph.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    app = graph.compile(database_url=sys.argv[1])
    assert app.ledger.deferred
    asyncio.run(app.arun({"log": []}, thread_id="k", run_id="killed"))
    """
)


def test_calls_before_the_last_checkpoint_survive_sigkill(shared_db_url: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, shared_db_url], capture_output=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    graph = Graph(Log, name="killed")
    for name in "abc":
        graph.add_node(name, lambda state: {})
    graph.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    app = graph.compile(database_url=shared_db_url)
    try:
        done = app.get_state("k").values["log"]
        assert done == ["a", "b"]  # the last checkpoint: a and b finished, c was under way
        calls = app.ledger.ledger.model_calls(run_id="killed")
        assert {"a", "b"} <= {c.node for c in calls}
        assert app.ledger.ledger.get_run("killed").status == "running"
    finally:
        app.close()


async def test_a_node_that_runs_a_graph_itself_counts_as_nested() -> None:
    inner = Graph(Log, name="inner")
    inner.add_node("x", lambda state: {"log": ["x"]}).set_entry_point("x").set_finish_point("x")
    compiled_inner = inner.compile(memory=True).graph

    async def outer_node(state: Log, model: Any) -> dict[str, Any]:
        result = await compiled_inner.ainvoke({"log": []})
        return {"log": result["log"]}

    graph = Graph(Log, name="outer", model=PricedFake())
    graph.add_node("o", outer_node).set_entry_point("o").set_finish_point("o")
    app = graph.compile(memory=True)
    assert app._nested
    assert (await app.arun({"log": []}, thread_id="n")).output == {"log": ["x"]}
    assert not line_app()._nested


async def test_a_consumer_that_stops_early_ends_the_run_at_once() -> None:
    app = line_app()
    stream = app.astream({"log": []}, thread_id="early")
    async for _event in stream:
        break
    await stream.aclose()
    assert app.running() == []
    assert [r.status for r in app.ledger.ledger.runs(thread_id="early")] == ["cancelled"]
