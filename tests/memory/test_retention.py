"""Retention: keep the newest N checkpoints, delete threads idle for longer than an age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from sqlalchemy import func, select, update
from tg_memory_support import checkpoint

from thinkgraph.exceptions import ConfigError
from thinkgraph.memory import (
    SQLCheckpointer,
    adelete_threads_older_than,
    aprune_checkpoints,
    delete_threads_older_than,
    prune_checkpoints,
)
from thinkgraph.memory._schema import checkpoint_blobs, checkpoints


@pytest.fixture
async def saver(db_url: str) -> AsyncIterator[SQLCheckpointer]:
    async with SQLCheckpointer(db_url) as s:
        yield s
        s.close()


def fill(saver: SQLCheckpointer, thread: str, n: int, ns: str = "") -> list[str]:
    ids, parent = [], None
    for i in range(n):
        cp = checkpoint({"i": [i], "same": ["s"]}, {"i": str(i + 1), "same": "1"})  # lists: blobs
        conf = {"thread_id": thread, "checkpoint_ns": ns, **({"checkpoint_id": parent} if parent else {})}
        saver.put({"configurable": conf}, cp, {}, {"i": str(i + 1), **({} if i else {"same": "1"})})
        ids.append(cp["id"])
        parent = cp["id"]
    return ids


def ids_of(saver: SQLCheckpointer, thread: str, ns: str | None = None) -> list[str]:
    conf = {"thread_id": thread} if ns is None else {"thread_id": thread, "checkpoint_ns": ns}
    return [t.checkpoint["id"] for t in saver.list({"configurable": conf})]


def blob_count(saver: SQLCheckpointer) -> int:
    with saver.engines.read() as conn:
        return int(conn.execute(select(func.count()).select_from(checkpoint_blobs)).scalar_one())


async def test_keep_last_n_per_thread_and_namespace(saver: SQLCheckpointer) -> None:
    a = fill(saver, "a", 5)
    a_child = fill(saver, "a", 3, ns="child:1")
    b = fill(saver, "b", 4)
    assert prune_checkpoints(saver, keep_last=2, thread_ids=["a"]) == 4
    assert ids_of(saver, "a", "") == a[::-1][:2]
    assert ids_of(saver, "a", "child:1") == a_child[::-1][:2]
    assert ids_of(saver, "b") == b[::-1]
    assert await aprune_checkpoints(saver, keep_last=1) == 5
    assert ids_of(saver, "a", "") == [a[-1]] and ids_of(saver, "b") == [b[-1]]
    # each surviving checkpoint still reads whole; unused blobs are gone
    assert [t.checkpoint["channel_values"] for t in saver.list({"configurable": {"thread_id": "b"}})] == [
        {"i": [3], "same": ["s"]}
    ]
    assert blob_count(saver) == 6  # (i, same) for a, a/child, b
    with pytest.raises(ConfigError, match="keep_last"):
        prune_checkpoints(saver, keep_last=0)


async def test_delete_threads_by_age_of_their_newest_checkpoint(saver: SQLCheckpointer) -> None:
    fill(saver, "old", 3)
    fill(saver, "older", 2)
    fill(saver, "mixed", 2)
    fill(saver, "new", 2)
    long_ago = datetime.now(UTC) - timedelta(days=10)
    first = ids_of(saver, "mixed")[-1]  # only this one of its checkpoints is old: still in use
    with saver.engines.write() as conn:
        conn.execute(
            update(checkpoints)
            .where(checkpoints.c.thread_id.in_(["old", "older"]))
            .values(created_at=long_ago)
        )
        conn.execute(
            update(checkpoints).where(checkpoints.c.checkpoint_id == first).values(created_at=long_ago)
        )
    assert delete_threads_older_than(saver, timedelta(days=1)) == ["old", "older"]
    assert ids_of(saver, "old") == [] and len(ids_of(saver, "mixed")) == 2
    assert await adelete_threads_older_than(saver, timedelta(days=1)) == []
    assert await adelete_threads_older_than(saver, timedelta(microseconds=1)) == ["mixed", "new"]
    with pytest.raises(ConfigError, match="age"):
        delete_threads_older_than(saver, timedelta(0))


def test_created_at_is_utc(saver: SQLCheckpointer) -> None:
    before = datetime.now(UTC)
    fill(saver, "t", 1)
    with saver.engines.read() as conn:
        created = conn.execute(select(checkpoints.c.created_at)).scalar_one()
    assert created.tzinfo is not None
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)


def _append_batches(state: list[int], batches: list[list[int]]) -> list[int]:
    return [*state, *(x for batch in batches for x in batch)]


class _DeltaLog(TypedDict):
    log: Annotated[list[int], DeltaChannel(_append_batches, snapshot_frequency=4)]
    n: int


def _delta_graph(saver: SQLCheckpointer) -> Any:
    builder = StateGraph(_DeltaLog)
    builder.add_node("step", lambda s: {"log": [s["n"]], "n": s["n"] + 1})
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: END if s["n"] >= 10 else "step")
    return builder.compile(checkpointer=saver)


async def test_keep_latest_keeps_what_delta_channels_need(saver: SQLCheckpointer) -> None:
    graph = _delta_graph(saver)
    config: Any = {"configurable": {"thread_id": "delta"}}
    graph.invoke({"log": [], "n": 0}, config)
    expected = graph.get_state(config).values
    assert expected["log"] == list(range(10))
    before = len(ids_of(saver, "delta"))
    saver.prune(["delta"], strategy="keep_latest")
    assert _delta_graph(saver).get_state(config).values == expected
    # kept: the latest checkpoint and its ancestors back to its delta channel's last snapshot
    assert 1 < len(ids_of(saver, "delta")) < before
    # a graph without delta channels keeps only the latest checkpoint
    fill(saver, "plain", 5)
    assert prune_checkpoints(saver, keep_last=1, thread_ids=["plain"]) == 4


@pytest.mark.parametrize("page_size", [500, 2])
async def test_delta_channel_history_matches_langgraphs_walk(db_url: str, page_size: int) -> None:
    """The overridden history reads ancestors a page at a time; LangGraph's default walks them with
    one get_tuple each. Both must give the same writes and seeds, sync and async."""
    async with SQLCheckpointer(db_url, page_size=page_size) as saver:
        await saver.asetup()
        graph = _delta_graph(saver)
        config: Any = {"configurable": {"thread_id": "delta"}}
        graph.invoke({"log": [], "n": 0}, config)
        checked = 0
        for state in graph.get_state_history(config):
            target = state.config
            for channels in (["log"], ["log", "n", "missing"], []):
                expected = BaseCheckpointSaver.get_delta_channel_history(
                    saver, config=target, channels=channels
                )
                assert saver.get_delta_channel_history(config=target, channels=channels) == expected
                assert await saver.aget_delta_channel_history(config=target, channels=channels) == expected
                checked += 1
        assert checked > 20
        unknown: Any = {"configurable": {"thread_id": "nobody"}}
        assert saver.get_delta_channel_history(config=unknown, channels=["log"]) == {"log": {"writes": []}}
