"""Benchmark: SQLCheckpointer against LangGraph's official SQLite and PostgreSQL savers.

What it measures, on the same workloads for every saver (sync and async APIs):

* ``linear``: a 10-node linear graph, one new thread per run: milliseconds per run and per step.
* ``messages``: a graph whose state holds a 100-message conversation growing by one message per
  step, next to a large document that never changes: milliseconds (median run / 20 steps) and
  bytes stored per step.
* ``list``: ``list()`` over a thread of about 1000 checkpoints (median of 5).

On SQLite, two reference savers (``sqlite_floors.py``: in-memory reads, bare ``sqlite3`` writes,
one durable transaction per call) run the linear graph with the others, sync API: the best this
storage design can do here, and the best any saver that commits every call can do.

Run (PostgreSQL optional; a database is created and dropped for each saver)::

    .venv/bin/python benchmarks/checkpointer.py --runs 30 \\
        --postgres postgresql://postgres@127.0.0.1:5432/test --results benchmarks/RESULTS.md

``--results`` rewrites only the ``## checkpointer`` section of that file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import operator
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from thinkgraph.memory import SQLCheckpointer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlite_floors import OneRowFloor, SameRowsFloor

LINEAR_NODES = 10
MESSAGE_STEPS = 20
LIST_RUNS = 91  # x 11 checkpoints = 1001 checkpoints on one thread
LIST_REPEATS = 5  # list() timings per saver (median: a garbage collection pass can add 100 ms)
DOCUMENT = "lorem ipsum dolor sit amet " * 2000  # ~54 kB that never changes


class LinearState(TypedDict):
    items: Annotated[list[int], operator.add]
    total: int


class ChatState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    document: str
    turns: int


def linear_graph(saver: Any) -> Any:
    builder = StateGraph(LinearState)
    previous = START
    for i in range(LINEAR_NODES):
        builder.add_node(f"n{i}", lambda s, i=i: {"items": [i], "total": s["total"] + i})
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    return builder.compile(checkpointer=saver)


def chat_graph(saver: Any) -> Any:
    builder = StateGraph(ChatState)
    builder.add_node(
        "reply", lambda s: {"messages": [AIMessage(f"reply {s['turns']}")], "turns": s["turns"] + 1}
    )
    builder.add_edge(START, "reply")
    builder.add_conditional_edges("reply", lambda s: END if s["turns"] >= MESSAGE_STEPS else "reply")
    return builder.compile(checkpointer=saver)


def chat_input() -> dict[str, Any]:
    return {
        "messages": [HumanMessage(f"message {i}: " + "x" * 100, id=str(i)) for i in range(100)],
        "document": DOCUMENT,
        "turns": 0,
    }


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 1000}


# --- savers -----------------------------------------------------------------------------------


@dataclass
class Target:
    """One saver on one fresh database, and how to measure the bytes it stores."""

    name: str
    backend: str  # "sqlite" or "postgresql"
    sync: Callable[[], contextlib.AbstractContextManager[Any]]
    async_: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None  # None: sync only
    payload_sql: str
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    reference: bool = False  # a floor of sqlite_floors.py: linear graph, sync API only


OURS_BYTES = (
    "SELECT (SELECT COALESCE(SUM(LENGTH(checkpoint)), 0) FROM tg_checkpoints)"
    " + (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM tg_checkpoint_blobs)"
    " + (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM tg_checkpoint_writes)"
)
OFFICIAL_SQLITE_BYTES = (
    "SELECT (SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints)"
    " + (SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes)"
)
OFFICIAL_PG_BYTES = (
    "SELECT (SELECT COALESCE(SUM(pg_column_size(checkpoint)), 0) FROM checkpoints)"
    " + (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM checkpoint_blobs)"
    " + (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM checkpoint_writes)"
)


@contextlib.contextmanager
def ours_sync(url: str) -> Iterator[Any]:
    with SQLCheckpointer(url) as saver:
        saver.setup()
        yield saver


@contextlib.asynccontextmanager
async def ours_async(url: str) -> AsyncIterator[Any]:
    async with SQLCheckpointer(url) as saver:
        await saver.asetup()
        yield saver


@contextlib.contextmanager
def sqlite_official_sync(path: str) -> Iterator[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def sqlite_official_async(path: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        await saver.setup()
        yield saver


@contextlib.contextmanager
def pg_official_sync(url: str) -> Iterator[Any]:
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        yield saver


@contextlib.asynccontextmanager
async def pg_official_async(url: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        yield saver


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"tg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def payload_bytes(target: Target, url: str) -> int:
    if target.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(target.path)) as conn:
            return int(conn.execute(target.payload_sql).fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(target.payload_sql).fetchone()
        return int(row[0]) if row else 0


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Result:
    saver: str
    api: str
    linear_ms: float = 0.0
    chat_step_ms: float = 0.0
    chat_bytes_per_step: float = 0.0
    list_ms: float = 0.0
    list_count: int = 0


def chat_runs_of(runs: int) -> int:
    return max(4, runs // 4)


def _list_sync(saver: Any, result: Result) -> None:
    graph, thread = linear_graph(saver), f"long-{uuid.uuid4()}"
    for _ in range(LIST_RUNS):
        graph.invoke({"items": [], "total": 0}, cfg(thread))
    spent = []
    for _ in range(LIST_REPEATS):
        start = time.perf_counter()
        result.list_count = len(list(saver.list(cfg(thread))))
        spent.append(time.perf_counter() - start)
    result.list_ms = statistics.median(spent) * 1000


def run_sync(pairs: list[tuple[Target, str]], runs: int) -> list[Result]:
    """Time the savers' runs interleaved (so load on the machine hits all alike): the linear graph
    (every saver), then the chat graph and ``list()`` (not the reference savers)."""
    with contextlib.ExitStack() as stack:
        savers = [stack.enter_context(target.sync()) for target, _ in pairs]
        graphs = [linear_graph(saver) for saver in savers]
        for graph in graphs:
            for _ in range(3):
                graph.invoke({"items": [], "total": 0}, cfg(f"warm-{uuid.uuid4()}"))
        times: list[list[float]] = [[] for _ in pairs]
        for _ in range(runs):
            for i, graph in enumerate(graphs):
                start = time.perf_counter()
                graph.invoke({"items": [], "total": 0}, cfg(str(uuid.uuid4())))
                times[i].append(time.perf_counter() - start)
        results = [
            Result(target.name, "sync", linear_ms=statistics.median(spent) * 1000)
            for (target, _), spent in zip(pairs, times, strict=True)
        ]
        full = [i for i, (target, _) in enumerate(pairs) if not target.reference]
        chats = {i: chat_graph(savers[i]) for i in full}
        before = {i: payload_bytes(*pairs[i]) for i in full}
        chat_times: dict[int, list[float]] = {i: [] for i in full}
        for _ in range(chat_runs_of(runs)):
            for i in full:
                start = time.perf_counter()
                chats[i].invoke(chat_input(), cfg(str(uuid.uuid4())))
                chat_times[i].append(time.perf_counter() - start)
        for i in full:
            result, (target, url) = results[i], pairs[i]
            result.chat_step_ms = statistics.median(chat_times[i]) / MESSAGE_STEPS * 1000
            stored = payload_bytes(target, url) - before[i]
            result.chat_bytes_per_step = stored / (chat_runs_of(runs) * MESSAGE_STEPS)
            _list_sync(savers[i], result)
        return results


async def _list_async(saver: Any, result: Result) -> None:
    graph, thread = linear_graph(saver), f"long-{uuid.uuid4()}"
    for _ in range(LIST_RUNS):
        await graph.ainvoke({"items": [], "total": 0}, cfg(thread))
    spent = []
    for _ in range(LIST_REPEATS):
        start = time.perf_counter()
        result.list_count = len([t async for t in saver.alist(cfg(thread))])
        spent.append(time.perf_counter() - start)
    result.list_ms = statistics.median(spent) * 1000


async def run_async(pairs: list[tuple[Target, str]], runs: int) -> list[Result]:
    """Async twin of :func:`run_sync` (the reference savers are not run)."""
    pairs = [pair for pair in pairs if pair[0].async_ is not None]
    async with contextlib.AsyncExitStack() as stack:
        savers = [await stack.enter_async_context(target.async_()) for target, _ in pairs if target.async_]
        graphs = [linear_graph(saver) for saver in savers]
        for graph in graphs:
            for _ in range(3):
                await graph.ainvoke({"items": [], "total": 0}, cfg(f"warm-{uuid.uuid4()}"))
        times: list[list[float]] = [[] for _ in pairs]
        for _ in range(runs):
            for i, graph in enumerate(graphs):
                start = time.perf_counter()
                await graph.ainvoke({"items": [], "total": 0}, cfg(str(uuid.uuid4())))
                times[i].append(time.perf_counter() - start)
        results = [
            Result(target.name, "async", linear_ms=statistics.median(spent) * 1000)
            for (target, _), spent in zip(pairs, times, strict=True)
        ]
        chats = [chat_graph(saver) for saver in savers]
        before = [payload_bytes(target, url) for target, url in pairs]
        chat_times: list[list[float]] = [[] for _ in pairs]
        for _ in range(chat_runs_of(runs)):
            for i, chat in enumerate(chats):
                start = time.perf_counter()
                await chat.ainvoke(chat_input(), cfg(str(uuid.uuid4())))
                chat_times[i].append(time.perf_counter() - start)
        for i, ((target, url), result) in enumerate(zip(pairs, results, strict=True)):
            result.chat_step_ms = statistics.median(chat_times[i]) / MESSAGE_STEPS * 1000
            stored = payload_bytes(target, url) - before[i]
            result.chat_bytes_per_step = stored / (chat_runs_of(runs) * MESSAGE_STEPS)
            await _list_async(savers[i], result)
        return results


def sqlite_targets(directory: Path) -> list[tuple[Target, str]]:
    ours_path, official_path = str(directory / "ours.db"), str(directory / "official.db")
    ours_url = f"sqlite:///{ours_path}"
    return [
        (
            Target(
                "SQLCheckpointer",
                "sqlite",
                lambda: ours_sync(ours_url),
                lambda: ours_async(ours_url),
                OURS_BYTES,
                ours_path,
            ),
            ours_url,
        ),
        (
            Target(
                "SqliteSaver / AsyncSqliteSaver",
                "sqlite",
                lambda: sqlite_official_sync(official_path),
                lambda: sqlite_official_async(official_path),
                OFFICIAL_SQLITE_BYTES,
                official_path,
            ),
            official_path,
        ),
        *(
            (
                Target(
                    name,
                    "sqlite",
                    lambda kind=kind, path=path: floor_saver(kind, path),
                    None,
                    "",
                    path,
                    reference=True,
                ),
                path,
            )
            for name, kind, path in (
                ("reference: same rows, bare sqlite3", SameRowsFloor, str(directory / "same_rows.db")),
                ("reference: one row per call, bare sqlite3", OneRowFloor, str(directory / "one_row.db")),
            )
        ),
    ]


def measure(pairs: list[tuple[Target, str]], runs: int) -> list[Result]:
    return run_sync(pairs, runs) + asyncio.run(run_async(pairs, runs))


@contextlib.contextmanager
def floor_saver(kind: type[Any], path: str) -> Iterator[Any]:
    saver = kind(path)
    try:
        yield saver
    finally:
        saver.close()


def table(title: str, results: list[Result]) -> str:
    lines = [
        f"### {title}",
        "",
        "| saver | API | 10-node run (ms, median) | per step (ms) | chat step (ms) |"
        " bytes stored per chat step | list() ~1000 checkpoints (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rest = (
            f" {r.chat_step_ms:.2f} | {r.chat_bytes_per_step:,.0f} | {r.list_ms:.0f} ({r.list_count}) |"
            if r.list_count
            else " - | - | - |"
        )
        lines.append(
            f"| {r.saver} | {r.api} | {r.linear_ms:.1f} | {r.linear_ms / (LINEAR_NODES + 1):.2f} |" + rest
        )
    ours = {r.api: r for r in results if r.saver == "SQLCheckpointer"}
    official = next(r for r in results if r.api == "sync" and r.saver != "SQLCheckpointer")
    lines.append("")
    for r in results:
        if r.saver.startswith("reference"):
            lines.append(
                f"- {r.saver}: throughput {official.linear_ms / r.linear_ms:.2f}x"
                f" {official.saver.split(' / ')[0]} (linear graph, sync)"
            )
        elif r.saver != "SQLCheckpointer":
            mine = ours[r.api]
            name = r.saver.split(" / ")[0 if r.api == "sync" else -1]
            lines.append(
                f"- {r.api}, SQLCheckpointer vs {name}: throughput {r.linear_ms / mine.linear_ms:.2f}x"
                f" (linear graph), {r.chat_step_ms / mine.chat_step_ms:.2f}x (chat steps); bytes per chat"
                f" step {mine.chat_bytes_per_step / max(r.chat_bytes_per_step, 1):.2f}x theirs;"
                f" list() {r.list_ms / max(mine.list_ms, 0.001):.2f}x as fast"
            )
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    header = "## checkpointer"
    section = f"{header}\n\n{body.strip()}\n"
    if header in text:
        start = text.index(header)
        rest = text[start + len(header) :]
        end = rest.find("\n## ")
        tail = rest[end + 1 :] if end >= 0 else ""
        text = text[:start] + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=30, help="timed runs of the linear graph per saver and API"
    )
    parser.add_argument(
        "--postgres", default="", help="admin URL of a PostgreSQL server (skipped when empty)"
    )
    parser.add_argument(
        "--results", default="", help="markdown file whose '## checkpointer' section is rewritten"
    )
    args = parser.parse_args(argv)
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(sqlite_targets(Path(tmp)), args.runs)
        sections.append(table("SQLite (file, WAL for SQLCheckpointer; official savers' defaults)", results))
        print(sections[-1], flush=True)
    if args.postgres:
        with postgres_database(args.postgres) as ours_url, postgres_database(args.postgres) as official_url:
            pairs = [
                (
                    Target(
                        "SQLCheckpointer",
                        "postgresql",
                        lambda: ours_sync(ours_url),
                        lambda: ours_async(ours_url),
                        OURS_BYTES,
                    ),
                    ours_url,
                ),
                (
                    Target(
                        "PostgresSaver / AsyncPostgresSaver",
                        "postgresql",
                        lambda: pg_official_sync(official_url),
                        lambda: pg_official_async(official_url),
                        OFFICIAL_PG_BYTES,
                    ),
                    official_url,
                ),
            ]
            results = measure(pairs, args.runs)
        sections.append(table("PostgreSQL (local server)", results))
        print(sections[-1], flush=True)
    if args.results:
        command = "python benchmarks/checkpointer.py " + " ".join(shlex.quote(a) for a in argv)
        body = f"Command: `{command}`\n\n" + "\n\n".join(sections)
        write_section(Path(args.results), body)


if __name__ == "__main__":
    main(sys.argv[1:])
