"""The tool executor: concurrency, timeouts, errors fed back, approvals, no re-run after a crash."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph, add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from thinkgraph.exceptions import ConfigError
from thinkgraph.tools import (
    TOOL_OUTCOME_KEY,
    ToolExecutor,
    approve,
    edit,
    parse_decision,
    reject,
    tool,
    tool_outcome_of,
)

CALLS: Counter[str] = Counter()


@tool
async def slow_double(x: int) -> int:
    """Double a number slowly.

    Args:
        x: the number.
    """
    CALLS[f"slow_double:{x}"] += 1
    await asyncio.sleep(0.15)
    return 2 * x


@tool(timeout=0.1)
async def hang(seconds: float) -> str:
    """Sleep.

    Args:
        seconds: how long.
    """
    await asyncio.sleep(seconds)
    return "woke"


@tool(timeout=0.1)
def hang_sync(seconds: float) -> str:
    """Sleep synchronously.

    Args:
        seconds: how long.
    """
    time.sleep(seconds)
    return "woke"


@tool
def boom(reason: str) -> str:
    """Fail.

    Args:
        reason: why.
    """
    raise RuntimeError(f"kaput: {reason}")


@tool(requires_approval=True)
def transfer(amount: int, to: str) -> str:
    """Move money.

    Args:
        amount: how much.
        to: to whom.
    """
    CALLS[f"transfer:{amount}:{to}"] += 1
    return f"sent {amount} to {to}"


TOOLS = [slow_double, hang, hang_sync, boom, transfer]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def call(name: str, call_id: str, **args: Any) -> ToolCall:
    return ToolCall(name=name, args=args, id=call_id, type="tool_call")


def graph(calls: list[ToolCall], *, per_task: bool = True, **kwargs: Any) -> CompiledStateGraph[Any]:
    executor = ToolExecutor(TOOLS, **kwargs)

    def model(state: State) -> dict[str, Any]:
        if not any(isinstance(m, AIMessage) for m in state["messages"]):
            return {"messages": [AIMessage("", tool_calls=calls)]}
        return {"messages": [AIMessage("done")]}

    builder = StateGraph(State)
    builder.add_node("model", model)
    if per_task:
        builder.add_node("tools", executor.task_node())
        builder.add_conditional_edges("model", executor.dispatch("tools"))
    else:
        builder.add_node("tools", executor.node())
        builder.add_conditional_edges("model", lambda s: "tools" if executor.pending_calls(s) else "__end__")
    builder.add_edge(START, "model")
    builder.add_edge("tools", "model")
    return builder.compile(checkpointer=InMemorySaver())


def tool_messages(result: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage)}


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@pytest.mark.parametrize("per_task", [True, False])
async def test_calls_run_concurrently_and_record_outcomes(per_task: bool) -> None:
    calls = [call("slow_double", f"c{i}", x=i) for i in range(4)]
    start = time.perf_counter()
    result = await graph(calls, per_task=per_task).ainvoke(
        {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "t"}}
    )
    elapsed = time.perf_counter() - start
    assert elapsed < 0.45, elapsed  # four 0.15 s calls overlapped
    out = tool_messages(result)
    assert [out[f"c{i}"].content for i in range(4)] == ["0", "2", "4", "6"]
    outcome = tool_outcome_of(out["c1"])
    assert outcome is not None
    assert outcome["tool"] == "slow_double" and outcome["status"] == "success"
    assert outcome["error_class"] is None and outcome["latency_s"] >= 0.14
    assert result["messages"][-1].content == "done"


async def test_concurrency_limit() -> None:
    calls = [call("slow_double", f"c{i}", x=i) for i in range(3)]
    start = time.perf_counter()
    await graph(calls, max_concurrency=1).ainvoke(
        {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "t"}}
    )
    assert time.perf_counter() - start >= 0.44


@pytest.mark.parametrize("per_task", [True, False])
def test_failures_become_error_messages_sync(per_task: bool) -> None:
    calls = [
        call("boom", "e", reason="disk full"),
        call("hang_sync", "t", seconds=1.0),
        call("slow_double", "v", x="seven"),
        call("teleport", "u"),
        call("slow_double", "ok", x=1),
    ]
    result = graph(calls, per_task=per_task).invoke(
        {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "t"}}
    )
    _check_failures(tool_messages(result))


async def test_failures_become_error_messages_async() -> None:
    calls = [
        call("boom", "e", reason="disk full"),
        call("hang", "t", seconds=1.0),
        call("slow_double", "v", x="seven"),
        call("teleport", "u"),
        call("slow_double", "ok", x=1),
    ]
    result = await graph(calls).ainvoke(
        {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "t"}}
    )
    _check_failures(tool_messages(result))


def _check_failures(out: dict[str, ToolMessage]) -> None:
    assert {k: m.status for k, m in out.items()} == {
        "e": "error",
        "t": "error",
        "v": "error",
        "u": "error",
        "ok": "success",
    }
    assert "RuntimeError: kaput: disk full" in str(out["e"].content)
    assert "did not finish within 0.1 s" in str(out["t"].content)
    assert "x: Input should be a valid integer" in str(out["v"].content)
    assert "unknown tool 'teleport'" in str(out["u"].content) and "slow_double" in str(out["u"].content)
    classes = {k: (tool_outcome_of(m) or {}).get("error_class") for k, m in out.items()}
    assert classes == {
        "e": "RuntimeError",
        "t": "ToolTimeoutError",
        "v": "ToolInputError",
        "u": "ToolInputError",
        "ok": None,
    }


@pytest.mark.parametrize("per_task", [True, False])
async def test_approval_approve_edit_reject(per_task: bool) -> None:
    calls = [call("transfer", "a", amount=5, to="ann"), call("slow_double", "d", x=3)]
    for decision, expected, approval in [
        (approve(), "sent 5 to ann", "approved"),
        (True, "sent 5 to ann", "approved"),
        (edit({"amount": 1, "to": "bob"}), "sent 1 to bob", "edited"),
        (reject("too much"), "rejected this call of 'transfer': too much", "rejected"),
    ]:
        g = graph(calls, per_task=per_task)
        config = {"configurable": {"thread_id": "t"}}
        first = await g.ainvoke({"messages": [HumanMessage("go")]}, config)
        (pending,) = first["__interrupt__"]
        assert pending.value == {
            "type": "tool_approval",
            "tool": "transfer",
            "args": {"amount": 5, "to": "ann"},
            "tool_call_id": "a",
        }
        result = await g.ainvoke(Command(resume=decision), config)
        out = tool_messages(result)
        assert expected in str(out["a"].content)
        assert out["a"].additional_kwargs[TOOL_OUTCOME_KEY]["approval"] == approval
        assert out["a"].status == ("error" if approval == "rejected" else "success")
        assert out["d"].content == "6"
    # the approved tool never ran before a decision, and once per approval
    assert CALLS["transfer:5:ann"] == 2 and CALLS["transfer:1:bob"] == 1
    # per-task: the sibling call finished before the pause and was not run again on resume
    if per_task:
        assert CALLS["slow_double:3"] == 4


def test_parse_decision() -> None:
    assert parse_decision("yes").action == "approve"
    assert parse_decision(False).action == "reject"
    assert parse_decision({"action": "deny", "reason": "no"}).reason == "no"
    with pytest.raises(ConfigError, match="cannot read the approval decision 42"):
        parse_decision(42)
    with pytest.raises(ConfigError):
        parse_decision({"action": "edit"})


def test_executor_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="max_concurrency"):
        ToolExecutor(TOOLS, max_concurrency=0)
    with pytest.raises(ConfigError, match="default_timeout"):
        ToolExecutor(TOOLS, default_timeout=-1)
    with pytest.raises(ConfigError, match="two tools are named 'boom'"):
        ToolExecutor([boom, boom])


async def test_default_timeout_and_plain_tools() -> None:
    async def nap() -> str:
        """Nap."""
        await asyncio.sleep(1)
        return "rested"

    executor = ToolExecutor([StructuredTool.from_function(coroutine=nap)], default_timeout=0.05)
    message = await executor.ainvoke_call(call("nap", "n"))
    assert message.status == "error" and "within 0.05 s" in str(message.content)
    assert executor.pending_calls({"messages": [HumanMessage("x")]}) == []


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from typing import Annotated, TypedDict
    from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
    from langgraph.graph import START, StateGraph, add_messages
    from thinkgraph.tools import ToolExecutor, tool

    LOG, DB, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]

    def log(line):
        with open(LOG, "a") as f:
            f.write(line + "\\n")

    @tool
    def quick(n: int) -> str:
        '''Quick.

        Args:
            n: which.
        '''
        log(f"quick:{n}")
        return f"quick {n}"

    @tool
    def slow() -> str:
        '''Slow; the process dies inside it on the first run.'''
        log("slow:start")
        time.sleep(0.6)
        if PHASE == "crash":
            os._exit(17)
        log("slow:done")
        return "slow done"

    class State(TypedDict):
        messages: Annotated[list[AnyMessage], add_messages]

    def model(state):
        if len(state["messages"]) == 1:
            calls = [{"name": "quick", "args": {"n": i}, "id": f"q{i}"} for i in range(3)]
            calls.append({"name": "slow", "args": {}, "id": "s"})
            return {"messages": [AIMessage("", tool_calls=calls)]}
        return {"messages": [AIMessage("final")]}

    executor = ToolExecutor([quick, slow])
    builder = StateGraph(State)
    builder.add_node("model", model)
    builder.add_node("tools", executor.task_node())
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", executor.dispatch("tools"))
    builder.add_edge("tools", "model")

    from thinkgraph.memory import SQLCheckpointer

    graph = builder.compile(checkpointer=SQLCheckpointer(DB))
    config = {"configurable": {"thread_id": "crash"}}
    if PHASE == "crash":
        graph.invoke({"messages": [HumanMessage("go")]}, config)
    else:
        result = graph.invoke(None, config)
        print(result["messages"][-1].content, len(result["messages"]))
    """
)


