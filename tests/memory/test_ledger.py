"""The run ledger on every dialect: runs, model and tool calls, cost queries, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tg_memory_support import Clock

from thinkgraph.exceptions import ConfigError, PersistenceError
from thinkgraph.memory import CostRow, Ledger, ModelCallRecord, RunRecord, RunSummary, ToolCallRecord
from thinkgraph.models._metadata import AttemptInfo, CallInfo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def call_info(
    model: str = "openai/gpt-4o",
    *,
    provider: str = "openai",
    requested: str | None = None,
    tokens: tuple[int, int, int, int] = (100, 20, 10, 5),
    cost: float | None = 0.25,
    attempts: int = 1,
) -> CallInfo:
    tried: list[AttemptInfo] = [
        {
            "model": model,
            "provider": provider,
            "error_class": None,
            "message": "",
            "latency_s": 0.1,
            "skipped": False,
        }
        for _ in range(attempts)
    ]
    return {
        "requested_model": requested or model,
        "model": model,
        "provider": provider,
        "attempts": tried,
        "fallback": requested is not None and requested != model,
        "latency_s": 0.5,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cached_tokens": tokens[2],
        "reasoning_tokens": tokens[3],
        "cost_usd": cost,
        "unpriced": cost is None,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def ledger(db_url: str, clock: Clock) -> AsyncIterator[Ledger]:
    async with Ledger(db_url, clock=clock) as ledger:
        ledger.setup()
        yield ledger


async def test_runs_and_calls_round_trip(ledger: Ledger, clock: Clock) -> None:
    run = ledger.start_run(run_id="r1", thread_id="t1", graph="demo")
    assert run == RunRecord("r1", "t1", "demo", "running", T0, None, None)
    assert run.duration_s is None
    clock.advance(seconds=1)
    info = call_info(attempts=3)
    info["attempts"][0]["skipped"] = True  # skipped by an open circuit: not a try
    first = ledger.record_model_call(info, run_id="r1", thread_id="t1", node="plan")
    assert isinstance(first, ModelCallRecord)
    assert (first.attempts, first.fallback, first.cost_usd, first.unpriced) == (2, False, 0.25, False)
    clock.advance(seconds=1)
    fallback = await ledger.arecord_model_call(
        call_info("anthropic/claude", provider="anthropic", requested="openai/gpt-4o", cost=None),
        run_id="r1",
        thread_id="t1",
        node="act",
    )
    assert (fallback.fallback, fallback.cost_usd, fallback.unpriced) == (True, None, True)
    assert fallback.requested_model == "openai/gpt-4o" and fallback.model == "anthropic/claude"
    refused = ledger.record_model_call(
        {"requested_model": "openai/gpt-4o", "provider": "openai"},
        run_id="r1",
        node="act",
        error_class="ResidencyViolation",
    )
    assert (refused.model, refused.attempts, refused.input_tokens, refused.unpriced) == (
        "openai/gpt-4o",
        1,
        0,
        True,
    )
    tool = ledger.record_tool_call("search", latency_s=0.2, run_id="r1", thread_id="t1", node="act")
    failed_tool = await ledger.arecord_tool_call(
        "fetch", status="timeout", latency_s=5.0, run_id="r1", node="act", error_class="ToolTimeoutError"
    )
    assert isinstance(tool, ToolCallRecord) and tool.status == "ok" and failed_tool.status == "timeout"
    clock.advance(seconds=3)
    done = ledger.finish_run("r1", "failed", error=RuntimeError("boom"))
    assert (done.status, done.error, done.duration_s) == ("failed", "RuntimeError: boom", 5.0)

    assert ledger.get_run("r1") == done
    assert await ledger.aget_run("r1") == done
    assert ledger.get_run("nope") is None and await ledger.aget_run("nope") is None
    assert ledger.model_calls(run_id="r1") == [first, fallback, refused]
    assert await ledger.amodel_calls(thread_id="t1") == [first, fallback]
    assert ledger.tool_calls(run_id="r1") == [tool, failed_tool]
    assert await ledger.atool_calls(thread_id="t1") == [tool]
    assert ledger.model_calls(since=T0 + timedelta(seconds=2)) == [fallback, refused]
    assert ledger.tool_calls(until=T0) == []

    summary = ledger.run_summary("r1")
    assert summary == await ledger.arun_summary("r1")
    assert isinstance(summary, RunSummary) and summary.run == done
    assert summary.total == CostRow(
        calls=3,
        errors=1,
        input_tokens=200,
        output_tokens=40,
        cached_tokens=20,
        reasoning_tokens=10,
        cost_usd=0.25,
        unpriced_calls=2,
    )
    assert summary.unpriced and summary.total.total_tokens == 240
    assert [(r.node, r.calls, r.cost_usd, r.unpriced_calls) for r in summary.by_node] == [
        ("plan", 1, 0.25, 0),
        ("act", 2, 0.0, 2),
    ]
    assert [(r.provider, r.calls) for r in summary.by_provider] == [("openai", 2), ("anthropic", 1)]
    assert (summary.tool_calls, summary.tool_errors) == (2, 1)

    empty = ledger.run_summary("never")
    assert empty.run is None and empty.total == CostRow() and not empty.unpriced
    assert empty.by_node == [] and empty.tool_calls == 0


async def test_queries_filter_group_and_order(ledger: Ledger, clock: Clock) -> None:
    for i, (thread, graph) in enumerate([("t1", "g"), ("t2", "g"), ("t1", "h"), ("t3", "g")]):
        await ledger.astart_run(run_id=f"r{i}", thread_id=thread, graph=graph)
        for node, model, cost in [("a", "openai/m1", 0.5), ("b", "openai/m2", 1.0), ("b", "x/m3", None)]:
            ledger.record_model_call(
                call_info(model, provider=model.split("/")[0], cost=cost, tokens=(10, 1, 0, 0)),
                run_id=f"r{i}",
                thread_id=thread,
                node=node,
            )
        clock.advance(seconds=60)
        await ledger.afinish_run(f"r{i}", "succeeded" if i % 2 else "interrupted")
    assert [r.run_id for r in ledger.runs()] == ["r3", "r2", "r1", "r0"]
    assert [r.run_id for r in await ledger.aruns(thread_id="t1")] == ["r2", "r0"]
    assert [r.run_id for r in ledger.runs(graph="g", limit=2)] == ["r3", "r1"]
    assert [r.run_id for r in ledger.runs(status="interrupted")] == ["r2", "r0"]
    assert [
        r.run_id for r in ledger.runs(since=T0 + timedelta(seconds=60), until=T0 + timedelta(minutes=3))
    ] == [
        "r2",
        "r1",
    ]
    naive = (T0 + timedelta(minutes=3)).replace(tzinfo=None)
    assert [r.run_id for r in ledger.runs(since=naive)] == ["r3"]  # naive means UTC

    by_model = ledger.costs("model")
    assert [(r.model, r.calls, r.cost_usd, r.unpriced_calls) for r in by_model] == [
        ("openai/m2", 4, 4.0, 0),
        ("openai/m1", 4, 2.0, 0),
        ("x/m3", 4, 0.0, 4),
    ]
    assert by_model[0].input_tokens == 40 and by_model[0].node is None
    assert ledger.costs(["thread", "thread"]) == await ledger.acosts(("thread",))
    rows = ledger.costs(["thread", "node"], since=T0, until=T0 + timedelta(minutes=2))
    assert [(r.thread_id, r.node, r.calls, r.cost_usd) for r in rows] == [
        ("t1", "b", 2, 1.0),
        ("t2", "b", 2, 1.0),
        ("t1", "a", 1, 0.5),
        ("t2", "a", 1, 0.5),
    ]
    assert [(r.run_id, r.cost_usd) for r in ledger.costs("run", thread_id="t1")] == [("r0", 1.5), ("r2", 1.5)]
    assert [(r.provider, r.calls) for r in ledger.costs(["provider"], run_id="r1")] == [
        ("openai", 2),
        ("x", 1),
    ]
    total = ledger.costs([])
    assert len(total) == 1 and total[0].calls == 12 and total[0].cost_usd == pytest.approx(6.0)
    assert ledger.costs([], since=T0 + timedelta(days=1)) == []

    # restarting a run reopens it, keeping when it first started
    again = ledger.start_run(run_id="r0", thread_id="t1", graph="g")
    assert (again.status, again.ended_at, again.error, again.started_at) == ("running", None, None, T0)
    reopened = ledger.finish_run("r0", "running")
    assert reopened.ended_at is None


async def test_mistakes_are_config_errors() -> None:
    ledger = Ledger("sqlite://")
    ledger.setup()
    with pytest.raises(ConfigError, match="'done'"):
        ledger.finish_run("r1", "done")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="start_run"):
        ledger.finish_run("missing", "succeeded")
    with pytest.raises(ConfigError, match="start_run"):
        await ledger.afinish_run("missing", "succeeded")
    with pytest.raises(ConfigError, match="'broken'"):
        ledger.record_tool_call("t", status="broken")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'day'"):
        ledger.costs(["day"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="requested_model"):
        ledger.record_model_call({"provider": "openai"})
    generated = ledger.start_run()
    assert len(generated.run_id) == 36 and generated.thread_id is None
    await ledger.aclose()


async def test_missing_tables_are_a_persistence_error() -> None:
    async with Ledger("sqlite://") as ledger:
        with pytest.raises(PersistenceError, match=r"setup\(\)"):
            ledger.start_run(run_id="r")
        with pytest.raises(PersistenceError, match=r"setup\(\)"):
            await ledger.astart_run(run_id="r")
        with pytest.raises(PersistenceError):
            ledger.runs()
        with pytest.raises(PersistenceError):
            await ledger.aruns()
        await ledger.asetup()
        assert await ledger.aruns() == []
    with Ledger("sqlite://") as ledger:
        ledger.setup()
        assert ledger.runs() == []


CRASHING_CHILD = textwrap.dedent(
    """
    import os, sys
    from thinkgraph.memory import Ledger
    ledger = Ledger(sys.argv[1])
    ledger.start_run(run_id="crash", thread_id="t")
    ledger.record_model_call({"requested_model": "m", "provider": "p", "cost_usd": 0.5}, run_id="crash")
    ledger.record_tool_call("tool", run_id="crash")
    os._exit(3)  # no cleanup, no commit at exit: only what each record committed survives
    """
)


def test_records_survive_a_crash(shared_db_url: str) -> None:
    with Ledger(shared_db_url) as ledger:
        ledger.setup()
        child = subprocess.run(
            [sys.executable, "-c", CRASHING_CHILD, shared_db_url], capture_output=True, timeout=60
        )
        assert child.returncode == 3, child.stderr.decode()
        run = ledger.get_run("crash")
        assert run is not None and run.status == "running"
        summary = ledger.run_summary("crash")
        assert (summary.total.calls, summary.total.cost_usd, summary.tool_calls) == (1, 0.5, 1)


def test_records_are_plain_values() -> None:
    row: Any = CostRow(input_tokens=3, output_tokens=4, unpriced_calls=0)
    assert row.total_tokens == 7 and not row.unpriced
    run = RunRecord("r", None, None, "succeeded", T0, T0 + timedelta(seconds=2), None)
    assert run.duration_s == 2.0


async def test_deferred_calls_are_written_by_a_flush(ledger: Ledger, clock: Clock) -> None:
    ledger.defer_model_call(call_info("openai/gpt-4o"), run_id="q", node="a")
    clock.advance(seconds=1)
    ledger.defer_model_call(call_info("openai/gpt-4o-mini", cost=None), run_id="q", node="b")
    assert ledger.model_calls(run_id="q") == []  # queued, not written
    assert ledger.flush() == 2 and ledger.flush() == 0
    calls = ledger.model_calls(run_id="q")
    assert [(c.node, c.model, c.unpriced) for c in calls] == [
        ("a", "openai/gpt-4o", False),
        ("b", "openai/gpt-4o-mini", True),
    ]
    assert calls[1].created_at - calls[0].created_at == timedelta(seconds=1)  # the time each was queued
    ledger.defer_model_call(call_info(), run_id="q", node="c")
    assert await ledger.aflush() == 1 and await ledger.aflush() == 0
    assert ledger.run_summary("q").total.calls == 3
    with pytest.raises(ConfigError, match="requested_model"):
        ledger.defer_model_call({"provider": "openai"})


async def test_a_failed_flush_keeps_the_queue() -> None:
    async with Ledger("sqlite://") as ledger:
        ledger.defer_model_call(call_info(), run_id="r")
        with pytest.raises(PersistenceError, match=r"setup\(\)"):
            ledger.flush()
        with pytest.raises(PersistenceError, match=r"setup\(\)"):
            await ledger.aflush()
        ledger.setup()
        assert await ledger.aflush() == 1
        assert len(ledger.model_calls(run_id="r")) == 1
