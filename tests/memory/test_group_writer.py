"""Group commit of async SQLite writes: shared transactions, isolated failures, durable results."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tg_memory_support import checkpoint, config

from thinkgraph.memory import Engines, SQLCheckpointer, create_engines
from thinkgraph.memory._group_writer import GroupWriter


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[Engines]:
    engines = create_engines(f"sqlite:///{tmp_path / 'g.db'}")
    with engines.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    yield engines
    await engines.adispose()


def rows(engines: Engines) -> list[int]:
    with engines.read() as conn:
        return [row.x for row in conn.execute(text("SELECT x FROM t ORDER BY x"))]


async def hold(run: Any) -> tuple[asyncio.Future[Any], threading.Event]:
    """Occupy the writer thread until the returned event is set, so later writes queue up."""
    loop = asyncio.get_running_loop()
    entered, release = asyncio.Event(), threading.Event()

    def gate(cursor: Any) -> None:
        loop.call_soon_threadsafe(entered.set)
        release.wait(10)

    held = asyncio.ensure_future(run(gate))
    await entered.wait()
    return held, release


def insert(x: int) -> Any:
    def work(cursor: Any) -> int:
        cursor.execute("INSERT INTO t (x) VALUES (?)", (x,))
        return x * 10

    return work


async def test_waiting_writes_share_a_transaction_and_each_gets_its_result(engines: Engines) -> None:
    begins: list[str] = []
    transaction = engines.raw_write

    @contextmanager
    def counted() -> Iterator[Any]:
        begins.append("BEGIN")
        with transaction() as cursor:
            yield cursor

    writer = GroupWriter(threading.Lock(), counted)
    try:
        held, release = await hold(writer.run)
        pending = [asyncio.ensure_future(writer.run(insert(x))) for x in range(1, 41)]
        await asyncio.sleep(0.01)  # all forty are queued behind the held transaction
        release.set()
        results = await asyncio.gather(*pending)
        await held
    finally:
        writer.close()
    assert results == [x * 10 for x in range(1, 41)]
    assert rows(engines) == list(range(1, 41))
    assert len(begins) == 2  # the held transaction, then one for the forty


async def test_a_failing_write_is_rolled_back_alone(engines: Engines) -> None:
    def half_then_fail(cursor: Any) -> None:
        cursor.execute("INSERT INTO t (x) VALUES (100)")
        cursor.execute("INSERT INTO t (x) VALUES (1)")  # the primary key of another write

    held, release = await hold(engines.agroup_write)
    pending = [
        asyncio.ensure_future(engines.agroup_write(work)) for work in (insert(1), half_then_fail, insert(2))
    ]
    await asyncio.sleep(0.01)  # the three share the next transaction
    release.set()
    await held
    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    assert outcomes[0] == 10 and outcomes[2] == 20
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert rows(engines) == [1, 2]  # 100 went with the failed write


async def test_a_transaction_that_cannot_start_fails_every_write_in_it(engines: Engines) -> None:
    @contextmanager
    def broken() -> Iterator[Any]:
        raise sqlite3.OperationalError("database is locked")
        yield  # pragma: no cover

    writer = GroupWriter(threading.Lock(), broken)
    try:
        outcomes = await asyncio.gather(writer.run(insert(1)), writer.run(insert(2)), return_exceptions=True)
    finally:
        writer.close()
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes)
    assert rows(engines) == []


async def test_a_cancelled_caller_does_not_stop_its_write_or_the_writer(engines: Engines) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(cursor: Any) -> int:
        loop.call_soon_threadsafe(started.set)
        cursor.execute("INSERT INTO t (x) VALUES (7)")
        return 7

    task = asyncio.ensure_future(engines.agroup_write(slow))
    await started.wait()
    task.cancel()
    assert await engines.agroup_write(insert(8)) == 80  # queued behind it: the writer lives on
    assert rows(engines) == [7, 8]


async def test_closing_finishes_queued_writes_and_a_later_write_starts_a_new_thread(engines: Engines) -> None:
    writer = GroupWriter(threading.Lock(), engines.raw_write)
    assert await writer.run(insert(1)) == 10
    writer.close()
    writer.close()  # idempotent
    assert await writer.run(insert(2)) == 20
    writer.close()
    assert rows(engines) == [1, 2]


async def test_async_checkpointer_writes_go_through_the_group_writer(tmp_path: Path) -> None:
    async with SQLCheckpointer(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        calls: list[Any] = []
        group = saver.engines._group
        original = group.run

        async def spy(work: Any) -> Any:
            calls.append(work)
            return await original(work)

        group.run = spy  # type: ignore[method-assign]
        checkpoints = [checkpoint({"items": [i]}, {"items": str(i + 1)}) for i in range(5)]
        configs = await asyncio.gather(
            *(saver.aput(config(f"t{i}"), cp, {}, {"items": str(i + 1)}) for i, cp in enumerate(checkpoints))
        )
        await saver.aput_writes(configs[0], [("items", [9])], "task")
        assert len(calls) == 6
        for i in range(5):
            tup = await saver.aget_tuple({"configurable": {"thread_id": f"t{i}"}})
            assert tup is not None and tup.checkpoint["channel_values"] == {"items": [i]}
        first = await saver.aget_tuple(configs[0])
        assert first is not None and first.pending_writes == [("task", "items", [9])]
