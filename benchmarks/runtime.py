"""Runtime benchmarks of thinkgraph graphs.

Two measurements:

* ``overhead``: per-step cost of a thinkgraph graph against the same graph in plain LangGraph,
  both on the same ``SQLCheckpointer`` (SQLite file). Runs alternate between the two so machine
  noise hits both alike; the medians are compared. Variant ``functions``: N function nodes
  (framework overhead only). Variant ``models``: each node calls an in-process chat model (plain
  LangGraph calls it directly; thinkgraph goes through the node model with budget checks and a
  ledger row per call).
* ``concurrency``: R concurrent runs of a three-node agent graph (plan → ReAct agent → answer, one
  model call each) against a FakeProvider in another process answering every call after L
  seconds, through litellm over HTTP, on SQLite and PostgreSQL. Efficiency = ideal wall time
  (3 × L) / measured wall time. Peak memory is the process's maximum RSS. A first row measures the
  floor: the same concurrency in plain LangGraph with nodes that only sleep L (no model, no
  database), which bounds what any LangGraph-based graph can reach on the machine.

Run::

    .venv/bin/python benchmarks/runtime.py overhead --runs 200
    .venv/bin/python benchmarks/runtime.py concurrency --runs 1000 --latency 0.1 --dialects sqlite,postgresql
    .venv/bin/python benchmarks/runtime.py all --write     # also rewrites "## runtime" in RESULTS.md

PostgreSQL must run on 127.0.0.1:5432 (a scratch database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph, add_messages

from thinkgraph.agents import build_tool_agent
from thinkgraph.graphs import Graph
from thinkgraph.memory import Ledger, SQLCheckpointer, create_engines

RESULTS = Path(__file__).with_name("RESULTS.md")
KEY_ENV = "TG_BENCH_FAKE_KEY"


class Steps(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


class InstantModel(BaseChatModel):
    """An in-process chat model that answers at once with a priced thinkgraph CallInfo."""

    @property
    def _llm_type(self) -> str:
        return "instant"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        info = {
            "requested_model": "bench/instant",
            "model": "bench/instant",
            "provider": "bench",
            "attempts": [],
            "fallback": False,
            "latency_s": 0.0,
            "input_tokens": 5,
            "output_tokens": 1,
            "cached_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": 1e-6,
            "unpriced": False,
        }
        message = AIMessage(content="ok", response_metadata={"thinkgraph": info})
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return self._generate(messages)


# --- overhead -------------------------------------------------------------------------------


def _step(state: Steps) -> dict[str, Any]:
    return {"n": state["n"] + 1}


def _graphs(steps: int, with_model: bool, saver: Any, ledger: Any) -> tuple[Any, Any]:
    model = InstantModel()

    async def plain_node(state: Steps) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage("hi")])
        return {"n": state["n"] + 1, "log": [str(reply.content)]}

    async def tg_node(state: Steps, model: Any) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage("hi")])
        return {"n": state["n"] + 1, "log": [str(reply.content)]}

    plain = StateGraph(Steps)
    graph = Graph(Steps, name="overhead", model=model)
    previous = START
    for i in range(steps):
        plain.add_node(f"n{i}", plain_node if with_model else _step)
        graph.add_node(f"n{i}", tg_node if with_model else _step)
        plain.add_edge(previous, f"n{i}")
        graph.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    plain.add_edge(previous, END)
    graph.add_edge(previous, END)
    return plain.compile(checkpointer=saver), graph.compile(checkpointer=saver, store=False, ledger=ledger)


async def _paired(
    runs: int, plain: Callable[[str], Awaitable[Any]], thinkgraph: Callable[[str], Awaitable[Any]]
) -> tuple[list[float], list[float]]:
    for i in range(5):  # warm up both
        await plain(f"wp{i}")
        await thinkgraph(f"wt{i}")
    plain_times, tg_times = [], []
    for i in range(runs):
        pairs = [(plain, plain_times, f"p{i}"), (thinkgraph, tg_times, f"t{i}")]
        if i % 2:
            pairs.reverse()
        for fn, times, thread in pairs:
            start = time.perf_counter()
            await fn(thread)
            times.append(time.perf_counter() - start)
    return plain_times, tg_times


async def overhead(runs: int, steps: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engines = create_engines(f"sqlite:///{tmp}/overhead.db")
        saver = SQLCheckpointer(engines)
        saver.setup()
        ledger = Ledger(engines)
        ledger.setup()
        variants = (
            ("functions", False, ledger),
            ("models, no ledger", True, False),
            ("models + ledger", True, ledger),
        )
        for variant, with_model, accounting in variants:
            plain, app = _graphs(steps, with_model, saver, accounting)

            async def run_tg(thread: str, app: Any = app, variant: str = variant) -> Any:
                return await app.arun({"n": 0, "log": []}, thread_id=f"{variant}-{thread}")

            async def run_plain(thread: str, plain: Any = plain, variant: str = variant) -> Any:
                config = {"configurable": {"thread_id": f"plain-{variant}-{thread}"}}
                return await plain.ainvoke({"n": 0, "log": []}, config)

            plain_times, tg_times = await _paired(runs, run_plain, run_tg)
            p, t = statistics.median(plain_times), statistics.median(tg_times)
            rows.append(
                {
                    "variant": variant,
                    "steps": steps,
                    "runs": runs,
                    "plain_ms_per_step": p / steps * 1000,
                    "thinkgraph_ms_per_step": t / steps * 1000,
                    "ratio": t / p,
                }
            )
        engines.dispose()
    return rows


# --- concurrency ----------------------------------------------------------------------------


@contextmanager
def fake_provider(latency: float) -> Iterator[str]:
    """A FakeProvider in a child process (its CPU is not ours); yields its URL."""
    code = (
        "import sys, time\n"
        "from thinkgraph.testing import FakeProvider\n"
        f"fake = FakeProvider(latency={latency!r}).start()\n"
        "print(fake.url, flush=True)\n"
        "sys.stdin.read()\n"
        "fake.stop()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


@contextmanager
def database(dialect: str) -> Iterator[str]:
    """A scratch database of ``dialect`` as a URL; dropped afterwards."""
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/concurrency.db"
        return
    import psycopg

    admin = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
    name = f"tg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Chat(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    traces: Annotated[list[Any], operator.add]
    steps: int
    outcome: Any
    structured_response: Any


def agent_graph(url: str) -> Graph:
    """plan (function) → act (a ReAct tool agent, answering without tools) → answer (function)."""
    spec = {
        "model": "openai/gpt-4o-mini",
        "api_base": f"{url}/d/bench/v1",
        "api_key_env": KEY_ENV,
        "max_retries": 0,
        "timeout": 120,
    }

    async def plan(state: Chat, model: Any) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def answer(state: Chat, model: Any) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = Graph(Chat, name="concurrency", model=spec)
    graph.add_node("plan", plan)
    graph.add_agent("act", build_tool_agent, tools=[], system_prompt=None)
    graph.add_node("answer", answer)
    graph.add_edge(START, "plan").add_edge("plan", "act").add_edge("act", "answer").add_edge("answer", END)
    return graph


async def concurrency(runs: int, latency: float, dialect: str, url: str) -> dict[str, Any]:
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-secret")
    with database(dialect) as db_url:
        # SQLite has one writer at a time: queue in the pool (one connection) rather than on the file lock
        pool = (
            {"pool_size": 1, "max_overflow": 0}
            if dialect == "sqlite"
            else {"pool_size": 20, "max_overflow": 20}
        )
        engines = create_engines(db_url, pool_timeout=600, **pool)
        saver = SQLCheckpointer(engines)
        saver.setup()
        ledger = Ledger(engines)
        ledger.setup()
        app = agent_graph(url).compile(checkpointer=saver, store=False, ledger=ledger)
        await app.arun({"messages": [HumanMessage("warm up")]}, thread_id="warm")
        start = time.perf_counter()
        results = await asyncio.gather(
            *(
                app.arun({"messages": [HumanMessage(f"question {i}")]}, thread_id=f"c{i}")
                for i in range(runs)
            ),
            return_exceptions=True,
        )
        wall = time.perf_counter() - start
        completed = sum(not isinstance(r, BaseException) and r.status == "completed" for r in results)
        errors = sorted({f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)})
        calls = len(await ledger.amodel_calls()) - 3
        await engines.adispose()
    ideal = 3 * latency
    return {
        "dialect": dialect,
        "runs": runs,
        "latency_s": latency,
        "completed": completed,
        "errors": errors,
        "model_calls": calls,
        "wall_s": wall,
        "ideal_s": ideal,
        "efficiency": ideal / wall,
        "runs_per_s": runs / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def floor(runs: int, latency: float) -> dict[str, Any]:
    """The same concurrency with no framework work to speak of: plain LangGraph, three nodes that
    only sleep ``latency`` (no model call, no HTTP, no database; LangGraph's in-memory saver).
    No graph built on LangGraph can do better on this machine: it bounds the efficiency."""
    from langgraph.checkpoint.memory import InMemorySaver

    async def sleeper(state: Chat) -> dict[str, Any]:
        await asyncio.sleep(latency)
        return {"messages": [AIMessage("done")]}

    builder = StateGraph(Chat)
    for name in ("plan", "act", "answer"):
        builder.add_node(name, sleeper)
    builder.add_edge(START, "plan").add_edge("plan", "act").add_edge("act", "answer").add_edge("answer", END)
    app = builder.compile(checkpointer=InMemorySaver())

    def config(thread: str) -> Any:
        return {"configurable": {"thread_id": thread}}

    await app.ainvoke({"messages": [HumanMessage("warm up")]}, config("warm"))
    start = time.perf_counter()
    await asyncio.gather(
        *(app.ainvoke({"messages": [HumanMessage(f"question {i}")]}, config(f"f{i}")) for i in range(runs))
    )
    wall = time.perf_counter() - start
    ideal = 3 * latency
    return {
        "dialect": "floor: plain LangGraph, sleeping nodes, in memory",
        "runs": runs,
        "latency_s": latency,
        "completed": runs,
        "errors": [],
        "model_calls": 0,
        "wall_s": wall,
        "ideal_s": ideal,
        "efficiency": ideal / wall,
        "runs_per_s": runs / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- reporting ------------------------------------------------------------------------------


def report(command: str, overhead_rows: list[dict[str, Any]], concurrency_rows: list[dict[str, Any]]) -> str:
    lines = ["## runtime", "", f"Command: `{command}`", ""]
    lines.append(
        f"Machine: {os.cpu_count()} CPUs shared with other jobs; Python {sys.version.split()[0]}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )
    if overhead_rows:
        lines += [
            "",
            "### Per-step overhead vs plain LangGraph (same SQLCheckpointer, SQLite file; target ≤ 1.10×)",
            "",
            "| variant | steps | runs | plain LangGraph ms/step | thinkgraph ms/step | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for r in overhead_rows:
            lines.append(
                f"| {r['variant']} | {r['steps']} | {r['runs']} | {r['plain_ms_per_step']:.2f} "
                f"| {r['thinkgraph_ms_per_step']:.2f} | {r['ratio']:.2f}× |"
            )
    if concurrency_rows:
        lines += [
            "",
            "### Concurrent runs of a three-node agent graph (FakeProvider in another process; target ≥ 0.8)",
            "",
            "| database | runs | latency/call | completed | model calls | wall s | ideal s | efficiency "
            "| runs/s | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in concurrency_rows:
            lines.append(
                f"| {r['dialect']} | {r['runs']} | {r['latency_s'] * 1000:.0f} ms | {r['completed']} "
                f"| {r['model_calls']} | {r['wall_s']:.2f} | {r['ideal_s']:.2f} | {r['efficiency']:.3f} "
                f"| {r['runs_per_s']:.1f} | {r['peak_rss_mb']:.0f} |"
            )
        for r in concurrency_rows:
            for error in r["errors"]:
                lines.append(f"\n{r['dialect']} error: `{error}`")
    return "\n".join(lines) + "\n"


def write_section(section: str, notes: str) -> None:
    """Replace (or append) the ``## runtime`` section of RESULTS.md, leaving other sections alone."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    body = section + ("\n" + notes.strip() + "\n" if notes.strip() else "")
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "## runtime"), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        text = "".join(lines[:start]) + body + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    RESULTS.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["overhead", "concurrency", "all"])
    parser.add_argument(
        "--runs", type=int, default=None, help="overhead: runs per variant; concurrency: runs"
    )
    parser.add_argument("--overhead-runs", type=int, default=None, help="overhead runs with 'all' (200)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--dialects", default="sqlite,postgresql")
    parser.add_argument("--write", action="store_true", help="rewrite the '## runtime' section of RESULTS.md")
    parser.add_argument("--notes", default="", help="text appended to the section")
    args = parser.parse_args()
    command = "python benchmarks/runtime.py " + " ".join(sys.argv[1:])
    overhead_rows: list[dict[str, Any]] = []
    concurrency_rows: list[dict[str, Any]] = []
    if args.what in ("overhead", "all"):
        runs = args.overhead_runs or (args.runs if args.what == "overhead" and args.runs else 200)
        overhead_rows = asyncio.run(overhead(runs, args.steps))
    if args.what in ("concurrency", "all"):
        concurrency_rows.append(asyncio.run(floor(args.runs or 1000, args.latency)))
        with fake_provider(args.latency) as url:
            for dialect in args.dialects.split(","):
                concurrency_rows.append(
                    asyncio.run(concurrency(args.runs or 1000, args.latency, dialect, url))
                )
    section = report(command, overhead_rows, concurrency_rows)
    print(section)
    if args.write:
        write_section(section, args.notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