def test_finished_calls_do_not_run_again_after_a_crash(tmp_path: Path) -> None:
    """The process dies inside one tool after its siblings finished; a new process resumes the thread.

    (Runs on a SQLite file to keep it fast; the checkpointer's own tests cover the other dialects.)
    """
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    log, db = tmp_path / "log.txt", f"sqlite:///{tmp_path / 'checkpoints.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def run_script(mode: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(script), str(log), db, mode]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    crashed = run_script("crash")
    assert crashed.returncode == 17, crashed.stderr
    assert sorted(log.read_text().split()) == ["quick:0", "quick:1", "quick:2", "slow:start"]
    resumed = run_script("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.split() == ["final", "7"]  # human, ai, 4 tool results, final
    lines = Counter(log.read_text().split())
    assert lines == Counter({"quick:0": 1, "quick:1": 1, "quick:2": 1, "slow:start": 2, "slow:done": 1})


async def test_a_tools_own_timeout_error_is_not_mistaken_for_ours() -> None:
    @tool(timeout=5)
    def flaky() -> str:
        """Raise the backend's own timeout."""
        raise TimeoutError("upstream took too long")

    executor = ToolExecutor([flaky])
    for message in (
        await executor.ainvoke_call(call("flaky", "a")),
        executor.invoke_call(call("flaky", "s")),
    ):
        assert message.status == "error"
        assert "TimeoutError: upstream took too long" in str(message.content)
        assert (tool_outcome_of(message) or {}).get("error_class") == "TimeoutError"


def test_sync_single_node_with_approval() -> None:
    g = graph([call("transfer", "a", amount=2, to="cy"), call("boom", "b", reason="x")], per_task=False)
    config = {"configurable": {"thread_id": "sync"}}
    first = g.invoke({"messages": [HumanMessage("go")]}, config)
    assert first["__interrupt__"][0].value["tool"] == "transfer"
    out = tool_messages(g.invoke(Command(resume="approve"), config))
    assert out["a"].content == "sent 2 to cy" and out["b"].status == "error"


async def test_several_approvals_in_one_turn_resume_by_interrupt_id() -> None:
    calls = [call("transfer", "a", amount=1, to="ann"), call("transfer", "b", amount=2, to="bob")]
    g = graph(calls)
    config = {"configurable": {"thread_id": "multi"}}
    first = await g.ainvoke({"messages": [HumanMessage("go")]}, config)
    pending = {i.value["tool_call_id"]: i.id for i in first["__interrupt__"]}
    assert set(pending) == {"a", "b"}
    result = await g.ainvoke(Command(resume={pending["a"]: approve(), pending["b"]: reject("no")}), config)
    out = tool_messages(result)
    assert out["a"].content == "sent 1 to ann" and out["b"].status == "error"
    assert dict(CALLS) == {"transfer:1:ann": 1}
